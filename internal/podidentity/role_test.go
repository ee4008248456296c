package podidentity

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/fakeaws"
)

func TestResolveRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		ref     string
		roles   map[string]string // name → trust
		assoc   string            // role of an existing association
		want    RoleRef
		kind    fail.Kind
		errWant []string
	}{
		{name: "explicit name", ref: "custom", roles: map[string]string{"custom": podsTrust, "eks-workshop-carts": podsTrust},
			want: RoleRef{Name: "custom", Arn: roleArn("custom"), Source: RoleFromFlag}},
		{name: "explicit ARN in another account is not looked up", ref: "arn:aws:iam::111122223333:role/x",
			want: RoleRef{Name: "x", Arn: "arn:aws:iam::111122223333:role/x", Source: RoleFromFlag}},
		{name: "explicit missing", ref: "nope", kind: fail.KindError, errWant: []string{`role "nope" does not exist`}},
		{name: "explicit invalid", ref: "bad name!", kind: fail.KindUsage},
		{name: "via association", roles: map[string]string{"assoc-role": podsTrust, "eks-workshop-carts": podsTrust}, assoc: "assoc-role",
			want: RoleRef{Name: "assoc-role", Arn: roleArn("assoc-role"), Source: RoleFromAssociation}},
		{name: "by prefix", roles: map[string]string{"eks-workshop-carts-dynamo": podsTrust, "eks-workshop-carts-irsa": irsaTrust, "other": podsTrust},
			want: RoleRef{Name: "eks-workshop-carts-dynamo", Arn: roleArn("eks-workshop-carts-dynamo"), Source: RoleFromPrefix}},
		{name: "none", roles: map[string]string{"eks-workshop-carts-irsa": irsaTrust, "other": podsTrust}, kind: fail.KindUsage,
			errWant: []string{"eks-workshop-carts*", "eks-workshop-carts-irsa (sts:AssumeRole: ImplicitDeny)"}},
		{name: "several", roles: map[string]string{"eks-workshop-carts-a": podsTrust, "eks-workshop-carts-b": podsTrust}, kind: fail.KindUsage,
			errWant: []string{"eks-workshop-carts-a, eks-workshop-carts-b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fakeaws.Options{})
			for name, doc := range tt.roles {
				e.fake.PutRole(fakeaws.Role{Name: name, TrustPolicy: doc})
			}
			if tt.assoc != "" {
				s, _ := NewAssociation(e.clients.EKS(), assocOpts(tt.assoc))
				runStep(t, s)
			}
			got, err := ResolveRole(ctx, e.clients.IAM(), e.clients.EKS(), tt.ref, e.cluster, "carts", "carts")
			if fail.KindOf(err) != tt.kind {
				t.Fatalf("err = %v (kind %d), want kind %d", err, fail.KindOf(err), tt.kind)
			}
			for _, w := range tt.errWant {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("role (-want +got):\n%s", diff)
			}
		})
	}
}

func verifyStep(t *testing.T, e *env, name string, mod func(*VerifyRoleOptions)) *VerifyRole {
	t.Helper()
	opts := VerifyRoleOptions{Role: RoleRef{Name: name, Arn: roleArn(name)}, Cluster: e.cluster, Namespace: "carts", ServiceAccount: "carts"}
	if mod != nil {
		mod(&opts)
	}
	s, err := NewVerifyRole(e.clients.IAM(), e.clients.IAM(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyRoleGood(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	e.fake.PutRole(fakeaws.Role{Name: "carts-dynamo", TrustPolicy: podsTrust})
	arn := e.fake.PutPolicy(fakeaws.Policy{Name: "carts-table", Document: `{"Version":"2012-10-17","Statement":[{"Sid":"Table","Effect":"Allow","Action":["dynamodb:Query","dynamodb:GetItem"],"Resource":"arn:aws:dynamodb:us-west-2:1234567890:table/carts"}]}`})
	if err := e.fake.AttachRolePolicy("carts-dynamo", arn); err != nil {
		t.Fatal(err)
	}
	if err := e.fake.PutRolePolicy("carts-dynamo", "logs", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
	p, err := verifyStep(t, e, "carts-dynamo", nil).Check(context.Background())
	if err != nil || !p.Satisfied {
		t.Fatalf("plan %+v, %v", p, err)
	}
	pols := p.Details.(*RoleDetails).Policies
	if len(pols) != 2 || pols[0].Arn != arn || pols[0].Version != "v1" || pols[0].Statements[0].Sid != "Table" ||
		!pols[1].Inline || pols[1].Name != "logs" || pols[1].Statements[0].Actions[0] != "logs:PutLogEvents" {
		t.Errorf("policies = %+v", pols)
	}
	if len(mutations(e.fake)) != 0 {
		t.Errorf("Check mutated: %v", mutations(e.fake))
	}
}

func TestVerifyRoleMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	_, err := verifyStep(t, e, "nope", nil).Check(context.Background())
	if err == nil || !strings.Contains(fail.HintOf(err), "podid role create") || !strings.Contains(fail.HintOf(err), "--role") {
		t.Errorf("err = %v, hint %q", err, fail.HintOf(err))
	}
}

func TestVerifyRoleOtherAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	_, err := verifyStep(t, e, "x", func(o *VerifyRoleOptions) { o.Role.Arn = "arn:aws:iam::111122223333:role/x" }).Check(context.Background())
	if fail.KindOf(err) != fail.KindVerification || !strings.Contains(fail.HintOf(err), "--target-role") {
		t.Errorf("err = %v, hint %q", err, fail.HintOf(err))
	}
}

func TestVerifyRoleTrustProblemsAndFix(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, trust, want string }{
		{"irsa only", irsaTrust, "pods.eks.amazonaws.com"},
		{"no TagSession", assumeOnly, "sts:TagSession"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fakeaws.Options{})
			e.fake.PutRole(fakeaws.Role{Name: "r", TrustPolicy: tt.trust})
			ctx := context.Background()
			_, err := verifyStep(t, e, "r", nil).Check(ctx)
			if fail.KindOf(err) != fail.KindVerification || !strings.Contains(err.Error(), tt.want) || !strings.Contains(fail.HintOf(err), "--fix") {
				t.Fatalf("err = %v (kind %d), hint %q", err, fail.KindOf(err), fail.HintOf(err))
			}

			s := verifyStep(t, e, "r", func(o *VerifyRoleOptions) { o.Fix = true })
			p, err := s.Check(ctx)
			if err != nil || p.Satisfied {
				t.Fatalf("fix plan %+v, %v", p, err)
			}
			var diff string
			if d, ok := p.Details.(*RoleDetails); ok {
				diff = d.TrustDiff
			}
			if !strings.Contains(diff, "+") || !strings.Contains(diff, "pods.eks.amazonaws.com") {
				t.Errorf("diff = %q", diff)
			}
			if len(mutations(e.fake)) != 0 {
				t.Fatalf("Check mutated: %v", mutations(e.fake))
			}
			if _, err := s.Apply(ctx, p, nil); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"iam:UpdateAssumeRolePolicy"}, mutations(e.fake)); diff != "" {
				t.Errorf("mutations (-want +got):\n%s", diff)
			}
			// Second run: satisfied, no further write; the other statements stay.
			p, err = s.Check(ctx)
			if err != nil || !p.Satisfied {
				t.Fatalf("second plan %+v, %v", p, err)
			}
			if len(mutations(e.fake)) != 1 {
				t.Errorf("second run mutated: %v", mutations(e.fake))
			}
		})
	}
}

func TestVerifyRoleExpect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	e.fake.PutRole(fakeaws.Role{Name: "carts-dynamo", TrustPolicy: podsTrust})
	table := "arn:aws:dynamodb:us-west-2:1234567890:table/carts"
	if err := e.fake.PutRolePolicy("carts-dynamo", "table", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:Query","Resource":"`+table+`"},{"Effect":"Deny","Action":"dynamodb:DeleteTable","Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	parse := func(ss ...string) []Expectation {
		var out []Expectation
		for _, s := range ss {
			x, err := ParseExpect(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, x)
		}
		return out
	}
	p, err := verifyStep(t, e, "carts-dynamo", func(o *VerifyRoleOptions) { o.Expect = parse("dynamodb:Query=" + table) }).Check(ctx)
	if err != nil || !p.Satisfied {
		t.Fatalf("allowed: %+v, %v", p, err)
	}
	e.fake.ResetCounts()
	_, err = verifyStep(t, e, "carts-dynamo", func(o *VerifyRoleOptions) {
		o.Expect = parse("dynamodb:Query="+table, "dynamodb:PutItem="+table, "dynamodb:DeleteTable", "dynamodb:Query")
	}).Check(ctx)
	if fail.KindOf(err) != fail.KindVerification {
		t.Fatalf("err = %v (kind %d)", err, fail.KindOf(err))
	}
	for _, w := range []string{"dynamodb:PutItem on " + table + ": implicitDeny", "dynamodb:DeleteTable on *: explicitDeny", "dynamodb:Query on *: implicitDeny"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "dynamodb:Query on "+table) {
		t.Errorf("error names an allowed pair: %v", err)
	}
	if n := e.fake.CallCounts()["iam:SimulatePrincipalPolicy"]; n != 1 {
		t.Errorf("SimulatePrincipalPolicy calls = %d, want 1", n)
	}
}

func TestParseExpect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Expectation
		ok   bool
	}{
		{"dynamodb:Query", Expectation{"dynamodb:Query", "*"}, true},
		{"s3:Get*=arn:aws:s3:::bucket/*", Expectation{"s3:Get*", "arn:aws:s3:::bucket/*"}, true},
		{"dynamodb:Query=arn:aws:dynamodb:us-west-2:111122223333:table/carts", Expectation{"dynamodb:Query", "arn:aws:dynamodb:us-west-2:111122223333:table/carts"}, true},
		{"dynamodb:Query=*", Expectation{"dynamodb:Query", "*"}, true},
		{"Query", Expectation{}, false},
		{"dynamodb:Query=table/carts", Expectation{}, false},
		{"=arn:aws:s3:::b", Expectation{}, false},
		{"", Expectation{}, false},
	}
	for _, tt := range tests {
		got, err := ParseExpect(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseExpect(%q) = %+v, %v", tt.in, got, err)
		}
		if err != nil && fail.KindOf(err) != fail.KindUsage {
			t.Errorf("ParseExpect(%q) kind %d, want usage", tt.in, fail.KindOf(err))
		}
	}
}

// A role without permission policies is a warning whose fix is how to give
// the role permissions, not something about its trust policy.
func TestVerifyRoleNoPermissionPolicies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	e.fake.PutRole(fakeaws.Role{Name: "carts-empty", TrustPolicy: podsTrust})
	p, err := verifyStep(t, e, "carts-empty", nil).Check(context.Background())
	if err != nil || !p.Satisfied {
		t.Fatalf("plan %+v, %v", p, err)
	}
	var w string
	for _, s := range p.Warnings {
		if strings.Contains(s, "no permission policies") {
			w = s
		}
	}
	for _, want := range []string{"role carts-empty has no permission policies", "aws iam attach-role-policy --role-name carts-empty --policy-arn",
		"aws iam put-role-policy --role-name carts-empty --policy-name"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q lacks %q", w, want)
		}
	}
	if strings.Contains(w, "trust") || strings.Contains(w, "assume-role-policy") {
		t.Errorf("warning points at the trust policy: %q", w)
	}
}
