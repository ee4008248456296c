package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/podid/podid/internal/fail"
)

// The agent DaemonSet the eks-pod-identity-agent add-on installs.
const (
	AgentNamespace = "kube-system"
	AgentName      = "eks-pod-identity-agent"
	// AgentPodLabel selects the agent's pods (a superset of the DaemonSet's
	// selector, which also has app.kubernetes.io/instance).
	AgentPodLabel = "app.kubernetes.io/name=" + AgentName
)

// Node labels of the agent's required node affinity.
const (
	labelOS          = "kubernetes.io/os"
	labelArch        = "kubernetes.io/arch"
	labelComputeType = "eks.amazonaws.com/compute-type"
)

// EligibleNode applies the agent chart's required node affinity:
// kubernetes.io/os In [linux], kubernetes.io/arch In [amd64, arm64],
// eks.amazonaws.com/compute-type NotIn [fargate, hybrid, auto] (a node
// without that label satisfies NotIn). reason says why a node is not
// eligible.
//
// Cordoned (unschedulable) and tainted nodes stay eligible: the DaemonSet
// controller tolerates node.kubernetes.io/unschedulable for every
// DaemonSet, and the add-on's default toleration {operator: Exists}
// tolerates every taint, so such nodes get (and need) an agent pod.
// AgentStatus reports taints that a customised toleration list does not
// tolerate.
func EligibleNode(node *corev1.Node) (bool, string) {
	l := node.Labels
	switch os, ok := l[labelOS]; {
	case !ok:
		return false, fmt.Sprintf("node has no %s label (the agent needs linux)", labelOS)
	case os != "linux":
		return false, fmt.Sprintf("%s is %s (Pod Identity supports linux only)", labelOS, os)
	}
	switch arch, ok := l[labelArch]; {
	case !ok:
		return false, fmt.Sprintf("node has no %s label (the agent needs amd64 or arm64)", labelArch)
	case arch != "amd64" && arch != "arm64":
		return false, fmt.Sprintf("%s is %s (the agent runs on amd64 and arm64)", labelArch, arch)
	}
	switch ct := l[labelComputeType]; ct {
	case "fargate":
		return false, "Fargate node: Pod Identity is not supported on Fargate"
	case "hybrid":
		return false, "hybrid node: served by the eks-pod-identity-agent-hybrid DaemonSet, not this one"
	case "auto":
		return false, "EKS Auto Mode node: the agent is built in"
	}
	return true, ""
}

// NodeGap is an eligible node without a ready agent pod.
type NodeGap struct {
	Node   string
	Reason string
}

// AgentStatus is the agent DaemonSet's state across the nodes.
type AgentStatus struct {
	Found            bool
	DesiredScheduled int32
	Ready            int32
	Updated          int32
	Available        int32
	RolledOut        bool   // kubectl's DaemonSet rollout rule holds
	Message          string // the rollout status message, or why it is not found
	Eligible         []string
	Missing          []NodeGap // eligible nodes without a ready agent pod
	Ineligible       []NodeGap // nodes the agent does not serve, with the reason
}

// OK reports the agent ready on every eligible node.
func (s AgentStatus) OK() bool {
	return s.Found && s.RolledOut && int(s.DesiredScheduled) == len(s.Eligible) && len(s.Missing) == 0
}

// Summary is a one-line description of what is still missing.
func (s AgentStatus) Summary() string {
	switch {
	case !s.Found:
		return fmt.Sprintf("daemonset %s/%s not found", AgentNamespace, AgentName)
	case s.OK():
		return fmt.Sprintf("agent ready on %d of %d eligible nodes", len(s.Eligible)-len(s.Missing), len(s.Eligible))
	}
	var parts []string
	if !s.RolledOut {
		parts = append(parts, strings.TrimSuffix(s.Message, "..."))
	}
	if int(s.DesiredScheduled) != len(s.Eligible) {
		parts = append(parts, fmt.Sprintf("daemonset wants %d pods for %d eligible nodes", s.DesiredScheduled, len(s.Eligible)))
	}
	for _, g := range s.Missing {
		parts = append(parts, fmt.Sprintf("node %s: %s", g.Node, g.Reason))
	}
	return strings.Join(parts, "; ")
}

// ComputeAgentStatus is AgentStatus' pure part. ds may be nil (not found);
// pods are candidate agent pods (filtered here by the DaemonSet's selector
// and owner).
func ComputeAgentStatus(ds *appsv1.DaemonSet, nodes []corev1.Node, pods []corev1.Pod) AgentStatus {
	var st AgentStatus
	for i := range nodes {
		n := &nodes[i]
		if ok, why := EligibleNode(n); ok {
			st.Eligible = append(st.Eligible, n.Name)
		} else {
			st.Ineligible = append(st.Ineligible, NodeGap{Node: n.Name, Reason: why})
		}
	}
	slices.Sort(st.Eligible)
	slices.SortFunc(st.Ineligible, func(a, b NodeGap) int { return strings.Compare(a.Node, b.Node) })
	if ds == nil {
		st.Message = fmt.Sprintf("daemonset %s/%s not found", AgentNamespace, AgentName)
		for _, n := range st.Eligible {
			st.Missing = append(st.Missing, NodeGap{Node: n, Reason: "no agent: the DaemonSet does not exist"})
		}
		return st
	}
	st.Found = true
	st.DesiredScheduled = ds.Status.DesiredNumberScheduled
	st.Ready = ds.Status.NumberReady
	st.Updated = ds.Status.UpdatedNumberScheduled
	st.Available = ds.Status.NumberAvailable
	msg, done, err := DaemonSetStatus(ds)
	if err != nil {
		msg = err.Error()
	}
	st.Message, st.RolledOut = msg, done && err == nil

	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		sel = labels.Nothing()
	}
	byNode := map[string][]*corev1.Pod{}
	for i := range pods {
		p := &pods[i]
		if controllerUID(p) != ds.UID || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		node := p.Spec.NodeName
		if node == "" {
			node = nodeFromAffinity(p)
		}
		byNode[node] = append(byNode[node], p)
	}
	nodeByName := map[string]*corev1.Node{}
	for i := range nodes {
		nodeByName[nodes[i].Name] = &nodes[i]
	}
	for _, name := range st.Eligible {
		ps := byNode[name]
		if slices.ContainsFunc(ps, PodReady) {
			continue
		}
		st.Missing = append(st.Missing, NodeGap{Node: name, Reason: agentGapReason(ds, nodeByName[name], ps)})
	}
	return st
}

// nodeFromAffinity finds the node a pending DaemonSet pod is pinned to (the
// controller sets a matchFields metadata.name term).
func nodeFromAffinity(p *corev1.Pod) string {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

func agentGapReason(ds *appsv1.DaemonSet, node *corev1.Node, pods []*corev1.Pod) string {
	if len(pods) == 0 {
		if node != nil {
			for _, t := range node.Spec.Taints {
				if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
					continue
				}
				if !slices.ContainsFunc(ds.Spec.Template.Spec.Tolerations, func(tol corev1.Toleration) bool {
					return tol.ToleratesTaint(klog.Background(), &t, false)
				}) {
					return fmt.Sprintf("no agent pod: taint %s is not tolerated by the add-on's tolerations", t.ToString())
				}
			}
		}
		return "no agent pod scheduled on the node"
	}
	var parts []string
	for _, p := range pods {
		parts = append(parts, fmt.Sprintf("agent pod %s is %s", p.Name, podState(p)))
	}
	return strings.Join(parts, ", ")
}

// podState describes why a pod is not ready.
func podState(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "terminating"
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return "unschedulable: " + c.Message
		}
	}
	for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return fmt.Sprintf("%s (%s: %s)", p.Status.Phase, cs.Name, w.Reason)
		}
	}
	if p.Status.Phase == corev1.PodRunning {
		return "running but not ready"
	}
	if p.Status.Phase == "" {
		return "Pending"
	}
	return string(p.Status.Phase)
}

// GetAgentStatus reads the agent DaemonSet, the nodes and the agent pods.
func GetAgentStatus(ctx context.Context, client kubernetes.Interface) (AgentStatus, error) {
	ds, err := client.AppsV1().DaemonSets(AgentNamespace).Get(ctx, AgentName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		ds, err = nil, nil
	}
	if err != nil {
		return AgentStatus{}, fmt.Errorf("get daemonset %s/%s: %w", AgentNamespace, AgentName, err)
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return AgentStatus{}, fmt.Errorf("list nodes: %w", err)
	}
	pods, err := client.CoreV1().Pods(AgentNamespace).List(ctx, metav1.ListOptions{LabelSelector: AgentPodLabel})
	if err != nil {
		return AgentStatus{}, fmt.Errorf("list agent pods in %s: %w", AgentNamespace, err)
	}
	return ComputeAgentStatus(ds, nodes.Items, pods.Items), nil
}

// WaitAgent waits, driven by watches on the agent DaemonSet, its pods and
// the nodes, until the DaemonSet exists, has rolled out (kubectl's rule),
// wants one pod per eligible node and every eligible node has a ready agent
// pod. onProgress (may be nil) receives each new summary. When ctx ends
// first, the error wraps ctx's error and names each node without a ready
// agent pod.
func WaitAgent(ctx context.Context, client kubernetes.Interface, onProgress func(string)) (AgentStatus, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	nodeFactory := informers.NewSharedInformerFactory(client, 0)
	dsFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(AgentNamespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", AgentName).String()
		}))
	podFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(AgentNamespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = AgentPodLabel }))

	nodeInf := nodeFactory.Core().V1().Nodes()
	dsInf := dsFactory.Apps().V1().DaemonSets()
	podInf := podFactory.Core().V1().Pods()

	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	for _, inf := range []cache.SharedIndexInformer{nodeInf.Informer(), dsInf.Informer(), podInf.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return AgentStatus{}, fmt.Errorf("watch the pod identity agent: %w", err)
		}
	}
	for _, f := range []informers.SharedInformerFactory{nodeFactory, dsFactory, podFactory} {
		f.Start(ctx.Done())
	}
	defer func() {
		cancel()
		nodeFactory.Shutdown()
		dsFactory.Shutdown()
		podFactory.Shutdown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), nodeInf.Informer().HasSynced, dsInf.Informer().HasSynced, podInf.Informer().HasSynced) {
		return AgentStatus{}, agentTimeout(ctx.Err(), AgentStatus{}, false)
	}

	var (
		st   AgentStatus
		last string
	)
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return st, agentTimeout(ctx.Err(), st, true)
			case <-changed:
			}
		}
		ds, err := dsInf.Lister().DaemonSets(AgentNamespace).Get(AgentName)
		if apierrors.IsNotFound(err) {
			ds, err = nil, nil
		}
		if err != nil {
			return st, fmt.Errorf("read daemonset %s/%s from cache: %w", AgentNamespace, AgentName, err)
		}
		nodes, err := nodeInf.Lister().List(labels.Everything())
		if err != nil {
			return st, fmt.Errorf("read nodes from cache: %w", err)
		}
		pods, err := podInf.Lister().Pods(AgentNamespace).List(labels.Everything())
		if err != nil {
			return st, fmt.Errorf("read agent pods from cache: %w", err)
		}
		st = ComputeAgentStatus(ds, derefAll(nodes), derefAll(pods))
		if ds != nil {
			if _, _, err := DaemonSetStatus(ds); err != nil {
				return st, err
			}
		}
		if s := st.Summary(); s != last {
			last = s
			if onProgress != nil {
				onProgress(s)
			}
		}
		if st.OK() {
			return st, nil
		}
	}
}

func derefAll[T any](ps []*T) []T {
	out := make([]T, 0, len(ps))
	for _, p := range ps {
		out = append(out, *p)
	}
	return out
}

func agentTimeout(ctxErr error, st AgentStatus, seen bool) error {
	hint := fmt.Sprintf("check `kubectl -n %s get daemonset %s` and `kubectl -n %s get pods -l %s -o wide`, or raise --timeout",
		AgentNamespace, AgentName, AgentNamespace, AgentPodLabel)
	if !seen {
		return fail.WithHint(fmt.Errorf("wait for the pod identity agent: %w (the watches never synced)", ctxErr), hint)
	}
	return fail.WithHint(fmt.Errorf("wait for the pod identity agent: %w: %s", ctxErr, st.Summary()), hint)
}

// PodPlacement is a pod on a node the agent does not serve.
type PodPlacement struct {
	Pod    string
	Node   string
	Reason string
}

// PodsOnIneligibleNodes returns the pods (of namespace ns) that run on nodes
// the agent does not serve (Fargate, Windows, hybrid, Auto Mode, other
// architectures). Pods not yet scheduled are skipped.
func PodsOnIneligibleNodes(ctx context.Context, client kubernetes.Interface, ns string, pods []corev1.Pod) ([]PodPlacement, error) {
	cache := map[string]*corev1.Node{}
	var out []PodPlacement
	for _, p := range pods {
		name := p.Spec.NodeName
		if name == "" {
			continue
		}
		n, ok := cache[name]
		if !ok {
			var err error
			n, err = client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				n, err = nil, nil
			}
			if err != nil {
				return nil, fmt.Errorf("get node %s of pod %s/%s: %w", name, ns, p.Name, err)
			}
			cache[name] = n
		}
		if n == nil {
			continue
		}
		if ok, why := EligibleNode(n); !ok {
			out = append(out, PodPlacement{Pod: p.Name, Node: name, Reason: why})
		}
	}
	return out, nil
}
