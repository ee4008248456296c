package trust

import (
	"strings"
	"testing"
)

// The association role, target roles and the workshop association used by
// the request-model tables.
const (
	firstArn       = "arn:aws:iam::111122223333:role/eks-workshop-carts-dynamo"
	targetArn      = "arn:aws:iam::444455556666:role/carts-dynamo-target"
	otherRoleArn   = "arn:aws:iam::111122223333:role/someone-else"
	workshopExtID  = "us-west-2/111122223333/eks-workshop/carts/carts"
	scopedByTagsNS = `{"StringEquals":{"aws:RequestTag/eks-cluster-name":"eks-workshop","aws:RequestTag/kubernetes-namespace":"carts","aws:RequestTag/kubernetes-service-account":"carts","aws:SourceAccount":"111122223333"}}`
)

func mustParse(t *testing.T, doc string) *Document {
	t.Helper()
	d, err := Parse(doc)
	if err != nil {
		t.Fatalf("parse %s: %v", doc, err)
	}
	return d
}

// tagsReq is the workshop request with session tags on or off.
func tagsReq(off bool) Request {
	r := workshopReq
	r.NoSessionTags = off
	return r
}

// TestRequestFirstHop is the table of the first hop, with session tags
// enabled and disabled, including IAM's missing-key rules.
func TestRequestFirstHop(t *testing.T) {
	t.Parallel()
	type want struct {
		decision Decision
		msg      string // substring of Verdict.Message when it fails
	}
	tests := []struct {
		name    string
		doc     string
		on, off want
	}{
		{"plain trust", stmt(allowBoth), want{Allowed, ""}, want{Allowed, ""}},
		{"what podid role create writes", NewTrustPolicy(workshopReq, true),
			want{Allowed, ""},
			want{ImplicitDeny, "the trust of `eks-workshop-carts-dynamo` requires `aws:RequestTag/kubernetes-namespace`, but the association disables session tags"}},
		{"scoped by the service account only", stmt(allowWith(`{"StringEquals":{"aws:RequestTag/kubernetes-service-account":"carts"}}`)),
			want{Allowed, ""}, want{ImplicitDeny, "requires `aws:RequestTag/kubernetes-service-account`"}},
		{"scoped by the cluster ARN tag", stmt(allowWith(`{"ArnEquals":{"aws:RequestTag/eks-cluster-arn":"arn:aws:eks:us-west-2:111122223333:cluster/eks-workshop"}}`)),
			want{Allowed, ""}, want{ImplicitDeny, "requires `aws:RequestTag/eks-cluster-arn`"}},
		{"no sts:TagSession", stmt(`{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}`),
			want{ImplicitDeny, "does not allow `sts:TagSession` for pods.eks.amazonaws.com, but the association sends session tags"},
			want{Allowed, ""}},
		{"only sts:TagSession", stmt(`{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:TagSession"}`),
			want{ImplicitDeny, "does not let pods.eks.amazonaws.com call `sts:AssumeRole`"},
			want{ImplicitDeny, "call `sts:AssumeRole`"}},
		{"ForAllValues aws:TagKeys holds without tags", stmt(allowWith(`{"ForAllValues:StringEquals":{"aws:TagKeys":["eks-cluster-arn","eks-cluster-name","kubernetes-namespace","kubernetes-service-account","kubernetes-pod-name","kubernetes-pod-uid"]}}`)),
			want{Allowed, ""}, want{Allowed, ""}},
		{"ForAllValues aws:TagKeys too narrow for the six tags", stmt(allowWith(`{"ForAllValues:StringEquals":{"aws:TagKeys":["kubernetes-namespace"]}}`)),
			want{ImplicitDeny, "aws:TagKeys"}, want{Allowed, ""}},
		{"ForAnyValue aws:TagKeys needs tags", stmt(allowWith(`{"ForAnyValue:StringEquals":{"aws:TagKeys":"kubernetes-namespace"}}`)),
			want{Allowed, ""}, want{ImplicitDeny, "requires `aws:TagKeys`"}},
		{"negated operator holds on a missing tag", stmt(allowWith(`{"StringNotEquals":{"aws:RequestTag/kubernetes-namespace":"kube-system"}}`)),
			want{Allowed, ""}, want{Allowed, ""}},
		{"IfExists holds on a missing tag", stmt(allowWith(`{"StringEqualsIfExists":{"aws:RequestTag/kubernetes-namespace":"carts"}}`)),
			want{Allowed, ""}, want{Allowed, ""}},
		{"IfExists still checks a present tag", stmt(allowWith(`{"StringEqualsIfExists":{"aws:RequestTag/kubernetes-namespace":"orders"}}`)),
			want{ImplicitDeny, "kubernetes-namespace"}, want{Allowed, ""}},
		{"Null false requires the tag", stmt(allowWith(`{"Null":{"aws:RequestTag/kubernetes-namespace":"false"}}`)),
			want{Allowed, ""}, want{ImplicitDeny, "requires `aws:RequestTag/kubernetes-namespace`"}},
		{"Null true requires no tag", stmt(allowWith(`{"Null":{"aws:RequestTag/kubernetes-namespace":"true"}}`)),
			want{ImplicitDeny, "Null aws:RequestTag/kubernetes-namespace"}, want{Allowed, ""}},
		{"Deny of untagged requests", stmt(allowBoth, `{"Effect":"Deny","Principal":"*","Action":"sts:*","Condition":{"Null":{"aws:RequestTag/kubernetes-namespace":"true"}}}`),
			want{Allowed, ""}, want{ExplicitDeny, "denies sts:AssumeRole"}},
		{"a tag EKS never sends", stmt(allowWith(`{"StringEquals":{"aws:RequestTag/team":"carts"}}`)),
			want{ImplicitDeny, "aws:RequestTag/team"}, want{ImplicitDeny, "requires `aws:RequestTag/team`"}},
		{"pod name is per pod", stmt(allowWith(`{"StringLike":{"aws:RequestTag/kubernetes-pod-name":"carts-*"}}`)),
			want{Conditional, ""}, want{ImplicitDeny, "requires `aws:RequestTag/kubernetes-pod-name`"}},
		{"ExternalId is not sent on the first hop", stmt(allowWith(`{"StringEquals":{"sts:ExternalId":"` + workshopExtID + `"}}`)),
			want{ImplicitDeny, "sts:ExternalId"}, want{ImplicitDeny, "sts:ExternalId"}},
	}
	for _, tt := range tests {
		for _, off := range []bool{false, true} {
			w := tt.on
			if off {
				w = tt.off
			}
			t.Run(tt.name+map[bool]string{false: "/tags", true: "/no tags"}[off], func(t *testing.T) {
				t.Parallel()
				v := EvaluatePodIdentityRequest(tagsReq(off), Role{Arn: firstArn, Trust: mustParse(t, tt.doc)}, nil)
				if v.Decision != w.decision {
					t.Errorf("decision %s, want %s (message %q)", v.Decision, w.decision, v.Message)
				}
				if failing := w.decision == ImplicitDeny || w.decision == ExplicitDeny; failing != !v.OK() || (failing && v.Failing != LinkTrust) {
					t.Errorf("OK %v failing %q, want failing %v at trust", v.OK(), v.Failing, failing)
				}
				if !strings.Contains(v.Message, w.msg) {
					t.Errorf("message %q, want it to contain %q", v.Message, w.msg)
				}
				if !v.OK() && v.Fix == "" {
					t.Errorf("a failure without a fix: %q", v.Message)
				}
				if v.SessionTags == off {
					t.Errorf("SessionTags %v with NoSessionTags %v", v.SessionTags, off)
				}
				if off && v.Trust.TagSession.Decision != NotRequested {
					t.Errorf("without session tags sts:TagSession is %s, want NotRequested", v.Trust.TagSession.Decision)
				}
				if len(v.Links) != 1 {
					t.Errorf("%d links without a target role, want 1", len(v.Links))
				}
			})
		}
	}
}

// The message for session tags disabled names the fix exactly as the CLI
// prints it.
func TestRequestNoTagsMessage(t *testing.T) {
	t.Parallel()
	v := EvaluatePodIdentityRequest(tagsReq(true), Role{Arn: firstArn, Trust: mustParse(t, NewTrustPolicy(workshopReq, true))}, nil)
	const wantMsg = "the trust of `eks-workshop-carts-dynamo` requires `aws:RequestTag/kubernetes-namespace`, but the association disables session tags"
	const wantFix = "drop `--disable-session-tags`, or rescope the trust (`podid verify-role --fix`)"
	if v.Message != wantMsg || v.Fix != wantFix {
		t.Errorf("got\n  %s\n  %s\nwant\n  %s\n  %s", v.Message, v.Fix, wantMsg, wantFix)
	}
}

// TestRequestOrgConditions: organization and source keys. aws:SourceOrgId
// (EKS passes the account's organization, which podid cannot read) is
// unknown: Conditional, a pass with a warning. aws:PrincipalOrgID is absent
// for a service principal. aws:SourceAccount and aws:SourceArn are the
// cluster's account and ARN.
func TestRequestOrgConditions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want Decision
	}{
		{"aws:SourceOrgId", stmt(allowWith(`{"StringEquals":{"aws:SourceOrgId":"o-abc123"}}`)), Conditional},
		{"aws:SourceOrgId = ${aws:ResourceOrgId}", stmt(allowWith(`{"StringEquals":{"aws:SourceOrgId":"${aws:ResourceOrgId}"}}`)), Conditional},
		{"aws:SourceOrgPaths", stmt(allowWith(`{"ForAnyValue:StringLike":{"aws:SourceOrgPaths":"o-abc123/*"}}`)), Conditional},
		{"aws:SourceOrgId and a wrong namespace", stmt(allowWith(`{"StringEquals":{"aws:SourceOrgId":"o-abc123","aws:RequestTag/kubernetes-namespace":"orders"}}`)), ImplicitDeny},
		{"aws:PrincipalOrgID", stmt(allowWith(`{"StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}`)), ImplicitDeny},
		{"aws:SourceAccount of the cluster", stmt(allowWith(`{"StringEquals":{"aws:SourceAccount":"111122223333"}}`)), Allowed},
		{"aws:SourceAccount of another account", stmt(allowWith(`{"StringEquals":{"aws:SourceAccount":"999999999999"}}`)), ImplicitDeny},
		{"aws:SourceArn of the cluster", stmt(allowWith(`{"ArnEquals":{"aws:SourceArn":"arn:aws:eks:us-west-2:111122223333:cluster/eks-workshop"}}`)), Allowed},
		{"aws:SourceArn like the clusters of the account", stmt(allowWith(`{"ArnLike":{"aws:SourceArn":"arn:aws:eks:*:111122223333:cluster/*"}}`)), Allowed},
		// UNVERIFIED which ARN EKS sends; podid takes the cluster ARN (stricter).
		{"aws:SourceArn of associations", stmt(allowWith(`{"ArnLike":{"aws:SourceArn":"arn:aws:eks:us-west-2:111122223333:podidentityassociation/*"}}`)), ImplicitDeny},
		{"Deny outside the organization", stmt(allowBoth, `{"Effect":"Deny","Principal":"*","Action":"sts:*","Condition":{"StringNotEquals":{"aws:SourceOrgId":"o-abc123"}}}`), Conditional},
		{"Deny outside the principal's organization", stmt(allowBoth, `{"Effect":"Deny","Principal":"*","Action":"sts:*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-abc123"}}}`), ExplicitDeny},
		{"that Deny, exempting AWS services", stmt(allowBoth, `{"Effect":"Deny","Principal":"*","Action":"sts:*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-abc123"},"Bool":{"aws:PrincipalIsAWSService":"false"}}}`), Allowed},
		{"aws:CurrentTime", stmt(allowWith(`{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`)), Conditional},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := EvaluatePodIdentityRequest(workshopReq, Role{Arn: firstArn, Trust: mustParse(t, tt.doc)}, nil)
			if v.Decision != tt.want {
				t.Errorf("decision %s, want %s (%s)", v.Decision, tt.want, v.Message)
			}
			if tt.want == Conditional && len(v.Links[0].Warnings) == 0 {
				t.Errorf("a Conditional trust without a warning naming the condition")
			}
		})
	}
}

// fixConsistencyCorpus is every first-hop trust of the tables above, plus
// a few more: the check and Fix must agree on each.
func fixConsistencyCorpus() []string {
	docs := append([]string(nil), fixCorpus...)
	docs = append(docs,
		NewTrustPolicy(workshopReq, true),
		NewTrustPolicy(workshopReq, false),
		stmt(allowWith(scopedByTagsNS)),
		stmt(allowWith(`{"StringEquals":{"aws:SourceOrgId":"o-abc123"}}`)),
		stmt(allowWith(`{"StringEquals":{"aws:SourceOrgId":"o-abc123","aws:RequestTag/kubernetes-namespace":"orders"}}`)),
		stmt(allowWith(`{"StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}`)),
		stmt(allowWith(`{"ArnLike":{"aws:SourceArn":"arn:aws:eks:us-west-2:111122223333:podidentityassociation/*"}}`)),
		stmt(allowWith(`{"StringLike":{"aws:RequestTag/kubernetes-pod-name":"carts-*"}}`)),
		stmt(allowWith(`{"Null":{"aws:RequestTag/kubernetes-namespace":"false"}}`)),
		stmt(allowWith(`{"ForAnyValue:StringEquals":{"aws:TagKeys":"kubernetes-namespace"}}`)),
		stmt(allowWith(`{"StringEquals":{"sts:ExternalId":"x"}}`)),
		stmt(allowBoth, `{"Effect":"Deny","Principal":"*","Action":"sts:*","Condition":{"StringNotEquals":{"aws:SourceOrgId":"o-abc123"}}}`),
		stmt(allowBoth, `{"Effect":"Deny","Principal":"*","Action":"sts:*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-abc123"}}}`),
		stmt(`{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}`),
		stmt(`{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole","Condition":`+scopedByTagsNS+`}`),
	)
	return docs
}

// TestFixAgreesWithCheck: for every trust and both session-tag settings,
// Fix changes the document exactly when the request model denies the first
// hop (and refuses exactly when a Deny decides), and the fixed document
// passes the request model.
func TestFixAgreesWithCheck(t *testing.T) {
	t.Parallel()
	checked, fixed := 0, 0
	for i, src := range fixConsistencyCorpus() {
		for _, off := range []bool{false, true} {
			req := tagsReq(off)
			doc := mustParse(t, src)
			v := EvaluatePodIdentityRequest(req, Role{Arn: firstArn, Trust: doc}, nil)
			out, changed, err := Fix(doc, req, FixOptions{Scoped: true})
			checked++
			switch {
			case v.OK():
				if err != nil || changed {
					t.Errorf("doc %d tags off %v: the check passes (%s) but Fix changed %v, err %v\n%s", i, off, v.Decision, changed, err, src)
				}
			case v.Decision == ExplicitDeny:
				if err == nil || !strings.Contains(err.Error(), "Deny") {
					t.Errorf("doc %d tags off %v: the check fails on a Deny but Fix says changed %v, err %v", i, off, changed, err)
				}
			default:
				if err != nil || !changed {
					t.Errorf("doc %d tags off %v: the check fails (%s) but Fix changed %v, err %v\n%s", i, off, v.Message, changed, err, src)
					continue
				}
				fixed++
				after := EvaluatePodIdentityRequest(req, Role{Arn: firstArn, Trust: mustParse(t, out)}, nil)
				if !after.OK() {
					t.Errorf("doc %d tags off %v: after Fix the check still fails: %s\n%s", i, off, after.Message, out)
				}
				if off && strings.Contains(out[len(src)/2:], "aws:RequestTag") && strings.Count(out, "aws:RequestTag") > strings.Count(src, "aws:RequestTag") {
					t.Errorf("doc %d: Fix without session tags added a condition on a session tag:\n%s", i, out)
				}
			}
		}
	}
	t.Logf("%d trust × tag settings checked, %d fixed", checked, fixed)
}

// The fix for a trust scoped by session tags, with tags disabled, appends a
// statement scoped by the account only and keeps the old one.
func TestFixRescopesWithoutTags(t *testing.T) {
	t.Parallel()
	doc := mustParse(t, NewTrustPolicy(workshopReq, true))
	out, changed, err := Fix(doc, tagsReq(true), FixOptions{Scoped: true})
	if err != nil || !changed {
		t.Fatalf("Fix: changed %v, err %v", changed, err)
	}
	fd := mustParse(t, out)
	if len(fd.Statements) != 2 {
		t.Fatalf("%d statements, want the old one and a new one:\n%s", len(fd.Statements), out)
	}
	added := fd.Statements[1]
	if got := added.Condition["StringEquals"]; len(got) != 1 || got["aws:SourceAccount"][0] != "111122223333" {
		t.Errorf("added statement's condition %v, want StringEquals aws:SourceAccount only", added.Condition)
	}
	if !strings.Contains(ScopedCondition(tagsReq(true)), "aws:SourceAccount") || strings.Contains(ScopedCondition(tagsReq(true)), "RequestTag") {
		t.Errorf("ScopedCondition without tags = %s", ScopedCondition(tagsReq(true)))
	}
}

// TestRequestTargetRole is the table of the second hop: the first role's
// permission to assume the target, and the target's trust, with session
// tags enabled and disabled.
func TestRequestTargetRole(t *testing.T) {
	t.Parallel()
	const (
		allowChain     = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"` + targetArn + `"}]}`
		trustFirstRole = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + firstArn + `"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	)
	targetTrustWith := func(principal, actions, cond string) string {
		s := `{"Effect":"Allow","Principal":` + principal + `,"Action":` + actions
		if cond != "" {
			s += `,"Condition":` + cond
		}
		return stmt(s + "}")
	}
	both := `["sts:AssumeRole","sts:TagSession"]`
	byRole := `{"AWS":"` + firstArn + `"}`
	type want struct {
		failing Link
		msg     string
	}
	ok := want{}
	tests := []struct {
		name        string
		perms       []string // permission policies of the first role
		targetTrust string   // "" = unreadable
		on, off     want
	}{
		{"target trusts the first role", []string{allowChain}, trustFirstRole, ok, ok},
		{"target trusts the first role's account root", []string{allowChain}, targetTrustWith(`{"AWS":"arn:aws:iam::111122223333:root"}`, both, ""), ok, ok},
		{"target trusts the first role's account ID", []string{allowChain}, targetTrustWith(`{"AWS":"111122223333"}`, both, ""), ok, ok},
		{"role ARN compared case-insensitively", []string{allowChain}, targetTrustWith(`{"AWS":"arn:aws:iam::111122223333:role/EKS-Workshop-Carts-Dynamo"}`, both, ""), ok, ok},
		{"target trusts another role", []string{allowChain}, targetTrustWith(`{"AWS":"`+otherRoleArn+`"}`, both, ""),
			want{LinkTargetTrust, "the trust of the target role `carts-dynamo-target` does not allow `sts:AssumeRole` and `sts:TagSession` for the session of `eks-workshop-carts-dynamo`"},
			want{LinkTargetTrust, "does not allow `sts:AssumeRole` for the session of `eks-workshop-carts-dynamo`"}},
		{"target trusts another account", []string{allowChain}, targetTrustWith(`{"AWS":"arn:aws:iam::999999999999:root"}`, both, ""),
			want{LinkTargetTrust, "carts-dynamo-target"}, want{LinkTargetTrust, "carts-dynamo-target"}},
		{"the fix names the target's account", []string{allowChain}, targetTrustWith(`{"AWS":"`+otherRoleArn+`"}`, both, ""),
			want{LinkTargetTrust, ""}, want{LinkTargetTrust, ""}},
		{"a fixed session ARN never matches", []string{allowChain}, targetTrustWith(`{"AWS":"arn:aws:sts::111122223333:assumed-role/eks-workshop-carts-dynamo/my-session"}`, both, ""),
			want{LinkTargetTrust, "does not allow"}, want{LinkTargetTrust, "does not allow"}},
		{"the service principal is not the caller of the second hop", []string{allowChain}, targetTrustWith(`{"Service":"pods.eks.amazonaws.com"}`, both, ""),
			want{LinkTargetTrust, "does not allow"}, want{LinkTargetTrust, "does not allow"}},
		{"target trust without sts:TagSession", []string{allowChain}, targetTrustWith(byRole, `"sts:AssumeRole"`, ""),
			want{LinkTargetTrust, "does not allow `sts:TagSession` for the session of `eks-workshop-carts-dynamo`, but the association sends session tags and they are transitive"}, ok},
		{"aws:PrincipalArn of the first role", []string{allowChain}, targetTrustWith(`{"AWS":"arn:aws:iam::111122223333:root"}`, both, `{"ArnEquals":{"aws:PrincipalArn":"`+firstArn+`"}}`), ok, ok},
		{"aws:PrincipalArn of another role", []string{allowChain}, targetTrustWith(`{"AWS":"arn:aws:iam::111122223333:root"}`, both, `{"ArnEquals":{"aws:PrincipalArn":"`+otherRoleArn+`"}}`),
			want{LinkTargetTrust, "aws:PrincipalArn"}, want{LinkTargetTrust, "aws:PrincipalArn"}},
		{"transitive namespace tag", []string{allowChain}, targetTrustWith(byRole, both, `{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"carts"}}`),
			ok, want{LinkTargetTrust, "aws:RequestTag/kubernetes-namespace"}},
		{"principal tag of the session", []string{allowChain}, targetTrustWith(byRole, both, `{"StringEquals":{"aws:PrincipalTag/kubernetes-service-account":"carts"}}`),
			ok, want{}}, // without tags the principal tags are the role's own, unknown: Conditional
		{"ExternalId EKS sets without tags", []string{allowChain}, targetTrustWith(byRole, both, `{"StringEquals":{"sts:ExternalId":"`+workshopExtID+`"}}`),
			want{LinkTargetTrust, "sts:ExternalId"}, ok},
		{"another ExternalId", []string{allowChain}, targetTrustWith(byRole, both, `{"StringEquals":{"sts:ExternalId":"us-west-2/111122223333/eks-workshop/orders/orders"}}`),
			want{LinkTargetTrust, "sts:ExternalId"}, want{LinkTargetTrust, "sts:ExternalId"}},
		{"source keys are not sent on the second hop", []string{allowChain}, targetTrustWith(byRole, both, `{"StringEquals":{"aws:SourceAccount":"111122223333"}}`),
			want{LinkTargetTrust, "aws:SourceAccount"}, want{LinkTargetTrust, "aws:SourceAccount"}},
		{"organization of the first role is unknown", []string{allowChain}, targetTrustWith(`{"AWS":"*"}`, both, `{"StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}`), ok, ok},
		{"target trust denies", []string{allowChain}, stmt(`{"Effect":"Allow","Principal":{"AWS":"`+firstArn+`"},"Action":["sts:AssumeRole","sts:TagSession"]}`, `{"Sid":"NoPods","Effect":"Deny","Principal":{"AWS":"`+firstArn+`"},"Action":"sts:AssumeRole"}`),
			want{LinkTargetTrust, "denies `sts:AssumeRole`"}, want{LinkTargetTrust, "denies `sts:AssumeRole`"}},
		{"target trust unreadable", []string{allowChain}, "", ok, ok},
		{"no permission policy", nil, trustFirstRole,
			want{LinkChainPermission, "the permission policies of `eks-workshop-carts-dynamo` do not allow `sts:AssumeRole` and `sts:TagSession` on the target role `carts-dynamo-target`"},
			want{LinkChainPermission, "do not allow `sts:AssumeRole` on the target role `carts-dynamo-target`"}},
		{"permission without sts:TagSession", []string{stmt(`{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"` + targetArn + `"}`)}, trustFirstRole,
			want{LinkChainPermission, "do not allow `sts:TagSession` on the target role"}, ok},
		{"sts:* on everything", []string{stmt(`{"Effect":"Allow","Action":"sts:*","Resource":"*"}`)}, trustFirstRole, ok, ok},
		{"wildcard resource of the target's name", []string{stmt(`{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"arn:aws:iam::*:role/carts-*"}`)}, trustFirstRole, ok, ok},
		{"permission on another role", []string{stmt(`{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"` + otherRoleArn + `"}`)}, trustFirstRole,
			want{LinkChainPermission, "do not allow"}, want{LinkChainPermission, "do not allow"}},
		{"NotResource excludes the target", []string{stmt(`{"Effect":"Allow","Action":"sts:*","NotResource":"` + targetArn + `"}`)}, trustFirstRole,
			want{LinkChainPermission, "do not allow"}, want{LinkChainPermission, "do not allow"}},
		{"permission split over two policies", []string{stmt(`{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"` + targetArn + `"}`), stmt(`{"Effect":"Allow","Action":"sts:TagSession","Resource":"*"}`)}, trustFirstRole, ok, ok},
		{"a Deny in the permissions", []string{allowChain, stmt(`{"Sid":"NoChain","Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}`)}, trustFirstRole,
			want{LinkChainPermission, "deny `sts:AssumeRole`"}, want{LinkChainPermission, "deny `sts:AssumeRole`"}},
		{"permission conditioned on the namespace tag", []string{stmt(`{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"` + targetArn + `","Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"carts"}}}`)}, trustFirstRole,
			ok, want{LinkChainPermission, "aws:RequestTag/kubernetes-namespace"}},
		{"permission conditioned on the target's tags", []string{stmt(`{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"carts"}}}`)}, trustFirstRole, ok, ok},
		{"both links fail: the permission is named first", nil, targetTrustWith(`{"AWS":"`+otherRoleArn+`"}`, both, ""),
			want{LinkChainPermission, "permission policies"}, want{LinkChainPermission, "permission policies"}},
	}
	for _, tt := range tests {
		for _, off := range []bool{false, true} {
			w := tt.on
			if off {
				w = tt.off
			}
			t.Run(tt.name+map[bool]string{false: "/tags", true: "/no tags"}[off], func(t *testing.T) {
				t.Parallel()
				first := Role{Arn: firstArn, Trust: mustParse(t, stmt(allowBoth))}
				for i, p := range tt.perms {
					first.Policies = append(first.Policies, Policy{Name: "p" + string(rune('0'+i)), Doc: mustParse(t, p)})
				}
				target := Role{Arn: targetArn, TrustUnreadable: "AccessDenied"}
				if tt.targetTrust != "" {
					target.Trust = mustParse(t, tt.targetTrust)
				}
				v := EvaluatePodIdentityRequest(tagsReq(off), first, &target)
				if v.Failing != w.failing {
					t.Fatalf("failing %q, want %q (%s; links %+v)", v.Failing, w.failing, v.Message, v.Links)
				}
				if !strings.Contains(v.Message, w.msg) {
					t.Errorf("message %q, want it to contain %q", v.Message, w.msg)
				}
				if v.Failing == LinkTargetTrust && v.Decision == ImplicitDeny && !strings.Contains(v.Fix, "add this statement to the trust of carts-dynamo-target (in account 444455556666)") {
					t.Errorf("fix %q does not say where to add the statement", v.Fix)
				}
				if !v.OK() && (v.Fix == "" || !strings.Contains(v.Message, "`")) {
					t.Errorf("failure without a fix or without naming the roles: %q / %q", v.Message, v.Fix)
				}
				if len(v.Links) != 3 || v.TargetRole != targetArn {
					t.Errorf("links %d, target %q", len(v.Links), v.TargetRole)
				}
				if off && v.ExternalID != workshopExtID || !off && v.ExternalID != "" {
					t.Errorf("ExternalID %q with tags off %v", v.ExternalID, off)
				}
				for _, l := range v.Links[1:] {
					if l.Principal != "arn:aws:sts::111122223333:assumed-role/eks-workshop-carts-dynamo/eks-eks-workshop-<pod>-<uuid>" {
						t.Errorf("link %s principal %q", l.Link, l.Principal)
					}
					wantActions := 2
					if off {
						wantActions = 1
					}
					if l.Link != LinkTargetTrust || target.Trust != nil {
						if len(l.Actions) != wantActions {
							t.Errorf("link %s judged %d actions, want %d", l.Link, len(l.Actions), wantActions)
						}
					}
				}
			})
		}
	}
}

// The first hop failing is named before the second.
func TestRequestFailingOrder(t *testing.T) {
	t.Parallel()
	first := Role{Arn: firstArn, Trust: mustParse(t, NewTrustPolicy(workshopReq, true))}
	target := Role{Arn: targetArn, Trust: mustParse(t, stmt(`{"Effect":"Allow","Principal":{"AWS":"`+otherRoleArn+`"},"Action":"sts:AssumeRole"}`))}
	v := EvaluatePodIdentityRequest(tagsReq(true), first, &target)
	if v.Failing != LinkTrust {
		t.Errorf("failing %q, want trust", v.Failing)
	}
	if tl, _ := v.Link(LinkTargetTrust); !tl.failed() {
		t.Errorf("the target link is judged too, and fails: %+v", tl)
	}
}
