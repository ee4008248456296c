package trust

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// PodIdentitySid is the Sid of the statement Fix appends and NewTrustPolicy writes.
const PodIdentitySid = "AllowEksAuthToAssumeRoleForPodIdentity"

// FixOptions tunes Fix.
type FixOptions struct {
	// Scoped adds, to a statement Fix appends, a Condition limiting it to the
	// request's cluster, namespace and service account (and account).
	Scoped bool
}

// scopedCondition returns the members of the StringEquals block that limits
// a statement to the request. Empty request fields are left out. Without
// session tags nothing names the namespace or service account, so only the
// account is kept.
func scopedCondition(req Request) object {
	var eq object
	kvs := []struct{ k, v string }{
		{"aws:RequestTag/eks-cluster-name", req.Cluster},
		{"aws:RequestTag/kubernetes-namespace", req.Namespace},
		{"aws:RequestTag/kubernetes-service-account", req.ServiceAccount},
		{"aws:SourceAccount", req.Account},
	}
	if req.NoSessionTags {
		kvs = kvs[3:]
	}
	for _, kv := range kvs {
		if kv.v != "" {
			eq = append(eq, member{Key: kv.k, Value: marshalValue(kv.v)})
		}
	}
	if len(eq) == 0 {
		return nil
	}
	var b bytes.Buffer
	eq.marshal(&b)
	return object{{Key: "StringEquals", Value: b.Bytes()}}
}

// ScopedCondition returns, as pretty JSON, the Condition block that limits a
// trust statement to the request's cluster, namespace and service account.
func ScopedCondition(req Request) string {
	var b bytes.Buffer
	scopedCondition(req).marshal(&b)
	return strings.TrimSuffix(pretty(b.Bytes()), "\n")
}

// podIdentityStatement builds the statement Fix appends.
func podIdentityStatement(req Request, scoped bool) object {
	o := object{
		{Key: "Sid", Value: marshalValue(PodIdentitySid)},
		{Key: "Effect", Value: marshalValue("Allow")},
		{Key: "Principal", Value: json.RawMessage(`{"Service":"` + ServicePrincipal + `"}`)},
		{Key: "Action", Value: marshalValue([]string{ActionAssumeRole, ActionTagSession})},
	}
	if cond := scopedCondition(req); scoped && cond != nil {
		var b bytes.Buffer
		cond.marshal(&b)
		o = append(o, member{Key: "Condition", Value: b.Bytes()})
	}
	return o
}

// NewTrustPolicy returns the trust policy for a new Pod Identity role, as
// pretty JSON. With scoped, the statement is limited by session tags to the
// request's cluster, namespace and service account (and the account).
func NewTrustPolicy(req Request, scoped bool) string {
	var stmt bytes.Buffer
	podIdentityStatement(req, scoped).marshal(&stmt)
	var b bytes.Buffer
	object{
		{Key: "Version", Value: marshalValue("2012-10-17")},
		{Key: "Statement", Value: json.RawMessage("[" + stmt.String() + "]")},
	}.marshal(&b)
	return pretty(b.Bytes())
}

// Fix returns the smallest change to doc that lets pods.eks.amazonaws.com
// perform the request's actions (sts:AssumeRole, and sts:TagSession unless
// req.NoSessionTags) for req, as pretty JSON:
//
//   - if an Allow statement whose only principal is the service lacks one of
//     the two actions, and adding it is enough, the action is added there;
//   - otherwise a statement Sid "AllowEksAuthToAssumeRoleForPodIdentity" is
//     appended (with opts.Scoped, conditioned on the request's session tags,
//     or, when the association disables them, on aws:SourceAccount only).
//
// Fix changes the document exactly when the check fails: it leaves alone a
// trust that Report.Admits (Allowed, or Conditional on keys podid cannot
// know such as aws:SourceOrgId), and its result always Admits.
//
// Every other statement, IRSA ones included, is kept. Fix never adds a
// wildcard principal or action and never removes a Deny: when a Deny blocks
// the request it returns an error naming the Deny. changed is false when doc
// already admits the request; fixed is then doc pretty-printed. doc is not
// modified.
func Fix(doc *Document, req Request, opts FixOptions) (fixed string, changed bool, err error) {
	req.CallerRoleArn, req.ExternalID = "", ""
	if opts.Scoped && (req.Cluster == "" || req.Namespace == "" || req.ServiceAccount == "") {
		return "", false, errors.New("scoped trust needs the cluster, namespace and service account: pass all three")
	}
	rep := Evaluate(doc, req)
	for _, r := range []ActionResult{rep.AssumeRole, rep.TagSession} {
		if r.Decision == ExplicitDeny {
			return "", false, fmt.Errorf("%s denies %s to %s: podid does not remove a Deny; edit that statement by hand, then run again", r.Statement, r.Action, ServicePrincipal)
		}
	}
	if rep.Admits() {
		// Allowed, or Conditional on values podid cannot know: adding an
		// unconditional statement would widen the trust, so leave it.
		return doc.String(), false, nil
	}

	// Try adding the missing action to an existing statement for the service only.
	for _, s := range doc.Statements {
		if s.Effect != "Allow" || s.Action == nil || !onlyPodIdentityPrincipal(s.Principal) {
			continue
		}
		var missing []string
		needed := req.Actions()
		for _, a := range needed {
			if !s.appliesToAction(a) {
				missing = append(missing, a)
			}
		}
		if len(missing) == 0 || len(missing) == len(needed) {
			continue
		}
		cand := doc.clone()
		cs := cand.Statements[s.Index]
		actions := append(append([]string(nil), s.Action...), missing...)
		cs.members = cs.members.set("Action", marshalValue(actions))
		cs.Action = actions
		if Evaluate(cand, req).Admits() {
			return cand.String(), true, nil
		}
	}

	cand := doc.clone()
	o := podIdentityStatement(req, opts.Scoped)
	ns := &Statement{Index: len(cand.Statements), members: o}
	if err := ns.decode(); err != nil {
		return "", false, fmt.Errorf("build the pod identity statement: %w", err) // a bug: the statement is ours
	}
	cand.Statements = append(cand.Statements, ns)
	after := Evaluate(cand, req)
	if !after.Admits() {
		return "", false, fmt.Errorf("even with the statement %s added, the trust does not allow %s (%s) and %s (%s) for %s: edit the trust policy by hand",
			PodIdentitySid, ActionAssumeRole, after.AssumeRole.Decision, ActionTagSession, after.TagSession.Decision, ServicePrincipal)
	}
	return cand.String(), true, nil
}

// onlyPodIdentityPrincipal reports whether p is exactly {"Service": "pods.eks.amazonaws.com"}.
func onlyPodIdentityPrincipal(p *Principal) bool {
	if p == nil || p.Wildcard || len(p.Values) != 1 {
		return false
	}
	v := p.Values["Service"]
	return len(v) == 1 && v[0] == ServicePrincipal
}

// clone copies the document deeply enough for Fix to change statements.
func (d *Document) clone() *Document {
	c := &Document{Version: d.Version, members: append(object(nil), d.members...), singleObject: d.singleObject}
	for _, s := range d.Statements {
		cs := *s
		cs.members = append(object(nil), s.members...)
		c.Statements = append(c.Statements, &cs)
	}
	return c
}
