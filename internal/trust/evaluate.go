package trust

import (
	"fmt"
	"strings"
)

// ServicePrincipal is the principal EKS Pod Identity assumes roles as.
const ServicePrincipal = "pods.eks.amazonaws.com"

// The two actions a Pod Identity role's trust must allow.
const (
	ActionAssumeRole = "sts:AssumeRole"
	ActionTagSession = "sts:TagSession"
)

// Request describes the association being checked: which cluster, namespace
// and service account will assume the role. Empty fields are unknown, and
// conditions on them are reported as unknown at check time.
type Request struct {
	Cluster        string // EKS cluster name (session tag eks-cluster-name)
	Namespace      string // session tag kubernetes-namespace
	ServiceAccount string // session tag kubernetes-service-account
	Account        string // the cluster's account ID (aws:SourceAccount)
	ClusterArn     string // arn:aws:eks:<region>:<account>:cluster/<name> (aws:SourceArn, eks-cluster-arn)
}

// Decision is the outcome of evaluating one action.
type Decision string

const (
	// Allowed: an Allow statement matches and no Deny does.
	Allowed Decision = "Allowed"
	// ImplicitDeny: no Allow statement matches.
	ImplicitDeny Decision = "ImplicitDeny"
	// ExplicitDeny: a Deny statement matches.
	ExplicitDeny Decision = "ExplicitDeny"
	// Conditional: the outcome depends on a condition podid cannot evaluate
	// at check time (e.g. aws:PrincipalOrgID, the pod name).
	Conditional Decision = "Conditional"
)

// ActionResult is the decision for one action and the statement that made it.
type ActionResult struct {
	Action   string   `json:"action"`
	Decision Decision `json:"decision"`
	// Statement names the deciding statement (its Sid, or "statement N"); empty for ImplicitDeny.
	Statement string `json:"statement,omitempty"`
	// StatementIndex is the deciding statement's index, or -1.
	StatementIndex int `json:"statementIndex"`
	// Unknown lists condition clauses ("Operator key") that could not be evaluated.
	Unknown []string `json:"unknown,omitempty"`
}

// Problem is a finding that explains a failed check, or a warning.
type Problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Why     string `json:"why,omitempty"`
	Fix     string `json:"fix,omitempty"`
}

// IRSATrust is a statement that trusts an IAM OIDC provider (IRSA).
type IRSATrust struct {
	Statement      string   `json:"statement"`
	StatementIndex int      `json:"statementIndex"`
	Provider       string   `json:"provider"`           // the Federated principal ARN
	Issuer         string   `json:"issuer"`             // e.g. oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE
	Subjects       []string `json:"subjects,omitempty"` // values allowed for <issuer>:sub
	Audiences      []string `json:"audiences,omitempty"`
}

// Report is the result of Evaluate.
type Report struct {
	AssumeRole ActionResult `json:"assumeRole"`
	TagSession ActionResult `json:"tagSession"`
	Problems   []Problem    `json:"problems,omitempty"`
	Warnings   []Problem    `json:"warnings,omitempty"`
	IRSA       []IRSATrust  `json:"irsa,omitempty"`
}

// OK reports whether the trust lets EKS Pod Identity assume the role for the
// request: both sts:AssumeRole and sts:TagSession are Allowed.
func (r Report) OK() bool {
	return r.AssumeRole.Decision == Allowed && r.TagSession.Decision == Allowed
}

// principalMatches reports whether p names the Pod Identity service principal,
// and whether it does so only through a wildcard.
func principalMatches(p *Principal) (match, wildcard bool) {
	if p == nil {
		return false, false
	}
	if p.Wildcard {
		return true, true
	}
	for _, v := range p.Values["AWS"] {
		if v == "*" {
			return true, true
		}
	}
	for _, v := range p.Values["Service"] {
		if v == ServicePrincipal {
			return true, false
		}
	}
	return false, false
}

// appliesToPrincipal reports whether a statement's Principal/NotPrincipal covers the service.
func (s *Statement) appliesToPrincipal() (bool, bool) {
	if s.NotPrincipal != nil {
		m, _ := principalMatches(s.NotPrincipal)
		return !m, false
	}
	return principalMatches(s.Principal)
}

// actionMatches reports whether pattern (which may use * and ?) matches
// action; IAM compares actions case-insensitively.
func actionMatches(pattern, action string) bool {
	return glob(strings.ToLower(action), strings.ToLower(pattern))
}

func (s *Statement) appliesToAction(action string) bool {
	if s.NotAction != nil {
		for _, p := range s.NotAction {
			if actionMatches(p, action) {
				return false
			}
		}
		return true
	}
	for _, p := range s.Action {
		if actionMatches(p, action) {
			return true
		}
	}
	return false
}

// stmtEval is the evaluation of one statement for one action.
type stmtEval struct {
	stmt *Statement
	cond condResult
}

// evalAction evaluates one action and returns its result plus the statements
// that matched principal and action but whose conditions failed.
func evalAction(doc *Document, req Request, action string) (ActionResult, []stmtEval) {
	res := ActionResult{Action: action, Decision: ImplicitDeny, StatementIndex: -1}
	var allowTrue, allowUnknown, denyTrue, denyUnknown *stmtEval
	var failed []stmtEval
	for _, s := range doc.Statements {
		if ok, _ := s.appliesToPrincipal(); !ok || !s.appliesToAction(action) {
			continue
		}
		e := stmtEval{stmt: s, cond: evalCondition(s.Condition, req)}
		switch {
		case s.Effect == "Deny" && e.cond.Value == triTrue && denyTrue == nil:
			denyTrue = &e
		case s.Effect == "Deny" && e.cond.Value == triUnknown && denyUnknown == nil:
			denyUnknown = &e
		case s.Effect == "Allow" && e.cond.Value == triTrue && allowTrue == nil:
			allowTrue = &e
		case s.Effect == "Allow" && e.cond.Value == triUnknown && allowUnknown == nil:
			allowUnknown = &e
		case s.Effect == "Allow" && e.cond.Value == triFalse:
			failed = append(failed, e)
		}
	}
	set := func(d Decision, e *stmtEval) {
		res.Decision = d
		res.Statement = e.stmt.Name()
		res.StatementIndex = e.stmt.Index
		res.Unknown = e.cond.Unknown
	}
	switch {
	case denyTrue != nil:
		set(ExplicitDeny, denyTrue)
	case denyUnknown != nil && (allowTrue != nil || allowUnknown != nil):
		set(Conditional, denyUnknown)
	case allowTrue != nil:
		set(Allowed, allowTrue)
	case allowUnknown != nil:
		set(Conditional, allowUnknown)
	}
	return res, failed
}

// Evaluate answers whether the principal pods.eks.amazonaws.com may perform
// sts:AssumeRole and sts:TagSession on a role with this trust policy for the
// request, and explains what is wrong or risky.
func Evaluate(doc *Document, req Request) Report {
	var r Report
	var failedAR, failedTS []stmtEval
	r.AssumeRole, failedAR = evalAction(doc, req, ActionAssumeRole)
	r.TagSession, failedTS = evalAction(doc, req, ActionTagSession)
	r.IRSA = irsaTrusts(doc)

	mentions := false // some statement names the service or a wildcard principal
	for _, s := range doc.Statements {
		if m, _ := principalMatches(s.Principal); m {
			mentions = true
		}
		if s.Effect == "Allow" {
			if _, wild := principalMatches(s.Principal); wild {
				r.Warnings = append(r.Warnings, Problem{
					Code:    "principal-wildcard",
					Message: fmt.Sprintf("%s trusts every principal (\"*\")", s.Name()),
					Why:     "any AWS account or service that satisfies the conditions may assume this role",
					Fix:     fmt.Sprintf("replace the Principal of %s with {\"Service\": %q}", s.Name(), ServicePrincipal),
				})
			}
		}
	}

	switch {
	case !mentions && len(r.IRSA) > 0 && onlyIRSA(doc, r.IRSA):
		var issuers []string
		for _, t := range r.IRSA {
			issuers = append(issuers, t.Issuer)
		}
		r.Problems = append(r.Problems, Problem{
			Code:    "irsa-only",
			Message: fmt.Sprintf("the role trusts only %s: it is an IRSA role", strings.Join(issuers, ", ")),
			Why:     "EKS Pod Identity assumes the role as " + ServicePrincipal + "; EKS rejects CreatePodIdentityAssociation with 'Trust policy of the role provided is invalid'",
			Fix:     "add a statement allowing " + ServicePrincipal + " sts:AssumeRole and sts:TagSession (podid verify-role --fix); the IRSA statement can stay",
		})
	case !mentions:
		r.Problems = append(r.Problems, Problem{
			Code:    "no-pod-identity-principal",
			Message: "no statement of the trust policy names the principal " + ServicePrincipal,
			Why:     "EKS Pod Identity assumes the role as " + ServicePrincipal + "; EKS rejects CreatePodIdentityAssociation with 'Trust policy of the role provided is invalid'",
			Fix:     "add a statement allowing " + ServicePrincipal + " sts:AssumeRole and sts:TagSession (podid verify-role --fix)",
		})
	}

	for _, ar := range []struct {
		res    ActionResult
		failed []stmtEval
	}{{r.AssumeRole, failedAR}, {r.TagSession, failedTS}} {
		res := ar.res
		switch res.Decision {
		case ExplicitDeny:
			r.Problems = append(r.Problems, Problem{
				Code:    "explicit-deny",
				Message: fmt.Sprintf("%s denies %s to %s", res.Statement, res.Action, ServicePrincipal),
				Why:     "an explicit Deny overrides every Allow",
				Fix:     fmt.Sprintf("edit or remove the Deny in %s by hand; podid never removes a Deny", res.Statement),
			})
		case Conditional:
			r.Warnings = append(r.Warnings, Problem{
				Code:    "condition-unknown",
				Message: fmt.Sprintf("%s for %s depends on %s, unknown at check time", res.Statement, res.Action, strings.Join(res.Unknown, ", ")),
				Why:     "podid cannot know this value before a pod asks for credentials; if the condition does not hold, pods get AccessDenied at run time",
				Fix:     "check that the condition holds for the pods of this service account",
			})
		case ImplicitDeny:
			if !mentions {
				break // already explained above
			}
			for _, f := range ar.failed {
				for _, c := range f.cond.Failures {
					r.Problems = append(r.Problems, Problem{
						Code:    "condition-excludes",
						Message: fmt.Sprintf("%s would allow %s, but its condition %s", f.stmt.Name(), res.Action, c),
						Why:     "conditions on the session tags decide which cluster, namespace and service account may use the role",
						Fix:     fmt.Sprintf("add %q to %s %s in %s, or add a statement for this service account (podid verify-role --fix)", firstNonEmpty(c.Ours), c.Operator, c.Key, f.stmt.Name()),
					})
				}
			}
			if len(ar.failed) > 0 {
				break
			}
			other := r.AssumeRole
			if res.Action == ActionAssumeRole {
				other = r.TagSession
			}
			code, why := "missing-assume-role", "EKS Pod Identity calls sts:AssumeRole to get the pod's credentials"
			if res.Action == ActionTagSession {
				code, why = "missing-tag-session", "EKS Pod Identity attaches session tags, so it needs sts:TagSession too; EKS rejects CreatePodIdentityAssociation with 'Trust policy of the role provided is invalid'"
			}
			fix := fmt.Sprintf("add %s to the Action of the statement for %s (podid verify-role --fix)", res.Action, ServicePrincipal)
			if other.Decision == Allowed && other.StatementIndex >= 0 {
				fix = fmt.Sprintf("add %s to the Action of %s (podid verify-role --fix)", res.Action, other.Statement)
			}
			r.Problems = append(r.Problems, Problem{
				Code:    code,
				Message: fmt.Sprintf("the trust policy does not allow %s for %s", res.Action, ServicePrincipal),
				Why:     why,
				Fix:     fix,
			})
		}
	}

	if r.AssumeRole.Decision == Allowed && !scopedBySessionTags(doc.Statements[r.AssumeRole.StatementIndex]) {
		r.Warnings = append(r.Warnings, Problem{
			Code:    "not-scoped",
			Message: fmt.Sprintf("%s is not scoped by session tags", doc.Statements[r.AssumeRole.StatementIndex].Name()),
			Why:     "any pod of any cluster in the account whose service account gets an association with this role may assume it",
			Fix:     "add this Condition to the statement:\n" + ScopedCondition(req),
		})
	}
	return r
}

// onlyIRSA reports whether every Allow statement is one of the IRSA statements.
func onlyIRSA(doc *Document, irsa []IRSATrust) bool {
	isIRSA := map[int]bool{}
	for _, t := range irsa {
		isIRSA[t.StatementIndex] = true
	}
	for _, s := range doc.Statements {
		if s.Effect == "Allow" && !isIRSA[s.Index] {
			return false
		}
	}
	return true
}

func firstNonEmpty(v []string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// scopedBySessionTags reports whether the statement's conditions mention the
// namespace or service account session tags, or the source cluster ARN.
func scopedBySessionTags(s *Statement) bool {
	for _, keys := range s.Condition {
		for k := range keys {
			switch strings.ToLower(k) {
			case "aws:requesttag/kubernetes-namespace", "aws:requesttag/kubernetes-service-account":
				return true
			}
		}
	}
	return false
}

// irsaTrusts lists the statements that let an IAM OIDC provider assume the role.
func irsaTrusts(doc *Document) []IRSATrust {
	var out []IRSATrust
	for _, s := range doc.Statements {
		if s.Effect != "Allow" || s.Principal == nil || !s.appliesToAction("sts:AssumeRoleWithWebIdentity") {
			continue
		}
		for _, fed := range s.Principal.Values["Federated"] {
			i := strings.Index(fed, ":oidc-provider/")
			if i < 0 {
				continue
			}
			issuer := fed[i+len(":oidc-provider/"):]
			t := IRSATrust{Statement: s.Name(), StatementIndex: s.Index, Provider: fed, Issuer: issuer}
			for _, op := range sortedKeys(s.Condition) {
				for _, key := range sortedKeys(s.Condition[op]) {
					switch {
					case strings.EqualFold(key, issuer+":sub"):
						t.Subjects = append(t.Subjects, s.Condition[op][key]...)
					case strings.EqualFold(key, issuer+":aud"):
						t.Audiences = append(t.Audiences, s.Condition[op][key]...)
					}
				}
			}
			out = append(out, t)
		}
	}
	return out
}
