package podidentity

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/trust"
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

// verify-role judges the request EKS makes for the association: without
// session tags when it disables them, and through the target role.
func TestVerifyRoleRequestModel(t *testing.T) {
	t.Parallel()
	scoped := trust.NewTrustPolicy(trust.Request{Cluster: testCluster, Namespace: "carts", ServiceAccount: "carts", Account: testAccount}, true)
	trustsFirst := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + roleArn("first") + `"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	trustsOther := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + roleArn("other") + `"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	mayChain := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"` + roleArn("target") + `"}]}`
	tests := []struct {
		name        string
		trust       string
		noTags      bool
		target      string // target role ARN
		targetTrust string // "" = no such role in the fake
		chainPolicy string // inline policy of "first"
		wantErr     []string
		wantHint    []string
		wantWarn    string
	}{
		{name: "scoped trust with session tags", trust: scoped},
		{name: "scoped trust without session tags", trust: scoped, noTags: true,
			wantErr:  []string{"the trust of `first` requires `aws:RequestTag/kubernetes-namespace`, but the association disables session tags", "drop `--disable-session-tags`, or rescope the trust"},
			wantHint: []string{"podid associate --cluster eks-workshop --ns carts --sa carts --role first --update (without --disable-session-tags)", "podid verify-role --cluster eks-workshop --ns carts --sa carts --role first --fix"}},
		{name: "no TagSession with session tags", trust: assumeOnly,
			wantErr: []string{"does not allow `sts:TagSession` for pods.eks.amazonaws.com, but the association sends session tags"}, wantHint: []string{"--fix"}},
		{name: "no TagSession without session tags", trust: assumeOnly, noTags: true},
		{name: "target trusts the first role", trust: podsTrust, target: roleArn("target"), targetTrust: trustsFirst, chainPolicy: mayChain},
		{name: "target trusts another role", trust: podsTrust, target: roleArn("target"), targetTrust: trustsOther, chainPolicy: mayChain,
			wantErr:  []string{"the trust of the target role `target` does not allow `sts:AssumeRole` and `sts:TagSession` for the session of `first`"},
			wantHint: []string{`add this statement to the trust of target: {"Effect":"Allow","Principal":{"AWS":"` + roleArn("first") + `"}`}},
		{name: "first role may not assume the target", trust: podsTrust, target: roleArn("target"), targetTrust: trustsFirst,
			wantErr:  []string{"the permission policies of `first` do not allow `sts:AssumeRole` and `sts:TagSession` on the target role `target`"},
			wantHint: []string{"aws iam put-role-policy --role-name first"}},
		{name: "first role may assume without tagging, tags disabled", trust: podsTrust, noTags: true, target: roleArn("target"), targetTrust: trustsFirst,
			chainPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"` + roleArn("target") + `"}]}`},
		{name: "target role missing", trust: podsTrust, target: roleArn("target"), chainPolicy: mayChain,
			wantErr: []string{"target role " + roleArn("target") + " does not exist"}, wantHint: []string{"--target-role-arn"}},
		{name: "target role in another account", trust: podsTrust, target: "arn:aws:iam::444455556666:role/target",
			chainPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"arn:aws:iam::444455556666:role/target"}]}`,
			wantWarn:    "could not be read (it is in account 444455556666"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fakeaws.Options{})
			e.fake.PutRole(fakeaws.Role{Name: "first", TrustPolicy: tt.trust})
			if tt.chainPolicy != "" {
				if err := e.fake.PutRolePolicy("first", "chain", tt.chainPolicy); err != nil {
					t.Fatal(err)
				}
			}
			if tt.targetTrust != "" {
				e.fake.PutRole(fakeaws.Role{Name: "target", TrustPolicy: tt.targetTrust})
			}
			p, err := verifyStep(t, e, "first", func(o *VerifyRoleOptions) {
				o.DisableSessionTags, o.TargetRoleArn = tt.noTags, tt.target
			}).Check(context.Background())
			if len(tt.wantErr) == 0 {
				if err != nil || !p.Satisfied {
					t.Fatalf("plan %+v, err %v", p, err)
				}
			} else if fail.KindOf(err) != fail.KindVerification {
				t.Fatalf("err = %v (kind %d), want a verification failure", err, fail.KindOf(err))
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, w := range tt.wantHint {
				if !strings.Contains(fail.HintOf(err), w) {
					t.Errorf("hint %q lacks %q", fail.HintOf(err), w)
				}
			}
			if tt.wantWarn != "" && !strings.Contains(strings.Join(p.Warnings, "\n"), tt.wantWarn) {
				t.Errorf("warnings %q lack %q", p.Warnings, tt.wantWarn)
			}
			if d, ok := p.Details.(*RoleDetails); err == nil && (!ok || d.Request.SessionTags == tt.noTags || d.Request.TargetRole != tt.target) {
				t.Errorf("details = %+v", p.Details)
			}
			if len(mutations(e.fake)) != 0 {
				t.Errorf("Check mutated: %v", mutations(e.fake))
			}
		})
	}
}

// --fix with session tags disabled rescopes the trust by the account, and
// the check then passes for the same association settings.
func TestVerifyRoleFixWithoutSessionTags(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	scoped := trust.NewTrustPolicy(trust.Request{Cluster: testCluster, Namespace: "carts", ServiceAccount: "carts", Account: testAccount}, true)
	e.fake.PutRole(fakeaws.Role{Name: "first", TrustPolicy: scoped})
	noTags := func(o *VerifyRoleOptions) { o.DisableSessionTags = true }
	s := verifyStep(t, e, "first", func(o *VerifyRoleOptions) { noTags(o); o.Fix = true })
	ctx := context.Background()
	p, err := s.Check(ctx)
	if err != nil || p.Satisfied {
		t.Fatalf("fix plan %+v, %v", p, err)
	}
	diff := p.Details.(*RoleDetails).TrustDiff
	var added []string
	for _, l := range strings.Split(diff, "\n") {
		if strings.HasPrefix(l, "+") {
			added = append(added, l)
		}
	}
	if a := strings.Join(added, "\n"); !strings.Contains(a, `"aws:SourceAccount": "`+testAccount+`"`) || strings.Contains(a, "RequestTag") {
		t.Errorf("diff does not rescope by the account only:\n%s", diff)
	}
	if _, err := s.Apply(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	if p, err := verifyStep(t, e, "first", noTags).Check(ctx); err != nil || !p.Satisfied {
		t.Fatalf("after --fix: plan %+v, %v", p, err)
	}
	// With session tags the old scoped statement still serves.
	if p, err := verifyStep(t, e, "first", nil).Check(ctx); err != nil || !p.Satisfied {
		t.Fatalf("after --fix, with tags: plan %+v, %v", p, err)
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

// EvaluateAssociation judges an existing association as EKS Auth would
// request it: its session tags and target role, read from the association.
func TestEvaluateAssociation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	ctx := context.Background()
	e.fake.PutRole(fakeaws.Role{Name: "first", TrustPolicy: podsTrust})
	e.fake.PutRole(fakeaws.Role{Name: "target", TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + roleArn("first") + `"},"Action":"sts:AssumeRole"}]}`})
	if err := e.fake.PutRolePolicy("first", "chain", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"`+roleArn("target")+`"}]}`); err != nil {
		t.Fatal(err)
	}
	o := assocOpts("first")
	o.TargetRoleArn = roleArn("target")
	s, err := NewAssociation(e.clients.EKS(), o)
	if err != nil {
		t.Fatal(err)
	}
	runStep(t, s)
	a, err := FindAssociation(ctx, e.clients.EKS(), testCluster, "carts", "carts")
	if err != nil || a == nil {
		t.Fatalf("association %+v, %v", a, err)
	}
	v, err := EvaluateAssociation(ctx, e.clients.IAM(), e.cluster, *a)
	if err != nil {
		t.Fatal(err)
	}
	if v.Failing != trust.LinkTargetTrust || !strings.Contains(v.Message, "does not allow `sts:TagSession` for the session of `first`") || v.ExternalID != "" {
		t.Errorf("verdict failing %q: %s (externalId %q, association's %q)", v.Failing, v.Message, v.ExternalID, a.ExternalID)
	}
	problem, fix, ok := ExplainAssociation(e.clients.IAM(), e.cluster, *a)(ctx)
	if !ok || !strings.Contains(problem, "the trust of the target role `target`") || !strings.Contains(fix, "add this statement to the trust of target") {
		t.Errorf("explainer: %q, %q, %v", problem, fix, ok)
	}
	a.DisableSessionTags = true
	if _, _, ok := ExplainAssociation(e.clients.IAM(), e.cluster, *a)(ctx); ok {
		t.Errorf("explainer explains a request the static model allows")
	}
	if v, err = EvaluateAssociation(ctx, e.clients.IAM(), e.cluster, *a); err != nil || !v.OK() || v.ExternalID != "us-west-2/"+testAccount+"/eks-workshop/carts/carts" {
		t.Errorf("without session tags: %+v, %v", v, err)
	}
	a.TargetRoleArn = roleArn("missing")
	if _, err = EvaluateAssociation(ctx, e.clients.IAM(), e.cluster, *a); fail.KindOf(err) != fail.KindVerification {
		t.Errorf("missing target role: %v", err)
	}
}

// A target role podid may not read is a warning, not a failure.
func TestVerifyRoleTargetUnreadable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{})
	e.fake.PutRole(fakeaws.Role{Name: "first", TrustPolicy: podsTrust})
	e.fake.PutRole(fakeaws.Role{Name: "target", TrustPolicy: podsTrust})
	if err := e.fake.PutRolePolicy("first", "chain", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"`+roleArn("target")+`"}]}`); err != nil {
		t.Fatal(err)
	}
	e.fake.SetCallerPolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"},
		{"Effect":"Deny","Action":"iam:GetRole","Resource":"` + roleArn("target") + `"}]}`)
	p, err := verifyStep(t, e, "first", func(o *VerifyRoleOptions) { o.TargetRoleArn = roleArn("target") }).Check(context.Background())
	if err != nil || !p.Satisfied {
		t.Fatalf("plan %+v, %v", p, err)
	}
	if w := strings.Join(p.Warnings, "\n"); !strings.Contains(w, "the trust of target role target could not be read (iam:GetRole is denied)") {
		t.Errorf("warnings %q", w)
	}
}
