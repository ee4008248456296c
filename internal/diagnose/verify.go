package diagnose

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
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
	Owner    string   `json:"owner,omitempty"` // kind/name of what answers for it; empty: no controller
	OK       bool     `json:"ok"`
	Problems []string `json:"problems,omitempty"`
	// UID binds the credentials check's token to the pod without reading
	// it again.
	UID types.UID `json:"-"`

	ownerRef  string   // the controller as the pod names it, before Owners
	missing   []string // parts of the injection it lacks
	nodeCause string   // its node's problem, per pod
	nodeWhere string   // the same as a problem of the pods: "run on node N, which …"
	nodeFix   string
	created   time.Time
	warnings  []string // IRSA variables or static keys (kube.Injection.Warnings)
}

// Verdict is the post-condition `podid verify` checks and `podid status`
// reports: every running pod of the service account has the Pod Identity
// injection and a ready agent on its node. A service account whose only
// users are CronJobs with no running pod passes: their next run gets
// credentials.
type Verdict struct {
	Namespace      string       `json:"namespace"`
	ServiceAccount string       `json:"serviceAccount"`
	Pods           []PodVerdict `json:"pods"`
	CronJobs       []CronJobRun `json:"cronJobs,omitempty"`
	Causes         []Cause      `json:"causes,omitempty"`
	owners         map[string]kube.Owner
}

// CronJobRun is a CronJob of the service account and its next run.
type CronJobRun struct {
	Name     string    `json:"name"`
	Schedule string    `json:"schedule"`
	TimeZone string    `json:"timeZone,omitempty"`
	NextRun  time.Time `json:"nextRun,omitzero"`
	Note     string    `json:"note"`
}

// Cause is one reason pods fail the verdict, with the pods it applies to and
// the fix that works for them: one line of output each.
type Cause struct {
	Cause   string   `json:"cause"`
	Pods    []string `json:"pods"`
	Problem string   `json:"problem"`
	Fix     string   `json:"fix"`
}

// Line is the cause as one line: "deployment/carts: pods a, b lack the Pod
// Identity injection; fix: podid restart …".
func (c Cause) Line() string {
	verb := c.Problem
	if len(c.Pods) == 1 {
		verb = singular(verb)
	}
	return fmt.Sprintf("%s: %s %s; fix: %s", c.Cause, podList(c.Pods), verb, c.Fix)
}

// singular turns the plural verb of a problem ("lack …", "are …", "have …")
// into its singular.
func singular(p string) string {
	for plural, one := range map[string]string{"lack ": "lacks ", "are ": "is ", "have ": "has ", "run ": "runs "} {
		if rest, ok := strings.CutPrefix(p, plural); ok {
			return one + rest
		}
	}
	return p
}

func podList(names []string) string {
	if len(names) == 1 {
		return "pod " + names[0]
	}
	return "pods " + strings.Join(names, ", ")
}

// ownerLabel names the pod's owner in messages.
func (p PodVerdict) ownerLabel() string {
	switch {
	case p.Owner != "":
		return p.Owner
	case p.ownerRef != "":
		return p.ownerRef
	}
	return "no controller"
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

// OK reports the post-condition: every pod passes, and there is at least
// one pod or one CronJob.
func (v Verdict) OK() bool { return (len(v.Pods) > 0 || len(v.CronJobs) > 0) && len(v.Bad()) == 0 }

// group fills v.Causes from the bad pods: one cause per owner for pods
// that lack the injection (its fix: podid restart when a restart replaces
// them, else what does), one per node problem, one for pods not
// scheduled. flags are podid's target flags for the restart fix.
func (v *Verdict) group(flags string) {
	v.Causes = nil
	add := func(cause, problem, fix, pod string) {
		for i := range v.Causes {
			if v.Causes[i].Cause == cause && v.Causes[i].Problem == problem {
				v.Causes[i].Pods = append(v.Causes[i].Pods, pod)
				return
			}
		}
		v.Causes = append(v.Causes, Cause{Cause: cause, Problem: problem, Fix: fix, Pods: []string{pod}})
	}
	deletes := map[int]bool{} // causes whose fix ends with the pods to delete
	for _, p := range v.Bad() {
		if len(p.missing) > 0 {
			o, known := v.owners[p.Name]
			switch {
			case !known || o.Restartable:
				add(p.ownerLabel(), "lack the Pod Identity injection", "podid restart "+flags, p.Name)
			default:
				add(o.Cause, "lack the Pod Identity injection", o.Fix, p.Name)
				if o.DeletePods {
					deletes[slices.IndexFunc(v.Causes, func(c Cause) bool { return c.Cause == o.Cause })] = true
				}
			}
		}
		switch {
		case p.Node == "":
			add("not scheduled on a node yet", "are pending", fmt.Sprintf("kubectl -n %s describe pod %s", v.Namespace, p.Name), p.Name)
		case p.nodeCause != "":
			add(p.ownerLabel(), p.nodeWhere, p.nodeFix, p.Name)
		}
	}
	for i := range deletes {
		c := &v.Causes[i]
		c.Fix = fmt.Sprintf("%s: kubectl -n %s delete pod %s", c.Fix, v.Namespace, strings.Join(c.Pods, " "))
	}
}

// Summary is the verdict in short: one line when all is well, else a
// heading and one line per cause; a line per CronJob with its next run.
func (v Verdict) Summary() string {
	var head string
	var lines []string
	switch bad := v.Bad(); {
	case len(v.Pods) == 0:
		head = fmt.Sprintf("no running pod uses service account %s/%s", v.Namespace, v.ServiceAccount)
	case len(bad) == 0 && len(v.Pods) == 1:
		head = fmt.Sprintf("the running pod of %s/%s has Pod Identity credentials and a ready agent on its node", v.Namespace, v.ServiceAccount)
	case len(bad) == 0:
		head = fmt.Sprintf("all %d running pods of %s/%s have Pod Identity credentials and a ready agent on their node", len(v.Pods), v.Namespace, v.ServiceAccount)
	default:
		verb := "are"
		if len(bad) == 1 {
			verb = "is"
		}
		head = fmt.Sprintf("%d of %d running pods of %s/%s %s not ready for Pod Identity:", len(bad), len(v.Pods), v.Namespace, v.ServiceAccount, verb)
		causes := v.Causes
		if causes == nil {
			c := v
			c.group(fmt.Sprintf("--ns %s --sa %s", v.Namespace, v.ServiceAccount))
			causes = c.Causes
		}
		for _, c := range causes {
			lines = append(lines, "  "+c.Line())
		}
	}
	for _, c := range v.CronJobs {
		lines = append(lines, "  "+c.Note)
	}
	if len(lines) == 0 {
		return head
	}
	return head + "\n" + strings.Join(lines, "\n")
}

// podServiceAccount is the pod's service account ("default" when unset).
func podServiceAccount(p *corev1.Pod) string {
	if p.Spec.ServiceAccountName == "" {
		return "default"
	}
	return p.Spec.ServiceAccountName
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
		if p.Namespace != ns || podServiceAccount(p) != sa || !kube.PodRunning(p) {
			continue
		}
		pv := PodVerdict{Name: p.Name, Node: p.Spec.NodeName, UID: p.UID, created: p.CreationTimestamp.UTC()}
		if ref := metav1.GetControllerOf(p); ref != nil {
			pv.ownerRef = strings.ToLower(ref.Kind) + "/" + ref.Name
		}
		in := kube.CheckInjection(p)
		pv.warnings = in.Warnings
		if !in.Injected() {
			pv.missing = in.Missing
			pv.Problems = append(pv.Problems, "no Pod Identity injection ("+strings.Join(in.Missing, ", ")+")")
		}
		switch n := nodeByName[p.Spec.NodeName]; {
		case p.Spec.NodeName == "":
			pv.Problems = append(pv.Problems, "not scheduled on a node yet")
		case n == nil:
			pv.nodeCause, pv.nodeFix = fmt.Sprintf("node %s not found", p.Spec.NodeName), fmt.Sprintf("kubectl -n %s describe pod %s", ns, p.Name)
			pv.nodeWhere = fmt.Sprintf("run on node %s, which does not exist", p.Spec.NodeName)
			pv.Problems = append(pv.Problems, pv.nodeCause)
		case n.Labels["eks.amazonaws.com/compute-type"] == "auto":
			// EKS Auto Mode: the agent is built into the node.
		default:
			if ok, why := kube.EligibleNode(n); !ok {
				pv.nodeCause = fmt.Sprintf("node %s is not served by the agent: %s", n.Name, why)
				pv.nodeWhere = fmt.Sprintf("run on node %s, which is not served by the agent (%s)", n.Name, why)
				pv.nodeFix = ineligibleFix
			} else if !agentReady[n.Name] {
				pv.nodeCause = fmt.Sprintf("no agent pod on node %s", n.Name)
				pv.nodeWhere = fmt.Sprintf("run on node %s, which has no agent pod", n.Name)
				if agentSeen[n.Name] {
					pv.nodeCause = fmt.Sprintf("the agent pod on node %s is not ready", n.Name)
					pv.nodeWhere = fmt.Sprintf("run on node %s, whose agent pod is not ready", n.Name)
				}
				pv.nodeFix = agentFix(n.Name)
			}
			if pv.nodeCause != "" {
				pv.Problems = append(pv.Problems, pv.nodeCause)
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
	v := Evaluate(ns, sa, pods.Items, nodes.Items, agents.Items)
	now := time.Now()
	cjs, err := kube.FindCronJobs(ctx, client, ns, sa, now)
	if err != nil {
		return v, err
	}
	if err := explain(ctx, &kube.Owners{Client: client, Now: now}, cjs, &v, pods.Items); err != nil {
		return v, err
	}
	return v, nil
}

// explain adds what Evaluate cannot see: the owner of each pod (the fix of
// a bad one depends on it) and the service account's CronJobs cjs with
// their next run; then it groups the bad pods by cause (Verdict.Causes).
// owners remembers the controllers it read.
func explain(ctx context.Context, owners *kube.Owners, cjs []kube.CronJob, v *Verdict, pods []corev1.Pod) error {
	v.CronJobs = nil
	for _, c := range cjs {
		v.CronJobs = append(v.CronJobs, CronJobRun{Name: c.Name, Schedule: c.Schedule, TimeZone: c.TimeZone, NextRun: c.Next,
			Note: fmt.Sprintf("%s: its next run (%s) gets Pod Identity credentials", c.Ref(), c.NextRunText())})
	}
	v.owners = map[string]kube.Owner{}
	for i := range v.Pods {
		pv := &v.Pods[i]
		k := slices.IndexFunc(pods, func(p corev1.Pod) bool { return p.Name == pv.Name })
		if k < 0 {
			continue
		}
		o, err := owners.OwnerOf(ctx, &pods[k])
		if err != nil {
			return err
		}
		pv.Owner = o.Ref()
		v.owners[pv.Name] = o
	}
	v.group(fmt.Sprintf("--ns %s --sa %s", v.Namespace, v.ServiceAccount))
	return nil
}

// WaitVerified watches the namespace's pods, the nodes and the agent pods
// (informers, no polling) until Evaluate holds or ctx ends. onProgress (may
// be nil) receives each new summary. When ctx ends first it returns the last
// verdict and an error that wraps ctx's error.
func WaitVerified(ctx context.Context, client kubernetes.Interface, ns, sa string, onProgress func(string)) (Verdict, error) {
	if err := checkTarget(ctx, client, ns, sa); err != nil {
		return Verdict{Namespace: ns, ServiceAccount: sa, Pods: []PodVerdict{}}, err
	}
	// CronJobs and controllers are read once for the whole wait.
	now := time.Now()
	cjs, err := kube.FindCronJobs(ctx, client, ns, sa, now)
	if err != nil {
		return Verdict{Namespace: ns, ServiceAccount: sa, Pods: []PodVerdict{}}, err
	}
	owners := &kube.Owners{Client: client, Now: now}
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
		if err := explain(ctx, owners, cjs, &v, deref(pods)); err != nil {
			return v, err
		}
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

// SetCluster makes the fixes of v's causes name cluster (podid restart
// --cluster …); Verify and WaitVerified do not know it.
func (v *Verdict) SetCluster(cluster string) {
	v.group(clusterFlags(cluster, *v))
}

func clusterFlags(cluster string, v Verdict) string {
	return fmt.Sprintf("--cluster %s --ns %s --sa %s", cluster, v.Namespace, v.ServiceAccount)
}

// VerdictError turns a failed verdict into podid's error: exit 3 when
// checked once, exit 4 when --wait ran out (waitErr wraps the deadline).
// The message has one line per cause with its fix; the hint names what
// helps all of them.
func VerdictError(cluster string, v Verdict, waitErr error) error {
	flags := clusterFlags(cluster, v)
	v.group(flags)
	hint := fmt.Sprintf("podid status %s shows the rest of the setup", flags)
	restart := false
	for _, c := range v.Causes {
		if strings.HasPrefix(c.Fix, "podid restart") {
			restart = true
		}
	}
	if restart {
		hint = fmt.Sprintf("podid restart %s restarts the workloads whose pods were created before the association; %s", flags, hint)
	}
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

const ineligibleFix = "run the workload on EC2 Linux nodes (a nodeSelector or node affinity that excludes eks.amazonaws.com/compute-type fargate/hybrid and non-linux nodes), or keep IRSA for these pods"

func agentFix(node string) string {
	return fmt.Sprintf("inspect the agent: kubectl -n %s get pods -l %s -o wide --field-selector spec.nodeName=%s", kube.AgentNamespace, kube.AgentPodLabel, node)
}
