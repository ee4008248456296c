package workload

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/step"
)

// InjectedAny reports whether a pod carries any part of the Pod Identity
// injection (the label, the token volume, or in any container the agent
// variables or the token mount), and lists the parts found.
func InjectedAny(pod *corev1.Pod) (bool, []string) {
	parts := InjectionParts(kube.CheckInjection(pod))
	return len(parts) > 0, parts
}

// InjectionParts lists the parts of the Pod Identity injection present in
// in, one human-readable item each; empty means none at all.
func InjectionParts(in kube.Injection) []string {
	var found []string
	if in.HasLabel {
		found = append(found, "label "+kube.PodIdentityLabel+"=enabled")
	}
	if in.HasVolume {
		found = append(found, "volume "+kube.TokenVolume)
	}
	names := make([]string, 0, len(in.Containers))
	for name := range in.Containers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := in.Containers[name]
		if c.FullURI != "" || c.TokenFile != "" || c.Mounted {
			found = append(found, fmt.Sprintf("container %s: %s env or token mount", name, kube.EnvFullURI))
		}
	}
	return found
}

// Depropagation proves that the pod identity webhook no longer injects new
// pods of the service account (the association was deleted): the inverse of
// Propagation, by the same server-side dry-run probe, retried with backoff
// until it comes back without the injection.
type Depropagation struct {
	Client         kubernetes.Interface
	Namespace      string
	ServiceAccount string
}

// Name implements step.Step.
func (p *Depropagation) Name() string { return "propagation" }

func (p *Depropagation) probe(ctx context.Context) (bool, []string, error) {
	in, err := kube.ProbeInjection(ctx, p.Client, p.Namespace, p.ServiceAccount)
	if err != nil {
		return false, nil, err
	}
	found := InjectionParts(in)
	return len(found) > 0, found, nil
}

// Check probes once. A missing service account means nothing is injected.
func (p *Depropagation) Check(ctx context.Context) (step.Plan, error) {
	sa, err := kube.GetServiceAccount(ctx, p.Client, p.Namespace, p.ServiceAccount)
	if err != nil {
		return step.Plan{}, err
	}
	if !sa.Exists {
		return step.Plan{Satisfied: true, Summary: fmt.Sprintf("service account %s/%s does not exist: nothing is injected", p.Namespace, p.ServiceAccount),
			Details: &PropagationDetails{Injected: false}}, nil
	}
	injected, found, err := p.probe(ctx)
	if err != nil {
		return step.Plan{}, err
	}
	if !injected {
		return step.Plan{Satisfied: true, Summary: fmt.Sprintf("the webhook does not inject new pods of %s/%s", p.Namespace, p.ServiceAccount),
			Details: &PropagationDetails{Injected: false}}, nil
	}
	return step.Plan{
		Summary: fmt.Sprintf("the webhook still injects new pods of %s/%s (%s)", p.Namespace, p.ServiceAccount, strings.Join(found, ", ")),
		Changes: []string{fmt.Sprintf("wait until the webhook stops injecting new pods of %s/%s (server-side dry-run probe)", p.Namespace, p.ServiceAccount)},
		Details: &PropagationDetails{Injected: true},
	}, nil
}

// Apply polls the dry-run probe with backoff (100 ms growing to 1 s) until a
// probe pod comes back without the injection, or ctx ends.
func (p *Depropagation) Apply(ctx context.Context, _ step.Plan, progress step.Progress) (step.Result, error) {
	start := time.Now()
	delays := kube.ProbeDelays(16)
	var last []string
	for attempt := 1; ; attempt++ {
		injected, found, err := p.probe(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return step.Result{}, p.timeout(ctx.Err(), attempt-1, last)
			}
			return step.Result{}, err
		}
		progress.Waiting(fmt.Sprintf("deletion to reach the webhook (dry-run probe %d)", attempt))
		if !injected {
			took := time.Since(start)
			return step.Result{
				Summary: fmt.Sprintf("the webhook no longer injects new pods of %s/%s (after %s, %d probes)", p.Namespace, p.ServiceAccount, took.Round(10*time.Millisecond), attempt),
				Details: &PropagationDetails{Injected: false, Probes: attempt, WaitedSeconds: took.Seconds()},
			}, nil
		}
		last = found
		d := delays[min(attempt-1, len(delays)-1)]
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return step.Result{}, p.timeout(ctx.Err(), attempt, last)
		case <-t.C:
		}
	}
}

func (p *Depropagation) timeout(ctxErr error, attempts int, last []string) error {
	still := "no probe answered"
	if attempts > 0 {
		still = "the last one still had " + strings.Join(last, ", ")
	}
	return fail.WithHint(
		fmt.Errorf("wait for the webhook to stop injecting pods of service account %s/%s: %w after %d dry-run probes; %s", p.Namespace, p.ServiceAccount, ctxErr, attempts, still),
		"check that no pod identity association remains for this namespace and service account (`aws eks list-pod-identity-associations`), or raise --timeout")
}
