package reliability

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/lab/labtest"
)

// Throttling, 5xx and latency on every service: enable still finishes, with
// exactly one add-on and one association, because faulted calls are retried
// and never change state.
func TestEnableSurvivesAPIFaults(t *testing.T) {
	t.Parallel()
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			opts := fastOpts()
			opts.Faults = fakeaws.Faults{ThrottleRate: 0.3, ServerErrorRate: 0.1, Latency: 200 * time.Millisecond, Seed: seed}
			w := newWorld(t, opts, labtest.ServiceAccount("carts"))
			r := w.Podid(t, append([]string{"enable", "--timeout", "5m"}, w.Target()...)...)
			if r.Code != 0 {
				t.Fatalf("enable under faults: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
			}
			if as := w.Associations(w.App.Namespace); len(as) != 1 {
				t.Errorf("associations: %+v, want exactly one", as)
			}
			if n := w.Audited("CreatePodIdentityAssociation"); n != 1 {
				t.Errorf("CreatePodIdentityAssociation accepted %d times, want 1", n)
			}
			if n := w.Audited("CreateAddon"); n != 1 {
				t.Errorf("CreateAddon accepted %d times, want 1", n)
			}
			if s := addonStatus(w); s != "ACTIVE" {
				t.Errorf("add-on status %q, want ACTIVE", s)
			}
			if inj, total := w.InjectedPods(t); total == 0 || inj != total {
				t.Errorf("%d of %d pods injected", inj, total)
			}
			retried := r.Calls.TotalAttempts() - r.Calls.Total()
			if retried == 0 {
				t.Errorf("no call was retried: the faults were not injected (%d calls)", r.Calls.Total())
			}
			t.Logf("FIGURE faults: %d calls, %d attempts, %d faults survived by retrying", r.Calls.Total(), r.Calls.TotalAttempts(), retried)
		})
	}
}

// An API that stays down ends with a clear error, not a hang: exit 1 when
// the retries run out first, exit 4 when --timeout does; either within the
// timeout plus a little.
func TestEnableAPIDown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		down    []string
		latency time.Duration
		timeout time.Duration
		code    int
		wants   []string
	}{
		{"eks down, retries run out", []string{"eks"}, 0, 90 * time.Second, 1, []string{"eks:DescribeCluster kept failing after retries", "hint:", "AWS endpoint"}},
		{"eks down and slow, timeout first", []string{"eks"}, 1500 * time.Millisecond, 4 * time.Second, 4, []string{"timed out", "DescribeCluster", "hint:", "larger --timeout"}},
		{"iam down", []string{"iam"}, 0, 90 * time.Second, 1, []string{"kept failing after retries", "iam:", "hint:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := fastOpts()
			opts.Faults = fakeaws.Faults{Down: tt.down, Latency: tt.latency}
			w := newWorld(t, opts, labtest.ServiceAccount("carts"))
			start := time.Now()
			r := w.Podid(t, append([]string{"enable", "--timeout", tt.timeout.String()}, w.Target()...)...)
			took := time.Since(start)
			if r.Code != tt.code {
				t.Errorf("exit %d, want %d\n%s", r.Code, tt.code, r.Stderr)
			}
			mustContain(t, "stderr", r.Stderr, tt.wants...)
			// The bound is the point of the test: podid must not hang past --timeout.
			if limit := tt.timeout + 10*time.Second; took > limit {
				t.Errorf("enable took %s with --timeout %s: longer than %s", took, tt.timeout, limit)
			}
			if n := len(w.Fake.Audit()); n != 0 {
				t.Errorf("AWS changed while a service was down: %+v", w.Fake.Audit())
			}
		})
	}
}

// kube.Restart under contention: another writer keeps updating the
// Deployment (with resourceVersion preconditions, so it sees conflicts
// itself) while podid restarts it. Every restart lands, and no write of the
// other writer is lost.
func TestRestartUnderContention(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	deps := w.Env.Client.AppsV1().Deployments(w.App.Namespace)

	var writes, conflicts atomic.Int64
	var last atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				d, err := deps.Get(ctx, w.App.Deployment, metav1.GetOptions{})
				if err != nil {
					continue
				}
				n := writes.Load() + 1
				if d.Annotations == nil {
					d.Annotations = map[string]string{}
				}
				d.Annotations["reliability/counter"] = strconv.FormatInt(n, 10)
				if _, err := deps.Update(ctx, d, metav1.UpdateOptions{}); err != nil {
					if apierrors.IsConflict(err) {
						conflicts.Add(1)
					}
					continue
				}
				writes.Add(1)
				last.Store(n)
			}
		}()
	}
	wl, err := kube.GetWorkload(ctx, w.Env.Client, w.App.Namespace, kube.KindDeployment, w.App.Deployment)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now()
	const restarts = 5
	for i := 0; i < restarts; i++ {
		at := base.Add(time.Duration(i) * time.Second)
		if err := kube.Restart(ctx, w.Env.Client, wl, at); err != nil {
			t.Fatalf("restart %d under contention: %v", i, err)
		}
		d, err := deps.Get(ctx, w.App.Deployment, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := d.Spec.Template.Annotations[kube.RestartedAtAnnotation], at.Format(time.RFC3339); got != want {
			t.Errorf("restart %d: restartedAt %q, want %q", i, got, want)
		}
	}
	cancel()
	wg.Wait()
	d, err := deps.Get(context.Background(), w.App.Deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if writes.Load() == 0 {
		t.Fatal("the contending writer never wrote: no contention was made")
	}
	// Restart's patches must not have reverted the other writer's metadata.
	if got := d.Annotations["reliability/counter"]; got == "" {
		t.Errorf("the other writer's annotation was lost")
	}
	t.Logf("FIGURE contention: %d restarts landed among %d concurrent updates (%d conflicts seen by the other writer)", restarts, writes.Load(), conflicts.Load())
}

// The whole enable with a writer updating the Deployment throughout: the
// restart lands and the rollout is proven.
func TestEnableUnderDeploymentContention(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"))
	ctx, cancel := context.WithCancel(context.Background())
	deps := w.Env.Client.AppsV1().Deployments(w.App.Namespace)
	var writes atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			d, err := deps.Get(ctx, w.App.Deployment, metav1.GetOptions{})
			if err != nil {
				continue
			}
			if d.Annotations == nil {
				d.Annotations = map[string]string{}
			}
			d.Annotations["reliability/counter"] = strconv.Itoa(i)
			if _, err := deps.Update(ctx, d, metav1.UpdateOptions{}); err == nil {
				writes.Add(1)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	r := w.Podid(t, append([]string{"enable", "--timeout", "3m"}, w.Target()...)...)
	cancel()
	<-done
	if r.Code != 0 {
		t.Fatalf("enable under contention: exit %d\n%s", r.Code, r.Stderr)
	}
	if inj, total := w.InjectedPods(t); total == 0 || inj != total {
		t.Errorf("%d of %d pods injected", inj, total)
	}
	if vals, _ := restarts(t, w); len(vals) != 1 {
		t.Errorf("restartedAt values %v, want exactly one restart", vals)
	}
	t.Logf("FIGURE contention: enable succeeded while %d other updates hit the Deployment", writes.Load())
}
