package workload

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/step"
)

// Propagation proves that the pod identity webhook injects new pods of the
// service account, by a server-side dry-run create of a probe pod, retried
// until it comes back mutated. Associations are eventually consistent and
// nothing announces that one is live; this replaces the workshop's sleep.
type Propagation struct {
	Client         kubernetes.Interface
	Namespace      string
	ServiceAccount string
	// Precondition, when set, runs in Check when the probe is not injected
	// yet (e.g. "an association exists"); its error stops the run.
	Precondition func(ctx context.Context) error
}

// Depropagation proves that the pod identity webhook no longer injects new
// pods of the service account (the association was deleted): Propagation's
// inverse, by the same probe and the same wait.
type Depropagation struct {
	Client         kubernetes.Interface
	Namespace      string
	ServiceAccount string
}

// Name implements step.Step.
func (p *Propagation) Name() string { return "propagation" }

// Name implements step.Step.
func (p *Depropagation) Name() string { return "propagation" }

// Check probes once.
func (p *Propagation) Check(ctx context.Context) (step.Plan, error) {
	return probeTarget{p.Client, p.Namespace, p.ServiceAccount, true}.check(ctx, p.Precondition)
}

// Apply waits until a probe pod is injected.
func (p *Propagation) Apply(ctx context.Context, _ step.Plan, progress step.Progress) (step.Result, error) {
	return probeTarget{p.Client, p.Namespace, p.ServiceAccount, true}.wait(ctx, progress)
}

// Check probes once. A missing service account means nothing is injected.
func (p *Depropagation) Check(ctx context.Context) (step.Plan, error) {
	return probeTarget{p.Client, p.Namespace, p.ServiceAccount, false}.check(ctx, nil)
}

// Apply waits until a probe pod comes back without any part of the
// injection.
func (p *Depropagation) Apply(ctx context.Context, _ step.Plan, progress step.Progress) (step.Result, error) {
	return probeTarget{p.Client, p.Namespace, p.ServiceAccount, false}.wait(ctx, progress)
}

// probeTarget is what both steps prove: new pods of ns/sa get the
// injection (injected) or none of it (!injected).
type probeTarget struct {
	client   kubernetes.Interface
	ns, sa   string
	injected bool
}

func (t probeTarget) subject() string { return t.ns + "/" + t.sa }

func (t probeTarget) reached(in kube.Injection) bool {
	if t.injected {
		return in.Injected()
	}
	return len(in.Parts()) == 0
}

func (t probeTarget) check(ctx context.Context, precondition func(context.Context) error) (step.Plan, error) {
	sa, err := kube.GetServiceAccount(ctx, t.client, t.ns, t.sa)
	if err != nil {
		return step.Plan{}, err
	}
	var in kube.Injection
	if sa.Exists {
		if in, err = kube.ProbeInjection(ctx, t.client, t.ns, t.sa); err != nil {
			return step.Plan{}, err
		}
	}
	switch {
	case !sa.Exists && !t.injected:
		return step.Plan{Satisfied: true, Summary: fmt.Sprintf("service account %s does not exist: nothing is injected", t.subject()),
			Details: &PropagationDetails{Injected: false}}, nil
	case sa.Exists && t.reached(in) && t.injected:
		return step.Plan{Satisfied: true, Summary: fmt.Sprintf("the webhook injects new pods of %s", t.subject()),
			Details: &PropagationDetails{Injected: true}}, nil
	case sa.Exists && t.reached(in):
		return step.Plan{Satisfied: true, Summary: fmt.Sprintf("the webhook does not inject new pods of %s", t.subject()),
			Details: &PropagationDetails{Injected: false}}, nil
	}
	if precondition != nil {
		if err := precondition(ctx); err != nil {
			return step.Plan{}, err
		}
	}
	if t.injected {
		return step.Plan{
			Summary: fmt.Sprintf("new pods of %s are not injected yet", t.subject()),
			Changes: []string{fmt.Sprintf("wait until the webhook injects new pods of %s (server-side dry-run probe)", t.subject())},
			Details: &PropagationDetails{Injected: false},
		}, nil
	}
	return step.Plan{
		Summary: fmt.Sprintf("the webhook still injects new pods of %s (%s)", t.subject(), strings.Join(in.Parts(), ", ")),
		Changes: []string{fmt.Sprintf("wait until the webhook stops injecting new pods of %s (server-side dry-run probe)", t.subject())},
		Details: &PropagationDetails{Injected: true},
	}, nil
}

// wait polls the dry-run probe with backoff (kube.WaitInjection or
// kube.WaitNoInjection) until it shows the target state, or ctx ends.
func (t probeTarget) wait(ctx context.Context, progress step.Progress) (step.Result, error) {
	start := time.Now()
	attempts := 0
	wait, what := kube.WaitInjection, "the association to reach the webhook"
	if !t.injected {
		wait, what = kube.WaitNoInjection, "the deletion to reach the webhook"
	}
	_, err := wait(ctx, t.client, t.ns, t.sa, func(n int, _ kube.Injection) {
		attempts = n
		progress.Waiting(fmt.Sprintf("%s (dry-run probe %d)", what, n))
	})
	if err != nil {
		return step.Result{}, err
	}
	took := time.Since(start)
	state := "injects"
	if !t.injected {
		state = "no longer injects"
	}
	return step.Result{
		Summary: fmt.Sprintf("the webhook %s new pods of %s (after %s, %s)", state, t.subject(), took.Round(10*time.Millisecond), plural(attempts, "probe", "probes")),
		Details: &PropagationDetails{Injected: t.injected, Probes: attempts, WaitedSeconds: took.Seconds()},
	}, nil
}

// InjectedAny reports whether a pod carries any part of the Pod Identity
// injection, and lists the parts found (kube.Injection.Parts).
func InjectedAny(pod *corev1.Pod) (bool, []string) {
	parts := kube.CheckInjection(pod).Parts()
	return len(parts) > 0, parts
}

// InjectionParts lists the parts of the Pod Identity injection present in
// in (kube.Injection.Parts).
func InjectionParts(in kube.Injection) []string { return in.Parts() }

// plural is "1 probe", "2 probes".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
