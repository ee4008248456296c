package podidentity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/trust"
)

// RoleCreateAPI is what `podid role create` needs from IAM.
type RoleCreateAPI interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	CreateRole(ctx context.Context, in *iam.CreateRoleInput, optFns ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, optFns ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	AttachRolePolicy(ctx context.Context, in *iam.AttachRolePolicyInput, optFns ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error)
	GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, optFns ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, optFns ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
	TagRole(ctx context.Context, in *iam.TagRoleInput, optFns ...func(*iam.Options)) (*iam.TagRoleOutput, error)
	// GetPolicy checks every --policy-arn and --permissions-boundary before
	// anything is created.
	GetPolicy(ctx context.Context, in *iam.GetPolicyInput, optFns ...func(*iam.Options)) (*iam.GetPolicyOutput, error)
	// The undo of a role this run created, when a later call fails.
	DetachRolePolicy(ctx context.Context, in *iam.DetachRolePolicyInput, optFns ...func(*iam.Options)) (*iam.DetachRolePolicyOutput, error)
	DeleteRolePolicy(ctx context.Context, in *iam.DeleteRolePolicyInput, optFns ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	DeleteRole(ctx context.Context, in *iam.DeleteRoleInput, optFns ...func(*iam.Options)) (*iam.DeleteRoleOutput, error)
}

// RoleCreateOptions describe the wanted role. Validate them before (the
// command does); the step trusts them.
type RoleCreateOptions struct {
	Cluster             ClusterInfo
	Namespace           string
	ServiceAccount      string
	Name                string
	Path                string // default "/"
	Description         string
	PermissionsBoundary string
	PolicyArns          []string
	InlineName          string // with InlineDocument
	InlineDocument      string
	Tags                map[string]string
	// Unscoped leaves the trust without conditions: any pod of any cluster
	// in the account whose association names the role may assume it.
	Unscoped bool
}

// RoleCreate is the step that creates a Pod Identity role, or finds it
// already there with the same trust and adds what is missing.
type RoleCreate struct {
	api  RoleCreateAPI
	opts RoleCreateOptions
	want string // the trust policy

	exists    bool
	arn       string
	attach    []string
	putInline bool
	tags      map[string]string // to TagRole on an existing role
}

// NewRoleCreate returns the role-create step.
func NewRoleCreate(api RoleCreateAPI, opts RoleCreateOptions) *RoleCreate {
	if opts.Path == "" {
		opts.Path = "/"
	}
	req := trustRequest(opts.Cluster, opts.Namespace, opts.ServiceAccount)
	return &RoleCreate{api: api, opts: opts, want: trust.NewTrustPolicy(req, !opts.Unscoped)}
}

// Name implements step.Step.
func (s *RoleCreate) Name() string { return "create-role" }

// TrustPolicy is the trust policy the step writes.
func (s *RoleCreate) TrustPolicy() string { return s.want }

// RoleArnFor predicts the ARN of role name at path in the cluster's account
// and partition.
func RoleArnFor(c ClusterInfo, path, name string) string {
	partition := "aws"
	if parts := strings.SplitN(c.Arn, ":", 3); len(parts) == 3 && parts[1] != "" {
		partition = parts[1]
	}
	if path == "" {
		path = "/"
	}
	return fmt.Sprintf("arn:%s:iam::%s:role%s%s", partition, c.Account, path, name)
}

func prettyJSON(s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return s
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b) + "\n"
}

// checkPolicies makes sure every managed policy the step would attach (and
// the permissions boundary) exists and can be attached, so that a typo or a
// service-linked role policy fails before anything is created.
func (s *RoleCreate) checkPolicies(ctx context.Context) error {
	o := s.opts
	type want struct{ arn, flag string }
	var all []want
	for _, a := range o.PolicyArns {
		all = append(all, want{a, "--policy-arn"})
	}
	if o.PermissionsBoundary != "" {
		all = append(all, want{o.PermissionsBoundary, "--permissions-boundary"})
	}
	for _, w := range all {
		out, err := s.api.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(w.arn)})
		var nse *iamtypes.NoSuchEntityException
		switch {
		case errors.As(err, &nse):
			return fail.Usagef(fmt.Sprintf("check the ARN (aws iam get-policy --policy-arn %s); AWS managed policies look like arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", w.arn),
				"%s %s: no such policy; nothing was created", w.flag, w.arn)
		case err != nil:
			return awsapi.Explain(err, "get policy", w.arn)
		case w.flag == "--policy-arn" && !out.Policy.IsAttachable:
			return fail.Usagef("pick a policy that can be attached to a role (a service-linked role policy cannot)",
				"--policy-arn %s: IAM says this policy cannot be attached to a role; nothing was created", w.arn)
		}
	}
	return nil
}

// Check reads the role, if any, checks every input, and plans.
func (s *RoleCreate) Check(ctx context.Context) (step.Plan, error) {
	o := s.opts
	if err := s.checkPolicies(ctx); err != nil {
		return step.Plan{}, err
	}
	out, err := s.api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(o.Name)})
	var nse *iamtypes.NoSuchEntityException
	details := &RoleCreateDetails{Trust: s.want, Scoped: !o.Unscoped}
	var warnings []string
	if o.Unscoped {
		warnings = append(warnings, fmt.Sprintf("--unscoped: role %s will trust pods.eks.amazonaws.com without conditions: ANY pod of ANY cluster in account %s whose pod identity association names this role can assume it", o.Name, o.Cluster.Account))
	}
	switch {
	case errors.As(err, &nse):
		s.exists = false
		s.arn = RoleArnFor(o.Cluster, o.Path, o.Name)
		details.Role = RoleRef{Name: o.Name, Arn: s.arn, Source: "created"}
		changes := []string{fmt.Sprintf("create role %s (path %s) trusting %s for %s", o.Name, o.Path, trust.ServicePrincipal, s.scopeText())}
		for _, p := range o.PolicyArns {
			changes = append(changes, "attach policy "+p)
		}
		if o.InlineName != "" {
			changes = append(changes, "put inline policy "+o.InlineName)
		}
		s.attach, s.putInline = o.PolicyArns, o.InlineName != ""
		return step.Plan{Summary: fmt.Sprintf("role %s does not exist", o.Name), Changes: changes, Warnings: warnings, Details: details}, nil
	case err != nil:
		return step.Plan{}, awsapi.Explain(err, "get role", o.Name)
	}
	s.exists = true
	role := out.Role
	s.arn = aws.ToString(role.Arn)
	details.Role = RoleRef{Name: o.Name, Arn: s.arn, Source: "existing"}
	cur, err := trust.Decode(aws.ToString(role.AssumeRolePolicyDocument))
	if err != nil {
		return step.Plan{}, fmt.Errorf("trust policy of role %s: %w", o.Name, err)
	}
	if !trust.Equivalent(cur, s.want) {
		curPretty := prettyJSON(cur)
		if doc, perr := trust.Parse(cur); perr == nil {
			curPretty = doc.String()
		}
		details.TrustDiff = strings.Replace(trust.Diff(curPretty, s.want), "+++ fixed", "+++ wanted", 1)
		return step.Plan{Details: details, Warnings: warnings}, fail.Verifyf(
			fmt.Sprintf("to add the Pod Identity trust to the existing role and keep its other statements: podid verify-role --cluster %s --ns %s --sa %s --role %s --fix; or pick another --name",
				o.Cluster.Name, o.Namespace, o.ServiceAccount, o.Name),
			"role %s already exists with another trust policy; podid does not overwrite it:\n%s", o.Name, details.TrustDiff)
	}
	if rp := aws.ToString(role.Path); rp != "" && rp != o.Path {
		warnings = append(warnings, fmt.Sprintf("role %s exists at path %s, not %s", o.Name, rp, o.Path))
	}
	if b := role.PermissionsBoundary; o.PermissionsBoundary != "" && (b == nil || aws.ToString(b.PermissionsBoundaryArn) != o.PermissionsBoundary) {
		warnings = append(warnings, fmt.Sprintf("role %s exists without the permissions boundary %s; podid does not change an existing role's boundary (aws iam put-role-permissions-boundary)", o.Name, o.PermissionsBoundary))
	}

	attached, err := s.attachedPolicies(ctx)
	if err != nil {
		return step.Plan{}, err
	}
	var changes []string
	s.attach = nil
	for _, p := range o.PolicyArns {
		if !slices.Contains(attached, p) {
			s.attach = append(s.attach, p)
			changes = append(changes, "attach policy "+p)
		}
	}
	s.putInline = false
	if o.InlineName != "" {
		got, err := s.api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(o.Name), PolicyName: aws.String(o.InlineName)})
		switch {
		case errors.As(err, &nse):
			s.putInline = true
			changes = append(changes, "put inline policy "+o.InlineName)
		case err != nil:
			return step.Plan{}, awsapi.Explain(err, "get inline policy", o.InlineName+" of role "+o.Name)
		default:
			doc, derr := trust.Decode(aws.ToString(got.PolicyDocument))
			if derr != nil || !trust.Equivalent(doc, o.InlineDocument) {
				s.putInline = true
				changes = append(changes, "update inline policy "+o.InlineName)
			}
		}
	}
	have := map[string]string{}
	for _, t := range role.Tags {
		have[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	s.tags = map[string]string{}
	for k, v := range o.Tags {
		if cur, ok := have[k]; !ok || cur != v {
			s.tags[k] = v
		}
	}
	if len(s.tags) > 0 {
		changes = append(changes, "tag role with "+joinTags(s.tags))
	}
	details.AttachedPolicies = attached
	if len(changes) == 0 {
		return step.Plan{Satisfied: true, Summary: fmt.Sprintf("role %s exists with the same trust (%s) and every policy asked for", o.Name, s.scopeText()), Warnings: warnings, Details: details}, nil
	}
	return step.Plan{Summary: fmt.Sprintf("role %s exists with the same trust; %s missing", o.Name, changesCount(len(changes))), Changes: changes, Warnings: warnings, Details: details}, nil
}

func (s *RoleCreate) scopeText() string {
	if s.opts.Unscoped {
		return "any cluster, namespace and service account in the account"
	}
	return fmt.Sprintf("cluster %s, %s/%s", s.opts.Cluster.Name, s.opts.Namespace, s.opts.ServiceAccount)
}

func joinTags(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ",")
}

func (s *RoleCreate) attachedPolicies(ctx context.Context) ([]string, error) {
	var out []string
	p := iam.NewListAttachedRolePoliciesPaginator(s.api, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(s.opts.Name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, awsapi.Explain(err, "list attached policies", "of role "+s.opts.Name)
		}
		for _, a := range page.AttachedPolicies {
			out = append(out, aws.ToString(a.PolicyArn))
		}
	}
	return out, nil
}

// Apply creates the role (or not) and attaches, puts and tags what is
// missing. When a call after CreateRole fails, the role this run created is
// taken apart again (inline policy, attachments, role), so a failed run
// leaves IAM as it found it; if that undo fails too, the error says exactly
// what stands and how to remove it.
func (s *RoleCreate) Apply(ctx context.Context, p step.Plan, progress step.Progress) (step.Result, error) {
	o := s.opts
	var changes []string
	var attached []string
	var putInline bool
	created := false
	failed := func(err error) (step.Result, error) {
		if !created {
			if len(changes) > 0 {
				err = fmt.Errorf("%w (this run already %s on existing role %s; run podid role create again to finish)", err, strings.Join(changes, ", "), o.Name)
			}
			return step.Result{Changes: changes}, err
		}
		return step.Result{Changes: changes}, s.undo(ctx, err, attached, putInline)
	}
	if !s.exists {
		progress.Waiting("create role " + o.Name)
		in := &iam.CreateRoleInput{RoleName: aws.String(o.Name), Path: aws.String(o.Path), AssumeRolePolicyDocument: aws.String(s.want)}
		if o.Description != "" {
			in.Description = aws.String(o.Description)
		}
		if o.PermissionsBoundary != "" {
			in.PermissionsBoundary = aws.String(o.PermissionsBoundary)
		}
		for _, k := range sortedTagKeys(o.Tags) {
			in.Tags = append(in.Tags, iamtypes.Tag{Key: aws.String(k), Value: aws.String(o.Tags[k])})
		}
		out, err := s.api.CreateRole(ctx, in)
		if err != nil {
			return step.Result{}, fail.WithHint(awsapi.Explain(err, "create role", o.Name), "run podid role create again: an existing role with the same trust is reused")
		}
		created = true
		s.arn = aws.ToString(out.Role.Arn)
		changes = append(changes, "created role "+s.arn)
	}
	for _, arn := range s.attach {
		progress.Waiting("attach " + arn)
		if _, err := s.api.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(o.Name), PolicyArn: aws.String(arn)}); err != nil {
			return failed(awsapi.Explain(err, "attach policy", arn+" to role "+o.Name))
		}
		attached = append(attached, arn)
		changes = append(changes, "attached policy "+arn)
	}
	if s.putInline {
		if _, err := s.api.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(o.Name), PolicyName: aws.String(o.InlineName), PolicyDocument: aws.String(o.InlineDocument)}); err != nil {
			return failed(awsapi.Explain(err, "put inline policy", o.InlineName+" of role "+o.Name))
		}
		putInline = true
		changes = append(changes, "put inline policy "+o.InlineName)
	}
	if s.exists && len(s.tags) > 0 {
		in := &iam.TagRoleInput{RoleName: aws.String(o.Name)}
		for _, k := range sortedTagKeys(s.tags) {
			in.Tags = append(in.Tags, iamtypes.Tag{Key: aws.String(k), Value: aws.String(s.tags[k])})
		}
		if _, err := s.api.TagRole(ctx, in); err != nil {
			return failed(awsapi.Explain(err, "tag role", o.Name))
		}
		changes = append(changes, "tagged role with "+joinTags(s.tags))
	}
	return step.Result{
		Summary: fmt.Sprintf("role %s trusts %s for %s", s.arn, trust.ServicePrincipal, s.scopeText()),
		Changes: changes,
		Details: &RoleCreateDetails{Role: RoleRef{Name: o.Name, Arn: s.arn, Source: map[bool]string{true: "existing", false: "created"}[s.exists]}, Trust: s.want, Scoped: !o.Unscoped},
	}, nil
}

// undoTimeout bounds the undo of a half-made role; it runs even when the
// run's own context has ended (--timeout, Ctrl-C).
const undoTimeout = 30 * time.Second

// undo takes apart the role this run created after cause made the run
// fail, and returns the error to report: cause, plus either "deleted again"
// or exactly what still stands with the commands that remove it.
func (s *RoleCreate) undo(ctx context.Context, cause error, attached []string, putInline bool) error {
	o := s.opts
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	var undoErr error
	if putInline {
		if _, err := s.api.DeleteRolePolicy(uctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(o.Name), PolicyName: aws.String(o.InlineName)}); err != nil {
			undoErr = fmt.Errorf("delete inline policy %s: %w", o.InlineName, err)
		} else {
			putInline = false
		}
	}
	var left []string
	for _, arn := range attached {
		if undoErr != nil {
			left = append(left, arn)
			continue
		}
		if _, err := s.api.DetachRolePolicy(uctx, &iam.DetachRolePolicyInput{RoleName: aws.String(o.Name), PolicyArn: aws.String(arn)}); err != nil {
			undoErr = fmt.Errorf("detach policy %s: %w", arn, err)
			left = append(left, arn)
		}
	}
	if undoErr == nil {
		if _, err := s.api.DeleteRole(uctx, &iam.DeleteRoleInput{RoleName: aws.String(o.Name)}); err != nil {
			undoErr = fmt.Errorf("delete role: %w", err)
		}
	}
	if undoErr == nil {
		return fmt.Errorf("%w; podid deleted the role %s it had created, so nothing was changed", cause, o.Name)
	}
	stands := []string{fmt.Sprintf("role %s (trust for %s)", s.arn, s.scopeText())}
	var cmds []string
	if putInline {
		stands = append(stands, "inline policy "+o.InlineName)
		cmds = append(cmds, fmt.Sprintf("aws iam delete-role-policy --role-name %s --policy-name %s", o.Name, o.InlineName))
	}
	for _, arn := range left {
		stands = append(stands, "attached policy "+arn)
		cmds = append(cmds, fmt.Sprintf("aws iam detach-role-policy --role-name %s --policy-arn %s", o.Name, arn))
	}
	cmds = append(cmds, "aws iam delete-role --role-name "+o.Name)
	err := fmt.Errorf("%w; podid could not delete the role it had created (%v): what stands now: %s", cause, undoErr, strings.Join(stands, ", "))
	return fail.WithHint(err, "run podid role create again to finish it (the role is reused), or remove it: "+strings.Join(cmds, "; "))
}

// Arn is the role's ARN (known after Check).
func (s *RoleCreate) Arn() string { return s.arn }

func sortedTagKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// changesCount is "1 change", "2 changes".
func changesCount(n int) string {
	if n == 1 {
		return "1 change"
	}
	return fmt.Sprintf("%d changes", n)
}
