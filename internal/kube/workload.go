package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/podid/podid/internal/fail"
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

// WorkloadRef names a workload on the command line: "deployment/carts",
// "sts/db", or a bare name (any kind).
type WorkloadRef struct {
	Kind string // KindDeployment, KindStatefulSet, KindDaemonSet, or "" for any
	Name string
}

func (r WorkloadRef) String() string {
	if r.Kind == "" {
		return r.Name
	}
	return strings.ToLower(r.Kind) + "/" + r.Name
}

// Matches reports whether w is the workload r names.
func (r WorkloadRef) Matches(w Workload) bool {
	return r.Name == w.Name && (r.Kind == "" || r.Kind == w.Kind)
}

// ParseWorkloadRef parses "kind/name" with kubectl's kind spellings
// (deployment, deployments, deploy, statefulset, statefulsets, sts,
// daemonset, daemonsets, ds; any case, optional ".apps" group) or a bare name.
func ParseWorkloadRef(s string) (WorkloadRef, error) {
	kind, name, found := strings.Cut(strings.TrimSpace(s), "/")
	if !found {
		name, kind = kind, ""
	}
	if name == "" || strings.Contains(name, "/") {
		return WorkloadRef{}, fail.Usagef("write it as deployment/NAME, statefulset/NAME or daemonset/NAME",
			"workload %q: want KIND/NAME or NAME", s)
	}
	if !found {
		return WorkloadRef{Name: name}, nil
	}
	k := strings.TrimSuffix(strings.ToLower(kind), ".apps")
	switch k {
	case "deployment", "deployments", "deploy":
		return WorkloadRef{Kind: KindDeployment, Name: name}, nil
	case "statefulset", "statefulsets", "sts":
		return WorkloadRef{Kind: KindStatefulSet, Name: name}, nil
	case "daemonset", "daemonsets", "ds":
		return WorkloadRef{Kind: KindDaemonSet, Name: name}, nil
	}
	return WorkloadRef{}, fail.Usagef("podid restarts deployments, statefulsets and daemonsets",
		"workload %q: unsupported kind %q", s, kind)
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

// FindWorkloads lists the Deployments, StatefulSets and DaemonSets of
// namespace ns and splits them into those whose pod template uses service
// account sa (matches) and the rest (others, each with the service account it
// uses, for NoWorkloadsError). With only non-empty, matches and others are
// limited to the named workloads, and a name that matches nothing is an
// error. A missing namespace is an error.
func FindWorkloads(ctx context.Context, client kubernetes.Interface, ns, sa string, only []WorkloadRef) (matches, others []Workload, err error) {
	if err := checkNamespace(ctx, client, ns); err != nil {
		return nil, nil, err
	}
	var all []Workload
	deps, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list deployments in namespace %s: %w", ns, err)
	}
	for i := range deps.Items {
		all = append(all, fromDeployment(&deps.Items[i]))
	}
	stss, err := client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list statefulsets in namespace %s: %w", ns, err)
	}
	for i := range stss.Items {
		all = append(all, fromStatefulSet(&stss.Items[i]))
	}
	dss, err := client.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list daemonsets in namespace %s: %w", ns, err)
	}
	for i := range dss.Items {
		all = append(all, fromDaemonSet(&dss.Items[i]))
	}
	matches, others, err = SplitWorkloads(all, sa, only)
	if err != nil {
		return nil, nil, fmt.Errorf("namespace %s: %w", ns, err)
	}
	return matches, others, nil
}

// SplitWorkloads is FindWorkloads' pure part: it filters all by only (when
// non-empty) and splits by service account. Both results are sorted by kind
// then name.
func SplitWorkloads(all []Workload, sa string, only []WorkloadRef) (matches, others []Workload, err error) {
	var missing []string
	for _, r := range only {
		if !slices.ContainsFunc(all, r.Matches) {
			missing = append(missing, r.String())
		}
	}
	if len(missing) > 0 {
		var have []string
		for _, w := range all {
			have = append(have, w.Ref())
		}
		hint := "the namespace has no deployment, statefulset or daemonset"
		if len(have) > 0 {
			hint = "workloads there: " + strings.Join(have, ", ")
		}
		return nil, nil, fail.Errorf(hint, "workload %s not found", strings.Join(missing, ", "))
	}
	for _, w := range all {
		if len(only) > 0 && !slices.ContainsFunc(only, func(r WorkloadRef) bool { return r.Matches(w) }) {
			continue
		}
		if w.ServiceAccount == sa {
			matches = append(matches, w)
		} else {
			others = append(others, w)
		}
	}
	sortWorkloads(matches)
	sortWorkloads(others)
	return matches, others, nil
}

var kindOrder = map[string]int{KindDeployment: 0, KindStatefulSet: 1, KindDaemonSet: 2}

func sortWorkloads(ws []Workload) {
	slices.SortFunc(ws, func(a, b Workload) int {
		if a.Kind != b.Kind {
			return kindOrder[a.Kind] - kindOrder[b.Kind]
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// NoWorkloadsError is the error for "no workload uses the service account";
// it lists what the other workloads use.
func NoWorkloadsError(ns, sa string, others []Workload) error {
	if len(others) == 0 {
		return fail.Verifyf("deploy the workload with serviceAccountName: "+sa+", then run podid again",
			"no deployment, statefulset or daemonset in namespace %s uses service account %s (the namespace has none)", ns, sa)
	}
	var uses []string
	for _, w := range others {
		uses = append(uses, fmt.Sprintf("%s uses %s", w.Ref(), w.ServiceAccount))
	}
	return fail.Verifyf("set spec.template.spec.serviceAccountName: "+sa+" in the workload, or pass --sa with the service account it uses",
		"no deployment, statefulset or daemonset in namespace %s uses service account %s: %s", ns, sa, strings.Join(uses, "; "))
}

func checkNamespace(ctx context.Context, client kubernetes.Interface, ns string) error {
	_, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return NamespaceNotFound(ns)
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", ns, err)
	}
	return nil
}

// NamespaceNotFound is the error for a missing namespace.
func NamespaceNotFound(ns string) error {
	return fail.Verifyf("create it with `kubectl create namespace "+ns+"` or check --ns",
		"namespace %q not found; create it or check --ns", ns)
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

// CheckRestartable reports why w cannot be restarted the kubectl way: a
// paused Deployment never rolls out, and with the OnDelete strategy the
// controller does not replace running pods.
func CheckRestartable(w Workload) error {
	if w.Kind == KindDeployment && w.Paused {
		return fail.Verifyf(fmt.Sprintf("run `kubectl -n %s rollout resume deployment/%s` first", w.Namespace, w.Name),
			"deployment %q is paused; run kubectl -n %s rollout resume deployment/%s first", w.Name, w.Namespace, w.Name)
	}
	if w.UpdateStrategy == string(appsv1.OnDeleteStatefulSetStrategyType) {
		return fail.Verifyf(fmt.Sprintf("delete its pods with `kubectl -n %s delete pod -l …`, or switch %s to the RollingUpdate strategy", w.Namespace, w.Ref()),
			"%s %s/%s uses the OnDelete update strategy: a restart would not replace its pods", strings.ToLower(w.Kind), w.Namespace, w.Name)
	}
	return nil
}

// restartPatch is the strategic merge patch kubectl rollout restart sends.
func restartPatch(at string) []byte {
	return fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, RestartedAtAnnotation, at)
}

// RestartValue is the annotation value for a restart at now: RFC 3339 as
// kubectl writes it, or with nanoseconds when the workload was already
// restarted within the same second (kubectl fails then with an empty
// patch; podid's retry-after-missed-injection can hit that).
func RestartValue(now time.Time, previous string) string {
	v := now.Format(time.RFC3339)
	if v == previous {
		v = now.Format(time.RFC3339Nano)
	}
	return v
}

// Restart does `kubectl rollout restart` on w: it re-reads the workload,
// refuses paused Deployments and OnDelete workloads (CheckRestartable), and
// patches the pod template's restartedAt annotation (strategic merge patch,
// field manager "podid"). Conflicts and transient API errors are retried.
func Restart(ctx context.Context, client kubernetes.Interface, w Workload, now time.Time) error {
	var attempt int
	err := retry.OnError(retry.DefaultBackoff, isTransient, func() error {
		attempt++
		cur, err := GetWorkload(ctx, client, w.Namespace, w.Kind, w.Name)
		if err != nil {
			return err
		}
		if err := CheckRestartable(cur); err != nil {
			return err
		}
		prev := templateAnnotations(cur.obj)[RestartedAtAnnotation]
		patch := restartPatch(RestartValue(now, prev))
		opts := metav1.PatchOptions{FieldManager: FieldManager}
		apps := client.AppsV1()
		switch w.Kind {
		case KindDeployment:
			_, err = apps.Deployments(w.Namespace).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
		case KindStatefulSet:
			_, err = apps.StatefulSets(w.Namespace).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
		case KindDaemonSet:
			_, err = apps.DaemonSets(w.Namespace).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
		}
		return err
	})
	if err != nil {
		var fe *fail.Error
		if errors.As(err, &fe) {
			return err
		}
		return fmt.Errorf("restart %s in namespace %s: %w", w.Ref(), w.Namespace, err)
	}
	return nil
}

func templateAnnotations(obj runtime.Object) map[string]string {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return o.Spec.Template.Annotations
	case *appsv1.StatefulSet:
		return o.Spec.Template.Annotations
	case *appsv1.DaemonSet:
		return o.Spec.Template.Annotations
	}
	return nil
}

// isTransient reports API errors worth retrying.
func isTransient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return apierrors.IsConflict(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) ||
		apierrors.IsInternalError(err) || isConnReset(err)
}

func isConnReset(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection reset by peer") || strings.Contains(s, "connection refused") ||
		strings.Contains(s, "http2: client connection lost")
}
