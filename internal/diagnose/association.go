package diagnose

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/trust"
)

// RoleInfo is the association's role: its trust decision and permissions.
type RoleInfo struct {
	Name     string                   `json:"name"`
	Arn      string                   `json:"arn"`
	Exists   bool                     `json:"exists"`
	Trust    *trust.Report            `json:"trust,omitempty"`
	Policies []podidentity.PolicyInfo `json:"policies,omitempty"`
}

// AssociationVerdict is one association of the cluster, checked in one line.
type AssociationVerdict struct {
	ID             string   `json:"associationId"`
	Namespace      string   `json:"namespace"`
	ServiceAccount string   `json:"serviceAccount"`
	RoleArn        string   `json:"roleArn"`
	RoleExists     bool     `json:"roleExists"`
	TrustOK        bool     `json:"trustOk"`
	Severity       Severity `json:"severity"`
	Verdict        string   `json:"verdict"`
}

func (o Options) subject() string { return o.Namespace + "/" + o.ServiceAccount }

func (o Options) flags() string {
	return fmt.Sprintf("--cluster %s --ns %s --sa %s", o.Cluster.Name, o.Namespace, o.ServiceAccount)
}

func checkAssociation(ctx context.Context, r *Report, d Deps, o Options) (*podidentity.AssociationInfo, error) {
	a, err := podidentity.FindAssociation(ctx, d.EKS, o.Cluster.Name, o.Namespace, o.ServiceAccount)
	if err != nil {
		return nil, err
	}
	if a == nil {
		r.add(AreaAssociation, Error, fmt.Sprintf("podid enable %s (or podid associate %s --role ROLE)", o.flags(), o.flags()),
			"no pod identity association for %s on cluster %s: its pods get no Pod Identity credentials", o.subject(), o.Cluster.Name)
		return nil, nil
	}
	r.Association = a
	msg := fmt.Sprintf("association %s: %s → role %s", a.ID, o.subject(), podidentity.RoleNameOf(a.RoleArn))
	if a.TargetRoleArn != "" {
		msg += fmt.Sprintf(", then target role %s (role chaining)", a.TargetRoleArn)
	}
	if a.DisableSessionTags {
		msg += "; session tags disabled (trust conditions on aws:RequestTag/… never match)"
	} else {
		msg += "; session tags enabled"
	}
	r.add(AreaAssociation, OK, "", "%s", msg)
	return a, checkRole(ctx, r, d, o, a)
}

func checkRole(ctx context.Context, r *Report, d Deps, o Options, a *podidentity.AssociationInfo) error {
	name := podidentity.RoleNameOf(a.RoleArn)
	info := &RoleInfo{Name: name, Arn: a.RoleArn}
	r.Role = info
	if _, err := d.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)}); err != nil {
		var nse *iamtypes.NoSuchEntityException
		if errors.As(err, &nse) {
			r.add(AreaRole, Error, fmt.Sprintf("recreate role %s, or point the association at another role: podid associate %s --role ROLE --update", name, o.flags()),
				"role %s of association %s does not exist: the agent cannot assume it", name, a.ID)
			return nil
		}
		return awsapi.Explain(err, "get role", name)
	}
	info.Exists = true
	v, err := podidentity.NewVerifyRole(d.IAM, nil, podidentity.VerifyRoleOptions{
		Role:    podidentity.RoleRef{Name: name, Arn: a.RoleArn, Source: podidentity.RoleFromAssociation},
		Cluster: o.Cluster, Namespace: o.Namespace, ServiceAccount: o.ServiceAccount,
		TargetRoleArn: a.TargetRoleArn, DisableSessionTags: a.DisableSessionTags,
	})
	if err != nil {
		return err
	}
	p, err := v.Check(ctx)
	if rd, ok := p.Details.(*podidentity.RoleDetails); ok {
		info.Trust, info.Policies = &rd.Trust, rd.Policies
	}
	if err != nil {
		if fail.KindOf(err) != fail.KindVerification {
			return err
		}
		r.add(AreaRole, Error, fail.HintOf(err), "%v", err)
	} else {
		r.add(AreaRole, OK, "", "role %s trusts %s for %s on cluster %s", name, trust.ServicePrincipal, o.subject(), o.Cluster.Name)
	}
	for _, w := range p.Warnings {
		if noPolicies := podidentity.NoPermissionPolicies(name); strings.HasPrefix(w, noPolicies) {
			r.add(AreaRole, Warn, podidentity.NoPermissionPoliciesFix(name), "%s", noPolicies)
			continue
		}
		r.add(AreaRole, Warn, fmt.Sprintf("podid verify-role %s shows the trust policy and how to tighten it", o.flags()), "%s", w)
	}
	if len(info.Policies) > 0 {
		var parts []string
		for _, pi := range info.Policies {
			kind := "managed"
			if pi.Inline {
				kind = "inline"
			}
			parts = append(parts, fmt.Sprintf("%s (%s, %s)", pi.Name, kind, Count(len(pi.Statements), "statement", "statements")))
		}
		r.add(AreaRole, OK, "", "role %s permissions: %s", name, strings.Join(parts, ", "))
	}
	return nil
}

func checkAssociations(ctx context.Context, r *Report, d Deps, o Options) error {
	c := o.Cluster
	var ids []string
	p := eks.NewListPodIdentityAssociationsPaginator(d.EKS, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(c.Name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return awsapi.Explain(err, "list pod identity associations", "of cluster "+c.Name)
		}
		for _, s := range page.Associations {
			ids = append(ids, aws.ToString(s.AssociationId))
		}
	}
	if len(ids) == 0 {
		r.add(AreaAssociation, OK, "", "cluster %s has no pod identity associations (podid enable %s --ns NAMESPACE --sa SERVICE_ACCOUNT creates one)", c.Name, "--cluster "+c.Name)
		r.Associations = []AssociationVerdict{}
		return nil
	}
	roles := map[string]*iam.GetRoleOutput{} // by name; nil = does not exist
	for _, id := range ids {
		out, err := d.EKS.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String(c.Name), AssociationId: aws.String(id)})
		var nf *ekstypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			continue // deleted between List and Describe
		}
		if err != nil {
			return awsapi.Explain(err, "describe pod identity association", fmt.Sprintf("%s on cluster %s", id, c.Name))
		}
		a := out.Association
		v := AssociationVerdict{ID: id, Namespace: aws.ToString(a.Namespace), ServiceAccount: aws.ToString(a.ServiceAccount), RoleArn: aws.ToString(a.RoleArn)}
		name := podidentity.RoleNameOf(v.RoleArn)
		role, seen := roles[name]
		if !seen {
			role, err = d.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
			var nse *iamtypes.NoSuchEntityException
			if errors.As(err, &nse) {
				role, err = nil, nil
			}
			if err != nil {
				return awsapi.Explain(err, "get role", name)
			}
			roles[name] = role
		}
		sub := Options{Cluster: c, Namespace: v.Namespace, ServiceAccount: v.ServiceAccount}
		fix := ""
		if role == nil {
			v.Severity, v.Verdict = Error, fmt.Sprintf("role %s does not exist", name)
			fix = fmt.Sprintf("recreate role %s, or point the association at another role: podid associate %s --role ROLE --update", name, sub.flags())
		} else {
			v.RoleExists = true
			v.Severity, v.Verdict, v.TrustOK = trustVerdict(aws.ToString(role.Role.AssumeRolePolicyDocument), sub, aws.ToBool(a.DisableSessionTags))
			if !v.TrustOK {
				fix = fmt.Sprintf("podid verify-role %s --fix", sub.flags())
			}
		}
		r.Associations = append(r.Associations, v)
		r.add(AreaAssociation, v.Severity, fix, "%s → role %s (%s): %s", sub.subject(), name, id, v.Verdict)
	}
	sort.SliceStable(r.Associations, func(i, j int) bool {
		a, b := r.Associations[i], r.Associations[j]
		return a.Namespace+"/"+a.ServiceAccount < b.Namespace+"/"+b.ServiceAccount
	})
	return nil
}

// trustVerdict evaluates a role's trust document for the association o,
// with or without session tags as the association sends them.
func trustVerdict(doc string, o Options, noSessionTags bool) (Severity, string, bool) {
	d, err := trust.Parse(doc)
	if err != nil {
		return Error, fmt.Sprintf("trust policy does not parse: %v", err), false
	}
	c := o.Cluster
	rep := trust.Evaluate(d, trust.Request{Cluster: c.Name, Namespace: o.Namespace, ServiceAccount: o.ServiceAccount, Account: c.Account, ClusterArn: c.Arn, NoSessionTags: noSessionTags})
	switch {
	case rep.OK():
		return OK, "trust ok", true
	case rep.Admits():
		return Warn, "trust depends on conditions podid cannot evaluate", true
	}
	msgs := []string{}
	for _, p := range rep.Problems {
		msgs = append(msgs, p.Message)
	}
	if len(msgs) == 0 {
		msgs = append(msgs, fmt.Sprintf("sts:AssumeRole %s, sts:TagSession %s", rep.AssumeRole.Decision, rep.TagSession.Decision))
	}
	return Error, "trust does not admit it: " + strings.Join(msgs, "; "), false
}
