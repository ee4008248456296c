package podidentity

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/fakeaws"
)

func roleCreateOpts(e *env, name string, policies ...string) RoleCreateOptions {
	return RoleCreateOptions{Cluster: e.cluster, Namespace: "carts", ServiceAccount: "carts", Name: name, PolicyArns: policies}
}

// applyRoleCreate runs Check then Apply and returns Apply's error (or Check's).
func applyRoleCreate(t *testing.T, s *RoleCreate) error {
	t.Helper()
	p, err := s.Check(context.Background())
	if err != nil {
		return err
	}
	if p.Satisfied {
		return nil
	}
	_, err = s.Apply(context.Background(), p, &recorder{})
	return err
}

func auditOps(f *fakeaws.Server) []string {
	var out []string
	for _, a := range f.Audit() {
		out = append(out, a.Operation+" "+a.Target)
	}
	return out
}

// The AWS managed policy from the issue attaches, as on real IAM.
func TestRoleCreateAttachesAWSManagedPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	ddb := "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"
	s := NewRoleCreate(e.clients.IAM(), roleCreateOpts(e, "carts-ddb", ddb))
	if err := applyRoleCreate(t, s); err != nil {
		t.Fatalf("role create --policy-arn %s: %v", ddb, err)
	}
	for _, r := range e.fake.State().Roles {
		if r.Name == "carts-ddb" && slices.Contains(r.AttachedPolicies, ddb) {
			return
		}
	}
	t.Errorf("role carts-ddb with %s not found in %+v", ddb, e.fake.State().Roles)
}

// Every input is checked before anything is created: a policy that does
// not exist, or that cannot be attached, is refused with nothing changed.
func TestRoleCreateChecksPoliciesFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	for _, tc := range []struct{ arn, want string }{
		{"arn:aws:iam::aws:policy/AmazonDynamoDBFulAccess", "no such policy"},
		{"arn:aws:iam::aws:policy/aws-service-role/CloudWatchEventsServiceRolePolicy", "cannot be attached"},
	} {
		s := NewRoleCreate(e.clients.IAM(), roleCreateOpts(e, "carts-typo", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", tc.arn))
		err := applyRoleCreate(t, s)
		if err == nil || fail.KindOf(err) != fail.KindUsage || !strings.Contains(err.Error(), tc.arn) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v (kind %d), want a usage error naming it", tc.arn, err, fail.KindOf(err))
		}
		if ops := auditOps(e.fake); len(ops) != 0 {
			t.Errorf("%s: IAM changed: %v", tc.arn, ops)
		}
	}
	opts := roleCreateOpts(e, "carts-boundary")
	opts.PermissionsBoundary = "arn:aws:iam::" + testAccount + ":policy/missing-boundary"
	if err := applyRoleCreate(t, NewRoleCreate(e.clients.IAM(), opts)); err == nil || !strings.Contains(err.Error(), "--permissions-boundary") {
		t.Errorf("missing boundary: %v", err)
	}
	if ops := auditOps(e.fake); len(ops) != 0 {
		t.Errorf("IAM changed: %v", ops)
	}
}

// A call after CreateRole fails (here the caller may not attach policies):
// the role this run created is deleted again and the error says so.
func TestRoleCreateUndoesHalfMadeRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	e.fake.SetCallerPolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
		{"Effect":"Deny","Action":"iam:AttachRolePolicy","Resource":"*"}]}`)
	s3 := "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
	opts := roleCreateOpts(e, "carts-half", s3)
	opts.InlineName, opts.InlineDocument = "extra", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*"}]}`
	err := applyRoleCreate(t, NewRoleCreate(e.clients.IAM(), opts))
	if err == nil || !strings.Contains(err.Error(), "iam:AttachRolePolicy") || !strings.Contains(err.Error(), "deleted the role carts-half") {
		t.Fatalf("error = %v, want the AccessDenied and the undo", err)
	}
	for _, r := range e.fake.State().Roles {
		if r.Name == "carts-half" {
			t.Errorf("role carts-half still stands: %+v", r)
		}
	}
	want := []string{"CreateRole role/carts-half", "DeleteRole role/carts-half"}
	if got := auditOps(e.fake); !slices.Equal(got, want) {
		t.Errorf("IAM changes %v, want %v", got, want)
	}
}

// When the undo fails too, the error names exactly what stands and the
// commands that remove it.
func TestRoleCreateReportsWhatStands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	e.fake.SetCallerPolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
		{"Effect":"Deny","Action":["iam:PutRolePolicy","iam:DetachRolePolicy"],"Resource":"*"}]}`)
	s3 := "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
	opts := roleCreateOpts(e, "carts-stuck", s3)
	opts.InlineName, opts.InlineDocument = "extra", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*"}]}`
	err := applyRoleCreate(t, NewRoleCreate(e.clients.IAM(), opts))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"iam:PutRolePolicy", "what stands now", "role arn:aws:iam::" + testAccount + ":role/carts-stuck", "attached policy " + s3} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	hint := fail.HintOf(err)
	for _, want := range []string{"aws iam detach-role-policy --role-name carts-stuck --policy-arn " + s3, "aws iam delete-role --role-name carts-stuck", "podid role create again"} {
		if !strings.Contains(hint, want) {
			t.Errorf("hint lacks %q: %s", want, hint)
		}
	}
}

// reshuffle writes the same JSON value another way: keys sorted, lists
// reversed, one-element lists as a bare string.
func reshuffle(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = reshuffle(e)
		}
		return x
	case []any:
		if len(x) == 1 {
			if s, ok := x[0].(string); ok {
				return s
			}
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[len(x)-1-i] = reshuffle(e)
		}
		return out
	}
	return v
}

// An existing role whose trust says the same thing in other words (as the
// console, Terraform or CloudFormation write it) is the same trust: it is
// reused, not refused.
func TestRoleCreateReusesEquivalentTrust(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	s := NewRoleCreate(e.clients.IAM(), roleCreateOpts(e, "carts-tf"))
	var doc any
	if err := json.Unmarshal([]byte(s.TrustPolicy()), &doc); err != nil {
		t.Fatal(err)
	}
	other, _ := json.MarshalIndent(reshuffle(doc), "", "    ")
	if string(other) == s.TrustPolicy() || !strings.Contains(string(other), `"Action": [`) && !strings.Contains(string(other), `"sts:TagSession",`) {
		t.Fatalf("reshuffled trust is not different text:\n%s", other)
	}
	e.fake.PutRole(fakeaws.Role{Name: "carts-tf", TrustPolicy: string(other)})
	p, err := s.Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v\n(existing trust:\n%s)", err, other)
	}
	if d, _ := p.Details.(*RoleCreateDetails); !p.Satisfied || d == nil || d.Role.Source != "existing" {
		t.Errorf("plan = %+v, want the existing role reused as is", p)
	}
}
