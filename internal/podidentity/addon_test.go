package podidentity

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
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
			h := fail.HintOf(err)
			way := "--resolve-conflicts overwrite"
			if status == "CREATE_FAILED" {
				way = "aws eks delete-addon --cluster-name " + testCluster // a failed creation cannot be updated
			}
			if !strings.Contains(h, "describe-addon") || !strings.Contains(h, way) {
				t.Errorf("hint = %q, want describe-addon and %q", h, way)
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

func TestParseResolveConflicts(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "", "overwrite": "OVERWRITE", "OVERWRITE": "OVERWRITE", "Preserve": "PRESERVE", " none ": "NONE"} {
		got, err := ParseResolveConflicts(in)
		if err != nil || string(got) != want {
			t.Errorf("ParseResolveConflicts(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"force", "keep", "over-write", "yes"} {
		_, err := ParseResolveConflicts(in)
		if fail.KindOf(err) != fail.KindUsage || !strings.Contains(err.Error(), in) || !strings.Contains(fail.HintOf(err), "overwrite") {
			t.Errorf("ParseResolveConflicts(%q): %v (hint %q), want a usage error naming it", in, err, fail.HintOf(err))
		}
	}
}

// A self-managed agent DaemonSet (fields another manager owns) against the
// add-on, through the fake's resolveConflicts rules: the default fails with
// the conflicting fields and the real way out; --resolve-conflicts
// overwrite takes over; an UPDATE_FAILED add-on is fatal without the flag
// and updated with it.
func TestAgentAddonResolveConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{AddonDelay: 20 * time.Millisecond})
	ctx := context.Background()
	field := "DaemonSet.apps eks-pod-identity-agent - .spec.template.spec.tolerations"
	e.fake.SetAddonConflicts(testCluster, AgentAddonName, field)
	step := func(rc string) *AgentAddon {
		t.Helper()
		parsed, err := ParseResolveConflicts(rc)
		if err != nil {
			t.Fatal(err)
		}
		return NewAgentAddon(e.clients.EKS(), &agentWaiter{}, e.cluster, AgentAddonOptions{ResolveConflicts: parsed, Poller: fastPoller()})
	}
	wantWayOut := func(err error, status string, want, notWant []string) {
		t.Helper()
		if err == nil {
			t.Fatalf("no error, want %s", status)
		}
		for _, w := range []string{status, "ConfigurationConflict", field} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
		h := fail.HintOf(err)
		t.Logf("error: %v\nhint: %s", err, h)
		for _, w := range want {
			if !strings.Contains(h, w) {
				t.Errorf("hint %q lacks %q", h, w)
			}
		}
		for _, w := range notWant {
			if strings.Contains(h, w) {
				t.Errorf("hint %q offers %q, which cannot work here", h, w)
			}
		}
	}

	// Default (none): CREATE_FAILED, and the way out is delete + overwrite,
	// not update-addon (a failed creation cannot be updated).
	s := step("")
	p, err := s.Check(ctx)
	if err != nil || addonDetails(p).ResolveConflicts != "" || strings.Contains(strings.Join(p.Changes, "\n"), "conflicts:") {
		t.Fatalf("plan %+v, %v", p, err)
	}
	_, err = s.Apply(ctx, p, nil)
	wantWayOut(err, "CREATE_FAILED", []string{"aws eks delete-addon --cluster-name " + testCluster, "podid install-agent --cluster " + testCluster + " --region " + e.cluster.Region + " --resolve-conflicts overwrite"}, []string{"update-addon"})
	_, err = step("overwrite").Check(ctx) // still failed: the flag does not hide it
	wantWayOut(err, "CREATE_FAILED", []string{"delete-addon"}, nil)

	if _, err := e.clients.EKS().DeleteAddon(ctx, &eks.DeleteAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, e)

	// preserve on a creation: created with none, and said so.
	p, err = step("preserve").Check(ctx)
	if err != nil || addonDetails(p).ResolveConflicts != "NONE" || len(p.Warnings) == 0 || !strings.Contains(p.Warnings[0], "preserve applies to updates") {
		t.Fatalf("preserve plan %+v, %v", p, err)
	}

	// overwrite: created, the DaemonSet taken over.
	s = step("overwrite")
	p, err = s.Check(ctx)
	if err != nil || addonDetails(p).ResolveConflicts != "OVERWRITE" || !strings.Contains(strings.Join(p.Changes, "\n"), "conflicts: overwrite") {
		t.Fatalf("overwrite plan %+v, %v", p, err)
	}
	if _, err := s.Apply(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	if c := e.fake.AddonConflicts(testCluster, AgentAddonName); len(c) != 0 {
		t.Errorf("conflicts left after overwrite: %v", c)
	}

	// Someone edits the DaemonSet, an update fails: UPDATE_FAILED.
	e.fake.SetAddonConflicts(testCluster, AgentAddonName, field)
	if _, err := e.clients.EKS().UpdateAddon(ctx, &eks.UpdateAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, "UPDATE_FAILED")
	_, err = step("").Check(ctx)
	wantWayOut(err, "UPDATE_FAILED", []string{"podid install-agent --cluster " + testCluster + " --region " + e.cluster.Region + " --resolve-conflicts overwrite", "--resolve-conflicts preserve", "update-addon"}, []string{"delete-addon"})

	// With --resolve-conflicts preserve podid updates it and keeps the edits.
	before := len(mutations(e.fake))
	s = step("preserve")
	p, err = s.Check(ctx)
	if err != nil || p.Satisfied || addonDetails(p).Action != ActionUpdate || !strings.Contains(p.Summary, "ConfigurationConflict") {
		t.Fatalf("update plan %+v, %v", p, err)
	}
	if len(mutations(e.fake)) != before {
		t.Fatalf("Check mutated: %v", mutations(e.fake)[before:])
	}
	res, err := s.Apply(ctx, p, nil)
	if err != nil || !strings.Contains(res.Summary, "ACTIVE") {
		t.Fatalf("update: %+v, %v", res, err)
	}
	if diff := cmp.Diff([]string{"eks:UpdateAddon"}, mutations(e.fake)[before:]); diff != "" {
		t.Errorf("mutations (-want +got):\n%s", diff)
	}
	if c := e.fake.AddonConflicts(testCluster, AgentAddonName); len(c) != 1 {
		t.Errorf("preserve lost the edited field: %v", c)
	}
}

func describeAgentAddon(t *testing.T, e *env) (*ekstypes.Addon, error) {
	t.Helper()
	out, err := e.clients.EKS().DescribeAddon(context.Background(), &eks.DescribeAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)})
	if err != nil {
		return nil, err
	}
	return out.Addon, nil
}

func waitStatus(t *testing.T, e *env, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, err := describeAgentAddon(t, e)
		if err != nil {
			t.Fatal(err)
		}
		if string(a.Status) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("add-on is %s, want %s", a.Status, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitGone(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := describeAgentAddon(t, e)
		var nf *ekstypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("add-on not deleted: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func addonDetails(p step.Plan) AddonDetails {
	d, _ := p.Details.(*AddonDetails)
	if d == nil {
		return AddonDetails{}
	}
	return *d
}

// listingWaiter is an agentWaiter that also names the nodes needing the
// agent DaemonSet (as workload.Agent does from the cluster's nodes).
type listingWaiter struct {
	agentWaiter
	nodes []string
}

func (l *listingWaiter) NodesNeedingAgent(context.Context) ([]string, error) { return l.nodes, nil }

// EKS Auto Mode: Auto Mode nodes have the agent built in, but a cluster
// that also has other nodes (a managed node group) needs the add-on and its
// DaemonSet for them.
func TestAgentAddonAutoModeMixed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("only Auto Mode nodes", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fakeaws.Options{}, func(c *fakeaws.Cluster) { c.AutoMode = true })
		agent := &listingWaiter{}
		s := NewAgentAddon(e.clients.EKS(), agent, e.cluster, AgentAddonOptions{Poller: fastPoller()})
		p, err := s.Check(ctx)
		if err != nil || !p.Satisfied || !strings.Contains(p.Summary, "every node is an Auto Mode node") {
			t.Fatalf("plan %+v, %v", p, err)
		}
		if _, err := s.Verify(ctx, p, nil); err != nil || agent.calls.Load() != 0 {
			t.Errorf("Verify: %v, agent waits %d", err, agent.calls.Load())
		}
		if n := e.fake.CallCounts()["eks:DescribeAddon"]; n != 0 {
			t.Errorf("DescribeAddon called %d times", n)
		}
	})
	t.Run("Auto Mode and a managed node group", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fakeaws.Options{AddonDelay: 20 * time.Millisecond}, func(c *fakeaws.Cluster) { c.AutoMode = true })
		agent := &listingWaiter{nodes: []string{"ng-node-1", "ng-node-2"}}
		s := NewAgentAddon(e.clients.EKS(), agent, e.cluster, AgentAddonOptions{Poller: fastPoller()})
		p, err := s.Check(ctx)
		if err != nil || p.Satisfied || addonDetails(p).Action != ActionCreate ||
			!strings.Contains(p.Summary, "2 nodes are not Auto Mode nodes and need the add-on: ng-node-1, ng-node-2") {
			t.Fatalf("plan %+v, %v", p, err)
		}
		if _, err := s.Apply(ctx, p, nil); err != nil {
			t.Fatal(err)
		}
		if agent.calls.Load() != 1 {
			t.Errorf("the DaemonSet was not waited for (%d waits)", agent.calls.Load())
		}
		p, err = s.Check(ctx)
		if err != nil || !p.Satisfied {
			t.Fatalf("rerun %+v, %v", p, err)
		}
		if _, err := s.Verify(ctx, p, nil); err != nil || agent.calls.Load() != 2 {
			t.Errorf("Verify on a mixed cluster must check the DaemonSet: %v (%d waits)", err, agent.calls.Load())
		}
	})
}
