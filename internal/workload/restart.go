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

// Restart is the restart step: the workloads that run under the service
// account are restarted the way kubectl does, their rollout is awaited with
// kubectl's rules, and every new pod must carry the Pod Identity injection.
type Restart struct {
	Client         kubernetes.Interface
	Namespace      string
	ServiceAccount string
	Only           []kube.WorkloadRef // --workload; empty = every match
	// Force restarts even when every pod already has the injection.
	Force bool
	// ForceIf, when set, is asked in Apply whether an earlier step's change
	// (an association moved to another role) makes a restart necessary.
	ForceIf func() bool
	Now     func() time.Time

	plan restartPlan // from Check, for Apply
}

type restartPlan struct {
	workloads []kube.Workload
	restart   map[string]bool // ref -> needs the restart patch (else only wait)
}

// Name implements step.Step.
func (r *Restart) Name() string { return "restart" }

// restartWant is what the restart step wants of every new pod.
const restartWant = "have Pod Identity credentials"

func (r *Restart) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Check finds the workloads and decides which need a restart: a workload
// whose current pods all have the injection and whose rollout is complete is
// left alone; one whose current pods are injected but whose rollout is still
// going (a rerun after an interrupted run) is only awaited.
func (r *Restart) Check(ctx context.Context) (step.Plan, error) {
	matches, others, err := kube.FindWorkloads(ctx, r.Client, r.Namespace, r.ServiceAccount, r.Only)
	if err != nil {
		return step.Plan{}, err
	}
	if len(matches) == 0 {
		return step.Plan{}, kube.NoWorkloadsError(r.Namespace, r.ServiceAccount, others)
	}
	plan := restartPlan{restart: map[string]bool{}}
	var (
		changes, warnings, done []string
		pods                    []PodReport
	)
	for _, w := range matches {
		if err := kube.CheckRestartable(w); err != nil {
			return step.Plan{}, err
		}
		current, old, err := kube.CurrentPods(ctx, r.Client, w)
		if err != nil {
			return step.Plan{}, err
		}
		reps := podReports(w, current)
		pods = append(pods, reps...)
		injected := countInjected(reps)
		warnings = append(warnings, r.placementWarnings(ctx, w, current)...)
		msg, rolledOut, _ := kube.RolloutStatus(w.Object())
		switch {
		case !r.Force && len(current) > 0 && injected == len(current) && rolledOut && old == 0:
			done = append(done, fmt.Sprintf("%s: %d/%d pods have Pod Identity credentials", w.Ref(), injected, len(current)))
			continue
		case !r.Force && len(current) > 0 && injected == len(current):
			changes = append(changes, fmt.Sprintf("wait for the rollout of %s (its new pods are injected; %s)", w.Ref(), strings.TrimSpace(msg)))
		default:
			plan.restart[w.Ref()] = true
			changes = append(changes, fmt.Sprintf("restart %s (%d/%d pods have Pod Identity credentials)", w.Ref(), injected, len(current)))
		}
		plan.workloads = append(plan.workloads, w)
	}
	r.plan = plan
	details := &RestartDetails{Want: restartWant, Pods: pods}
	for _, w := range plan.workloads {
		if plan.restart[w.Ref()] {
			details.Restart = append(details.Restart, w.Ref())
		}
	}
	if len(plan.workloads) == 0 {
		return step.Plan{Satisfied: true, Summary: strings.Join(done, "; "), Warnings: warnings, Details: details}, nil
	}
	return step.Plan{Summary: fmt.Sprintf("%d workload(s) to restart", len(plan.restart)), Changes: changes, Warnings: warnings, Details: details}, nil
}

// Apply restarts, waits for each rollout and proves the injection.
func (r *Restart) Apply(ctx context.Context, p step.Plan, progress step.Progress) (step.Result, error) {
	return r.apply(ctx, r.plan, progress)
}

// Verify is called when Check found nothing to do; an earlier step may
// still require a restart (ForceIf).
func (r *Restart) Verify(ctx context.Context, p step.Plan, progress step.Progress) (step.Result, error) {
	if r.ForceIf == nil || !r.ForceIf() {
		return step.Result{}, nil
	}
	matches, _, err := kube.FindWorkloads(ctx, r.Client, r.Namespace, r.ServiceAccount, r.Only)
	if err != nil {
		return step.Result{}, err
	}
	plan := restartPlan{workloads: matches, restart: map[string]bool{}}
	for _, w := range matches {
		plan.restart[w.Ref()] = true
	}
	return r.apply(ctx, plan, progress)
}

func (r *Restart) apply(ctx context.Context, plan restartPlan, progress step.Progress) (step.Result, error) {
	if r.ForceIf != nil && r.ForceIf() {
		for _, w := range plan.workloads {
			plan.restart[w.Ref()] = true
		}
	}
	var (
		pods      = []PodReport{}
		summary   []string
		changes   []string
		problems  []string
		restarted []string
	)
	for _, w := range plan.workloads {
		if plan.restart[w.Ref()] {
			progress.Waiting("restarting " + w.Ref())
			if err := kube.Restart(ctx, r.Client, w, r.now()); err != nil {
				return step.Result{}, err
			}
			changes = append(changes, "restarted "+w.Ref())
			restarted = append(restarted, w.Ref())
		}
		res, err := kube.WaitRollout(ctx, r.Client, w, func(msg string) { progress.Waiting(w.Ref() + ": " + msg) })
		if err != nil {
			return step.Result{Changes: changes}, err
		}
		_ = res
		current, _, err := kube.CurrentPods(ctx, r.Client, w)
		if err != nil {
			return step.Result{Changes: changes}, err
		}
		reps := podReports(w, current)
		pods = append(pods, reps...)
		n := countInjected(reps)
		summary = append(summary, fmt.Sprintf("%s: %d/%d new pods have Pod Identity credentials", w.Ref(), n, len(current)))
		for _, pr := range reps {
			if !pr.Injected {
				problems = append(problems, fmt.Sprintf("pod %s lacks %s", pr.Pod, strings.Join(pr.Problems, ", ")))
			}
		}
	}
	res := step.Result{Summary: strings.Join(summary, "; "), Changes: changes, Details: &RestartDetails{Want: restartWant, Restarted: restarted, Pods: pods}}
	if len(problems) > 0 {
		return res, fail.Verifyf(
			fmt.Sprintf("the association may not have reached the webhook yet, or a pod skips it; check `podid verify-role` and the association, then run `podid restart --ns %s --sa %s --force`", r.Namespace, r.ServiceAccount),
			"new pods of %s/%s did not receive Pod Identity credentials: %s", r.Namespace, r.ServiceAccount, strings.Join(problems, "; "))
	}
	return res, nil
}

func (r *Restart) placementWarnings(ctx context.Context, w kube.Workload, pods []corev1.Pod) []string {
	placed, err := kube.PodsOnIneligibleNodes(ctx, r.Client, r.Namespace, pods)
	if err != nil {
		return []string{fmt.Sprintf("could not check the nodes of %s's pods: %v", w.Ref(), err)}
	}
	var out []string
	for _, p := range placed {
		out = append(out, fmt.Sprintf("pod %s of %s runs on node %s, which the agent does not serve (%s): it cannot get Pod Identity credentials there", p.Pod, w.Ref(), p.Node, p.Reason))
	}
	return out
}

func podReports(w kube.Workload, pods []corev1.Pod) []PodReport {
	out := make([]PodReport, 0, len(pods))
	for i := range pods {
		in := kube.CheckInjection(&pods[i])
		out = append(out, PodReport{Workload: w.Ref(), Pod: pods[i].Name, Node: pods[i].Spec.NodeName, Injected: in.Injected(), OK: in.Injected(), Problems: in.Missing, Warnings: in.Warnings})
	}
	return out
}

func countInjected(reps []PodReport) int {
	n := 0
	for _, r := range reps {
		if r.Injected {
			n++
		}
	}
	return n
}
