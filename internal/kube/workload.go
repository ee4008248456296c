package kube

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
)

// Workload kinds podid restarts.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
)

// RestartedAtAnnotation is the pod-template annotation kubectl rollout restart
// sets.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// FieldManager is podid's field manager for writes.
const FieldManager = "podid"

// Workload is a Deployment, StatefulSet or DaemonSet as podid sees it.
type Workload struct {
	Kind           string
	Name           string
	Namespace      string
	ServiceAccount string // the pod template's service account ("" in the spec means "default")
	Paused         bool   // Deployments only
	Replicas       int32  // spec.replicas (desiredNumberScheduled for DaemonSets)
	Generation     int64
	Selector       *metav1.LabelSelector
	UpdateStrategy string // RollingUpdate, Recreate or OnDelete
	Partition      int32  // StatefulSets: spec.updateStrategy.rollingUpdate.partition

	obj runtime.Object // the object as read
}

// Ref returns kind/name in kubectl's lower-case spelling, e.g. "deployment/carts".
func (w Workload) Ref() string { return strings.ToLower(w.Kind) + "/" + w.Name }

// Object returns a copy of the object as read (*appsv1.Deployment,
// *appsv1.StatefulSet or *appsv1.DaemonSet).
func (w Workload) Object() runtime.Object {
	if w.obj == nil {
		return nil
	}
	return w.obj.DeepCopyObject()
}

// templateSA is the service account of a pod template; empty means "default".
func templateSA(spec *corev1.PodSpec) string {
	if spec.ServiceAccountName != "" {
		return spec.ServiceAccountName
	}
	if spec.DeprecatedServiceAccount != "" {
		return spec.DeprecatedServiceAccount
	}
	return "default"
}

func fromDeployment(d *appsv1.Deployment) Workload {
	return Workload{
		Kind: KindDeployment, Name: d.Name, Namespace: d.Namespace,
		ServiceAccount: templateSA(&d.Spec.Template.Spec),
		Paused:         d.Spec.Paused,
		Replicas:       ptrOr(d.Spec.Replicas, 1),
		Generation:     d.Generation,
		Selector:       d.Spec.Selector,
		UpdateStrategy: string(d.Spec.Strategy.Type),
		obj:            d,
	}
}

func fromStatefulSet(s *appsv1.StatefulSet) Workload {
	return Workload{
		Kind: KindStatefulSet, Name: s.Name, Namespace: s.Namespace,
		ServiceAccount: templateSA(&s.Spec.Template.Spec),
		Replicas:       ptrOr(s.Spec.Replicas, 1),
		Generation:     s.Generation,
		Selector:       s.Spec.Selector,
		UpdateStrategy: string(s.Spec.UpdateStrategy.Type),
		Partition:      partition(s),
		obj:            s,
	}
}

func fromDaemonSet(d *appsv1.DaemonSet) Workload {
	return Workload{
		Kind: KindDaemonSet, Name: d.Name, Namespace: d.Namespace,
		ServiceAccount: templateSA(&d.Spec.Template.Spec),
		Replicas:       d.Status.DesiredNumberScheduled,
		Generation:     d.Generation,
		Selector:       d.Spec.Selector,
		UpdateStrategy: string(d.Spec.UpdateStrategy.Type),
		obj:            d,
	}
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// GetWorkload reads the workload named by kind and name.
func GetWorkload(ctx context.Context, client kubernetes.Interface, ns, kind, name string) (Workload, error) {
	var (
		w   Workload
		err error
	)
	switch kind {
	case KindDeployment:
		var d *appsv1.Deployment
		if d, err = client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			w = fromDeployment(d)
		}
	case KindStatefulSet:
		var s *appsv1.StatefulSet
		if s, err = client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			w = fromStatefulSet(s)
		}
	case KindDaemonSet:
		var d *appsv1.DaemonSet
		if d, err = client.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			w = fromDaemonSet(d)
		}
	default:
		return Workload{}, fmt.Errorf("workload kind %q is not supported", kind)
	}
	if err != nil {
		return Workload{}, fmt.Errorf("get %s %s/%s: %w", strings.ToLower(kind), ns, name, err)
	}
	return w, nil
}

func partition(s *appsv1.StatefulSet) int32 {
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		return *ru.Partition
	}
	return 0
}
