package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/podid/podid/internal/fail"
)

// ProbeImage is the probe pod's image; the pod is never stored, so it is
// never pulled.
const ProbeImage = "public.ecr.aws/docker/library/busybox:stable"

// ProbePod is the minimal pod ProbeInjection sends with server-side dry run.
func ProbePod(ns, sa string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "podid-probe-",
			Namespace:    ns,
			Labels:       map[string]string{"app.kubernetes.io/managed-by": "podid"},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			Containers:         []corev1.Container{{Name: "probe", Image: ProbeImage}},
		},
	}
}

// ProbeInjection asks the apiserver to admit a pod for service account sa in
// namespace ns with server-side dry run (nothing is stored) and checks the
// returned pod for the Pod Identity injection: it shows what a pod created
// now would get, without restarting anything.
func ProbeInjection(ctx context.Context, client kubernetes.Interface, ns, sa string) (Injection, error) {
	pod, err := client.CoreV1().Pods(ns).Create(ctx, ProbePod(ns, sa), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: FieldManager})
	if err != nil {
		return Injection{}, probeError(ns, sa, err)
	}
	return CheckInjection(pod), nil
}

func probeError(ns, sa string, err error) error {
	msg := err.Error()
	switch {
	case apierrors.IsForbidden(err) && strings.Contains(msg, "error looking up service account"):
		return fail.Verifyf(fmt.Sprintf("create it with `kubectl -n %s create serviceaccount %s`, or check --sa", ns, sa),
			"service account %s/%s not found (the apiserver refuses pods for it)", ns, sa)
	case apierrors.IsNotFound(err) && strings.Contains(msg, "namespaces"):
		return NamespaceNotFound(ns)
	case apierrors.IsInternalError(err) && strings.Contains(msg, "webhook"):
		return fail.Errorf("check the pod identity webhook and its MutatingWebhookConfiguration",
			"dry-run pod for service account %s/%s: a webhook failed: %w", ns, sa, err)
	}
	return fmt.Errorf("dry-run pod for service account %s/%s: %w", ns, sa, err)
}

// Probe backoff: the association reaches the webhook within seconds; probe
// often at first, then at most once a second.
const (
	probeStart  = 100 * time.Millisecond
	probeFactor = 1.5
	probeCap    = time.Second
)

// ProbeDelays returns the waits between the first n probes.
func ProbeDelays(n int) []time.Duration {
	var out []time.Duration
	d := probeStart
	for range n {
		out = append(out, d)
		d = min(time.Duration(float64(d)*probeFactor), probeCap)
	}
	return out
}

// WaitInjection probes (ProbeInjection) until a dry-run pod is injected or
// ctx ends; this is a poll because nothing announces that the webhook has
// learnt about an association. onAttempt (may be nil) sees each attempt.
// Errors other than "not injected yet" end the wait at once. On timeout the
// error wraps ctx's error and says what the last probe lacked.
func WaitInjection(ctx context.Context, client kubernetes.Interface, ns, sa string, onAttempt func(attempt int, in Injection)) (Injection, error) {
	return waitProbe(ctx, client, ns, sa, true, onAttempt)
}

// WaitNoInjection is WaitInjection's inverse, for a deleted association:
// it probes until a dry-run pod comes back without any part of the
// injection (Injection.Parts is empty). On timeout the error says what the
// last probe still had.
func WaitNoInjection(ctx context.Context, client kubernetes.Interface, ns, sa string, onAttempt func(attempt int, in Injection)) (Injection, error) {
	return waitProbe(ctx, client, ns, sa, false, onAttempt)
}

// waitProbe probes with backoff until the probe pod's injection is complete
// (want true) or entirely absent (want false).
func waitProbe(ctx context.Context, client kubernetes.Interface, ns, sa string, want bool, onAttempt func(attempt int, in Injection)) (Injection, error) {
	reached := func(in Injection) bool {
		if want {
			return in.Injected()
		}
		return len(in.Parts()) == 0
	}
	delay := probeStart
	var last Injection // the last probe's answer, for the timeout error
	for attempt := 1; ; attempt++ {
		in, err := ProbeInjection(ctx, client, ns, sa)
		if err != nil {
			if ctx.Err() != nil {
				return last, probeTimeout(ctx.Err(), ns, sa, want, attempt-1, last)
			}
			return in, err
		}
		last = in
		if onAttempt != nil {
			onAttempt(attempt, in)
		}
		if reached(in) {
			return in, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return in, probeTimeout(ctx.Err(), ns, sa, want, attempt, in)
		case <-t.C:
		}
		delay = min(time.Duration(float64(delay)*probeFactor), probeCap)
	}
}

func probeTimeout(ctxErr error, ns, sa string, want bool, attempts int, last Injection) error {
	if !want {
		still := "no probe answered"
		if attempts > 0 {
			still = "the last one still had " + strings.Join(last.Parts(), ", ")
		}
		return fail.WithHint(
			fmt.Errorf("wait for the webhook to stop injecting pods of service account %s/%s: %w after %d dry-run probes; %s", ns, sa, ctxErr, attempts, still),
			"check that no pod identity association remains for this namespace and service account (`aws eks list-pod-identity-associations`), or raise --timeout")
	}
	lacks := "no probe answered"
	if attempts > 0 {
		lacks = "the last one lacked " + strings.Join(last.Missing, ", ")
	}
	return fail.WithHint(
		fmt.Errorf("wait for pods of service account %s/%s to get the Pod Identity injection: %w after %d dry-run probes; %s", ns, sa, ctxErr, attempts, lacks),
		"check that the pod identity association exists for this namespace and service account (`aws eks list-pod-identity-associations`), or raise --timeout")
}
