package kube

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// KindReplicaSet is a ReplicaSet that no Deployment controls.
const KindReplicaSet = "ReplicaSet"

// Owner is who answers for a pod, and how the pod gets a change of its
// service account's identity: the pod's controller, followed from a
// ReplicaSet to its Deployment and from a Job to its CronJob.
type Owner struct {
	Kind string // KindDeployment, KindStatefulSet, KindDaemonSet, KindCronJob, KindJob, KindReplicaSet, another controller's kind, or "" (no controller)
	Name string
	// Restartable: a restart of the workload (podid restart) replaces the
	// pod. False for a paused Deployment, an OnDelete StatefulSet or
	// DaemonSet, a StatefulSet pod below the partition, and every other kind.
	Restartable bool
	// Cause says why the pod is not restartable, as a group heading:
	// "statefulset/db uses the OnDelete update strategy".
	Cause string
	// Fix is what replaces the pod when it is not restartable.
	Fix string
	// DeletePods: the fix is to delete the pods (their controller, if any,
	// recreates them); messages end it with the kubectl command.
	DeletePods bool
	// CronJob is the CronJob of a Job's pod (nil otherwise).
	CronJob *CronJob
}

// Ref is "kind/name", or "" for a pod without a controller.
func (o Owner) Ref() string {
	if o.Kind == "" {
		return ""
	}
	return strings.ToLower(o.Kind) + "/" + o.Name
}

// Owners resolves pod owners, reading each controller once.
type Owners struct {
	Client kubernetes.Interface
	Now    time.Time // for CronJob schedules
	// Known are owners already known by pod UID (the pods of workloads the
	// caller has read), which need no read.
	Known map[types.UID]Owner
	objs  map[string]any // kind/ns/name -> object or nil (not found)
}

// OwnerOf returns the owner of pod p.
func (o *Owners) OwnerOf(ctx context.Context, p *corev1.Pod) (Owner, error) {
	if own, ok := o.Known[p.UID]; ok {
		return own, nil
	}
	ref := metav1.GetControllerOf(p)
	if ref == nil {
		return Owner{Cause: "no controller", Fix: "delete and create it again from its manifest", DeletePods: true}, nil
	}
	switch {
	case ref.Kind == KindReplicaSet && apiGroup(ref.APIVersion) == "apps":
		rs, err := get(ctx, o, "rs", p.Namespace, ref.Name, func() (*appsv1.ReplicaSet, error) {
			return o.Client.AppsV1().ReplicaSets(p.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		})
		if err != nil {
			return Owner{}, err
		}
		if rs != nil {
			if d := metav1.GetControllerOf(rs); d != nil && d.Kind == KindDeployment {
				return o.workloadOwner(ctx, p, KindDeployment, d.Name)
			}
		}
		return Owner{Kind: KindReplicaSet, Name: ref.Name, Cause: "replicaset/" + ref.Name + " (no Deployment, podid does not restart it)",
			Fix: "delete the pods; the ReplicaSet recreates them", DeletePods: true}, nil
	case (ref.Kind == KindStatefulSet || ref.Kind == KindDaemonSet) && apiGroup(ref.APIVersion) == "apps":
		return o.workloadOwner(ctx, p, ref.Kind, ref.Name)
	case ref.Kind == KindJob && apiGroup(ref.APIVersion) == "batch":
		job, err := get(ctx, o, "job", p.Namespace, ref.Name, func() (*batchv1.Job, error) {
			return o.Client.BatchV1().Jobs(p.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		})
		if err != nil {
			return Owner{}, err
		}
		if job != nil {
			if c := metav1.GetControllerOf(job); c != nil && c.Kind == KindCronJob {
				cj, err := get(ctx, o, "cronjob", p.Namespace, c.Name, func() (*batchv1.CronJob, error) {
					return o.Client.BatchV1().CronJobs(p.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
				})
				if err != nil {
					return Owner{}, err
				}
				if cj != nil {
					info := cronJobOf(cj, o.Now)
					return Owner{Kind: KindCronJob, Name: c.Name, CronJob: &info, Cause: "cronjob/" + c.Name + "'s running job " + ref.Name,
						Fix: fmt.Sprintf("its next run (%s) gets the change; to run it now: kubectl -n %s delete job %s && kubectl -n %s create job --from=cronjob/%s %s-podid",
							info.NextRunText(), p.Namespace, ref.Name, p.Namespace, c.Name, c.Name)}, nil
				}
			}
		}
		return Owner{Kind: KindJob, Name: ref.Name, Cause: "job/" + ref.Name + " (podid does not restart Jobs)",
			Fix: fmt.Sprintf("delete the Job and create it again from its manifest: kubectl -n %s delete job %s, then kubectl apply -f <its manifest>", p.Namespace, ref.Name)}, nil
	}
	kind := strings.ToLower(ref.Kind)
	return Owner{Kind: ref.Kind, Name: ref.Name, Cause: fmt.Sprintf("%s/%s (%s %s, which podid does not restart)", kind, ref.Name, article(ref.Kind), ref.Kind),
		Fix: "restart it with its own tooling, or delete the pods so that it recreates them", DeletePods: true}, nil
}

// workloadOwner reads the Deployment, StatefulSet or DaemonSet and says
// whether a restart replaces pod p.
func (o *Owners) workloadOwner(ctx context.Context, p *corev1.Pod, kind, name string) (Owner, error) {
	w, err := get(ctx, o, strings.ToLower(kind), p.Namespace, name, func() (*Workload, error) {
		w, err := GetWorkload(ctx, o.Client, p.Namespace, kind, name)
		return &w, err
	})
	if err != nil {
		return Owner{}, err
	}
	if w == nil {
		return Owner{Kind: kind, Name: name, Restartable: true}, nil
	}
	return WorkloadOwner(*w, p), nil
}

// WorkloadOwner is the Owner of pod p of workload w: restartable, unless
// w keeps the pod (Kept) or is a paused Deployment.
func WorkloadOwner(w Workload, p *corev1.Pod) Owner {
	own := Owner{Kind: w.Kind, Name: w.Name, Restartable: true}
	if keep, cause := Kept(w, p); keep {
		own.Restartable, own.Cause = false, cause
		own.Fix, own.DeletePods = "delete the pods; the controller recreates them", true
	} else if w.Kind == KindDeployment && w.Paused {
		own.Restartable, own.Cause = false, "deployment/"+w.Name+" is paused"
		own.Fix = fmt.Sprintf("resume it, then restart it: kubectl -n %s rollout resume deployment/%s", w.Namespace, w.Name)
	}
	return own
}

// Kept reports whether a template change (a restart) leaves pod p of w in
// place, and why: every pod of a workload with the OnDelete update
// strategy, and the pods of a StatefulSet whose ordinal is below its
// rolling-update partition.
func Kept(w Workload, p *corev1.Pod) (bool, string) {
	if w.UpdateStrategy == string(appsv1.OnDeleteStatefulSetStrategyType) {
		return true, fmt.Sprintf("%s uses the OnDelete update strategy", w.Ref())
	}
	if part := w.Partition; part > 0 {
		if n, ok := PodOrdinal(w.Name, p); ok && n < int(part) {
			return true, fmt.Sprintf("%s's partition %d keeps pods below ordinal %d on their revision", w.Ref(), part, part)
		}
	}
	return false, ""
}

// Rolls reports whether a restart of w replaces any pod: not with the
// OnDelete update strategy, nor with a StatefulSet partition at or above
// its replicas.
func (w Workload) Rolls() bool {
	if w.UpdateStrategy == string(appsv1.OnDeleteStatefulSetStrategyType) {
		return false
	}
	return w.Kind != KindStatefulSet || w.Partition < w.Replicas
}

// PodOrdinal is the ordinal of a StatefulSet's pod: the
// apps.kubernetes.io/pod-index label, else the number after "<sts>-".
func PodOrdinal(sts string, p *corev1.Pod) (int, bool) {
	s, ok := p.Labels[appsv1.PodIndexLabel]
	if !ok {
		rest, found := strings.CutPrefix(p.Name, sts+"-")
		if !found {
			return 0, false
		}
		s = rest
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// ServiceAccountPods returns the running pods of namespace ns (not
// terminating, not finished) whose service account is sa, sorted by name.
func ServiceAccountPods(ctx context.Context, client kubernetes.Interface, ns, sa string) ([]corev1.Pod, error) {
	list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods in namespace %s: %w", ns, err)
	}
	var out []corev1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		if templateSA(&p.Spec) == sa && PodRunning(p) {
			out = append(out, *p)
		}
	}
	sortPods(out)
	return out, nil
}

// PodRunning reports a pod that is not terminating and has not finished.
func PodRunning(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

func apiGroup(apiVersion string) string {
	g, _, found := strings.Cut(apiVersion, "/")
	if !found {
		return ""
	}
	return g
}

// get reads an object once per Owners; a missing object is nil.
func get[T any](ctx context.Context, o *Owners, kind, ns, name string, read func() (*T, error)) (*T, error) {
	if o.objs == nil {
		o.objs = map[string]any{}
	}
	key := kind + "/" + ns + "/" + name
	if v, ok := o.objs[key]; ok {
		t, _ := v.(*T)
		return t, nil
	}
	t, err := read()
	if apierrors.IsNotFound(err) {
		o.objs[key] = (*T)(nil)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", kind, ns, name, err)
	}
	o.objs[key] = t
	return t, nil
}

func article(word string) string {
	if word != "" && strings.ContainsRune("AEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}

// FixLine is the fix of owner o for pods (names, in namespace ns): o.Fix,
// ended by the kubectl command that deletes them when that is the fix.
func FixLine(o Owner, ns string, pods []string) string {
	if !o.DeletePods {
		return o.Fix
	}
	return fmt.Sprintf("%s: kubectl -n %s delete pod %s", o.Fix, ns, strings.Join(pods, " "))
}
