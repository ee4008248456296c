// Package diagnose holds podid's read-only checks: everything that decides
// whether EKS Pod Identity works for a service account (or for a whole
// cluster), as a list of findings, each saying what to do; and the
// post-condition `podid verify` checks (every running pod of a service
// account has the injection and a ready agent on its node). Nothing here
// writes to AWS or Kubernetes.
package diagnose

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"k8s.io/client-go/kubernetes"

	"github.com/podid/podid/internal/podidentity"
)

// Severity of a finding.
type Severity string

// Severities, from good to bad.
const (
	OK    Severity = "ok"
	Warn  Severity = "warn"
	Error Severity = "error"
)

// Areas of findings.
const (
	AreaCluster        = "cluster"
	AreaAddon          = "add-on"
	AreaAgent          = "agent"
	AreaNodeRole       = "node-role"
	AreaAssociation    = "association"
	AreaRole           = "role"
	AreaServiceAccount = "service-account"
	AreaWorkload       = "workload"
)

// Finding is one checked fact: what holds or what is wrong, and what to do.
type Finding struct {
	Area     string   `json:"area"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
}

// EKSAPI is what the checks read from EKS.
type EKSAPI interface {
	podidentity.AssociationReadAPI
	DescribeAddon(ctx context.Context, in *eks.DescribeAddonInput, optFns ...func(*eks.Options)) (*eks.DescribeAddonOutput, error)
	DescribeAddonVersions(ctx context.Context, in *eks.DescribeAddonVersionsInput, optFns ...func(*eks.Options)) (*eks.DescribeAddonVersionsOutput, error)
	ListNodegroups(ctx context.Context, in *eks.ListNodegroupsInput, optFns ...func(*eks.Options)) (*eks.ListNodegroupsOutput, error)
	DescribeNodegroup(ctx context.Context, in *eks.DescribeNodegroupInput, optFns ...func(*eks.Options)) (*eks.DescribeNodegroupOutput, error)
}

// IAMAPI is what the checks read from IAM (GetRole, policies and
// SimulatePrincipalPolicy).
type IAMAPI interface {
	podidentity.RoleAPI
}

var (
	_ EKSAPI = (*eks.Client)(nil)
	_ IAMAPI = (*iam.Client)(nil)
)

// Options select what Status checks. Without Namespace and ServiceAccount
// it checks the cluster: add-on, agent coverage, node roles and every
// association.
type Options struct {
	Cluster        podidentity.ClusterInfo
	Namespace      string
	ServiceAccount string
}

// Scoped reports whether a namespace and service account were given.
func (o Options) Scoped() bool { return o.Namespace != "" && o.ServiceAccount != "" }

// Report is the outcome of Status.
type Report struct {
	Findings     []Finding                    `json:"findings"`
	Addon        *AddonInfo                   `json:"addon,omitempty"`
	Agent        *AgentInfo                   `json:"agent,omitempty"`
	NodeRoles    []NodeRoleInfo               `json:"nodeRoles,omitempty"`
	Association  *podidentity.AssociationInfo `json:"association,omitempty"`
	Associations []AssociationVerdict         `json:"associations,omitempty"`
	Pods         []PodInfo                    `json:"pods,omitempty"`
	Role         *RoleInfo                    `json:"role,omitempty"`
}

// Errors returns the findings of severity error.
func (r Report) Errors() []Finding { return r.bySeverity(Error) }

// Warnings returns the findings of severity warn.
func (r Report) Warnings() []Finding { return r.bySeverity(Warn) }

func (r Report) bySeverity(s Severity) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Severity == s {
			out = append(out, f)
		}
	}
	return out
}

func (r *Report) add(area string, sev Severity, fix, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Area: area, Severity: sev, Message: fmt.Sprintf(format, args...), Fix: fix})
}

// Deps are the clients Status reads through.
type Deps struct {
	EKS  EKSAPI
	IAM  IAMAPI
	Kube kubernetes.Interface
}

// Status runs every check and returns the findings. An error means a check
// could not run at all (an API failed); problems found are findings, not
// errors.
func Status(ctx context.Context, d Deps, o Options) (Report, error) {
	var r Report
	checkCluster(&r, o)
	// On an Auto Mode cluster whose nodes are all Auto Mode nodes, nothing
	// of the agent add-on is needed; other nodes need it as anywhere.
	autoOnly, agent, err := checkAutoMode(ctx, &r, d, o)
	if err != nil {
		return r, err
	}
	if !autoOnly {
		if err := checkAddon(ctx, &r, d, o); err != nil {
			return r, err
		}
		if _, err := checkAgent(ctx, &r, d, o, agent); err != nil {
			return r, err
		}
		if err := checkNodeRoles(ctx, &r, d, o); err != nil {
			return r, err
		}
	}
	if !o.Scoped() {
		if err := checkAssociations(ctx, &r, d, o); err != nil {
			return r, err
		}
		return r, nil
	}
	assoc, err := checkAssociation(ctx, &r, d, o)
	if err != nil {
		return r, err
	}
	if err := checkServiceAccount(ctx, &r, d, o); err != nil {
		return r, err
	}
	if err := checkWorkloads(ctx, &r, d, o, assoc); err != nil {
		return r, err
	}
	return r, nil
}

// Count is "1 statement", "2 statements".
func Count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
