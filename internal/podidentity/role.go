package podidentity

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/trust"
	"github.com/podid/podid/internal/validate"
)

// RoleLookupAPI is what role resolution needs from IAM.
type RoleLookupAPI interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	ListRoles(ctx context.Context, in *iam.ListRolesInput, optFns ...func(*iam.Options)) (*iam.ListRolesOutput, error)
}

// RoleAPI is what verify-role reads from IAM.
type RoleAPI interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, optFns ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	GetPolicy(ctx context.Context, in *iam.GetPolicyInput, optFns ...func(*iam.Options)) (*iam.GetPolicyOutput, error)
	GetPolicyVersion(ctx context.Context, in *iam.GetPolicyVersionInput, optFns ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error)
	ListRolePolicies(ctx context.Context, in *iam.ListRolePoliciesInput, optFns ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, optFns ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	SimulatePrincipalPolicy(ctx context.Context, in *iam.SimulatePrincipalPolicyInput, optFns ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error)
}

// RoleWriteAPI is what verify-role --fix writes to IAM.
type RoleWriteAPI interface {
	UpdateAssumeRolePolicy(ctx context.Context, in *iam.UpdateAssumeRolePolicyInput, optFns ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error)
}

// How a role was found (RoleRef.Source).
const (
	RoleFromFlag        = "flag"
	RoleFromAssociation = "association"
	RoleFromPrefix      = "name prefix"
)

// RoleRef is a resolved IAM role.
type RoleRef struct {
	Name   string `json:"name"`
	Arn    string `json:"arn"`
	Source string `json:"source"`
}

// trustRequest is the trust.Request for an association of ns/sa on cluster.
func trustRequest(c ClusterInfo, ns, sa string) trust.Request {
	return trust.Request{Cluster: c.Name, Namespace: ns, ServiceAccount: sa, Account: c.Account, ClusterArn: c.Arn}
}

// request is the trust.Request EKS makes for the association verify-role checks.
func (s *VerifyRole) request() trust.Request {
	req := trustRequest(s.opts.Cluster, s.opts.Namespace, s.opts.ServiceAccount)
	req.NoSessionTags = s.opts.DisableSessionTags
	return req
}

// ResolveRole finds the role for ns/sa on cluster: an explicit name or ARN
// (ref) wins; else the role of the existing association; else the one role
// whose name starts with "<cluster>-<sa>" and whose trust admits EKS Pod
// Identity. None or several is an error that lists the candidates.
func ResolveRole(ctx context.Context, iamAPI RoleLookupAPI, eksAPI AssociationReadAPI, ref string, cluster ClusterInfo, ns, sa string) (RoleRef, error) {
	if ref != "" {
		name, arn, err := validate.RoleRef(ref)
		if err != nil {
			return RoleRef{}, fail.Usagef("pass --role with a role name or ARN", "--role: %w", err)
		}
		if arn != "" {
			return RoleRef{Name: name, Arn: arn, Source: RoleFromFlag}, nil
		}
		out, err := iamAPI.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		if err != nil {
			return RoleRef{}, explainGetRole(err, name)
		}
		return RoleRef{Name: name, Arn: aws.ToString(out.Role.Arn), Source: RoleFromFlag}, nil
	}
	if eksAPI != nil {
		cur, err := FindAssociation(ctx, eksAPI, cluster.Name, ns, sa)
		if err != nil {
			return RoleRef{}, err
		}
		if cur != nil {
			return RoleRef{Name: RoleNameOf(cur.RoleArn), Arn: cur.RoleArn, Source: RoleFromAssociation}, nil
		}
	}
	prefix := cluster.Name + "-" + sa
	req := trustRequest(cluster, ns, sa)
	var matches []RoleRef
	var rejected []string
	p := iam.NewListRolesPaginator(iamAPI, &iam.ListRolesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return RoleRef{}, awsapi.Explain(err, "list roles", "to find one named "+prefix+"*")
		}
		for _, r := range page.Roles {
			name := aws.ToString(r.RoleName)
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			if ok, why := admitsPodIdentity(aws.ToString(r.AssumeRolePolicyDocument), req); !ok {
				rejected = append(rejected, fmt.Sprintf("%s (%s)", name, why))
				continue
			}
			matches = append(matches, RoleRef{Name: name, Arn: aws.ToString(r.Arn), Source: RoleFromPrefix})
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		msg := fmt.Sprintf("no role for %s/%s on cluster %s: no association exists and no role named %s* trusts pods.eks.amazonaws.com", ns, sa, cluster.Name, prefix)
		if len(rejected) > 0 {
			msg += "; roles with that prefix whose trust does not admit it: " + strings.Join(rejected, ", ")
		}
		return RoleRef{}, fail.Usagef("pass --role <name or ARN> (or create one: podid role create …)", "%s", msg)
	}
	names := make([]string, len(matches))
	for i, m := range matches {
		names[i] = m.Name
	}
	return RoleRef{}, fail.Usagef("pass one of them with --role "+names[0],
		"several roles could serve %s/%s on cluster %s: %s", ns, sa, cluster.Name, strings.Join(names, ", "))
}

// admitsPodIdentity reports whether a trust document lets EKS Pod Identity
// assume the role for req (allowed, or allowed under conditions podid
// cannot evaluate).
func admitsPodIdentity(doc string, req trust.Request) (bool, string) {
	d, err := trust.Parse(doc)
	if err != nil {
		return false, "trust policy does not parse"
	}
	rep := trust.Evaluate(d, req)
	if rep.Admits() {
		return true, ""
	}
	r := rep.AssumeRole
	if r.Decision == trust.Allowed || r.Decision == trust.Conditional {
		r = rep.TagSession
	}
	return false, fmt.Sprintf("%s: %s", r.Action, r.Decision)
}

func explainGetRole(err error, name string) error {
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return fail.Errorf("create it with podid role create …, or pass an existing role with --role",
			"role %q does not exist", name)
	}
	return awsapi.Explain(err, "get role", fmt.Sprintf("%q", name))
}

// Expectation is one --expect ACTION[=RESOURCE].
type Expectation struct {
	Action   string `json:"action"`
	Resource string `json:"resource"` // "*" when not given
}

var expectActionRE = regexp.MustCompile(`^[a-z0-9-]+:[A-Za-z0-9*?]+$`)

// ParseExpect parses --expect ACTION[=RESOURCE], e.g.
// dynamodb:Query=arn:aws:dynamodb:us-west-2:111122223333:table/carts.
func ParseExpect(s string) (Expectation, error) {
	action, resource, _ := strings.Cut(strings.TrimSpace(s), "=")
	const hint = "use --expect ACTION[=RESOURCE], e.g. --expect dynamodb:Query=arn:aws:dynamodb:us-west-2:111122223333:table/carts"
	if !expectActionRE.MatchString(action) {
		return Expectation{}, fail.Usagef(hint, "--expect %q: action %q is not service:Action", s, action)
	}
	if resource == "" {
		resource = "*"
	}
	if resource != "*" && (!strings.HasPrefix(resource, "arn:") || strings.Count(resource, ":") < 5) {
		return Expectation{}, fail.Usagef(hint, "--expect %q: resource %q is not * or an ARN (arn:partition:service:region:account:resource)", s, resource)
	}
	return Expectation{Action: action, Resource: resource}, nil
}

// ExpectResult is the simulated decision for one expectation.
type ExpectResult struct {
	Expectation
	Decision string `json:"decision"` // allowed, implicitDeny, explicitDeny
	Allowed  bool   `json:"allowed"`
}

// PolicyInfo is one permission policy of a role, for printing.
type PolicyInfo struct {
	Name       string                   `json:"name"`
	Arn        string                   `json:"arn,omitempty"` // empty for inline policies
	Version    string                   `json:"version,omitempty"`
	Inline     bool                     `json:"inline"`
	Statements []trust.StatementSummary `json:"statements"`
}

// VerifyRoleOptions select what verify-role checks.
type VerifyRoleOptions struct {
	Role                      RoleRef
	Cluster                   ClusterInfo
	Namespace, ServiceAccount string
	// The association's settings that shape the request EKS makes: the
	// target role (role chaining) and disabled session tags. The caller
	// takes them from the existing association, or from the flags that
	// are about to set them.
	TargetRoleArn      string
	DisableSessionTags bool
	// SessionPolicy is the association's policy: it limits the session
	// (of the target role, when chained) to what it also allows.
	SessionPolicy string
	// Fix rewrites the trust policy (keeping every other statement, never
	// widening) when it does not admit the association.
	Fix    bool
	Expect []Expectation
}

// VerifyRole is the verify-role step.
type VerifyRole struct {
	api    RoleAPI
	writer RoleWriteAPI
	opts   VerifyRoleOptions
}

// NewVerifyRole returns the verify-role step; writer may be nil unless
// opts.Fix is set.
func NewVerifyRole(api RoleAPI, writer RoleWriteAPI, opts VerifyRoleOptions) (*VerifyRole, error) {
	if opts.Fix && writer == nil {
		return nil, errors.New("verify-role --fix needs an IAM client that can write")
	}
	return &VerifyRole{api: api, writer: writer, opts: opts}, nil
}

// Name implements step.Step.
func (s *VerifyRole) Name() string { return "verify-role" }

// Check implements step.Step. It is read-only: trust evaluation,
// permissions and --expect simulation. A trust problem is a verification
// failure unless Fix is set (then the plan carries the new document and its
// diff); a denied expectation always is.
func (s *VerifyRole) Check(ctx context.Context) (step.Plan, error) {
	role := s.opts.Role
	if err := s.checkAccount(); err != nil {
		return step.Plan{}, err
	}
	ev, err := s.evaluate(ctx)
	if err != nil {
		return step.Plan{}, err
	}
	roleArn, doc, req, policies, verdict := ev.roleArn, ev.doc, ev.req, ev.policies, ev.verdict
	rep := verdict.Trust
	expects, err := s.simulate(ctx, roleArn)
	if err != nil {
		return step.Plan{}, err
	}
	details := &RoleDetails{Role: RoleRef{Name: role.Name, Arn: roleArn, Source: role.Source}, RoleSource: role.Source, Trust: rep, Request: verdict, Policies: policies, Expect: expects}
	var warnings []string
	for _, w := range rep.Warnings {
		warnings = append(warnings, w.Message)
	}
	for _, l := range verdict.Links[1:] {
		for _, w := range l.Warnings {
			warnings = append(warnings, fmt.Sprintf("%s: %s", l.Link, w.Message))
		}
	}
	if len(policies) == 0 {
		warnings = append(warnings, NoPermissionPolicies(role.Name)+"; "+NoPermissionPoliciesFix(role.Name))
	}

	var problems, hints []string
	var fixed, diff string
	for _, l := range verdict.Links {
		if !l.Failed() {
			continue
		}
		if l.Link == trust.LinkTrust && s.opts.Fix {
			var changed bool
			fixed, changed, err = trust.Fix(doc, req, trust.FixOptions{Scoped: true})
			if err != nil {
				problems = append(problems, fmt.Sprintf("the trust policy cannot be fixed automatically: %v", err))
				hints = append(hints, fmt.Sprintf("edit the trust policy by hand: aws iam update-assume-role-policy --role-name %s --policy-document file://trust.json", role.Name))
			} else if changed {
				diff = trust.Diff(doc.String(), fixed)
			}
			continue
		}
		line := l.Message
		if l.Why != "" {
			line += " (" + l.Why + ")"
		}
		problems = append(problems, line+"; "+l.Fix)
		hints = append(hints, s.hint(l))
	}
	var denied []string
	for _, e := range expects {
		if !e.Allowed {
			denied = append(denied, fmt.Sprintf("%s on %s: %s", e.Action, e.Resource, e.Decision))
		}
	}
	if len(denied) > 0 {
		problems = append(problems, "the role's policies do not allow "+strings.Join(denied, "; "))
		hints = append(hints, fmt.Sprintf("attach a policy that allows them: aws iam put-role-policy --role-name %s …, then run again", role.Name))
	}
	if len(problems) > 0 {
		// Return what was found with the error, so the report still shows it.
		return step.Plan{Details: details, Warnings: warnings}, fail.Verifyf(strings.Join(hints, "; then "), "role %s cannot serve %s/%s on cluster %s: %s", role.Name, s.opts.Namespace, s.opts.ServiceAccount, s.opts.Cluster.Name, strings.Join(problems, "; "))
	}
	summary := fmt.Sprintf("role %s trusts %s for %s/%s", role.Name, trust.ServicePrincipal, s.opts.Namespace, s.opts.ServiceAccount)
	if s.opts.DisableSessionTags {
		summary += " without session tags"
	}
	if s.opts.TargetRoleArn != "" {
		summary += fmt.Sprintf(", and may chain to target role %s", RoleNameOf(s.opts.TargetRoleArn))
	}
	if diff != "" {
		details.TrustDiff, details.FixedTrust = diff, fixed
		return step.Plan{
			Summary:  fmt.Sprintf("role %s does not trust %s for %s/%s", role.Name, trust.ServicePrincipal, s.opts.Namespace, s.opts.ServiceAccount),
			Changes:  []string{fmt.Sprintf("update the trust policy of role %s:\n%s", role.Name, diff)},
			Warnings: warnings,
			Details:  details,
		}, nil
	}
	return step.Plan{Satisfied: true, Summary: summary, Warnings: warnings, Details: details}, nil
}

// evaluation is what evaluate read and judged.
type evaluation struct {
	roleArn  string
	doc      *trust.Document
	req      trust.Request
	policies []PolicyInfo
	verdict  trust.Verdict
}

// evaluate reads the role (trust and permission policies) and the target
// role, and judges the request EKS makes.
func (s *VerifyRole) evaluate(ctx context.Context) (evaluation, error) {
	role := s.opts.Role
	out, err := s.api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role.Name)})
	if err != nil {
		return evaluation{}, explainGetRole(err, role.Name)
	}
	ev := evaluation{roleArn: aws.ToString(out.Role.Arn), req: s.request()}
	ev.doc, err = trust.Parse(aws.ToString(out.Role.AssumeRolePolicyDocument))
	if err != nil {
		return evaluation{}, fail.Verifyf(fmt.Sprintf("inspect it: aws iam get-role --role-name %s", role.Name), "role %s: trust policy: %w", role.Name, err)
	}
	policies, docs, err := s.permissions(ctx, role.Name)
	if err != nil {
		return evaluation{}, err
	}
	ev.policies = policies
	var target *trust.Role
	if s.opts.TargetRoleArn != "" {
		if target, err = s.targetRole(ctx); err != nil {
			return evaluation{}, err
		}
	}
	ev.verdict = trust.EvaluatePodIdentityRequest(ev.req, trust.Role{Arn: ev.roleArn, Trust: ev.doc, Policies: docs}, target)
	return ev, nil
}

// EvaluateAssociation reads from IAM what the request EKS Auth makes for
// association a needs (its role's trust and permission policies, its target
// role's trust) and judges that request: the verdict names the failing
// link, why, and the fix. It is the static counterpart of the exchange; a
// missing role or target role is an error (verification kind), as are
// unparsable policies. Read-only.
func EvaluateAssociation(ctx context.Context, api RoleAPI, cluster ClusterInfo, a AssociationInfo) (trust.Verdict, error) {
	s := &VerifyRole{api: api, opts: VerifyRoleOptions{
		Role:    RoleRef{Name: RoleNameOf(a.RoleArn), Arn: a.RoleArn, Source: RoleFromAssociation},
		Cluster: cluster, Namespace: a.Namespace, ServiceAccount: a.ServiceAccount,
		TargetRoleArn: a.TargetRoleArn, DisableSessionTags: a.DisableSessionTags,
	}}
	ev, err := s.evaluate(ctx)
	return ev.verdict, err
}

// ExplainAssociation returns a function of the shape of credcheck's
// Explainer: when EKS Auth denies the exchange for association a, it names
// the failing link and its fix from the static verdict. ok is false when
// the static model finds no failing link (or cannot read the roles): the
// caller then keeps EKS Auth's own message.
func ExplainAssociation(api RoleAPI, cluster ClusterInfo, a AssociationInfo) func(ctx context.Context) (problem, fix string, ok bool) {
	return func(ctx context.Context) (string, string, bool) {
		v, err := EvaluateAssociation(ctx, api, cluster, a)
		if err != nil {
			return "", "", false
		}
		if v.OK() {
			return "", "", false
		}
		problem := v.Message
		if l, found := v.Link(v.Failing); found && l.Why != "" {
			problem += " (" + l.Why + ")"
		}
		return problem, v.Fix, true
	}
}

// checkAccount refuses a role outside the cluster's account: EKS passes the
// association role with iam:PassRole, which works only within the
// cluster's account; other accounts are reached through a target role.
func (s *VerifyRole) checkAccount() error {
	arn, err := validate.RoleArn(s.opts.Role.Arn)
	if err != nil || s.opts.Cluster.Account == "" || arn.Account == s.opts.Cluster.Account {
		return nil
	}
	hint := fmt.Sprintf("use a role in account %s as --role and pass %s as --target-role-arn (role chaining)", s.opts.Cluster.Account, s.opts.Role.Arn)
	if s.opts.TargetRoleArn != "" {
		hint = fmt.Sprintf("--role must be in the cluster's account %s; only --target-role-arn may be in another account", s.opts.Cluster.Account)
	}
	return fail.Verifyf(hint, "role %s is in account %s, but cluster %s is in account %s: EKS can only pass a role of the cluster's account",
		s.opts.Role.Arn, arn.Account, s.opts.Cluster.Name, s.opts.Cluster.Account)
}

// permissions lists the role's managed (default version) and inline
// policies, for printing and parsed for the request model.
func (s *VerifyRole) permissions(ctx context.Context, roleName string) ([]PolicyInfo, []trust.Policy, error) {
	var out []PolicyInfo
	var docs []trust.Policy
	ap := iam.NewListAttachedRolePoliciesPaginator(s.api, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(roleName)})
	for ap.HasMorePages() {
		page, err := ap.NextPage(ctx)
		if err != nil {
			return nil, nil, awsapi.Explain(err, "list attached policies", "of role "+roleName)
		}
		for _, a := range page.AttachedPolicies {
			arn := aws.ToString(a.PolicyArn)
			pol, err := s.api.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
			if err != nil {
				return nil, nil, awsapi.Explain(err, "get policy", arn)
			}
			version := aws.ToString(pol.Policy.DefaultVersionId)
			v, err := s.api.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: aws.String(version)})
			if err != nil {
				return nil, nil, awsapi.Explain(err, "get policy version", version+" of "+arn)
			}
			doc, err := trust.Parse(aws.ToString(v.PolicyVersion.Document))
			if err != nil {
				return nil, nil, fmt.Errorf("policy %s %s: %w", arn, version, err)
			}
			out = append(out, PolicyInfo{Name: aws.ToString(a.PolicyName), Arn: arn, Version: version, Statements: trust.Statements(doc)})
			docs = append(docs, trust.Policy{Name: aws.ToString(a.PolicyName), Doc: doc})
		}
	}
	ip := iam.NewListRolePoliciesPaginator(s.api, &iam.ListRolePoliciesInput{RoleName: aws.String(roleName)})
	for ip.HasMorePages() {
		page, err := ip.NextPage(ctx)
		if err != nil {
			return nil, nil, awsapi.Explain(err, "list inline policies", "of role "+roleName)
		}
		for _, name := range page.PolicyNames {
			p, err := s.api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(roleName), PolicyName: aws.String(name)})
			if err != nil {
				return nil, nil, awsapi.Explain(err, "get inline policy", name+" of role "+roleName)
			}
			doc, err := trust.Parse(aws.ToString(p.PolicyDocument))
			if err != nil {
				return nil, nil, fmt.Errorf("inline policy %s of role %s: %w", name, roleName, err)
			}
			out = append(out, PolicyInfo{Name: name, Inline: true, Statements: trust.Statements(doc)})
			docs = append(docs, trust.Policy{Name: name, Doc: doc})
		}
	}
	return out, docs, nil
}

// targetRole reads the target role's trust. A role of another account
// cannot be read with the cluster account's credentials: its trust is then
// unknown (a warning), not a failure. A missing role of this account is a
// verification failure: EKS would fail every exchange.
func (s *VerifyRole) targetRole(ctx context.Context) (*trust.Role, error) {
	arn := s.opts.TargetRoleArn
	t := &trust.Role{Arn: arn}
	parsed, err := validate.RoleArn(arn)
	if err != nil {
		return nil, fail.Usagef("pass the target role's ARN, e.g. --target-role-arn arn:aws:iam::111122223333:role/carts-dynamo", "target role %q: %v", arn, err)
	}
	if s.opts.Cluster.Account != "" && parsed.Account != s.opts.Cluster.Account {
		t.TrustUnreadable = fmt.Sprintf("it is in account %s, podid reads account %s", parsed.Account, s.opts.Cluster.Account)
		return t, nil
	}
	name := RoleNameOf(arn)
	out, err := s.api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	var nse *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nse):
		return nil, fail.Verifyf(fmt.Sprintf("create role %s, or pass an existing role with --target-role-arn", name),
			"target role %s does not exist: EKS cannot chain %s/%s to it", arn, s.opts.Namespace, s.opts.ServiceAccount)
	case awsapi.IsCode(err, "AccessDenied") || awsapi.IsCode(err, "AccessDeniedException"):
		t.TrustUnreadable = "iam:GetRole is denied"
		return t, nil
	case err != nil:
		return nil, awsapi.Explain(err, "get target role", name)
	}
	doc, err := trust.Parse(aws.ToString(out.Role.AssumeRolePolicyDocument))
	if err != nil {
		return nil, fail.Verifyf(fmt.Sprintf("inspect it: aws iam get-role --role-name %s", name), "target role %s: trust policy: %w", name, err)
	}
	t.Trust = doc
	return t, nil
}

// hint is the command that fixes a failing link, with this run's flags.
func (s *VerifyRole) hint(l trust.LinkVerdict) string {
	flags := fmt.Sprintf("--cluster %s --ns %s --sa %s", s.opts.Cluster.Name, s.opts.Namespace, s.opts.ServiceAccount)
	if l.Link != trust.LinkTrust {
		return l.Fix
	}
	fix := fmt.Sprintf("podid verify-role %s --role %s --fix", flags, s.opts.Role.Name)
	for _, p := range l.Problems {
		if p.Code == "needs-session-tags" {
			return fmt.Sprintf("keep session tags: podid associate %s --role %s --update (without --disable-session-tags); or rescope the trust: %s", flags, s.opts.Role.Name, fix)
		}
	}
	for _, p := range l.Problems {
		if p.Code == "explicit-deny" {
			return p.Fix
		}
	}
	return "run " + fix + " to let " + trust.ServicePrincipal + " in for this service account only (other statements are kept, nothing is widened)"
}

// simulate runs one SimulatePrincipalPolicy for every expectation (all
// actions × all resources, paginated) and picks the requested pairs.
func (s *VerifyRole) simulate(ctx context.Context, roleArn string) ([]ExpectResult, error) {
	if len(s.opts.Expect) == 0 {
		return nil, nil
	}
	var actions, resources []string
	for _, e := range s.opts.Expect {
		if !slices.Contains(actions, e.Action) {
			actions = append(actions, e.Action)
		}
		if !slices.Contains(resources, e.Resource) {
			resources = append(resources, e.Resource)
		}
	}
	// --expect is judged for the credentials the pod will hold: the
	// effective role (the target role when chained), with the session tags
	// EKS sets as aws:PrincipalTag context, then the session policy.
	if s.opts.TargetRoleArn != "" {
		roleArn = s.opts.TargetRoleArn
	}
	var ctxEntries []iamtypes.ContextEntry
	tags := map[string]string{}
	if !s.opts.DisableSessionTags {
		c := s.opts.Cluster
		tags = map[string]string{"eks-cluster-arn": c.Arn, "eks-cluster-name": c.Name, "kubernetes-namespace": s.opts.Namespace, "kubernetes-service-account": s.opts.ServiceAccount}
		for _, k := range []string{"eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace", "kubernetes-service-account"} {
			if tags[k] == "" {
				continue
			}
			ctxEntries = append(ctxEntries, iamtypes.ContextEntry{ContextKeyName: aws.String("aws:PrincipalTag/" + k), ContextKeyType: iamtypes.ContextKeyTypeEnumString, ContextKeyValues: []string{tags[k]}})
		}
	}
	var session *trust.Document
	if s.opts.SessionPolicy != "" {
		doc, err := trust.Parse(s.opts.SessionPolicy)
		if err != nil {
			return nil, fail.Verifyf("fix the association's session policy (podid associate --update --policy ...)", "the association's session policy is not a policy document: %v", err)
		}
		session = doc
	}
	decisions := map[[2]string]string{}
	p := iam.NewSimulatePrincipalPolicyPaginator(s.api, &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(roleArn), ActionNames: actions, ResourceArns: resources, ContextEntries: ctxEntries})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, awsapi.Explain(err, "simulate policies", "of role "+roleArn)
		}
		for _, r := range page.EvaluationResults {
			decisions[[2]string{aws.ToString(r.EvalActionName), aws.ToString(r.EvalResourceName)}] = string(r.EvalDecision)
		}
	}
	out := make([]ExpectResult, 0, len(s.opts.Expect))
	for _, e := range s.opts.Expect {
		d, ok := decisions[[2]string{e.Action, e.Resource}]
		if !ok {
			d = "not evaluated"
		}
		allowed := d == string(iamtypes.PolicyEvaluationDecisionTypeAllowed)
		if allowed && session != nil {
			req := trust.Request{Cluster: s.opts.Cluster.Name, Namespace: s.opts.Namespace, ServiceAccount: s.opts.ServiceAccount, Account: s.opts.Cluster.Account, ClusterArn: s.opts.Cluster.Arn, NoSessionTags: s.opts.DisableSessionTags}
			if sd := trust.EvaluateSessionPolicy(session, req, e.Action, e.Resource); sd != trust.Allowed {
				d, allowed = "implicitDeny (session policy: "+string(sd)+")", false
			}
		}
		out = append(out, ExpectResult{Expectation: e, Decision: d, Allowed: allowed})
	}
	return out, nil
}

// Apply implements step.Step: write the fixed trust policy, then read it
// back until IAM shows it admitting the association.
func (s *VerifyRole) Apply(ctx context.Context, p step.Plan, progress step.Progress) (step.Result, error) {
	planned, _ := p.Details.(*RoleDetails)
	if planned == nil || planned.FixedTrust == "" {
		return step.Result{}, fmt.Errorf("verify-role: the plan has no trust policy to write; run the check first")
	}
	name := s.opts.Role.Name
	if _, err := s.writer.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(name), PolicyDocument: aws.String(planned.FixedTrust)}); err != nil {
		return step.Result{}, awsapi.Explain(err, "update trust policy", "of role "+name)
	}
	if progress != nil {
		progress.Waiting("IAM to show the new trust policy of role " + name)
	}
	// IAM is eventually consistent; give it a bounded moment.
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req := s.request()
	err := DefaultPoller().Poll(wctx, func(ctx context.Context) (bool, error) {
		out, err := s.api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		if err != nil {
			return false, err
		}
		doc, err := trust.Parse(aws.ToString(out.Role.AssumeRolePolicyDocument))
		if err != nil {
			return false, err
		}
		return trust.Evaluate(doc, req).Admits(), nil
	})
	if err != nil {
		return step.Result{}, fmt.Errorf("role %s: the updated trust policy does not show yet: %w", name, err)
	}
	details := *planned
	return step.Result{
		Summary: fmt.Sprintf("role %s trusts %s for %s/%s", name, trust.ServicePrincipal, s.opts.Namespace, s.opts.ServiceAccount),
		Changes: []string{fmt.Sprintf("updated the trust policy of role %s", name)},
		Details: &details,
	}, nil
}

// NoPermissionPolicies is the warning for a role without permission
// policies (verify-role appends NoPermissionPoliciesFix to it).
func NoPermissionPolicies(role string) string {
	return fmt.Sprintf("role %s has no permission policies: pods will get credentials that can do nothing", role)
}

// NoPermissionPoliciesFix says how to give role its permissions: attach a
// managed policy, or put an inline one. (The trust policy only says who may
// assume the role, not what the role may do.)
func NoPermissionPoliciesFix(role string) string {
	return fmt.Sprintf("attach a permission policy: aws iam attach-role-policy --role-name %s --policy-arn POLICY_ARN, "+
		"or add an inline one: aws iam put-role-policy --role-name %s --policy-name NAME --policy-document file://policy.json", role, role)
}
