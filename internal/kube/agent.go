package kube

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
)

// The agent DaemonSet the eks-pod-identity-agent add-on installs.
const (
	AgentNamespace = "kube-system"
	AgentName      = "eks-pod-identity-agent"
	// AgentPodLabel selects the agent's pods (a superset of the DaemonSet's
	// selector, which also has app.kubernetes.io/instance).
	AgentPodLabel = "app.kubernetes.io/name=" + AgentName
)

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
	// BuiltIn are EKS Auto Mode nodes: the agent is part of the node, the
	// DaemonSet does not (and need not) run there.
	BuiltIn []string
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
		if AgentBuiltIn(n) {
			st.BuiltIn = append(st.BuiltIn, n.Name)
			continue
		}
		if ok, why := EligibleNode(n); ok {
			st.Eligible = append(st.Eligible, n.Name)
		} else {
			st.Ineligible = append(st.Ineligible, NodeGap{Node: n.Name, Reason: why})
		}
	}
	slices.Sort(st.Eligible)
	slices.Sort(st.BuiltIn)
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
