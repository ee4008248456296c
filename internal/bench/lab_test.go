package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab/labtest"
)

// These lab tests check what the benchmarks rely on; they assert order and
// outcome, never wall-clock durations.

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// The add-on benchmarks share the lab's agent DaemonSet (resetAgent deletes
// it), so they run one after the other, in one test.
func TestAddonWaitsEndOnActive(t *testing.T) {
	r := getRig(t)
	ctx := testCtx(t)

	p, err := podidAddonWait(ctx, t, r, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("podid's add-on wait: %v", err)
	}
	if p.Active.IsZero() || p.Active.Before(p.Created) || p.Noticed.Before(p.Active) {
		t.Errorf("podid: want created (%v) ≤ active (%v) ≤ noticed (%v)", p.Created, p.Active, p.Noticed)
	}
	if p.Describe < 1 {
		t.Errorf("podid's wait made %d DescribeAddon calls, want at least 1", p.Describe)
	}

	s, err := sdkAddonWait(ctx, t, r, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("SDK add-on waiter: %v", err)
	}
	if s.Active.IsZero() || s.Active.Before(s.Created) || s.Noticed.Before(s.Active) {
		t.Errorf("SDK: want created (%v) ≤ active (%v) ≤ noticed (%v)", s.Created, s.Active, s.Noticed)
	}
	// The waiter's first call is at once (CREATING), its second MinDelay
	// (10 s) later: two calls, whatever the machine's speed.
	if s.Describe != 2 {
		t.Errorf("SDK waiter made %d DescribeAddon calls, want 2 (one at once, one after MinDelay)", s.Describe)
	}
}

func TestRestartPatchesAfterTheAssociationTakesEffect(t *testing.T) {
	t.Parallel()
	r := getRig(t)
	ctx := testCtx(t)
	w := r.newWorld(t, fakeaws.Options{PropagationDelay: time.Second})
	a := r.env.Namespace(t, "bench-t", labtest.ServiceAccount("carts"))
	gw, err := r.watchGeneration(ctx, a.Namespace, a.Deployment)
	if err != nil {
		t.Fatal(err)
	}
	if at, _ := w.backend.appliedAt(a.Namespace, a.ServiceAccount); !at.IsZero() {
		t.Fatalf("association %s/%s took effect at %v, before it was created", a.Namespace, a.ServiceAccount, at)
	}
	created := time.Now()
	if err := w.associate(ctx, a.Namespace, a.ServiceAccount); err != nil {
		t.Fatal(err)
	}
	res := w.podidInProcess(ctx, "restart", "--ns", a.Namespace, "--sa", a.ServiceAccount)
	if res.Code != 0 {
		t.Fatalf("podid restart: %s", res)
	}
	patched, err := gw.wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	applied, err := w.backend.waitApplied(ctx, a.Namespace, a.ServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	if !applied.After(created) {
		t.Errorf("the association took effect at %v, not after it was created at %v", applied, created)
	}
	if !patched.After(applied) {
		t.Errorf("the restart patched the Deployment at %v, not after the association took effect at %v", patched, applied)
	}
	gw.mu.Lock()
	restartedAt := gw.restartedAt
	gw.mu.Unlock()
	if restartedAt == "" {
		t.Errorf("the generation changed without a %s annotation on the pod template", "restartedAt")
	}
	if err := r.assertInjected(ctx, a.Namespace, a.Deployment); err != nil {
		t.Error(err)
	}
}

// The kubectl anchor restarts twice in a row: nextRestartSecond must keep
// kubectl from refusing the second one within the same second.
func TestKubectlAnchorRestartsTwice(t *testing.T) {
	t.Parallel()
	r := getRig(t)
	ctx := testCtx(t)
	a := r.env.Namespace(t, "bench-k", labtest.Replicas(1))
	for i := range 2 {
		gw, err := r.watchGeneration(ctx, a.Namespace, a.Deployment)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.kubectlRestart(ctx, t, a.Namespace, a.Deployment); err != nil {
			t.Fatalf("restart %d: %v", i+1, err)
		}
		if _, err := gw.wait(ctx); err != nil {
			t.Fatalf("restart %d: %v", i+1, err)
		}
	}
}

// The credentials scenario's budget, checked on every make test: the check
// adds at most credMaxCallsPerWorkload calls per workload, and exactly one
// exchange (token, EKS Auth, STS) per workload, not per pod; verify
// --credentials off makes none of them.
func TestCredentialsCheckCallsPerWorkload(t *testing.T) {
	t.Parallel()
	r := getRig(t)
	ctx := testCtx(t)
	w := r.newWorld(t, fakeaws.Options{AddonDelay: 100 * time.Millisecond, PropagationDelay: 100 * time.Millisecond})
	podid := func(ctx context.Context, args ...string) run { return w.podidInProcess(ctx, args...) }
	one := r.credentialsNamespace(ctx, t, podid, "bench-tc1", 1)
	many := r.credentialsNamespace(ctx, t, podid, "bench-tc", credWorkloads)

	p1, err := runCredPair(ctx, w, podid, one, true)
	if err != nil {
		t.Fatal(err)
	}
	pn, err := runCredPair(ctx, w, podid, many, false)
	if err != nil {
		t.Fatal(err)
	}
	perW, perR, err := checkCalls(callDelta(p1.on.Calls, p1.off.Calls), callDelta(pn.on.Calls, pn.off.Calls), credWorkloads)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("per workload: %s; per run: %s", formatCalls(perW), formatCalls(perR))
	if n := sumCalls(perW); n > credMaxCallsPerWorkload {
		t.Errorf("the credentials check adds %d API calls per workload (%s), want at most %d", n, formatCalls(perW), credMaxCallsPerWorkload)
	}
	// The exchange itself, once per workload, as podid counted it.
	for _, op := range []string{"kube:POST serviceaccounts/token", ":AssumeRoleForPodIdentity", "sts:GetCallerIdentity"} {
		n := 0
		for k, v := range perW {
			if strings.HasSuffix(k, op) || k == op {
				n += v
			}
		}
		if n != 1 {
			t.Errorf("%s: %d per workload, want 1 (one exchange per workload); per workload: %s", op, n, formatCalls(perW))
		}
	}
	// And as the fake served it: one exchange per Deployment, none when off.
	for _, c := range []struct {
		name string
		p    credPair
		n    int
	}{{"1 workload", p1, 1}, {fmt.Sprintf("%d workloads", credWorkloads), pn, credWorkloads}} {
		if got := c.p.on.Fake["eks-auth:AssumeRoleForPodIdentity"]; got != c.n {
			t.Errorf("%s: the fake served %d AssumeRoleForPodIdentity calls during verify, want %d", c.name, got, c.n)
		}
		if got := c.p.off.Fake["eks-auth:AssumeRoleForPodIdentity"]; got != 0 {
			t.Errorf("%s: the fake served %d AssumeRoleForPodIdentity calls during verify --credentials off, want 0", c.name, got)
		}
	}
}
