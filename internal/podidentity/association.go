package podidentity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/trust"
)

// AssociationReadAPI is what finding an association needs from EKS.
type AssociationReadAPI interface {
	ListPodIdentityAssociations(ctx context.Context, in *eks.ListPodIdentityAssociationsInput, optFns ...func(*eks.Options)) (*eks.ListPodIdentityAssociationsOutput, error)
	DescribePodIdentityAssociation(ctx context.Context, in *eks.DescribePodIdentityAssociationInput, optFns ...func(*eks.Options)) (*eks.DescribePodIdentityAssociationOutput, error)
}

// AssociationAPI is what the associate step needs from EKS.
type AssociationAPI interface {
	AssociationReadAPI
	CreatePodIdentityAssociation(ctx context.Context, in *eks.CreatePodIdentityAssociationInput, optFns ...func(*eks.Options)) (*eks.CreatePodIdentityAssociationOutput, error)
	UpdatePodIdentityAssociation(ctx context.Context, in *eks.UpdatePodIdentityAssociationInput, optFns ...func(*eks.Options)) (*eks.UpdatePodIdentityAssociationOutput, error)
}

// AssociationInfo is a pod identity association as Describe returns it.
type AssociationInfo struct {
	Cluster            string            `json:"cluster"`
	Namespace          string            `json:"namespace"`
	ServiceAccount     string            `json:"serviceAccount"`
	ID                 string            `json:"associationId"`
	Arn                string            `json:"associationArn"`
	RoleArn            string            `json:"roleArn"`
	TargetRoleArn      string            `json:"targetRoleArn,omitempty"`
	ExternalID         string            `json:"externalId,omitempty"`
	DisableSessionTags bool              `json:"disableSessionTags"`
	Policy             string            `json:"policy,omitempty"`
	OwnerArn           string            `json:"ownerArn,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	CreatedAt          time.Time         `json:"createdAt"`
	ModifiedAt         time.Time         `json:"modifiedAt"`
}

func associationInfo(a *ekstypes.PodIdentityAssociation) AssociationInfo {
	return AssociationInfo{
		Cluster:            aws.ToString(a.ClusterName),
		Namespace:          aws.ToString(a.Namespace),
		ServiceAccount:     aws.ToString(a.ServiceAccount),
		ID:                 aws.ToString(a.AssociationId),
		Arn:                aws.ToString(a.AssociationArn),
		RoleArn:            aws.ToString(a.RoleArn),
		TargetRoleArn:      aws.ToString(a.TargetRoleArn),
		ExternalID:         aws.ToString(a.ExternalId),
		DisableSessionTags: aws.ToBool(a.DisableSessionTags),
		Policy:             aws.ToString(a.Policy),
		OwnerArn:           aws.ToString(a.OwnerArn),
		Tags:               a.Tags,
		CreatedAt:          aws.ToTime(a.CreatedAt),
		ModifiedAt:         aws.ToTime(a.ModifiedAt),
	}
}

// FindAssociation returns the association of (cluster, namespace, service
// account), or nil. List summaries lack the role, so each match is described.
func FindAssociation(ctx context.Context, api AssociationReadAPI, cluster, namespace, serviceAccount string) (*AssociationInfo, error) {
	p := eks.NewListPodIdentityAssociationsPaginator(api, &eks.ListPodIdentityAssociationsInput{
		ClusterName: aws.String(cluster), Namespace: aws.String(namespace), ServiceAccount: aws.String(serviceAccount)})
	var ids []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, awsapi.Explain(err, "list pod identity associations", fmt.Sprintf("of %s/%s on cluster %s", namespace, serviceAccount, cluster))
		}
		for _, s := range page.Associations {
			if aws.ToString(s.Namespace) == namespace && aws.ToString(s.ServiceAccount) == serviceAccount {
				ids = append(ids, aws.ToString(s.AssociationId))
			}
		}
	}
	for _, id := range ids {
		out, err := api.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String(cluster), AssociationId: aws.String(id)})
		var nf *ekstypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			continue // deleted between List and Describe
		}
		if err != nil {
			return nil, awsapi.Explain(err, "describe pod identity association", fmt.Sprintf("%s on cluster %s", id, cluster))
		}
		info := associationInfo(out.Association)
		return &info, nil
	}
	return nil, nil
}

// AssociationOptions are the wanted association.
type AssociationOptions struct {
	Cluster, Namespace, ServiceAccount string
	RoleArn                            string
	AssociationSettings
	// Update lets the step change an existing association that differs
	// (--update); otherwise a difference is an error.
	Update bool
	// IAMCheck, when set, reads the role from IAM itself when EKS rejects
	// it, so that podid waits for IAM propagation only when IAM already
	// shows what EKS does not (see propagation.go); nil = retry only "Role
	// provided in the request does not exist".
	IAMCheck func(context.Context) (RoleInIAM, error)
	// Backoff paces the retries of a create or update that EKS answers
	// with an IAM propagation error, or with 409 for an association that
	// is still being deleted; they last until the context ends (--timeout).
	// Zero = DefaultBackoff.
	Backoff Backoff
}

// Association is the associate step.
type Association struct {
	api  AssociationAPI
	opts AssociationOptions
}

// NewAssociation validates opts and returns the associate step.
func NewAssociation(api AssociationAPI, opts AssociationOptions) (*Association, error) {
	if opts.Policy != "" && !opts.DisableSessionTags {
		return nil, fail.Usagef("add --disable-session-tags (a session policy needs session tags disabled), or drop --policy",
			"--policy requires --disable-session-tags: EKS accepts a session policy only when session tags are disabled")
	}
	if opts.Policy != "" && !json.Valid([]byte(opts.Policy)) {
		return nil, fail.Usagef("pass the policy as JSON, e.g. --policy \"$(cat policy.json)\"", "--policy is not valid JSON")
	}
	if opts.RoleArn == "" {
		return nil, fail.Usagef("pass --role", "associate %s/%s: no role given", opts.Namespace, opts.ServiceAccount)
	}
	if opts.Backoff.Initial <= 0 {
		opts.Backoff = DefaultBackoff()
	}
	return &Association{api: api, opts: opts}, nil
}

// Name implements step.Step.
func (s *Association) Name() string { return "associate" }

func (s *Association) subject() string {
	return fmt.Sprintf("%s/%s on cluster %s", s.opts.Namespace, s.opts.ServiceAccount, s.opts.Cluster)
}

// samePolicy compares two session policies by meaning ("" is none).
func samePolicy(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	return trust.Equivalent(a, b)
}

func compactJSON(s string) string {
	var b bytes.Buffer
	if s == "" || json.Compact(&b, []byte(s)) != nil {
		return s
	}
	return b.String()
}

// change is one field that differs between the wanted and the current association.
type change struct{ field, from, to string }

func (s *Association) diff(cur *AssociationInfo) []change {
	var out []change
	show := func(v string) string {
		if v == "" {
			return "(none)"
		}
		return v
	}
	if cur.RoleArn != s.opts.RoleArn {
		out = append(out, change{"role", cur.RoleArn, s.opts.RoleArn})
	}
	if cur.TargetRoleArn != s.opts.TargetRoleArn {
		out = append(out, change{"target role", show(cur.TargetRoleArn), show(s.opts.TargetRoleArn)})
	}
	if cur.DisableSessionTags != s.opts.DisableSessionTags {
		out = append(out, change{"session tags disabled", fmt.Sprint(cur.DisableSessionTags), fmt.Sprint(s.opts.DisableSessionTags)})
	}
	if !samePolicy(cur.Policy, s.opts.Policy) {
		out = append(out, change{"session policy", show(compactJSON(cur.Policy)), show(compactJSON(s.opts.Policy))})
	}
	return out
}

// Check implements step.Step.
func (s *Association) Check(ctx context.Context) (step.Plan, error) {
	cur, err := FindAssociation(ctx, s.api, s.opts.Cluster, s.opts.Namespace, s.opts.ServiceAccount)
	if err != nil {
		return step.Plan{}, err
	}
	return s.plan(cur)
}

// plan decides what to do given the current association (nil = none).
func (s *Association) plan(cur *AssociationInfo) (step.Plan, error) {
	details := &AssociationDetails{Cluster: s.opts.Cluster, Namespace: s.opts.Namespace, ServiceAccount: s.opts.ServiceAccount, RoleArn: s.opts.RoleArn}
	if cur == nil {
		details.Action = ActionCreate
		// One token per intended creation: applying this plan again (a
		// retry) reuses it; another plan gets another token.
		details.ClientRequestToken = newRequestToken()
		line := fmt.Sprintf("create pod identity association %s/%s → %s", s.opts.Namespace, s.opts.ServiceAccount, s.opts.RoleArn)
		if s.opts.TargetRoleArn != "" {
			line += " → target " + s.opts.TargetRoleArn
		}
		if s.opts.DisableSessionTags {
			line += " (session tags disabled)"
		}
		return step.Plan{Summary: fmt.Sprintf("no pod identity association for %s", s.subject()), Changes: []string{line}, Details: details}, nil
	}
	details.Association, details.AssociationID = cur, cur.ID
	changes := s.diff(cur)
	if len(changes) == 0 {
		return step.Plan{Satisfied: true, Summary: fmt.Sprintf("association %s already maps %s/%s to %s", cur.ID, cur.Namespace, cur.ServiceAccount, cur.RoleArn), Details: details}, nil
	}
	if cur.OwnerArn != "" {
		return step.Plan{}, fail.Errorf(fmt.Sprintf("change it through its add-on: aws eks update-addon --cluster-name %s --addon-name <add-on> --pod-identity-associations serviceAccount=%s,roleArn=%s", s.opts.Cluster, s.opts.ServiceAccount, s.opts.RoleArn),
			"association %s for %s is owned by %s; podid does not change add-on-owned associations (%s)", cur.ID, s.subject(), cur.OwnerArn, describeChanges(changes))
	}
	if !s.opts.Update {
		return step.Plan{}, fail.Errorf(fmt.Sprintf("pass --update to switch it to %s, or --role %s to keep the current role", s.opts.RoleArn, cur.RoleArn),
			"association %s for %s differs from what was asked: %s", cur.ID, s.subject(), describeChanges(changes))
	}
	details.Action = ActionUpdate
	var lines []string
	for _, c := range changes {
		lines = append(lines, fmt.Sprintf("update association %s: %s %s → %s", cur.ID, c.field, c.from, c.to))
	}
	return step.Plan{Summary: fmt.Sprintf("association %s for %s/%s differs", cur.ID, cur.Namespace, cur.ServiceAccount), Changes: lines, Details: details}, nil
}

func describeChanges(cs []change) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s is %s, wanted %s", c.field, c.from, c.to))
	}
	return strings.Join(parts, "; ")
}

// Apply implements step.Step.
func (s *Association) Apply(ctx context.Context, p step.Plan, progress step.Progress) (step.Result, error) {
	d, _ := p.Details.(*AssociationDetails)
	switch {
	case d != nil && d.Action == ActionUpdate && d.Association != nil:
		return s.update(ctx, *d.Association, progress)
	case d != nil && d.Action == ActionUpdate:
		return step.Result{}, fmt.Errorf("update pod identity association for %s: the plan has no association; run the check first", s.subject())
	default:
		token := ""
		if d != nil {
			token = d.ClientRequestToken
		}
		if token == "" {
			token = newRequestToken()
		}
		return s.create(ctx, token, progress)
	}
}

// resultFor is the step's result for association a (as written or found).
func (s *Association) resultFor(a AssociationInfo, action, summary string) step.Result {
	return step.Result{Summary: summary, Details: &AssociationDetails{
		Cluster: s.opts.Cluster, Namespace: s.opts.Namespace, ServiceAccount: s.opts.ServiceAccount, RoleArn: s.opts.RoleArn,
		Action: action, AssociationID: a.ID, Association: &a,
	}}
}

func (s *Association) create(ctx context.Context, token string, progress step.Progress) (step.Result, error) {
	in := &eks.CreatePodIdentityAssociationInput{
		ClusterName:        aws.String(s.opts.Cluster),
		Namespace:          aws.String(s.opts.Namespace),
		ServiceAccount:     aws.String(s.opts.ServiceAccount),
		RoleArn:            aws.String(s.opts.RoleArn),
		ClientRequestToken: aws.String(token),
		Tags:               s.opts.Tags,
	}
	if s.opts.TargetRoleArn != "" {
		in.TargetRoleArn = aws.String(s.opts.TargetRoleArn)
	}
	if s.opts.DisableSessionTags {
		in.DisableSessionTags = aws.Bool(true)
	}
	if s.opts.Policy != "" {
		in.Policy = aws.String(s.opts.Policy)
	}
	r := newRetrier(ctx, s.opts.Backoff, progress)
	for {
		out, err := s.api.CreatePodIdentityAssociation(ctx, in)
		if err == nil {
			a := associationInfo(out.Association)
			res := s.resultFor(a, ActionCreate, fmt.Sprintf("association %s maps %s/%s to %s", a.ID, a.Namespace, a.ServiceAccount, a.RoleArn))
			res.Changes = []string{fmt.Sprintf("created pod identity association %s", a.ID)}
			return res, nil
		}
		if ierr := r.interrupted(ctx); ierr != nil {
			return step.Result{}, fmt.Errorf("create pod identity association for %s: %w", s.subject(), ierr)
		}
		var inUse *ekstypes.ResourceInUseException
		if errors.As(err, &inUse) {
			cur, ferr := FindAssociation(ctx, s.api, s.opts.Cluster, s.opts.Namespace, s.opts.ServiceAccount)
			if ferr != nil {
				return step.Result{}, ferr
			}
			if cur != nil {
				return s.acceptConcurrent(cur)
			}
			// EKS holds the key of an association that reads no longer
			// show: one deleted a moment ago. It is not a match; wait.
			id := inUseID(err)
			if id == "" {
				id = "(no ID given)"
			}
			what := fmt.Sprintf("EKS to finish deleting association %s of %s/%s (EKS answers %q)", id, s.opts.Namespace, s.opts.ServiceAccount, aws.ToString(inUse.Message))
			if werr := r.wait(ctx, what, dyingHint); werr != nil {
				return step.Result{}, fmt.Errorf("create pod identity association for %s: %w", s.subject(), werr)
			}
			continue
		}
		what, perr := s.retryPropagation(ctx, r, err)
		if perr != nil {
			return step.Result{}, perr
		}
		if what == "" {
			return step.Result{}, s.explainWrite(err, "create pod identity association")
		}
		if werr := r.wait(ctx, what, propagationHint); werr != nil {
			return step.Result{}, fmt.Errorf("create pod identity association for %s: %w", s.subject(), werr)
		}
	}
}

// acceptConcurrent handles a 409 on create for an association that reads
// show: someone created it meanwhile. It is fine if it is what we want.
func (s *Association) acceptConcurrent(cur *AssociationInfo) (step.Result, error) {
	if changes := s.diff(cur); len(changes) > 0 {
		return step.Result{}, fail.Errorf(fmt.Sprintf("pass --update to switch it to %s, or --role %s to keep it", s.opts.RoleArn, cur.RoleArn),
			"association %s for %s was created concurrently and differs: %s", cur.ID, s.subject(), describeChanges(changes))
	}
	res := s.resultFor(*cur, "", fmt.Sprintf("association %s maps %s/%s to %s (created concurrently)", cur.ID, cur.Namespace, cur.ServiceAccount, cur.RoleArn))
	res.Warnings = []string{fmt.Sprintf("association %s was created concurrently by someone else; it matches", cur.ID)}
	return res, nil
}

func (s *Association) update(ctx context.Context, cur AssociationInfo, progress step.Progress) (step.Result, error) {
	if cur.ID == "" {
		return step.Result{}, fmt.Errorf("update pod identity association for %s: the plan has no association; run the check first", s.subject())
	}
	in := &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String(s.opts.Cluster), AssociationId: aws.String(cur.ID)}
	if cur.RoleArn != s.opts.RoleArn {
		in.RoleArn = aws.String(s.opts.RoleArn)
	}
	if cur.TargetRoleArn != s.opts.TargetRoleArn {
		in.TargetRoleArn = aws.String(s.opts.TargetRoleArn) // "" clears it; nil would keep it
	}
	if cur.DisableSessionTags != s.opts.DisableSessionTags {
		in.DisableSessionTags = aws.Bool(s.opts.DisableSessionTags)
	}
	if !samePolicy(cur.Policy, s.opts.Policy) {
		in.Policy = aws.String(s.opts.Policy)
	}
	r := newRetrier(ctx, s.opts.Backoff, progress)
	for {
		out, err := s.api.UpdatePodIdentityAssociation(ctx, in)
		if err == nil {
			a := associationInfo(out.Association)
			res := s.resultFor(a, ActionUpdate, fmt.Sprintf("association %s maps %s/%s to %s", a.ID, a.Namespace, a.ServiceAccount, a.RoleArn))
			for _, c := range s.diff(&cur) {
				res.Changes = append(res.Changes, fmt.Sprintf("updated association %s: %s %s → %s", a.ID, c.field, c.from, c.to))
			}
			return res, nil
		}
		if ierr := r.interrupted(ctx); ierr != nil {
			return step.Result{}, fmt.Errorf("update pod identity association %s for %s: %w", cur.ID, s.subject(), ierr)
		}
		what, perr := s.retryPropagation(ctx, r, err)
		if perr != nil {
			return step.Result{}, perr
		}
		if what == "" {
			return step.Result{}, s.explainWrite(err, "update pod identity association")
		}
		if werr := r.wait(ctx, what, propagationHint); werr != nil {
			return step.Result{}, fmt.Errorf("update pod identity association %s for %s: %w", cur.ID, s.subject(), werr)
		}
	}
}

func (s *Association) explainWrite(err error, op string) error {
	var ip *ekstypes.InvalidParameterException
	if errors.As(err, &ip) {
		msg := aws.ToString(ip.Message)
		switch {
		case strings.Contains(msg, "Role provided in the request does not exist"):
			return fail.Errorf(fmt.Sprintf("create the role (podid role create …) or pass an existing one with --role; aws iam get-role --role-name %s", RoleNameOf(s.opts.RoleArn)),
				"%s for %s: EKS says role %s does not exist, and IAM does not show it either", op, s.subject(), s.opts.RoleArn)
		case strings.Contains(msg, "Trust policy"):
			return fail.Errorf(fmt.Sprintf("run podid verify-role --role %s --fix", s.opts.RoleArn),
				"%s for %s: EKS rejects the trust policy of role %s: it must let pods.eks.amazonaws.com call sts:AssumeRole and sts:TagSession", op, s.subject(), s.opts.RoleArn)
		}
		return fail.Errorf("check --role, --target-role-arn, --policy and --disable-session-tags", "%s for %s: %s", op, s.subject(), msg)
	}
	return awsapi.Explain(err, op, "for "+s.subject())
}

// RoleNameOf is the role name in a role ARN (the part after the last '/').
func RoleNameOf(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}
