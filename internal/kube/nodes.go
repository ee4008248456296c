package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
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

// AgentBuiltIn reports an EKS Auto Mode node (label
// eks.amazonaws.com/compute-type=auto): Pod Identity is built into the
// node, so it serves pods without the agent DaemonSet (which its node
// affinity keeps off such nodes).
func AgentBuiltIn(node *corev1.Node) bool {
	return node.Labels[labelComputeType] == "auto"
}

// PodPlacement is a pod on a node the agent does not serve.
type PodPlacement struct {
	Pod    string
	Node   string
	Reason string
}

// PodsOnIneligibleNodes returns the pods (of namespace ns) that run on nodes
// the agent does not serve (Fargate, Windows, hybrid, other architectures).
// Pods not yet scheduled, and pods on EKS Auto Mode nodes (the agent is
// built in), are skipped.
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
		if n == nil || AgentBuiltIn(n) {
			continue
		}
		if ok, why := EligibleNode(n); !ok {
			out = append(out, PodPlacement{Pod: p.Name, Node: name, Reason: why})
		}
	}
	return out, nil
}
