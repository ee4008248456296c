package podidentity

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/step"
)

func roleArn(name string) string { return "arn:aws:iam::" + testAccount + ":role/" + name }

func assocOpts(role string) AssociationOptions {
	return AssociationOptions{Cluster: testCluster, Namespace: "carts", ServiceAccount: "carts", RoleArn: roleArn(role)}
}

func runStep(t *testing.T, s step.Step) (step.Plan, step.Result) {
	t.Helper()
	ctx := context.Background()
	p, err := s.Check(ctx)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if p.Satisfied {
		return p, step.Result{}
	}
	r, err := s.Apply(ctx, p, nil)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return p, r
}

func TestAssociationCreateThenUnchanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	e.fake.PutRole(fakeaws.Role{Name: "carts-dynamo", TrustPolicy: podsTrust})
	s, err := NewAssociation(e.clients.EKS(), assocOpts("carts-dynamo"))
	if err != nil {
		t.Fatal(err)
	}
	p, r := runStep(t, s)
	if p.Satisfied || len(p.Changes) != 1 || !strings.Contains(p.Changes[0], "carts/carts → "+roleArn("carts-dynamo")) {
		t.Errorf("plan = %+v", p)
	}
	a := associationOf(r.Details)
	if a.ID == "" || a.RoleArn != roleArn("carts-dynamo") || a.CreatedAt.IsZero() || time.Since(a.CreatedAt) > time.Minute {
		t.Errorf("result association = %+v", a)
	}
	before := mutations(e.fake)

	p, _ = runStep(t, s)
	if !p.Satisfied {
		t.Errorf("rerun plan = %+v, want satisfied", p)
	}
	got := associationOf(p.Details)
	if got.ID != a.ID || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("rerun association = %+v, want %s", got, a.ID)
	}
	if diff := cmp.Diff(before, mutations(e.fake)); diff != "" {
		t.Errorf("rerun mutated (-before +after):\n%s", diff)
	}
}

func TestAssociationDifferentRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	e.fake.PutRole(fakeaws.Role{Name: "old", TrustPolicy: podsTrust})
	e.fake.PutRole(fakeaws.Role{Name: "new", TrustPolicy: podsTrust})
	target := roleArn("target")
	old, _ := NewAssociation(e.clients.EKS(), AssociationOptions{Cluster: testCluster, Namespace: "carts", ServiceAccount: "carts", RoleArn: roleArn("old"), AssociationSettings: AssociationSettings{TargetRoleArn: target}})
	runStep(t, old)

	s, _ := NewAssociation(e.clients.EKS(), assocOpts("new"))
	_, err := s.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), roleArn("old")) || !strings.Contains(err.Error(), roleArn("new")) {
		t.Fatalf("Check error = %v, want both roles named", err)
	}
	if h := fail.HintOf(err); !strings.Contains(h, "--update") || !strings.Contains(h, "--role "+roleArn("old")) {
		t.Errorf("hint = %q", h)
	}

	opts := assocOpts("new")
	opts.Update = true
	s, _ = NewAssociation(e.clients.EKS(), opts)
	p, r := runStep(t, s)
	if len(p.Changes) != 2 || !strings.Contains(strings.Join(p.Changes, "\n"), "target role "+target+" → (none)") {
		t.Errorf("plan changes = %q", p.Changes)
	}
	a := associationOf(r.Details)
	if a.RoleArn != roleArn("new") || a.TargetRoleArn != "" || !a.ModifiedAt.After(a.CreatedAt) && !a.ModifiedAt.Equal(a.CreatedAt) {
		t.Errorf("updated association = %+v", a)
	}
	if p, _ := runStep(t, s); !p.Satisfied {
		t.Errorf("after update plan = %+v", p)
	}
	want := []string{"eks:CreatePodIdentityAssociation", "eks:UpdatePodIdentityAssociation"}
	if diff := cmp.Diff(want, mutations(e.fake)); diff != "" {
		t.Errorf("mutations (-want +got):\n%s", diff)
	}
}

func TestAssociationConcurrentCreates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	e.fake.PutRole(fakeaws.Role{Name: "carts-dynamo", TrustPolicy: podsTrust})
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make([]string, 5)
	errs := make([]error, 5)
	for i := range 5 {
		opts := assocOpts("carts-dynamo")
		if i%2 == 1 {
			// A different token: these hit the 409 path unless they win.
			opts.Tags = map[string]string{"by": "other"}
		}
		s, _ := NewAssociation(e.clients.EKS(), opts)
		p, err := s.Check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.Apply(ctx, p, nil)
			errs[i] = err
			if err == nil {
				ids[i] = associationOf(r.Details).ID
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("creator %d: %v", i, err)
		}
	}
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Errorf("ids = %v, want one association", ids)
			break
		}
	}
	n := 0
	for _, m := range mutations(e.fake) {
		if m == "eks:CreatePodIdentityAssociation" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d associations created, want 1", n)
	}
}

func TestAssociationRerunAfterCrashReusesToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	e.fake.PutRole(fakeaws.Role{Name: "carts-dynamo", TrustPolicy: podsTrust})
	s, _ := NewAssociation(e.clients.EKS(), assocOpts("carts-dynamo"))
	p, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r1, err := s.Apply(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The same plan applied again (a crash after the create): the token
	// makes EKS return the original association, no 409, no warning.
	r2, err := s.Apply(context.Background(), p, nil)
	if err != nil || associationOf(r2.Details).ID != associationOf(r1.Details).ID || len(r2.Warnings) != 0 {
		t.Errorf("second apply = %+v, %v", r2, err)
	}
}

func TestAssociationRoleEventualConsistency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	opts := assocOpts("late")
	opts.Backoff = Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}
	s, _ := NewAssociation(e.clients.EKS(), opts)
	p, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		e.fake.PutRole(fakeaws.Role{Name: "late", TrustPolicy: podsTrust})
	}()
	rec := &recorder{}
	if _, err := s.Apply(context.Background(), p, rec); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(rec.msgs) != 1 || !strings.Contains(rec.msgs[0], "IAM to propagate role "+roleArn("late")) {
		t.Errorf("progress = %q, want one line saying it waits for IAM", rec.msgs)
	}

	// A role that never appears, without an IAM view: retried until the
	// context (--timeout) ends, then a timeout naming what it waited for.
	opts = assocOpts("never")
	opts.ServiceAccount = "other"
	opts.Backoff = Backoff{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond}
	s, _ = NewAssociation(e.clients.EKS(), opts)
	p, _ = s.Check(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = s.Apply(ctx, p, nil)
	if fail.KindOf(err) != fail.KindTimeout || !strings.Contains(err.Error(), "IAM to propagate role "+roleArn("never")) ||
		!strings.Contains(err.Error(), "Role provided in the request does not exist") || !strings.Contains(fail.HintOf(err), "--timeout") {
		t.Errorf("error = %v (kind %d), hint %q", err, fail.KindOf(err), fail.HintOf(err))
	}
	if n := e.fake.CallCounts()["eks:CreatePodIdentityAssociation"]; n < 6 {
		t.Errorf("create calls = %d, want retries until the timeout", n)
	}

	// With an IAM view that does not show the role either: no waiting.
	opts.IAMCheck = IAMRoleCheck(e.clients.IAM(), opts.RoleArn, e.cluster, opts.Namespace, opts.ServiceAccount)
	s, _ = NewAssociation(e.clients.EKS(), opts)
	p, _ = s.Check(context.Background())
	start := time.Now()
	_, err = s.Apply(context.Background(), p, nil)
	if err == nil || !strings.Contains(err.Error(), "IAM does not show it either") || !strings.Contains(fail.HintOf(err), "--role") || time.Since(start) > time.Second {
		t.Errorf("error = %v after %v, hint %q", err, time.Since(start), fail.HintOf(err))
	}
}

func TestAssociationTrustRejected(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	e.fake.PutRole(fakeaws.Role{Name: "irsa", TrustPolicy: irsaTrust})
	s, _ := NewAssociation(e.clients.EKS(), assocOpts("irsa"))
	p, _ := s.Check(context.Background())
	_, err := s.Apply(context.Background(), p, nil)
	if err == nil || !strings.Contains(fail.HintOf(err), "verify-role") {
		t.Errorf("error = %v, hint %q", err, fail.HintOf(err))
	}
}

func TestAssociationOptionsValidation(t *testing.T) {
	t.Parallel()
	opts := assocOpts("x")
	opts.Policy = `{"Version":"2012-10-17","Statement":[]}`
	if _, err := NewAssociation(nil, opts); fail.KindOf(err) != fail.KindUsage || !strings.Contains(err.Error(), "--disable-session-tags") {
		t.Errorf("policy without disable-session-tags: %v", err)
	}
	opts.DisableSessionTags = true
	if _, err := NewAssociation(nil, opts); err != nil {
		t.Errorf("policy with disable-session-tags: %v", err)
	}
	opts.Policy = "{nope"
	if _, err := NewAssociation(nil, opts); fail.KindOf(err) != fail.KindUsage {
		t.Errorf("invalid policy JSON: %v", err)
	}
}

// The fake cannot seed add-on-owned associations (its CreateAddon rejects
// podIdentityAssociations), so the decision is tested on the pure plan path.
func TestAssociationOwnedByAddon(t *testing.T) {
	t.Parallel()
	owner := "arn:aws:eks:us-west-2:" + testAccount + ":addon/eks-workshop/aws-ebs-csi-driver/x"
	opts := assocOpts("new")
	opts.Update = true
	s, _ := NewAssociation(nil, opts)
	_, err := s.plan(&AssociationInfo{ID: "a-1", Namespace: "carts", ServiceAccount: "carts", RoleArn: roleArn("addon-role"), OwnerArn: owner})
	if err == nil || !strings.Contains(err.Error(), owner) || !strings.Contains(fail.HintOf(err), "aws eks update-addon") {
		t.Errorf("error = %v, hint %q", err, fail.HintOf(err))
	}
	// Owned but already as wanted: nothing to change, nothing refused.
	p, err := s.plan(&AssociationInfo{ID: "a-1", Namespace: "carts", ServiceAccount: "carts", RoleArn: roleArn("new"), OwnerArn: owner})
	if err != nil || !p.Satisfied {
		t.Errorf("plan = %+v, %v", p, err)
	}
}

// associationOf is the association in an associate step's details (zero if none).
func associationOf(d step.Details) AssociationInfo {
	if ad, ok := d.(*AssociationDetails); ok && ad.Association != nil {
		return *ad.Association
	}
	return AssociationInfo{}
}
