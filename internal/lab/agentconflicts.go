package lab

import (
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/fakeaws"
)

// A DaemonSet that EKS did not install (the Helm chart labels it
// app.kubernetes.io/managed-by: Helm, a copied manifest anything else) is a
// self-managed agent: the add-on's fields whose values differ from it are
// conflicts, resolved by the add-on's resolveConflicts.
const managedByLabel = "app.kubernetes.io/managed-by"

// agentField is one field of the agent DaemonSet EKS compares, by the path
// EKS names in a ConfigurationConflict issue. (Fields the API server
// defaults, such as updateStrategy.rollingUpdate.maxSurge, are left out: a
// live object always differs from the applied one there.)
type agentField struct {
	path string
	get  func(ds *appsv1.DaemonSet) any
	set  func(dst, src *appsv1.DaemonSet)
}

func agentContainer(ds *appsv1.DaemonSet) *corev1.Container {
	for i := range ds.Spec.Template.Spec.Containers {
		if ds.Spec.Template.Spec.Containers[i].Name == AgentName {
			return &ds.Spec.Template.Spec.Containers[i]
		}
	}
	return nil
}

var agentFields = []agentField{
	{".spec.template.spec.tolerations",
		func(ds *appsv1.DaemonSet) any { return ds.Spec.Template.Spec.Tolerations },
		func(dst, src *appsv1.DaemonSet) {
			dst.Spec.Template.Spec.Tolerations = src.Spec.Template.Spec.Tolerations
		}},
	{".spec.template.spec.affinity",
		func(ds *appsv1.DaemonSet) any { return ds.Spec.Template.Spec.Affinity },
		func(dst, src *appsv1.DaemonSet) { dst.Spec.Template.Spec.Affinity = src.Spec.Template.Spec.Affinity }},
	{`.spec.template.spec.containers[name="` + AgentName + `"].image`,
		func(ds *appsv1.DaemonSet) any {
			if c := agentContainer(ds); c != nil {
				return c.Image
			}
			return nil
		},
		func(dst, src *appsv1.DaemonSet) {
			if d, s := agentContainer(dst), agentContainer(src); d != nil && s != nil {
				d.Image = s.Image
			}
		}},
	{`.spec.template.spec.containers[name="` + AgentName + `"].args`,
		func(ds *appsv1.DaemonSet) any {
			if c := agentContainer(ds); c != nil {
				return c.Args
			}
			return nil
		},
		func(dst, src *appsv1.DaemonSet) {
			if d, s := agentContainer(dst), agentContainer(src); d != nil && s != nil {
				d.Args = s.Args
			}
		}},
}

// DaemonSetConflicts returns the fields of the add-on's DaemonSet (desired)
// that a self-managed live DaemonSet holds with other values, each as EKS
// names it ("DaemonSet.apps eks-pod-identity-agent - .spec.template.spec.tolerations").
// A DaemonSet EKS installed (managed-by EKS) has none.
func DaemonSetConflicts(live, desired *appsv1.DaemonSet) []string {
	if live == nil || live.Labels[managedByLabel] == "EKS" {
		return nil
	}
	var out []string
	for _, f := range agentFields {
		if !equality.Semantic.DeepEqual(f.get(live), f.get(desired)) {
			out = append(out, "DaemonSet.apps "+AgentName+" - "+f.path)
		}
	}
	return out
}

// preserveFields copies into desired the live values of the fields named
// (as DaemonSetConflicts names them): what resolveConflicts PRESERVE keeps.
func preserveFields(desired, live *appsv1.DaemonSet, fields []string) {
	for _, f := range agentFields {
		if slices.Contains(fields, "DaemonSet.apps "+AgentName+" - "+f.path) {
			f.set(desired, live)
		}
	}
}

// AgentConflicts implements fakeaws.AgentConflictChecker: the conflicts
// between the lab's kube-system/eks-pod-identity-agent, when EKS did not
// install it, and the add-on spec would apply.
func (hd *Handle) AgentConflicts(ctx context.Context, spec fakeaws.AgentSpec) ([]string, error) {
	desired, err := AgentDaemonSet(spec.Cluster, spec.Version, spec.Configuration)
	if err != nil {
		return nil, err
	}
	live, err := hd.hub.client.AppsV1().DaemonSets(AgentNamespace).Get(ctx, AgentName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get DaemonSet %s/%s: %w", AgentNamespace, AgentName, err)
	}
	return DaemonSetConflicts(live, desired), nil
}
