package workload

import (
	"context"
	"fmt"
	"time"

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

// Name implements step.Step.
func (p *Propagation) Name() string { return "propagation" }

// Check probes once.
func (p *Propagation) Check(ctx context.Context) (step.Plan, error) {
	sa, err := kube.GetServiceAccount(ctx, p.Client, p.Namespace, p.ServiceAccount)
	if err != nil {
		return step.Plan{}, err
	}
	if sa.Exists {
		in, err := kube.ProbeInjection(ctx, p.Client, p.Namespace, p.ServiceAccount)
		if err != nil {
			return step.Plan{}, err
		}
		if in.Injected() {
			return step.Plan{Satisfied: true, Summary: fmt.Sprintf("the webhook injects new pods of %s/%s", p.Namespace, p.ServiceAccount),
				Details: &PropagationDetails{Injected: true}}, nil
		}
	}
	if p.Precondition != nil {
		if err := p.Precondition(ctx); err != nil {
			return step.Plan{}, err
		}
	}
	return step.Plan{
		Summary: fmt.Sprintf("new pods of %s/%s are not injected yet", p.Namespace, p.ServiceAccount),
		Changes: []string{fmt.Sprintf("wait until the webhook injects new pods of %s/%s (server-side dry-run probe)", p.Namespace, p.ServiceAccount)},
		Details: &PropagationDetails{Injected: false},
	}, nil
}

// Apply waits until a probe pod is injected.
func (p *Propagation) Apply(ctx context.Context, _ step.Plan, progress step.Progress) (step.Result, error) {
	start := time.Now()
	attempts := 0
	_, err := kube.WaitInjection(ctx, p.Client, p.Namespace, p.ServiceAccount, func(n int, _ kube.Injection) {
		attempts = n
		progress.Waiting("the association to reach the webhook (server-side dry-run probes)")
	})
	if err != nil {
		return step.Result{}, err
	}
	took := time.Since(start)
	return step.Result{
		Summary: fmt.Sprintf("the webhook injects new pods of %s/%s (after %s, %d probes)", p.Namespace, p.ServiceAccount, took.Round(10*time.Millisecond), attempts),
		Details: &PropagationDetails{Injected: true, Probes: attempts, WaitedSeconds: took.Seconds()},
	}, nil
}
