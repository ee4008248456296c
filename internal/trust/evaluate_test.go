package trust

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// outcome is the part of a Report the table compares.
type outcome struct {
	AssumeRole, TagSession Decision
	By                     string // deciding statement of AssumeRole
	Problems, Warnings     []string
}

func summarize(r Report) outcome {
	o := outcome{AssumeRole: r.AssumeRole.Decision, TagSession: r.TagSession.Decision, By: r.AssumeRole.Statement}
	for _, p := range r.Problems {
		o.Problems = append(o.Problems, p.Code)
	}
	for _, p := range r.Warnings {
		o.Warnings = append(o.Warnings, p.Code)
	}
	return o
}

// stmt wraps statement JSON into a document.
func stmt(s ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(s, ",") + `]}`
}

const (
	allowBoth = `{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}`
)

func allowWith(cond string) string {
	return `{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":` + cond + `}`
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		req  Request
		want outcome
	}{
		{
			name: "workshop trust is allowed but not scoped",
			doc:  workshopTrust,
			want: outcome{Allowed, Allowed, "statement 0", nil, []string{"not-scoped"}},
		},
		{
			name: "scoped trust matches the workshop request",
			doc:  scopedTrust,
			want: outcome{Allowed, Allowed, `"AllowEksAuthToAssumeRoleForPodIdentity" (statement 0)`, nil, nil},
		},
		{
			name: "scoped trust excludes another namespace",
			doc:  scopedTrust,
			req:  Request{Cluster: "eks-workshop", Namespace: "orders", ServiceAccount: "carts", Account: "111122223333"},
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"condition-excludes", "condition-excludes"}, nil},
		},
		{
			name: "scoped trust excludes another service account and cluster",
			doc:  scopedTrust,
			req:  Request{Cluster: "prod", Namespace: "carts", ServiceAccount: "default", Account: "111122223333"},
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"condition-excludes", "condition-excludes", "condition-excludes", "condition-excludes"}, nil},
		},
		{
			name: "scoped trust with an unknown account is conditional",
			doc:  scopedTrust,
			req:  Request{Cluster: "eks-workshop", Namespace: "carts", ServiceAccount: "carts"},
			want: outcome{Conditional, Conditional, `"AllowEksAuthToAssumeRoleForPodIdentity" (statement 0)`, nil, []string{"condition-unknown", "condition-unknown"}},
		},
		{
			name: "statement object with string action lacks TagSession",
			doc:  assumeOnlyTrust,
			want: outcome{Allowed, ImplicitDeny, `"Pods" (statement 0)`, []string{"missing-tag-session"}, []string{"not-scoped"}},
		},
		{
			name: "only TagSession",
			doc:  stmt(`{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","pods.eks.amazonaws.com"]},"Action":"sts:TagSession"}`),
			want: outcome{ImplicitDeny, Allowed, "", []string{"missing-assume-role"}, nil},
		},
		{
			name: "IRSA only",
			doc:  irsaTrust,
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"irsa-only"}, nil},
		},
		{
			name: "IRSA plus another service is not IRSA-only",
			doc:  stmt(`{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC"},"Action":"sts:AssumeRoleWithWebIdentity"}`, `{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}`),
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"no-pod-identity-principal"}, nil},
		},
		{
			name: "no principal for the service",
			doc:  stmt(`{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}`),
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"no-pod-identity-principal"}, nil},
		},
		{
			name: "service principal compared exactly",
			doc:  stmt(`{"Effect":"Allow","Principal":{"Service":"PODS.eks.amazonaws.com"},"Action":"sts:*"}`),
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"no-pod-identity-principal"}, nil},
		},
		{
			name: "IRSA and pod identity together",
			doc:  bothTrust,
			want: outcome{Allowed, Allowed, `"Pods" (statement 1)`, nil, []string{"not-scoped"}},
		},
		{
			name: "sts:* wildcard",
			doc:  stmt(`{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:*"}`),
			want: outcome{Allowed, Allowed, "statement 0", nil, []string{"not-scoped"}},
		},
		{
			name: "* action",
			doc:  stmt(`{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"*"}`),
			want: outcome{Allowed, Allowed, "statement 0", nil, []string{"not-scoped"}},
		},
		{
			name: "prefix wildcard and case-insensitive actions",
			doc:  stmt(`{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["STS:assume*","sts:tagsessio?"]}`),
			want: outcome{Allowed, Allowed, "statement 0", nil, []string{"not-scoped"}},
		},
		{
			name: "sts:Assume* does not cover TagSession",
			doc:  stmt(`{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:Assume*"}`),
			want: outcome{Allowed, ImplicitDeny, "statement 0", []string{"missing-tag-session"}, []string{"not-scoped"}},
		},
		{
			name: "principal star is broad",
			doc:  starTrust,
			want: outcome{Allowed, Allowed, "statement 0", nil, []string{"principal-wildcard", "not-scoped"}},
		},
		{
			name: "AWS star is broad",
			doc:  stmt(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["sts:AssumeRole","sts:TagSession"]}`),
			want: outcome{Allowed, Allowed, "statement 0", nil, []string{"principal-wildcard", "not-scoped"}},
		},
		{
			name: "Deny matching our namespace cancels the Allow",
			doc:  denyTrust,
			want: outcome{ExplicitDeny, ExplicitDeny, `"NoCarts" (statement 1)`, []string{"explicit-deny", "explicit-deny"}, nil},
		},
		{
			name: "Deny for another namespace does not apply",
			doc:  denyTrust,
			req:  Request{Cluster: "eks-workshop", Namespace: "orders", ServiceAccount: "orders"},
			want: outcome{Allowed, Allowed, "statement 0", nil, []string{"not-scoped"}},
		},
		{
			name: "Deny with NotAction covers TagSession only",
			doc:  stmt(allowBoth, `{"Sid":"OnlyAssume","Effect":"Deny","Principal":"*","NotAction":"sts:AssumeRole"}`),
			want: outcome{Allowed, ExplicitDeny, "statement 0", []string{"explicit-deny"}, []string{"not-scoped"}},
		},
		{
			name: "Allow with NotAction",
			doc:  stmt(`{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"NotAction":"iam:*"}`),
			want: outcome{Allowed, Allowed, "statement 0", nil, []string{"not-scoped"}},
		},
		{
			name: "Allow with NotAction excluding sts",
			doc:  stmt(`{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"NotAction":"sts:*"}`),
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"missing-assume-role", "missing-tag-session"}, nil},
		},
		{
			name: "Deny with NotPrincipal naming the service does not apply",
			doc:  stmt(allowBoth, `{"Effect":"Deny","NotPrincipal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:*"}`),
			want: outcome{Allowed, Allowed, "statement 0", nil, []string{"not-scoped"}},
		},
		{
			name: "Deny with NotPrincipal naming others applies",
			doc:  stmt(allowBoth, `{"Effect":"Deny","NotPrincipal":{"Service":"ec2.amazonaws.com"},"Action":"sts:*"}`),
			want: outcome{ExplicitDeny, ExplicitDeny, "statement 1", []string{"explicit-deny", "explicit-deny"}, nil},
		},
		{
			name: "StringLike on namespace matches",
			doc:  stmt(allowWith(`{"StringLike":{"aws:RequestTag/kubernetes-namespace":"ca*","aws:RequestTag/kubernetes-service-account":["x","c?rts"]}}`)),
			want: outcome{Allowed, Allowed, "statement 0", nil, nil},
		},
		{
			name: "StringLike is case-sensitive",
			doc:  stmt(allowWith(`{"StringLike":{"aws:RequestTag/kubernetes-namespace":"CA*"}}`)),
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"condition-excludes", "condition-excludes"}, nil},
		},
		{
			name: "StringEqualsIgnoreCase and case-insensitive keys",
			doc:  stmt(allowWith(`{"StringEqualsIgnoreCase":{"AWS:RequestTag/Kubernetes-Namespace":"CARTS"}}`)),
			want: outcome{Allowed, Allowed, "statement 0", nil, nil},
		},
		{
			name: "StringNotEquals excludes our namespace",
			doc:  stmt(allowWith(`{"StringNotEquals":{"aws:RequestTag/kubernetes-namespace":["kube-system","carts"]}}`)),
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"condition-excludes", "condition-excludes"}, nil},
		},
		{
			name: "StringNotLike passes other namespaces",
			doc:  stmt(allowWith(`{"StringNotLike":{"aws:RequestTag/kubernetes-namespace":"kube-*"}}`)),
			want: outcome{Allowed, Allowed, "statement 0", nil, nil},
		},
		{
			name: "ArnLike on the cluster ARN",
			doc:  stmt(allowWith(`{"ArnLike":{"aws:SourceArn":"arn:aws:eks:*:111122223333:cluster/*"},"StringEquals":{"aws:RequestTag/kubernetes-service-account":"carts"}}`)),
			want: outcome{Allowed, Allowed, "statement 0", nil, nil},
		},
		{
			name: "ArnEquals on another cluster",
			doc:  stmt(allowWith(`{"ArnEquals":{"aws:SourceArn":"arn:aws:eks:us-west-2:111122223333:cluster/prod"}}`)),
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"condition-excludes", "condition-excludes"}, nil},
		},
		{
			name: "eks-cluster-arn tag without a known ARN is conditional",
			doc:  stmt(allowWith(`{"StringEquals":{"aws:RequestTag/eks-cluster-arn":"arn:aws:eks:us-west-2:111122223333:cluster/eks-workshop","aws:RequestTag/kubernetes-namespace":"carts"}}`)),
			req:  Request{Cluster: "eks-workshop", Namespace: "carts", ServiceAccount: "carts"},
			want: outcome{Conditional, Conditional, "statement 0", nil, []string{"condition-unknown", "condition-unknown"}},
		},
		{
			name: "IfExists on a known key still compares",
			doc:  stmt(allowWith(`{"StringEqualsIfExists":{"aws:RequestTag/kubernetes-namespace":"orders"}}`)),
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"condition-excludes", "condition-excludes"}, nil},
		},
		{
			name: "IfExists matching",
			doc:  stmt(allowWith(`{"StringLikeIfExists":{"aws:RequestTag/kubernetes-namespace":"*"}}`)),
			want: outcome{Allowed, Allowed, "statement 0", nil, nil},
		},
		{
			name: "ForAnyValue on a single-valued key",
			doc:  stmt(allowWith(`{"ForAnyValue:StringEquals":{"aws:RequestTag/kubernetes-namespace":["orders","carts"]}}`)),
			want: outcome{Allowed, Allowed, "statement 0", nil, nil},
		},
		{
			name: "ForAllValues on TagKeys allows the pod identity tags",
			doc:  stmt(allowWith(`{"ForAllValues:StringLike":{"aws:TagKeys":["eks-*","kubernetes-*"]}}`)),
			want: outcome{Allowed, Allowed, "statement 0", nil, []string{"not-scoped"}},
		},
		{
			name: "ForAllValues on TagKeys missing a tag",
			doc:  stmt(allowWith(`{"ForAllValues:StringEquals":{"aws:TagKeys":["eks-cluster-name","kubernetes-namespace"]}}`)),
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"condition-excludes", "condition-excludes"}, nil},
		},
		{
			name: "ForAnyValue on TagKeys",
			doc:  stmt(allowWith(`{"ForAnyValue:StringEquals":{"aws:TagKeys":"kubernetes-pod-uid"}}`)),
			want: outcome{Allowed, Allowed, "statement 0", nil, []string{"not-scoped"}},
		},
		{
			name: "unknown key aws:SourceOrgId",
			doc:  stmt(allowWith(`{"StringEquals":{"aws:SourceOrgId":"o-abc","aws:RequestTag/kubernetes-namespace":"carts"}}`)),
			want: outcome{Conditional, Conditional, "statement 0", nil, []string{"condition-unknown", "condition-unknown"}},
		},
		{
			// A service principal carries no aws:PrincipalOrgID: the key is
			// missing, so StringEquals on it never holds.
			name: "aws:PrincipalOrgID is absent for the service principal",
			doc:  stmt(allowWith(`{"StringEquals":{"aws:PrincipalOrgID":"o-abc","aws:RequestTag/kubernetes-namespace":"carts"}}`)),
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"condition-excludes", "condition-excludes"}, nil},
		},
		{
			name: "unknown key pod name, known key excludes: false wins",
			doc:  stmt(allowWith(`{"StringLike":{"aws:RequestTag/kubernetes-pod-name":"carts-*","aws:RequestTag/kubernetes-namespace":"orders"}}`)),
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"condition-excludes", "condition-excludes"}, nil},
		},
		{
			name: "unknown operator",
			doc:  stmt(allowWith(`{"NumericLessThan":{"aws:RequestTag/kubernetes-namespace":"3"}}`)),
			want: outcome{Conditional, Conditional, "statement 0", nil, []string{"condition-unknown", "condition-unknown"}},
		},
		{
			name: "policy variable",
			doc:  stmt(allowWith(`{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"${aws:PrincipalTag/team}"}}`)),
			want: outcome{Conditional, Conditional, "statement 0", nil, []string{"condition-unknown", "condition-unknown"}},
		},
		{
			name: "SourceAccount mismatch",
			doc:  stmt(allowWith(`{"StringEquals":{"aws:SourceAccount":"444455556666"}}`)),
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"condition-excludes", "condition-excludes"}, nil},
		},
		{
			name: "Deny with unknown condition makes an Allow conditional",
			doc:  stmt(allowBoth, `{"Sid":"OrgOnly","Effect":"Deny","Principal":"*","Action":"sts:*","Condition":{"StringNotEquals":{"aws:SourceOrgId":"o-abc"}}}`),
			want: outcome{Conditional, Conditional, `"OrgOnly" (statement 1)`, nil, []string{"condition-unknown", "condition-unknown"}},
		},
		{
			// The classic trap: a negated operator on a key the service
			// principal does not carry holds, so the Deny applies to EKS.
			name: "Deny StringNotEquals aws:PrincipalOrgID denies the service principal",
			doc:  stmt(allowBoth, `{"Sid":"OrgOnly","Effect":"Deny","Principal":"*","Action":"sts:*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-abc"}}}`),
			want: outcome{ExplicitDeny, ExplicitDeny, `"OrgOnly" (statement 1)`, []string{"explicit-deny", "explicit-deny"}, nil},
		},
		{
			name: "that Deny exempting AWS services leaves the Allow",
			doc:  stmt(allowBoth, `{"Sid":"OrgOnly","Effect":"Deny","Principal":"*","Action":"sts:*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-abc"},"BoolIfExists":{"aws:PrincipalIsAWSService":"false"}}}`),
			want: outcome{Allowed, Allowed, "statement 0", nil, []string{"not-scoped"}},
		},
		{
			name: "second Allow passes when first is excluded",
			doc:  stmt(allowWith(`{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"orders"}}`), allowWith(`{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"carts"}}`)),
			want: outcome{Allowed, Allowed, "statement 1", nil, nil},
		},
		{
			name: "Deny statement alone",
			doc:  stmt(`{"Effect":"Deny","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}`),
			want: outcome{ExplicitDeny, ImplicitDeny, "statement 0", []string{"explicit-deny", "missing-tag-session"}, nil},
		},
		{
			name: "empty statement list",
			doc:  `{"Statement":[]}`,
			want: outcome{ImplicitDeny, ImplicitDeny, "", []string{"no-pod-identity-principal"}, nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Parse(tt.doc)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			req := tt.req
			if req == (Request{}) {
				req = workshopReq
			}
			rep := Evaluate(doc, req)
			if diff := cmp.Diff(tt.want, summarize(rep)); diff != "" {
				t.Errorf("Evaluate (-want +got):\n%s", diff)
			}
			if got, want := rep.OK(), tt.want.AssumeRole == Allowed && tt.want.TagSession == Allowed; got != want {
				t.Errorf("OK() = %v, want %v", got, want)
			}
			for _, p := range append(rep.Problems, rep.Warnings...) {
				if p.Message == "" || p.Why == "" || p.Fix == "" {
					t.Errorf("problem %s lacks message, why or fix: %+v", p.Code, p)
				}
			}
		})
	}
}

func TestEvaluateMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		req  Request
		want []string // substrings of the concatenated problems and warnings
	}{
		{
			name: "IRSA names the issuer",
			doc:  irsaTrust,
			want: []string{"the role trusts only oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE: it is an IRSA role", "Trust policy of the role provided is invalid"},
		},
		{
			name: "missing TagSession names why",
			doc:  assumeOnlyTrust,
			want: []string{"EKS rejects CreatePodIdentityAssociation with 'Trust policy of the role provided is invalid'", `add sts:TagSession to the Action of "Pods" (statement 0)`},
		},
		{
			name: "excluded namespace names wanted and ours",
			doc:  scopedTrust,
			req:  Request{Cluster: "eks-workshop", Namespace: "orders", ServiceAccount: "carts", Account: "111122223333"},
			want: []string{`StringEquals aws:RequestTag/kubernetes-namespace wants "carts", this request has "orders"`},
		},
		{
			name: "deny names its sid",
			doc:  denyTrust,
			want: []string{`"NoCarts" (statement 1) denies sts:AssumeRole`, "by hand"},
		},
		{
			name: "not scoped suggests the condition",
			doc:  workshopTrust,
			want: []string{`"aws:RequestTag/kubernetes-namespace": "carts"`, `"aws:RequestTag/kubernetes-service-account": "carts"`, `"aws:RequestTag/eks-cluster-name": "eks-workshop"`},
		},
		{
			name: "unknown key is named",
			doc:  stmt(allowWith(`{"StringEquals":{"aws:SourceOrgId":"o-abc"}}`)),
			want: []string{"StringEquals aws:SourceOrgId, unknown at check time"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Parse(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			req := tt.req
			if req == (Request{}) {
				req = workshopReq
			}
			rep := Evaluate(doc, req)
			var all strings.Builder
			for _, p := range append(rep.Problems, rep.Warnings...) {
				all.WriteString(p.Message + "\n" + p.Why + "\n" + p.Fix + "\n")
			}
			for _, w := range tt.want {
				if !strings.Contains(all.String(), w) {
					t.Errorf("report does not contain %q:\n%s", w, all.String())
				}
			}
		})
	}
}

func TestEvaluateIRSA(t *testing.T) {
	t.Parallel()
	doc, err := Parse(irsaTrust)
	if err != nil {
		t.Fatal(err)
	}
	issuer := "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
	want := []IRSATrust{{
		Statement:      "statement 0",
		StatementIndex: 0,
		Provider:       "arn:aws:iam::111122223333:oidc-provider/" + issuer,
		Issuer:         issuer,
		Subjects:       []string{"system:serviceaccount:carts:carts"},
		Audiences:      []string{"sts.amazonaws.com"},
	}}
	if diff := cmp.Diff(want, Evaluate(doc, workshopReq).IRSA); diff != "" {
		t.Errorf("IRSA (-want +got):\n%s", diff)
	}
}

func TestGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s, p string
		want bool
	}{
		{"", "", true}, {"", "*", true}, {"a", "", false}, {"abc", "a*c", true}, {"abc", "a?c", true},
		{"abc", "a??c", false}, {"abcbc", "*bc", true}, {"abc", "*b", false}, {"aaa", "a*a*a", true},
		{"ab", "a*a*a", false}, {"ÿx", "?x", true}, {"x", "**", true},
	}
	for _, tt := range tests {
		if got := glob(tt.s, tt.p); got != tt.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tt.s, tt.p, got, tt.want)
		}
	}
}
