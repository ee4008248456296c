package trust

import (
	"fmt"
	"strings"
)

// This file models the whole request EKS Auth makes for one association
// (EKS-AUTH.md §2.4–2.6): pods.eks.amazonaws.com assumes the association's
// role, with the six session tags unless the association disables them;
// when the association has a target role, that role's session assumes the
// target, which needs the first role's permission policies to allow it and
// the target's trust to admit that session. EvaluatePodIdentityRequest
// judges every link and names the first one that fails, with its fix.

// Policy is one permission policy of a role.
type Policy struct {
	Name string // for messages: the managed policy's name, or the inline policy's
	Doc  *Document
}

// Role is one role of the request as IAM shows it.
type Role struct {
	Arn string
	// Trust is the role's trust policy; nil when it could not be read
	// (TrustUnreadable says why, e.g. a target role in another account).
	Trust           *Document
	TrustUnreadable string
	// Policies are the role's permission policies. Only the association's
	// role needs them, and only when there is a target role.
	Policies []Policy
}

// Link is one step of the exchange.
type Link string

const (
	// LinkTrust: the association role's trust admits pods.eks.amazonaws.com.
	LinkTrust Link = "trust"
	// LinkChainPermission: the association role's permission policies let
	// its session assume the target role.
	LinkChainPermission Link = "chain-permission"
	// LinkTargetTrust: the target role's trust admits the association
	// role's session.
	LinkTargetTrust Link = "target-trust"
)

// LinkVerdict is the decision for one link.
type LinkVerdict struct {
	Link Link `json:"link"`
	// Role is the ARN of the role whose policies decide the link.
	Role string `json:"role"`
	// Principal is who calls: pods.eks.amazonaws.com, or the first role's
	// session (arn:aws:sts::ACCOUNT:assumed-role/ROLE/eks-…).
	Principal string         `json:"principal"`
	Actions   []ActionResult `json:"actions"`
	Decision  Decision       `json:"decision"`
	Problems  []Problem      `json:"problems,omitempty"`
	Warnings  []Problem      `json:"warnings,omitempty"`
	// Message and Fix explain a failing link in one line each; Why, when
	// set, says why EKS fails there.
	Message string `json:"message,omitempty"`
	Why     string `json:"why,omitempty"`
	Fix     string `json:"fix,omitempty"`
}

// Failed reports whether the link denies the request.
func (l LinkVerdict) Failed() bool { return l.failed() }

func (l LinkVerdict) failed() bool {
	return l.Decision == ImplicitDeny || l.Decision == ExplicitDeny
}

// Verdict is the static verdict on the request EKS makes for an association.
type Verdict struct {
	// Decision is the failing link's decision; else Conditional when a link
	// depends on values podid cannot know; else Allowed.
	Decision    Decision `json:"decision"`
	SessionTags bool     `json:"sessionTags"`
	TargetRole  string   `json:"targetRole,omitempty"`
	// ExternalID is the sts:ExternalId of the second hop, when EKS sends one.
	ExternalID string        `json:"externalId,omitempty"`
	Links      []LinkVerdict `json:"links"`
	// Failing is the first link, in the order EKS walks them, that denies
	// the request; "" when none does.
	Failing Link `json:"failing,omitempty"`
	// Message names the failing link and why it fails; Fix says what to do.
	Message string `json:"message,omitempty"`
	Fix     string `json:"fix,omitempty"`
	// Trust is the first link's full report (IRSA statements, scoping
	// warnings), as Evaluate returns it.
	Trust Report `json:"-"`
}

// OK reports whether no link denies the request (links may still be
// Conditional: see the links' warnings).
func (v Verdict) OK() bool { return v.Failing == "" }

// Link returns the verdict of link l, if the request has it.
func (v Verdict) Link(l Link) (LinkVerdict, bool) {
	for _, lv := range v.Links {
		if lv.Link == l {
			return lv, true
		}
	}
	return LinkVerdict{}, false
}

// EvaluatePodIdentityRequest judges the request EKS Auth makes for the
// association described by req (cluster, namespace, service account,
// account, cluster ARN, NoSessionTags) with role as the association's role and target as its target
// role (nil when none). It is pure: the caller reads the roles from IAM.
func EvaluatePodIdentityRequest(req Request, role Role, target *Role) Verdict {
	req.CallerRoleArn = ""
	v := Verdict{SessionTags: !req.NoSessionTags}

	first := LinkVerdict{Link: LinkTrust, Role: role.Arn, Principal: ServicePrincipal}
	if role.Trust == nil {
		first.Decision = Conditional
		first.Warnings = []Problem{{Code: "trust-unreadable", Message: fmt.Sprintf("the trust of %s could not be read: %s", roleName(role.Arn), role.TrustUnreadable)}}
	} else {
		v.Trust = Evaluate(role.Trust, req)
		first.Actions = []ActionResult{v.Trust.AssumeRole}
		if !req.NoSessionTags {
			first.Actions = append(first.Actions, v.Trust.TagSession)
		}
		first.Decision = combine(first.Actions)
		first.Problems, first.Warnings = v.Trust.Problems, v.Trust.Warnings
	}
	v.Links = append(v.Links, first)

	if target != nil {
		v.TargetRole = target.Arn
		hop := req
		hop.CallerRoleArn = role.Arn
		// EKS-AUTH.md §2.6: without session tags EKS sets sts:ExternalId
		// to region/account/cluster/namespace/service-account. UNVERIFIED:
		// whether one is sent with session tags (podid: none, the stricter
		// view), and whether it equals the association's externalId (the
		// EKS API reference asks to put that value in the target's trust);
		// podid follows EKS-AUTH.md and ignores the association's value.
		hop.ExternalID = ""
		if req.NoSessionTags {
			hop.ExternalID = externalID(req)
		}
		v.ExternalID = hop.ExternalID
		v.Links = append(v.Links, chainPermission(hop, role, *target), targetTrust(hop, role, *target))
	}

	v.Decision = Allowed
	for i := range v.Links {
		l := &v.Links[i]
		if l.failed() {
			l.Message, l.Why, l.Fix = explain(*l, req, role, target)
			if v.Failing == "" {
				v.Decision, v.Failing = l.Decision, l.Link
				v.Message, v.Fix = l.Message, l.Fix
			}
			continue
		}
		if l.Decision == Conditional && v.Failing == "" {
			v.Decision = Conditional
		}
	}
	return v
}

// combine is a link's decision from its actions' decisions.
func combine(rs []ActionResult) Decision {
	d := Allowed
	for _, r := range rs {
		switch r.Decision {
		case ExplicitDeny:
			return ExplicitDeny
		case ImplicitDeny:
			d = ImplicitDeny
		case Conditional:
			if d == Allowed {
				d = Conditional
			}
		}
	}
	return d
}

// externalID is the sts:ExternalId EKS sets on the second hop when session
// tags are disabled (EKS-AUTH.md §2.6): region/account/cluster/namespace/sa.
func externalID(req Request) string {
	region := ""
	if p := strings.SplitN(req.ClusterArn, ":", 6); len(p) == 6 {
		region = p[3]
	}
	if region == "" || req.Account == "" || req.Cluster == "" {
		return ""
	}
	return strings.Join([]string{region, req.Account, req.Cluster, req.Namespace, req.ServiceAccount}, "/")
}

// SessionArn is the ARN of the association role's session as the target
// role's trust sees it; EKS names the session eks-<cluster>-<pod>-<uuid>, so
// the pod and UUID parts are placeholders.
func SessionArn(roleArn, cluster string) string {
	return fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/eks-%s-<pod>-<uuid>", arnPartition(roleArn), arnAccount(roleArn), roleName(roleArn), cluster)
}

// chainPermission judges whether the first role's permission policies let
// its session call the request's actions on the target role.
func chainPermission(hop Request, role, target Role) LinkVerdict {
	l := LinkVerdict{Link: LinkChainPermission, Role: role.Arn, Principal: SessionArn(role.Arn, hop.Cluster)}
	var failed []stmtEval
	for _, a := range hop.Actions() {
		r, f := evalIdentity(role.Policies, hop, a, target.Arn)
		l.Actions = append(l.Actions, r)
		failed = append(failed, f...)
	}
	l.Decision = combine(l.Actions)
	l.Problems, l.Warnings = linkFindings(l, failed)
	return l
}

// targetTrust judges whether the target's trust admits the first role's
// session for the request's actions.
func targetTrust(hop Request, role, target Role) LinkVerdict {
	l := LinkVerdict{Link: LinkTargetTrust, Role: target.Arn, Principal: SessionArn(role.Arn, hop.Cluster)}
	if target.Trust == nil {
		l.Decision = Conditional
		l.Warnings = []Problem{{
			Code:    "trust-unreadable",
			Message: fmt.Sprintf("the trust of target role %s could not be read (%s): podid cannot tell whether it admits %s", roleName(target.Arn), target.TrustUnreadable, roleName(role.Arn)),
			Fix:     fmt.Sprintf("check in the target's account that its trust lets %s call %s", role.Arn, strings.Join(hop.Actions(), " and ")),
		}}
		return l
	}
	var failed []stmtEval
	for _, a := range hop.Actions() {
		r, f := evalAction(target.Trust, hop, a)
		l.Actions = append(l.Actions, r)
		failed = append(failed, f...)
	}
	l.Decision = combine(l.Actions)
	l.Problems, l.Warnings = linkFindings(l, failed)
	return l
}

// linkFindings explains a second-hop link's actions.
func linkFindings(l LinkVerdict, failed []stmtEval) (problems, warnings []Problem) {
	for _, r := range l.Actions {
		switch r.Decision {
		case ExplicitDeny:
			problems = append(problems, Problem{Code: "explicit-deny", Message: fmt.Sprintf("%s denies %s", r.Statement, r.Action)})
		case Conditional:
			warnings = append(warnings, Problem{
				Code:    "condition-unknown",
				Message: fmt.Sprintf("%s for %s depends on %s, unknown at check time", r.Statement, r.Action, strings.Join(r.Unknown, ", ")),
				Fix:     "check that the condition holds for the sessions EKS opens for this association",
			})
		case ImplicitDeny:
			problems = append(problems, Problem{Code: "not-allowed", Message: fmt.Sprintf("no statement allows %s", r.Action)})
		}
	}
	for _, f := range failed {
		for _, c := range f.cond.Failures {
			problems = append(problems, Problem{Code: "condition-excludes", Message: fmt.Sprintf("%s would allow it, but its condition %s", f.name, c)})
		}
	}
	return problems, warnings
}

// explain is the one-line message, reason and fix of a failing link.
func explain(l LinkVerdict, req Request, role Role, target *Role) (msg, why, fix string) {
	name := roleName(role.Arn)
	denied := deniedActions(l)
	switch l.Link {
	case LinkTrust:
		// Name the key that says most about the scope: the namespace, else
		// the service account, else the first.
		var key string
		for _, p := range l.Problems {
			if p.Code != "needs-session-tags" {
				continue
			}
			k := strings.ToLower(p.Key)
			if key == "" || strings.HasSuffix(k, "/kubernetes-namespace") ||
				(strings.HasSuffix(k, "/kubernetes-service-account") && !strings.HasSuffix(strings.ToLower(key), "/kubernetes-namespace")) {
				key = p.Key
			}
		}
		if key != "" {
			return fmt.Sprintf("the trust of `%s` requires `%s`, but the association disables session tags", name, key),
				"with disableSessionTags EKS sends no session tags, so a condition on " + key + " has nothing to match and every pod is denied",
				"drop `--disable-session-tags`, or rescope the trust (`podid verify-role --fix`)"
		}
		for _, p := range l.Problems {
			if p.Code == "missing-tag-session" {
				return fmt.Sprintf("the trust of `%s` does not allow `%s` for %s, but the association sends session tags", name, ActionTagSession, ServicePrincipal),
					p.Why, p.Fix
			}
		}
		if len(l.Problems) > 0 {
			p := l.Problems[0]
			return fmt.Sprintf("the trust of `%s` does not let %s call %s: %s", name, ServicePrincipal, denied, p.Message), p.Why, p.Fix
		}
		return fmt.Sprintf("the trust of `%s` does not let %s call %s", name, ServicePrincipal, denied), "", "podid verify-role --fix"
	case LinkChainPermission:
		why := reason(l)
		if l.Decision == ExplicitDeny {
			return fmt.Sprintf("the permission policies of `%s` deny %s on the target role `%s`%s", name, denied, roleName(target.Arn), why),
				"an explicit Deny overrides every Allow", fmt.Sprintf("edit that Deny in the policies of %s by hand", name)
		}
		stmt := fmt.Sprintf(`{"Effect":"Allow","Action":%s,"Resource":%q}`, jsonList(req.Actions()), target.Arn)
		return fmt.Sprintf("the permission policies of `%s` do not allow %s on the target role `%s`%s", name, denied, roleName(target.Arn), why),
			"EKS assumes the target with the session of " + name + ", which needs " + strings.Join(req.Actions(), " and ") + " on it", fmt.Sprintf("let %s assume the target: aws iam put-role-policy --role-name %s --policy-name assume-%s --policy-document '{\"Version\":\"2012-10-17\",\"Statement\":[%s]}'", name, name, roleName(target.Arn), stmt)
	default: // LinkTargetTrust
		tname := roleName(target.Arn)
		why := reason(l)
		if l.Decision == ExplicitDeny {
			return fmt.Sprintf("the trust of the target role `%s` denies %s to the session of `%s`%s", tname, denied, name, why),
				"an explicit Deny overrides every Allow", fmt.Sprintf("edit that Deny in the trust of %s by hand", tname)
		}
		if !req.NoSessionTags && denied == "`"+ActionTagSession+"`" {
			why = ", but the association sends session tags and they are transitive"
		}
		stmt := fmt.Sprintf(`{"Effect":"Allow","Principal":{"AWS":%q},"Action":%s}`, role.Arn, jsonList(req.Actions()))
		return fmt.Sprintf("the trust of the target role `%s` does not allow %s for the session of `%s`%s", tname, denied, name, why),
			"EKS assumes the target with the session of " + name + " (" + l.Principal + ")", fmt.Sprintf("add this statement to the trust of %s%s: %s", tname, inAccount(target.Arn, role.Arn), stmt)
	}
}

// inAccount is " (in account N)" when the target is in another account than
// the role, else "".
func inAccount(target, role string) string {
	if a := arnAccount(target); a != "" && a != arnAccount(role) {
		return " (in account " + a + ")"
	}
	return ""
}

// deniedActions lists a link's denied actions as `a` and `b`.
func deniedActions(l LinkVerdict) string {
	var out []string
	for _, r := range l.Actions {
		if r.Decision == ImplicitDeny || r.Decision == ExplicitDeny {
			out = append(out, "`"+r.Action+"`")
		}
	}
	return strings.Join(out, " and ")
}

// reason is ": <first problem>" for a second-hop link, or "".
func reason(l LinkVerdict) string {
	for _, p := range l.Problems {
		if p.Code == "condition-excludes" || p.Code == "explicit-deny" {
			return ": " + p.Message
		}
	}
	return ""
}

func jsonList(v []string) string {
	return string(marshalValue(v))
}

// roleName is the last path element of a role ARN.
func roleName(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// EvaluateSessionPolicy judges one action on one resource against a
// session policy (the association's policy, which EKS passes to STS): the
// session may do only what both its role's policies and this document
// allow. req gives the condition context (the session tags).
func EvaluateSessionPolicy(doc *Document, req Request, action, resource string) Decision {
	r, _ := evalIdentity([]Policy{{Name: "session policy", Doc: doc}}, req, action, resource)
	return r.Decision
}

// evalIdentity evaluates one action on one resource against a principal's
// permission policies (no Principal element; Resource and NotResource
// matched with * and ? wildcards, case-sensitively).
func evalIdentity(pols []Policy, req Request, action, resource string) (ActionResult, []stmtEval) {
	var evals []stmtEval
	for _, p := range pols {
		for _, s := range p.Doc.Statements {
			if !s.appliesToAction(action) || !s.appliesToResource(resource) {
				continue
			}
			evals = append(evals, stmtEval{stmt: s, name: fmt.Sprintf("%s of policy %s", s.Name(), p.Name), cond: evalCondition(s.Condition, req)})
		}
	}
	return decide(action, evals)
}

// appliesToResource reports whether the statement's Resource/NotResource covers resource.
func (s *Statement) appliesToResource(resource string) bool {
	if s.NotResource != nil {
		for _, p := range s.NotResource {
			if glob(resource, p) {
				return false
			}
		}
		return true
	}
	for _, p := range s.Resource {
		if glob(resource, p) {
			return true
		}
	}
	return false
}
