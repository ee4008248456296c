package workload

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/step"
)

// Restart is the restart step, the one restart used by enable, restart,
// apply, migrate and disable: the workloads that run under the service
// account and whose pods are not all good are restarted the way kubectl
// does, their rollout is awaited with kubectl's rules, and every new pod
// must then be good. By default a good pod carries the Pod Identity
// injection; Problems gives another definition (disable: no injection;
// migrate: the injection and no IRSA variables).
type Restart struct {
	Client         kubernetes.Interface
	Namespace      string
	ServiceAccount string
	Only           []kube.WorkloadRef // --workload; empty = every match
	// Force restarts even when every pod is already good.
	Force bool
	// ForceIf, when set, is asked in Apply whether an earlier step's change
	// (an association moved to another role) makes a restart necessary.
	ForceIf func() bool

	// Problems lists what is wrong with a pod; empty means good. nil means
	// "lacks the Pod Identity injection" (kube.Injection.Missing).
	Problems func(pod *corev1.Pod) []string
	// Want describes a good pod, for messages; default "have Pod Identity
	// credentials".
	Want string
	// Hint is the hint of the error when new pods are not good; default:
	// check the association and restart with --force.
	Hint string
	// NoWorkloadsOK makes a service account without workloads satisfied
	// instead of an error.
	NoWorkloadsOK bool

	Now func() time.Time

	plan restartPlan // from Check, for Apply
}

type restartPlan struct {
	workloads []kube.Workload
	restart   map[string]bool // ref -> needs the restart patch (else only wait)
}

// Name implements step.Step.
func (r *Restart) Name() string { return "restart" }

func (r *Restart) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// WantCredentials is what the restart step wants of every new pod unless
// Restart.Want says otherwise.
const WantCredentials = "have Pod Identity credentials"

func (r *Restart) want() string {
	if r.Want != "" {
		return r.Want
	}
	return WantCredentials
}

func (r *Restart) problems(p *corev1.Pod, in kube.Injection) []string {
	if r.Problems != nil {
		return r.Problems(p)
	}
	return in.Missing
}

// reports checks each pod; bad lists the bad ones with why.
func (r *Restart) reports(w kube.Workload, pods []corev1.Pod) (out []PodReport, bad []string) {
	out = make([]PodReport, 0, len(pods))
	for i := range pods {
		p := &pods[i]
		in := kube.CheckInjection(p)
		probs := r.problems(p, in)
		out = append(out, PodReport{Workload: w.Ref(), Pod: p.Name, Node: p.Spec.NodeName, Injected: in.Injected(), OK: len(probs) == 0, Problems: probs, Warnings: in.Warnings, UID: p.UID})
		if len(probs) > 0 {
			bad = append(bad, fmt.Sprintf("pod %s: %s", p.Name, strings.Join(probs, ", ")))
		}
	}
	return out, bad
}

// Check finds the workloads and decides which need a restart: a workload
// whose pods are all good and whose rollout is complete is left alone; one
// whose pods are good but whose rollout is still going (a rerun after an
// interrupted run) is only awaited. Pods that a restart would not replace
// (OnDelete, below a StatefulSet partition) and the service account's
// other pods (CronJobs, Jobs, pods without a controller, other
// controllers) are accounted for in the warnings, one line per cause with
// its fix; a CronJob's line gives its next run.
func (r *Restart) Check(ctx context.Context) (step.Plan, error) {
	matches, others, err := kube.FindWorkloads(ctx, r.Client, r.Namespace, r.ServiceAccount, r.Only)
	if err != nil {
		return step.Plan{}, err
	}
	plan := restartPlan{restart: map[string]bool{}}
	var changes, warnings, done []string
	pods := []PodReport{}
	known := map[types.UID]kube.Owner{}
	for _, w := range matches {
		if err := kube.CheckRestartable(w); err != nil {
			return step.Plan{}, err
		}
		current, old, err := kube.WorkloadPods(ctx, r.Client, w)
		if err != nil {
			return step.Plan{}, err
		}
		for _, ps := range [][]corev1.Pod{current, old} {
			for i := range ps {
				known[ps[i].UID] = kube.WorkloadOwner(w, &ps[i])
			}
		}
		rolling := rollingPods(w, current)
		oldRolling := len(rollingPods(w, old))
		reps, bad := r.reports(w, rolling)
		pods = append(pods, reps...)
		warnings = append(warnings, r.placementWarnings(ctx, w, current)...)
		if !w.Rolls() {
			continue // OnDelete, or every pod below the partition: accounted for
		}
		msg, rolledOut, _ := kube.RolloutStatus(w.Object())
		good := len(rolling) - len(bad)
		switch {
		case !r.Force && len(rolling) > 0 && len(bad) == 0 && rolledOut && oldRolling == 0:
			done = append(done, fmt.Sprintf("%s: %d/%d pods %s", w.Ref(), good, len(rolling), r.want()))
			continue
		case !r.Force && len(rolling) > 0 && len(bad) == 0:
			changes = append(changes, fmt.Sprintf("wait for the rollout of %s (its new pods %s; %s)", w.Ref(), r.want(), strings.TrimSpace(msg)))
		default:
			plan.restart[w.Ref()] = true
			changes = append(changes, fmt.Sprintf("restart %s (%d/%d pods %s)", w.Ref(), good, len(rolling), r.want()))
		}
		plan.workloads = append(plan.workloads, w)
	}
	acct, err := r.account(ctx, matches, known)
	if err != nil {
		return step.Plan{}, err
	}
	details := &RestartDetails{Want: r.want(), Pods: pods, NotRestarted: acct.pods}
	if len(matches) == 0 {
		if r.NoWorkloadsOK || len(acct.pods) > 0 || len(acct.lines) > 0 {
			return step.Plan{Satisfied: true, Summary: fmt.Sprintf("no deployment, statefulset or daemonset runs under %s/%s", r.Namespace, r.ServiceAccount),
				Warnings: acct.lines, Details: details}, nil
		}
		return step.Plan{}, kube.NoWorkloadsError(r.Namespace, r.ServiceAccount, others)
	}
	r.plan = plan
	for _, w := range plan.workloads {
		if plan.restart[w.Ref()] {
			details.Restart = append(details.Restart, w.Ref())
		}
	}
	warnings = append(warnings, acct.lines...)
	if len(plan.workloads) == 0 {
		if len(done) == 0 {
			done = append(done, fmt.Sprintf("no workload of %s/%s that a restart would change", r.Namespace, r.ServiceAccount))
		}
		return step.Plan{Satisfied: true, Summary: strings.Join(done, "; "), Warnings: warnings, Details: details}, nil
	}
	return step.Plan{Summary: plural(len(plan.restart), "workload", "workloads") + " to restart", Changes: changes, Warnings: warnings, Details: details}, nil
}

// rollingPods returns the pods that a restart of w replaces (not
// kube.Kept).
func rollingPods(w kube.Workload, pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for i := range pods {
		if k, _ := kube.Kept(w, &pods[i]); !k {
			out = append(out, pods[i])
		}
	}
	return out
}

// Apply restarts, waits for each rollout and checks every new pod.
func (r *Restart) Apply(ctx context.Context, _ step.Plan, progress step.Progress) (step.Result, error) {
	return r.apply(ctx, r.plan, progress)
}

// Verify is called when Check found nothing to do; an earlier step may
// still require a restart (ForceIf).
func (r *Restart) Verify(ctx context.Context, _ step.Plan, progress step.Progress) (step.Result, error) {
	if r.ForceIf == nil || !r.ForceIf() {
		return step.Result{}, nil
	}
	matches, _, err := kube.FindWorkloads(ctx, r.Client, r.Namespace, r.ServiceAccount, r.Only)
	if err != nil {
		return step.Result{}, err
	}
	plan := restartPlan{restart: map[string]bool{}}
	for _, w := range matches {
		if w.Rolls() {
			plan.workloads = append(plan.workloads, w)
			plan.restart[w.Ref()] = true
		}
	}
	return r.apply(ctx, plan, progress)
}

func (r *Restart) apply(ctx context.Context, plan restartPlan, progress step.Progress) (step.Result, error) {
	if r.ForceIf != nil && r.ForceIf() {
		for _, w := range plan.workloads {
			plan.restart[w.Ref()] = true
		}
	}
	var summary, changes, problems, restarted []string
	pods := []PodReport{}
	for _, w := range plan.workloads {
		if plan.restart[w.Ref()] {
			progress.Waiting("restarting " + w.Ref())
			if err := kube.Restart(ctx, r.Client, w, r.now()); err != nil {
				return step.Result{Changes: changes}, err
			}
			changes = append(changes, "restarted "+w.Ref())
			restarted = append(restarted, w.Ref())
		}
		if _, err := kube.WaitRollout(ctx, r.Client, w, func(msg string) { progress.Waiting(w.Ref() + ": " + msg) }); err != nil {
			return step.Result{Changes: changes}, err
		}
		current, _, err := kube.CurrentPods(ctx, r.Client, w)
		if err != nil {
			return step.Result{Changes: changes}, err
		}
		rolling := rollingPods(w, current)
		reps, bad := r.reports(w, rolling)
		pods = append(pods, reps...)
		problems = append(problems, bad...)
		summary = append(summary, fmt.Sprintf("%s: %d/%d new pods %s", w.Ref(), len(rolling)-len(bad), len(rolling), r.want()))
	}
	res := step.Result{Summary: strings.Join(summary, "; "), Changes: changes, Details: &RestartDetails{Want: r.want(), Restarted: restarted, Pods: pods}}
	if len(problems) > 0 {
		hint := r.Hint
		if hint == "" {
			hint = fmt.Sprintf("the association may not have reached the webhook yet, or a pod skips it; check `podid verify-role` and the association, then run `podid restart --ns %s --sa %s --force`", r.Namespace, r.ServiceAccount)
		}
		return res, fail.Verifyf(hint, "new pods of %s/%s should %s, but: %s", r.Namespace, r.ServiceAccount, r.want(), strings.Join(problems, "; "))
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
