package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/podid/podid/internal/fail"
)

// CheckRestartable reports why w cannot be restarted the kubectl way: a
// paused Deployment never rolls out, and with the OnDelete strategy the
// controller does not replace running pods.
func CheckRestartable(w Workload) error {
	if w.Kind == KindDeployment && w.Paused {
		return fail.Verifyf(fmt.Sprintf("run `kubectl -n %s rollout resume deployment/%s` first", w.Namespace, w.Name),
			"deployment %q is paused; run kubectl -n %s rollout resume deployment/%s first", w.Name, w.Namespace, w.Name)
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
