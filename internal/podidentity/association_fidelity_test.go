package podidentity

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/step"
)

// enableAssociation runs the associate step as a fresh podid run would.
func enableAssociation(t *testing.T, ctx context.Context, e *env, opts AssociationOptions, rec step.Progress) (AssociationInfo, error) {
	t.Helper()
	s, err := NewAssociation(e.clients.EKS(), opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Check(ctx)
	if err != nil {
		return AssociationInfo{}, err
	}
	if p.Satisfied {
		return associationOf(p.Details), nil
	}
	r, err := s.Apply(ctx, p, rec)
	if err != nil {
		return AssociationInfo{}, err
	}
	return associationOf(r.Details), nil
}

func deleteAssociation(t *testing.T, e *env, id string) {
	t.Helper()
	if _, err := e.clients.EKS().DeletePodIdentityAssociation(context.Background(), &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String(testCluster), AssociationId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
}

// Issue 12 B1: enable, disable, enable again with the same inputs. EKS
// remembers client request tokens for hours, also after the delete; a token
// derived from the inputs replays the deleted association and creates
// nothing. A fresh token per intended creation creates a new one.
func TestAssociationRecreateAfterDeleteCreatesAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	e.fake.PutRole(fakeaws.Role{Name: "carts-dynamo", TrustPolicy: podsTrust})
	ctx := context.Background()
	first, err := enableAssociation(t, ctx, e, assocOpts("carts-dynamo"), &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	deleteAssociation(t, e, first.ID)

	second, err := enableAssociation(t, ctx, e, assocOpts("carts-dynamo"), &recorder{})
	if err != nil {
		t.Fatalf("re-create: %v", err)
	}
	if second.ID == first.ID {
		t.Errorf("re-create returned the deleted association %s", first.ID)
	}
	now, err := FindAssociation(ctx, e.clients.EKS(), testCluster, "carts", "carts")
	if err != nil || now == nil || now.ID != second.ID {
		t.Errorf("after the re-create EKS has %+v (%v), want association %s", now, err, second.ID)
	}
}

// Issue 12 B2: right after a delete EKS answers 409 "Association already
// exists: <deleted id>" while reads no longer show it. podid does not take
// the dying association for a match, says what it waits for, and creates
// when EKS lets it, within --timeout.
func TestAssociationRecreateWaitsForDeleteLag(t *testing.T) {
	t.Parallel()
	const lag = 600 * time.Millisecond
	e := newEnv(t, fakeaws.Options{AssociationDeleteLag: lag})
	e.fake.PutRole(fakeaws.Role{Name: "carts-dynamo", TrustPolicy: podsTrust})
	ctx := context.Background()
	opts := assocOpts("carts-dynamo")
	opts.Backoff = Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}
	first, err := enableAssociation(t, ctx, e, opts, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	deleteAssociation(t, e, first.ID)
	deleted := time.Now()

	rec := &recorder{}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	second, err := enableAssociation(t, tctx, e, opts, rec)
	if err != nil {
		t.Fatalf("re-create right after the delete: %v", err)
	}
	if second.ID == first.ID || time.Since(deleted) < lag {
		t.Errorf("re-create gave %s after %v; want a new association after the lag %v", second.ID, time.Since(deleted), lag)
	}
	if len(rec.msgs) != 1 || !strings.Contains(rec.msgs[0], "EKS to finish deleting association "+first.ID) {
		t.Errorf("progress = %q, want one line naming the deleted association", rec.msgs)
	}

	// When --timeout runs out first, the error says what podid waited for.
	deleteAssociation(t, e, second.ID)
	short, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	_, err = enableAssociation(t, short, e, opts, nil)
	if fail.KindOf(err) != fail.KindTimeout || !strings.Contains(err.Error(), "EKS to finish deleting association "+second.ID) || !strings.Contains(fail.HintOf(err), "--timeout") {
		t.Errorf("error = %v (kind %d), hint %q", err, fail.KindOf(err), fail.HintOf(err))
	}
}

// Issue 12 B3: a role just created, or a trust policy just fixed, is not
// visible to EKS for a while. podid waits for IAM to propagate (both
// messages), says so, and gets through; a trust that IAM itself shows as
// wrong fails at once.
func TestAssociationWaitsForIAMPropagation(t *testing.T) {
	t.Parallel()
	const delay = 700 * time.Millisecond
	e := newEnv(t, fakeaws.Options{Faults: fakeaws.Faults{IAMPropagationDelay: delay}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	iamc := e.clients.IAM()
	opts := func(role, sa string) AssociationOptions {
		o := assocOpts(role)
		o.ServiceAccount = sa
		o.Backoff = Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}
		o.IAMCheck = IAMRoleCheck(iamc, o.RoleArn, e.cluster, o.Namespace, sa)
		return o
	}

	// A new role.
	if _, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("fresh"), AssumeRolePolicyDocument: aws.String(podsTrust)}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rec := &recorder{}
	if _, err := enableAssociation(t, ctx, e, opts("fresh", "fresh"), rec); err != nil {
		t.Fatalf("associate a new role: %v", err)
	}
	if time.Since(start) < delay/2 || len(rec.msgs) != 1 || !strings.Contains(rec.msgs[0], "IAM to propagate the new role "+roleArn("fresh")) {
		t.Errorf("after %v, progress = %q", time.Since(start), rec.msgs)
	}

	// A trust policy fixed a moment ago (IRSA-only before).
	if _, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("migrated"), AssumeRolePolicyDocument: aws.String(irsaTrust)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(delay + 50*time.Millisecond)
	if _, err := iamc.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("migrated"), PolicyDocument: aws.String(podsTrust)}); err != nil {
		t.Fatal(err)
	}
	rec = &recorder{}
	if _, err := enableAssociation(t, ctx, e, opts("migrated", "migrated"), rec); err != nil {
		t.Fatalf("associate right after the trust fix: %v", err)
	}
	if len(rec.msgs) != 1 || !strings.Contains(rec.msgs[0], "IAM to propagate the trust policy of role "+roleArn("migrated")) {
		t.Errorf("progress = %q", rec.msgs)
	}

	// A trust that is wrong in IAM too: no waiting, the trust error.
	if _, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("irsa-only"), AssumeRolePolicyDocument: aws.String(irsaTrust)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(delay + 50*time.Millisecond)
	start = time.Now()
	_, err := enableAssociation(t, ctx, e, opts("irsa-only", "irsa-only"), nil)
	if err == nil || !strings.Contains(fail.HintOf(err), "verify-role") || time.Since(start) > delay {
		t.Errorf("wrong trust: %v after %v, hint %q; want the trust error at once", err, time.Since(start), fail.HintOf(err))
	}
}
