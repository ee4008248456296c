package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/podid/podid/internal/fail"
)

// Rollout status, modelled on kubectl's status viewers
// (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go). podid does not
// import that package: it pulls in kubectl's describe, scheme and
// cli-runtime packages, whose init work (about 60 ms at start on the
// reference VM, binary 74 MB instead of 47 MB) would break --help's 30 ms
// budget. The rules are the same, in the same order; messages drop
// kubectl's trailing newline. One deliberate addition: a paused Deployment
// that has not finished is an error instead of an endless wait.

// progressDeadlineExceeded is the Progressing condition's reason when the
// deployment controller gives up (deploymentutil.TimedOutReason).
const progressDeadlineExceeded = "ProgressDeadlineExceeded"

// DeploymentStatus applies kubectl's Deployment rollout rules.
func DeploymentStatus(d *appsv1.Deployment) (msg string, done bool, err error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...", false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == progressDeadlineExceeded {
			return "", false, fail.Verifyf(
				fmt.Sprintf("see why its new pods do not become available: `kubectl -n %s describe deployment %s` and its pods' events", d.Namespace, d.Name),
				"deployment %q exceeded its progress deadline", d.Name)
		}
	}
	replicas := ptrOr(d.Spec.Replicas, 1)
	st := d.Status
	switch {
	case d.Spec.Replicas != nil && st.UpdatedReplicas < replicas:
		msg = fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", d.Name, st.UpdatedReplicas, replicas)
	case st.Replicas > st.UpdatedReplicas:
		msg = fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", d.Name, st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		msg = fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", d.Name, st.AvailableReplicas, st.UpdatedReplicas)
	default:
		return fmt.Sprintf("deployment %q successfully rolled out", d.Name), true, nil
	}
	if d.Spec.Paused {
		return msg, false, fail.Verifyf(
			fmt.Sprintf("run `kubectl -n %s rollout resume deployment/%s`", d.Namespace, d.Name),
			"deployment %q is paused and will not finish its rollout (%s)", d.Name, strings.TrimSuffix(msg, "..."))
	}
	return msg, false, nil
}

// DaemonSetStatus applies kubectl's DaemonSet rollout rules.
func DaemonSetStatus(d *appsv1.DaemonSet) (msg string, done bool, err error) {
	if d.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		return "", false, fail.Verifyf(
			fmt.Sprintf("switch daemonset/%s to the RollingUpdate strategy, or delete its pods yourself", d.Name),
			"daemon set %q uses the %s update strategy; rollout status is only available for RollingUpdate", d.Name, d.Spec.UpdateStrategy.Type)
	}
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for daemon set spec update to be observed...", false, nil
	}
	st := d.Status
	switch {
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...", d.Name, st.UpdatedNumberScheduled, st.DesiredNumberScheduled), false, nil
	case st.NumberAvailable < st.DesiredNumberScheduled:
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...", d.Name, st.NumberAvailable, st.DesiredNumberScheduled), false, nil
	}
	return fmt.Sprintf("daemon set %q successfully rolled out", d.Name), true, nil
}

// StatefulSetStatus applies kubectl's StatefulSet rollout rules, partitions
// included: with a partition, only the pods at or above it are updated.
func StatefulSetStatus(s *appsv1.StatefulSet) (msg string, done bool, err error) {
	if s.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return "", false, fail.Verifyf(
			fmt.Sprintf("switch statefulset/%s to the RollingUpdate strategy, or delete its pods yourself", s.Name),
			"statefulset %q uses the %s update strategy; rollout status is only available for RollingUpdate", s.Name, s.Spec.UpdateStrategy.Type)
	}
	st := s.Status
	if st.ObservedGeneration == 0 || s.Generation > st.ObservedGeneration {
		return "Waiting for statefulset spec update to be observed...", false, nil
	}
	if s.Spec.Replicas != nil && st.ReadyReplicas < *s.Spec.Replicas {
		return fmt.Sprintf("Waiting for %d pods to be ready...", *s.Spec.Replicas-st.ReadyReplicas), false, nil
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if s.Spec.Replicas != nil && ru.Partition != nil {
			want := *s.Spec.Replicas - *ru.Partition
			if st.UpdatedReplicas < want {
				return fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...", st.UpdatedReplicas, want), false, nil
			}
		}
		return fmt.Sprintf("partitioned roll out complete: %d new pods have been updated...", st.UpdatedReplicas), true, nil
	}
	if st.UpdateRevision != st.CurrentRevision {
		return fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...", st.UpdatedReplicas, st.UpdateRevision), false, nil
	}
	return fmt.Sprintf("statefulset rolling update complete %d pods at revision %s...", st.CurrentReplicas, st.CurrentRevision), true, nil
}

// RolloutStatus dispatches on the object's type.
func RolloutStatus(obj runtime.Object) (msg string, done bool, err error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return DeploymentStatus(o)
	case *appsv1.DaemonSet:
		return DaemonSetStatus(o)
	case *appsv1.StatefulSet:
		return StatefulSetStatus(o)
	}
	return "", false, fmt.Errorf("rollout status of %T is not supported", obj)
}

// RolloutResult is the end state of a finished rollout.
type RolloutResult struct {
	Message    string // kubectl's final message, e.g. `deployment "carts" successfully rolled out`
	Generation int64  // the generation that rolled out
	Object     runtime.Object
}

// WaitRollout watches w (a watch on the single object, re-listed when the
// watch expires) and evaluates the rollout rules on every change until the
// rollout is complete. onProgress (may be nil) receives each new status
// message. A deleted workload, a ProgressDeadlineExceeded Deployment, a
// paused Deployment or an OnDelete strategy end the wait with an error. When
// ctx ends first, the error wraps ctx's error and names the last status
// seen.
func WaitRollout(ctx context.Context, client kubernetes.Interface, w Workload, onProgress func(string)) (RolloutResult, error) {
	lw, objType, err := singleObjectListWatch(client, w)
	if err != nil {
		return RolloutResult{}, err
	}
	var (
		last   string
		result RolloutResult
	)
	precondition := func(store cache.Store) (bool, error) {
		_, exists, err := store.Get(&metav1.ObjectMeta{Namespace: w.Namespace, Name: w.Name})
		if err != nil {
			return true, err
		}
		if !exists {
			return true, apierrors.NewNotFound(schemaResource(w.Kind), w.Name)
		}
		return false, nil
	}
	_, err = watchtools.UntilWithSync(ctx, lw, objType, precondition, func(ev watch.Event) (bool, error) {
		switch ev.Type {
		case watch.Deleted:
			return false, fmt.Errorf("%s was deleted while waiting for its rollout", w.Ref())
		case watch.Added, watch.Modified:
		default:
			return false, nil
		}
		msg, done, err := RolloutStatus(ev.Object)
		if err != nil {
			return false, err
		}
		if msg != last {
			last = msg
			if onProgress != nil {
				onProgress(msg)
			}
		}
		if done {
			m, _ := metaOf(ev.Object)
			result = RolloutResult{Message: msg, Generation: m.GetGeneration(), Object: ev.Object}
		}
		return done, nil
	})
	if err == nil {
		return result, nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if last == "" {
			last = "no status seen yet"
		}
		return RolloutResult{}, fail.WithHint(
			fmt.Errorf("wait for rollout of %s in namespace %s: %w (last status: %s)", w.Ref(), w.Namespace, ctxErr, strings.TrimSuffix(last, "...")),
			fmt.Sprintf("check with `kubectl -n %s rollout status %s`, or raise --timeout", w.Namespace, w.Ref()))
	}
	var fe *fail.Error
	if errors.As(err, &fe) {
		return RolloutResult{}, err
	}
	return RolloutResult{}, fmt.Errorf("wait for rollout of %s in namespace %s: %w", w.Ref(), w.Namespace, err)
}

func metaOf(obj runtime.Object) (metav1.Object, bool) {
	m, ok := obj.(metav1.Object)
	return m, ok
}

func schemaResource(kind string) schema.GroupResource {
	return schema.GroupResource{Group: "apps", Resource: strings.ToLower(kind) + "s"}
}

// singleObjectListWatch lists and watches one workload by name.
func singleObjectListWatch(client kubernetes.Interface, w Workload) (*cache.ListWatch, runtime.Object, error) {
	sel := fields.OneTermEqualSelector("metadata.name", w.Name).String()
	apps := client.AppsV1()
	switch w.Kind {
	case KindDeployment:
		return byName(apps.Deployments(w.Namespace), sel), &appsv1.Deployment{}, nil
	case KindStatefulSet:
		return byName(apps.StatefulSets(w.Namespace), sel), &appsv1.StatefulSet{}, nil
	case KindDaemonSet:
		return byName(apps.DaemonSets(w.Namespace), sel), &appsv1.DaemonSet{}, nil
	}
	return nil, nil, fmt.Errorf("workload kind %q is not supported", w.Kind)
}

// listWatcher is the List and Watch of a typed client.
type listWatcher[L runtime.Object] interface {
	List(ctx context.Context, o metav1.ListOptions) (L, error)
	Watch(ctx context.Context, o metav1.ListOptions) (watch.Interface, error)
}

// byName is a ListWatch of c restricted by the field selector sel.
func byName[L runtime.Object](c listWatcher[L], sel string) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return c.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return c.Watch(ctx, o)
		},
	}
}
