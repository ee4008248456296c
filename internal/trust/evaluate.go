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

	// NoSessionTags is the association's disableSessionTags: EKS then sends
	// no session tags (no aws:RequestTag/…, no aws:TagKeys) and does not
	// call sts:TagSession, so the trust need not allow it.
	NoSessionTags bool

	// CallerRoleArn, when set, makes this the second hop of a chain: the
	// session of this role (the association's role) calls sts:AssumeRole on
	// the target role. Empty: the first hop, pods.eks.amazonaws.com calls.
	CallerRoleArn string
	// ExternalID is the sts:ExternalId of the second hop; empty = none
	// sent. EvaluatePodIdentityRequest sets it (EKS sets it when session
	// tags are disabled).
	ExternalID string
}

// Actions are the actions the request needs: sts:AssumeRole, and
// sts:TagSession unless session tags are disabled.
func (r Request) Actions() []string {
	if r.NoSessionTags {
		return []string{ActionAssumeRole}
	}
	return []string{ActionAssumeRole, ActionTagSession}
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
	// at check time (e.g. aws:SourceOrgId, the pod name).
	Conditional Decision = "Conditional"
	// NotRequested: the request does not include the action (sts:TagSession
	// when the association disables session tags), so it does not matter.
	NotRequested Decision = "NotRequested"
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
	// Key is the condition key the problem is about, when there is one.
	Key string `json:"key,omitempty"`
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
// request without doubt: sts:AssumeRole is Allowed, and sts:TagSession is
// Allowed or not requested.
func (r Report) OK() bool {
	return r.AssumeRole.Decision == Allowed && (r.TagSession.Decision == Allowed || r.TagSession.Decision == NotRequested)
}

// Admits reports whether no action the request needs is denied: each is
// Allowed, or Conditional on values podid cannot know at check time (the
// pod name, aws:SourceOrgId, …; reported as a warning). This is the one
// pass/fail rule of the check, of ResolveRole and of Fix: a trust that
// Admits is never rewritten, one that does not always fails the check.
func (r Report) Admits() bool {
	for _, d := range []Decision{r.AssumeRole.Decision, r.TagSession.Decision} {
		if d != Allowed && d != Conditional && d != NotRequested {
			return false
		}
	}
	return true
}

// principalMatches reports whether p names the caller of the request (the
// Pod Identity service principal on the first hop, the association role's
// session on the second), and whether it does so only through a wildcard.
func principalMatches(p *Principal, req Request) (match, wildcard bool) {
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
	if req.CallerRoleArn != "" {
		for _, v := range p.Values["AWS"] {
			if awsPrincipalMatches(v, req.CallerRoleArn) {
				return true, false
			}
		}
		return false, false
	}
	for _, v := range p.Values["Service"] {
		if v == ServicePrincipal {
			return true, false
		}
	}
	return false, false
}

// awsPrincipalMatches reports whether an "AWS" principal value covers a
// session of role roleArn: the role's account (as an ID or its :root ARN),
// or the role's ARN (IAM matches role names case-insensitively). An
// assumed-role session ARN never matches: EKS names every session anew
// (eks-<cluster>-<pod>-<uuid>), so no fixed session ARN can.
func awsPrincipalMatches(v, roleArn string) bool {
	acct := arnAccount(roleArn)
	if acct != "" && (v == acct || v == "arn:"+arnPartition(roleArn)+":iam::"+acct+":root") {
		return true
	}
	return strings.EqualFold(v, roleArn)
}

// appliesToPrincipal reports whether a statement's Principal/NotPrincipal covers the caller.
func (s *Statement) appliesToPrincipal(req Request) (bool, bool) {
	if s.NotPrincipal != nil {
		m, _ := principalMatches(s.NotPrincipal, req)
		return !m, false
	}
	return principalMatches(s.Principal, req)
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
	name string // for messages: the statement's Name, plus its policy for permission policies
	cond condResult
}

// evalAction evaluates one action of the trust policy doc for the request's
// caller and returns its result plus the statements that matched principal
// and action but whose conditions failed.
func evalAction(doc *Document, req Request, action string) (ActionResult, []stmtEval) {
	var evals []stmtEval
	for _, s := range doc.Statements {
		if ok, _ := s.appliesToPrincipal(req); !ok || !s.appliesToAction(action) {
			continue
		}
		evals = append(evals, stmtEval{stmt: s, name: s.Name(), cond: evalCondition(s.Condition, req)})
	}
	return decide(action, evals)
}

// decide applies IAM's rule to the statements that apply to an action: an
// explicit Deny wins, then an Allow; unknown conditions make the outcome
// Conditional. It also returns the Allow statements whose conditions failed.
func decide(action string, evals []stmtEval) (ActionResult, []stmtEval) {
	res := ActionResult{Action: action, Decision: ImplicitDeny, StatementIndex: -1}
	var allowTrue, allowUnknown, denyTrue, denyUnknown *stmtEval
	var failed []stmtEval
	for i := range evals {
		e := &evals[i]
		switch {
		case e.stmt.Effect == "Deny" && e.cond.Value == triTrue && denyTrue == nil:
			denyTrue = e
		case e.stmt.Effect == "Deny" && e.cond.Value == triUnknown && denyUnknown == nil:
			denyUnknown = e
		case e.stmt.Effect == "Allow" && e.cond.Value == triTrue && allowTrue == nil:
			allowTrue = e
		case e.stmt.Effect == "Allow" && e.cond.Value == triUnknown && allowUnknown == nil:
			allowUnknown = e
		case e.stmt.Effect == "Allow" && e.cond.Value == triFalse:
			failed = append(failed, *e)
		}
	}
	set := func(d Decision, e *stmtEval) {
		res.Decision = d
		res.Statement = e.name
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
// sts:AssumeRole, and sts:TagSession unless the request disables session
// tags, on a role with this trust policy for the request (the first hop:
// CallerRoleArn and ExternalID are ignored), and explains what is wrong or
// risky.
func Evaluate(doc *Document, req Request) Report {
	req.CallerRoleArn, req.ExternalID = "", ""
	var r Report
	var failedAR, failedTS []stmtEval
	r.AssumeRole, failedAR = evalAction(doc, req, ActionAssumeRole)
	if req.NoSessionTags {
		r.TagSession = ActionResult{Action: ActionTagSession, Decision: NotRequested, StatementIndex: -1}
	} else {
		r.TagSession, failedTS = evalAction(doc, req, ActionTagSession)
	}
	r.IRSA = irsaTrusts(doc)

	mentions := false // some statement names the service or a wildcard principal
	for _, s := range doc.Statements {
		if m, _ := principalMatches(s.Principal, req); m {
			mentions = true
		}
		if s.Effect == "Allow" {
			if _, wild := principalMatches(s.Principal, req); wild {
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
					if req.NoSessionTags && needsSessionTags(c.Key) {
						r.Problems = append(r.Problems, Problem{
							Code:    "needs-session-tags",
							Message: fmt.Sprintf("%s requires %s, but the association disables session tags", f.name, c.Key),
							Why:     "with disableSessionTags EKS sends no session tags, so a condition on " + c.Key + " has nothing to match and " + res.Action + " is denied for every pod",
							Fix:     "drop --disable-session-tags, or rescope the trust (podid verify-role --fix)",
							Key:     c.Key,
						})
						continue
					}
					r.Problems = append(r.Problems, Problem{
						Code:    "condition-excludes",
						Message: fmt.Sprintf("%s would allow %s, but its condition %s", f.name, res.Action, c),
						Why:     "conditions on the session tags decide which cluster, namespace and service account may use the role",
						Fix:     fmt.Sprintf("add %q to %s %s in %s, or add a statement for this service account (podid verify-role --fix)", firstNonEmpty(c.Ours), c.Operator, c.Key, f.name),
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
				code, why = "missing-tag-session", "the association sends session tags, so EKS Pod Identity needs sts:TagSession too; EKS rejects CreatePodIdentityAssociation with 'Trust policy of the role provided is invalid'"
			}
			fix := fmt.Sprintf("add %s to the Action of the statement for %s (podid verify-role --fix)", res.Action, ServicePrincipal)
			if other.Decision == Allowed && other.StatementIndex >= 0 {
				fix = fmt.Sprintf("add %s to the Action of %s (podid verify-role --fix)", res.Action, other.Statement)
			}
			if res.Action == ActionTagSession {
				fix += ", or disable session tags (--disable-session-tags)"
			}
			r.Problems = append(r.Problems, Problem{
				Code:    code,
				Message: fmt.Sprintf("the trust policy does not allow %s for %s", res.Action, ServicePrincipal),
				Why:     why,
				Fix:     fix,
			})
		}
	}

	if r.AssumeRole.Decision == Allowed && !req.NoSessionTags && !scopedBySessionTags(doc.Statements[r.AssumeRole.StatementIndex]) {
		r.Warnings = append(r.Warnings, Problem{
			Code:    "not-scoped",
			Message: fmt.Sprintf("%s is not scoped by session tags", doc.Statements[r.AssumeRole.StatementIndex].Name()),
			Why:     "any pod of any cluster in the account whose service account gets an association with this role may assume it",
			Fix:     "add this Condition to the statement:\n" + ScopedCondition(req),
		})
	}
	return r
}

// needsSessionTags reports whether a condition key exists only when EKS
// sends session tags.
func needsSessionTags(key string) bool {
	k := strings.ToLower(key)
	return strings.HasPrefix(k, "aws:requesttag/") || k == "aws:tagkeys"
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
