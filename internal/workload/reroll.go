package workload

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/step"
)

// Reroll is a restart step with its own definition of a good pod: the
// workloads of the service account whose current pods are not all good (or
// whose rollout is unfinished) are restarted as kubectl does, awaited, and
// every new pod must then be good. disable uses "no Pod Identity injection";
// migrate uses "Pod Identity injection and no IRSA variables".
type Reroll struct {
	Client         kubernetes.Interface
	Namespace      string
	ServiceAccount string
	// Problems lists what is wrong with a pod; empty means good.
	Problems func(pod *corev1.Pod) []string
	// Want describes a good pod, for messages ("have no Pod Identity injection").
	Want string
	// Hint is the hint of the verification error.
	Hint string
	// NoWorkloadsOK makes a service account without workloads satisfied
	// instead of an error.
	NoWorkloadsOK bool
	Now           func() time.Time

	plan []kube.Workload
}

// Name implements step.Step.
func (r *Reroll) Name() string { return "restart" }

func (r *Reroll) reports(w kube.Workload, pods []corev1.Pod) (out []PodReport, bad []string) {
	for i := range pods {
		p := r.Problems(&pods[i])
		in := kube.CheckInjection(&pods[i])
		out = append(out, PodReport{Workload: w.Ref(), Pod: pods[i].Name, Node: pods[i].Spec.NodeName, Injected: in.Injected(), OK: len(p) == 0, Problems: p})
		if len(p) > 0 {
			bad = append(bad, fmt.Sprintf("pod %s: %s", pods[i].Name, strings.Join(p, "; ")))
		}
	}
	return out, bad
}

// Check finds the workloads and those that need a restart.
func (r *Reroll) Check(ctx context.Context) (step.Plan, error) {
	matches, others, err := kube.FindWorkloads(ctx, r.Client, r.Namespace, r.ServiceAccount, nil)
	if err != nil {
		return step.Plan{}, err
	}
	if len(matches) == 0 {
		if r.NoWorkloadsOK {
			return step.Plan{Satisfied: true, Summary: fmt.Sprintf("no workload runs under %s/%s", r.Namespace, r.ServiceAccount),
				Details: &RestartDetails{Want: r.Want, Pods: []PodReport{}}}, nil
		}
		return step.Plan{}, kube.NoWorkloadsError(r.Namespace, r.ServiceAccount, others)
	}
	r.plan = nil
	var changes, done []string
	pods := []PodReport{}
	for _, w := range matches {
		if err := kube.CheckRestartable(w); err != nil {
			return step.Plan{}, err
		}
		current, old, err := kube.CurrentPods(ctx, r.Client, w)
		if err != nil {
			return step.Plan{}, err
		}
		reps, bad := r.reports(w, current)
		pods = append(pods, reps...)
		_, rolledOut, _ := kube.RolloutStatus(w.Object())
		if len(bad) == 0 && rolledOut && old == 0 {
			done = append(done, fmt.Sprintf("%s: %d/%d pods %s", w.Ref(), len(current), len(current), r.Want))
			continue
		}
		r.plan = append(r.plan, w)
		changes = append(changes, fmt.Sprintf("restart %s (%d/%d pods %s)", w.Ref(), len(current)-len(bad), len(current), r.Want))
	}
	details := &RestartDetails{Want: r.Want, Pods: pods}
	for _, w := range r.plan {
		details.Restart = append(details.Restart, w.Ref())
	}
	if len(r.plan) == 0 {
		return step.Plan{Satisfied: true, Summary: strings.Join(done, "; "), Details: details}, nil
	}
	return step.Plan{Summary: fmt.Sprintf("%d workload(s) to restart", len(r.plan)), Changes: changes, Details: details}, nil
}

// Apply restarts, waits for each rollout and checks every new pod.
func (r *Reroll) Apply(ctx context.Context, _ step.Plan, progress step.Progress) (step.Result, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	var (
		summary, changes, problems, restarted []string
		pods                                  = []PodReport{}
	)
	for _, w := range r.plan {
		progress.Waiting("restarting " + w.Ref())
		if err := kube.Restart(ctx, r.Client, w, now()); err != nil {
			return step.Result{Changes: changes}, err
		}
		changes = append(changes, "restarted "+w.Ref())
		restarted = append(restarted, w.Ref())
		if _, err := kube.WaitRollout(ctx, r.Client, w, func(msg string) { progress.Waiting(w.Ref() + ": " + msg) }); err != nil {
			return step.Result{Changes: changes}, err
		}
		current, _, err := kube.CurrentPods(ctx, r.Client, w)
		if err != nil {
			return step.Result{Changes: changes}, err
		}
		reps, bad := r.reports(w, current)
		pods = append(pods, reps...)
		problems = append(problems, bad...)
		summary = append(summary, fmt.Sprintf("%s: %d/%d new pods %s", w.Ref(), len(current)-len(bad), len(current), r.Want))
	}
	res := step.Result{Summary: strings.Join(summary, "; "), Changes: changes, Details: &RestartDetails{Want: r.Want, Restarted: restarted, Pods: pods}}
	if len(problems) > 0 {
		return res, fail.Verifyf(r.Hint, "new pods of %s/%s should %s, but: %s", r.Namespace, r.ServiceAccount, r.Want, strings.Join(problems, "; "))
	}
	return res, nil
}
