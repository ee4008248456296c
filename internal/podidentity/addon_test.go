package podidentity

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/step"
)

// agentWaiter is an in-test AgentWaiter: it counts calls and returns err.
type agentWaiter struct {
	calls atomic.Int32
	err   error
}

func (a *agentWaiter) WaitAgent(ctx context.Context, progress step.Progress) error {
	a.calls.Add(1)
	return a.err
}

func TestAgentAddonCreateWaitsForActive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{AddonDelay: 600 * time.Millisecond})
	agent := &agentWaiter{}
	s := NewAgentAddon(e.clients.EKS(), agent, e.cluster, AgentAddonOptions{})
	ctx := context.Background()

	p, err := s.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := p.Details.(*AddonDetails); p.Satisfied || d == nil || d.Action != ActionCreate || d.AddonVersion != "v1.3.10-eksbuild.1" {
		t.Fatalf("plan = %+v, want create v1.3.10-eksbuild.1", p)
	}
	if len(mutations(e.fake)) != 0 {
		t.Fatalf("Check mutated: %v", mutations(e.fake))
	}
	e.fake.ResetCounts()
	start := time.Now()
	prog := &recorder{}
	res, err := s.Apply(ctx, p, prog)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if !strings.Contains(res.Summary, "ACTIVE") || agent.calls.Load() != 1 {
		t.Errorf("result %+v, agent calls %d", res, agent.calls.Load())
	}
	// The production poller: ≤ 1 s late, about one DescribeAddon a second.
	if took > 600*time.Millisecond+time.Second+300*time.Millisecond {
		t.Errorf("Apply took %v for a 600ms add-on", took)
	}
	if n := e.fake.CallCounts()["eks:DescribeAddon"]; n < 2 || n > 5 {
		t.Errorf("DescribeAddon calls = %d, want 2..5", n)
	}
	if diff := cmp.Diff([]string{"eks:CreateAddon"}, mutations(e.fake)); diff != "" {
		t.Errorf("mutations (-want +got):\n%s", diff)
	}
	if len(prog.msgs) == 0 || !strings.Contains(prog.msgs[0], "CREATING") {
		t.Errorf("progress = %q", prog.msgs)
	}

	// Rerun: satisfied, verified through the DaemonSet, nothing changes.
	p, err = s.Check(ctx)
	if err != nil || !p.Satisfied {
		t.Fatalf("rerun plan %+v, %v", p, err)
	}
	if _, err := s.Verify(ctx, p, nil); err != nil || agent.calls.Load() != 2 {
		t.Fatalf("Verify: %v (agent calls %d)", err, agent.calls.Load())
	}
	if len(mutations(e.fake)) != 1 {
		t.Errorf("rerun mutated: %v", mutations(e.fake))
	}
}

func TestAgentAddonVerifyReportsAgentFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	e.fake.ForceAddonStatus(testCluster, AgentAddonName, "ACTIVE")
	agent := &agentWaiter{err: errors.New("1 of 3 nodes has no ready agent pod")}
	s := NewAgentAddon(e.clients.EKS(), agent, e.cluster, AgentAddonOptions{})
	p, err := s.Check(context.Background())
	if err != nil || !p.Satisfied {
		t.Fatalf("plan %+v, %v", p, err)
	}
	if _, err := s.Verify(context.Background(), p, nil); err == nil || !strings.Contains(err.Error(), "no ready agent pod") {
		t.Errorf("Verify error = %v", err)
	}
}

func TestAgentAddonFailedStatuses(t *testing.T) {
	t.Parallel()
	for _, status := range []string{"DEGRADED", "CREATE_FAILED", "UPDATE_FAILED"} {
		t.Run(status, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fakeaws.Options{})
			e.fake.ForceAddonStatus(testCluster, AgentAddonName, status, fakeaws.HealthIssue{Code: "InsufficientNumberOfReplicas", Message: "2 of 3 pods ready", ResourceIDs: []string{"eks-pod-identity-agent"}})
			s := NewAgentAddon(e.clients.EKS(), &agentWaiter{}, e.cluster, AgentAddonOptions{})
			_, err := s.Check(context.Background())
			if err == nil {
				t.Fatal("Check succeeded")
			}
			for _, want := range []string{status, "InsufficientNumberOfReplicas", "2 of 3 pods ready", "resources: eks-pod-identity-agent"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if h := fail.HintOf(err); !strings.Contains(h, "describe-addon") || !strings.Contains(h, "OVERWRITE") {
				t.Errorf("hint = %q", h)
			}
		})
	}
}

// A status that turns bad while podid waits fails at once, not at the timeout.
func TestAgentAddonWaitFailsFast(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{AddonDelay: time.Hour})
	s := NewAgentAddon(e.clients.EKS(), &agentWaiter{}, e.cluster, AgentAddonOptions{Poller: fastPoller()})
	ctx := context.Background()
	p, err := s.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(150 * time.Millisecond)
		e.fake.ForceAddonStatus(testCluster, AgentAddonName, "CREATE_FAILED", fakeaws.HealthIssue{Code: "ConfigurationConflict", Message: "Conflicts found when trying to apply"})
	}()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err = s.Apply(ctx, p, nil)
	if err == nil || !strings.Contains(err.Error(), "ConfigurationConflict") {
		t.Fatalf("Apply error = %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("failure noticed after %v", time.Since(start))
	}
}

func TestAgentAddonTimeoutNamesLastStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{AddonDelay: time.Hour})
	s := NewAgentAddon(e.clients.EKS(), &agentWaiter{}, e.cluster, AgentAddonOptions{Poller: fastPoller()})
	p, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = s.Apply(ctx, p, nil)
	if fail.KindOf(err) != fail.KindTimeout || !strings.Contains(err.Error(), "last status CREATING") {
		t.Errorf("error = %v (kind %d), want a timeout naming CREATING", err, fail.KindOf(err))
	}
}

func TestAgentAddonConcurrentCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{AddonDelay: 200 * time.Millisecond})
	s := NewAgentAddon(e.clients.EKS(), &agentWaiter{}, e.cluster, AgentAddonOptions{Poller: fastPoller()})
	ctx := context.Background()
	p, err := s.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Someone else creates it between our Check and Apply: 409, then wait.
	other := NewAgentAddon(e.clients.EKS(), &agentWaiter{}, e.cluster, AgentAddonOptions{Poller: fastPoller()})
	if _, err := other.Apply(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	res, err := s.Apply(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "concurrently") || len(res.Changes) != 0 {
		t.Errorf("result = %+v", res)
	}
}

func TestAgentAddonPinnedVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	ctx := context.Background()
	s := NewAgentAddon(e.clients.EKS(), &agentWaiter{}, e.cluster, AgentAddonOptions{Version: "v1.3.9-eksbuild.1"})
	p, err := s.Check(ctx)
	if d, _ := p.Details.(*AddonDetails); err != nil || d == nil || d.AddonVersion != "v1.3.9-eksbuild.1" {
		t.Fatalf("plan %+v, %v", p, err)
	}
	s = NewAgentAddon(e.clients.EKS(), &agentWaiter{}, e.cluster, AgentAddonOptions{Version: "v1.0.0-eksbuild.1"})
	_, err = s.Check(ctx)
	if fail.KindOf(err) != fail.KindUsage || !strings.Contains(err.Error(), "v1.3.10-eksbuild.1, v1.3.9-eksbuild.1, v1.3.8-eksbuild.2") {
		t.Errorf("error = %v", err)
	}
}

func TestAgentAddonAutoMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{}, func(c *fakeaws.Cluster) { c.AutoMode = true })
	agent := &agentWaiter{}
	s := NewAgentAddon(e.clients.EKS(), agent, e.cluster, AgentAddonOptions{})
	p, err := s.Check(context.Background())
	if err != nil || !p.Satisfied || !strings.Contains(p.Summary, "Auto Mode") {
		t.Fatalf("plan %+v, %v", p, err)
	}
	if _, err := s.Verify(context.Background(), p, nil); err != nil || agent.calls.Load() != 0 {
		t.Errorf("Verify: %v, agent calls %d", err, agent.calls.Load())
	}
	if n := e.fake.CallCounts()["eks:DescribeAddon"]; n != 0 {
		t.Errorf("DescribeAddon called %d times on Auto Mode", n)
	}
}

func TestSelectVersion(t *testing.T) {
	t.Parallel()
	compat := []string{"v1.3.10-eksbuild.1", "v1.3.9-eksbuild.1"}
	tests := []struct {
		name, pinned, def string
		compat            []string
		want              string
		kind              fail.Kind
	}{
		{"default", "", "v1.3.9-eksbuild.1", compat, "v1.3.9-eksbuild.1", 0},
		{"no default takes first", "", "", compat, "v1.3.10-eksbuild.1", 0},
		{"pinned", "v1.3.10-eksbuild.1", "v1.3.9-eksbuild.1", compat, "v1.3.10-eksbuild.1", 0},
		{"pinned incompatible", "v9", "v1.3.9-eksbuild.1", compat, "", fail.KindUsage},
		{"nothing offered", "", "", nil, "", fail.KindError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := selectVersion(tt.pinned, tt.def, tt.compat, "1.35")
			if got != tt.want || fail.KindOf(err) != tt.kind {
				t.Errorf("got %q, %v; want %q kind %d", got, err, tt.want, tt.kind)
			}
		})
	}
}

// Under an EKS rate limit far below the poll rate, the SDK's retries give up
// and the poller backs off instead of failing the wait.
func TestAgentAddonWaitSurvivesThrottling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{AddonDelay: 400 * time.Millisecond})
	s := NewAgentAddon(e.clients.EKS(), &agentWaiter{}, e.cluster, AgentAddonOptions{Poller: fastPoller()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := s.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.fake.SetFaults(fakeaws.Faults{EKSRateLimit: 3})
	if _, err := s.Apply(ctx, p, nil); err != nil {
		t.Fatalf("Apply under throttling: %v", err)
	}
}
