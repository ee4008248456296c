package diagnose

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/kube"
)

// PodVerdict is one running pod of the service account.
type PodVerdict struct {
	Name     string   `json:"name"`
	Node     string   `json:"node,omitempty"`
	OK       bool     `json:"ok"`
	Problems []string `json:"problems,omitempty"`
}

// Verdict is the post-condition of `podid verify`: every running pod of
// the service account has the Pod Identity injection and a ready agent on
// its node.
type Verdict struct {
	Namespace      string       `json:"namespace"`
	ServiceAccount string       `json:"serviceAccount"`
	Pods           []PodVerdict `json:"pods"`
}

// Bad returns the pods that fail the post-condition.
func (v Verdict) Bad() []PodVerdict {
	var out []PodVerdict
	for _, p := range v.Pods {
		if !p.OK {
			out = append(out, p)
		}
	}
	return out
}

// OK reports the post-condition: at least one pod, and every pod passes.
func (v Verdict) OK() bool { return len(v.Pods) > 0 && len(v.Bad()) == 0 }

// Summary is one line naming each bad pod and why.
func (v Verdict) Summary() string {
	if len(v.Pods) == 0 {
		return fmt.Sprintf("no running pod uses service account %s/%s", v.Namespace, v.ServiceAccount)
	}
	bad := v.Bad()
	if len(bad) == 0 {
		return fmt.Sprintf("all %d running pods of %s/%s have Pod Identity credentials and a ready agent on their node", len(v.Pods), v.Namespace, v.ServiceAccount)
	}
	parts := make([]string, 0, len(bad))
	for _, p := range bad {
		parts = append(parts, fmt.Sprintf("pod %s: %s", p.Name, strings.Join(p.Problems, "; ")))
	}
	return fmt.Sprintf("%d of %d running pods of %s/%s are not ready for Pod Identity: %s", len(bad), len(v.Pods), v.Namespace, v.ServiceAccount, strings.Join(parts, "; "))
}

// podServiceAccount is the pod's service account ("default" when unset).
func podServiceAccount(p *corev1.Pod) string {
	if p.Spec.ServiceAccountName == "" {
		return "default"
	}
	return p.Spec.ServiceAccountName
}

// running reports a pod that is not terminating and has not finished.
func running(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// Evaluate is Verify's pure part: pods are the namespace's pods (filtered
// here to the running ones of sa), nodes the cluster's nodes and agentPods
// the agent's pods.
func Evaluate(ns, sa string, pods []corev1.Pod, nodes []corev1.Node, agentPods []corev1.Pod) Verdict {
	v := Verdict{Namespace: ns, ServiceAccount: sa, Pods: []PodVerdict{}}
	nodeByName := map[string]*corev1.Node{}
	for i := range nodes {
		nodeByName[nodes[i].Name] = &nodes[i]
	}
	agentReady := map[string]bool{}
	agentSeen := map[string]bool{}
	for i := range agentPods {
		p := &agentPods[i]
		if p.Namespace != kube.AgentNamespace || p.Labels["app.kubernetes.io/name"] != kube.AgentName {
			continue
		}
		agentSeen[p.Spec.NodeName] = true
		if kube.PodReady(p) {
			agentReady[p.Spec.NodeName] = true
		}
	}
	for i := range pods {
		p := &pods[i]
		if p.Namespace != ns || podServiceAccount(p) != sa || !running(p) {
			continue
		}
		pv := PodVerdict{Name: p.Name, Node: p.Spec.NodeName}
		if in := kube.CheckInjection(p); !in.Injected() {
			pv.Problems = append(pv.Problems, "no Pod Identity injection ("+strings.Join(in.Missing, ", ")+")")
		}
		switch n := nodeByName[p.Spec.NodeName]; {
		case p.Spec.NodeName == "":
			pv.Problems = append(pv.Problems, "not scheduled on a node yet")
		case n == nil:
			pv.Problems = append(pv.Problems, fmt.Sprintf("node %s not found", p.Spec.NodeName))
		case n.Labels["eks.amazonaws.com/compute-type"] == "auto":
			// EKS Auto Mode: the agent is built into the node.
		default:
			if ok, why := kube.EligibleNode(n); !ok {
				pv.Problems = append(pv.Problems, fmt.Sprintf("node %s is not served by the agent: %s", n.Name, why))
			} else if !agentReady[n.Name] {
				if agentSeen[n.Name] {
					pv.Problems = append(pv.Problems, fmt.Sprintf("the agent pod on node %s is not ready", n.Name))
				} else {
					pv.Problems = append(pv.Problems, fmt.Sprintf("no agent pod on node %s", n.Name))
				}
			}
		}
		pv.OK = len(pv.Problems) == 0
		v.Pods = append(v.Pods, pv)
	}
	sort.Slice(v.Pods, func(i, j int) bool { return v.Pods[i].Name < v.Pods[j].Name })
	return v
}

// checkTarget returns an error when the namespace does not exist, and a
// verification error when the service account does not.
func checkTarget(ctx context.Context, client kubernetes.Interface, ns, sa string) error {
	s, err := kube.GetServiceAccount(ctx, client, ns, sa)
	if err != nil {
		return err
	}
	if !s.Exists {
		return fail.Verifyf(fmt.Sprintf("check --sa, or create it: kubectl -n %s create serviceaccount %s", ns, sa), "service account %s/%s does not exist", ns, sa)
	}
	return nil
}

// Verify reads the pods, nodes and agent pods once and evaluates them.
func Verify(ctx context.Context, client kubernetes.Interface, ns, sa string) (Verdict, error) {
	if err := checkTarget(ctx, client, ns, sa); err != nil {
		return Verdict{Namespace: ns, ServiceAccount: sa, Pods: []PodVerdict{}}, err
	}
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return Verdict{}, fmt.Errorf("list pods in namespace %s: %w", ns, err)
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Verdict{}, fmt.Errorf("list nodes: %w", err)
	}
	agents, err := client.CoreV1().Pods(kube.AgentNamespace).List(ctx, metav1.ListOptions{LabelSelector: kube.AgentPodLabel})
	if err != nil {
		return Verdict{}, fmt.Errorf("list agent pods in %s: %w", kube.AgentNamespace, err)
	}
	return Evaluate(ns, sa, pods.Items, nodes.Items, agents.Items), nil
}

// WaitVerified watches the namespace's pods, the nodes and the agent pods
// (informers, no polling) until Evaluate holds or ctx ends. onProgress (may
// be nil) receives each new summary. When ctx ends first it returns the last
// verdict and an error that wraps ctx's error.
func WaitVerified(ctx context.Context, client kubernetes.Interface, ns, sa string, onProgress func(string)) (Verdict, error) {
	if err := checkTarget(ctx, client, ns, sa); err != nil {
		return Verdict{Namespace: ns, ServiceAccount: sa, Pods: []PodVerdict{}}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	podFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	nodeFactory := informers.NewSharedInformerFactory(client, 0)
	agentFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(kube.AgentNamespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = kube.AgentPodLabel }))
	podInf := podFactory.Core().V1().Pods()
	nodeInf := nodeFactory.Core().V1().Nodes()
	agentInf := agentFactory.Core().V1().Pods()

	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	h := cache.ResourceEventHandlerFuncs{AddFunc: func(any) { notify() }, UpdateFunc: func(any, any) { notify() }, DeleteFunc: func(any) { notify() }}
	for _, inf := range []cache.SharedIndexInformer{podInf.Informer(), nodeInf.Informer(), agentInf.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return Verdict{}, fmt.Errorf("watch pods of %s/%s: %w", ns, sa, err)
		}
	}
	factories := []informers.SharedInformerFactory{podFactory, nodeFactory, agentFactory}
	for _, f := range factories {
		f.Start(ctx.Done())
	}
	defer func() {
		cancel()
		for _, f := range factories {
			f.Shutdown()
		}
	}()
	v := Verdict{Namespace: ns, ServiceAccount: sa, Pods: []PodVerdict{}}
	if !cache.WaitForCacheSync(ctx.Done(), podInf.Informer().HasSynced, nodeInf.Informer().HasSynced, agentInf.Informer().HasSynced) {
		return v, fmt.Errorf("wait for the pods of %s/%s: %w (the watches never synced)", ns, sa, ctx.Err())
	}
	last := ""
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return v, fmt.Errorf("wait for the pods of %s/%s: %w", ns, sa, ctx.Err())
			case <-changed:
			}
		}
		pods, err := podInf.Lister().Pods(ns).List(labels.Everything())
		if err != nil {
			return v, fmt.Errorf("read pods of %s from cache: %w", ns, err)
		}
		nodes, err := nodeInf.Lister().List(labels.Everything())
		if err != nil {
			return v, fmt.Errorf("read nodes from cache: %w", err)
		}
		agents, err := agentInf.Lister().Pods(kube.AgentNamespace).List(labels.Everything())
		if err != nil {
			return v, fmt.Errorf("read agent pods from cache: %w", err)
		}
		v = Evaluate(ns, sa, deref(pods), deref(nodes), deref(agents))
		if s := v.Summary(); s != last {
			last = s
			if onProgress != nil {
				onProgress(s)
			}
		}
		if v.OK() {
			return v, nil
		}
	}
}

func deref[T any](ps []*T) []T {
	out := make([]T, 0, len(ps))
	for _, p := range ps {
		out = append(out, *p)
	}
	return out
}

// VerdictError turns a failed verdict into podid's error: exit 3 when
// checked once, exit 4 when --wait ran out (waitErr wraps the deadline).
func VerdictError(cluster string, v Verdict, waitErr error) error {
	flags := fmt.Sprintf("--cluster %s --ns %s --sa %s", cluster, v.Namespace, v.ServiceAccount)
	hint := fmt.Sprintf("podid status %s shows why; podid restart %s restarts pods created before the association", flags, flags)
	if len(v.Pods) == 0 {
		hint = fmt.Sprintf("check --ns/--sa (kubectl -n %s get pods -o custom-columns=NAME:.metadata.name,SA:.spec.serviceAccountName)", v.Namespace)
	}
	if waitErr != nil && errors.Is(waitErr, context.Canceled) {
		return waitErr
	}
	if waitErr != nil {
		return fail.New(fail.KindTimeout, hint+"; or raise --timeout", "%v; still missing: %s", waitErr, v.Summary())
	}
	return fail.Verifyf(hint, "%s", v.Summary())
}
