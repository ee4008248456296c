package flow

import (
	"github.com/podid/podid/internal/credcheck"
	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/trust"
	"github.com/podid/podid/internal/workload"
)

// Result is the result of a command made of steps for one target (enable,
// install-agent, verify-role, associate, restart, disable, role create):
// what its steps found and did, gathered from their typed details.
type Result struct {
	Addon       *podidentity.AddonDetails    `json:"addon,omitempty"`
	Role        *podidentity.RoleRef         `json:"role,omitempty"`
	Trust       *trust.Report                `json:"trust,omitempty"`
	TrustDiff   string                       `json:"trustDiff,omitempty"`
	Policies    []podidentity.PolicyInfo     `json:"policies,omitempty"`
	Expect      []podidentity.ExpectResult   `json:"expect,omitempty"`
	Association *podidentity.AssociationInfo `json:"association,omitempty"`
	Deleted     *podidentity.AssociationInfo `json:"deleted,omitempty"`
	Pods        []workload.PodReport         `json:"pods,omitempty"`
	// NotRestarted: the service account's pods the restart does not
	// replace, each with its owner and fix.
	NotRestarted []workload.NotRestarted `json:"notRestarted,omitempty"`
	// Credentials: the proof of the new pods' credentials.
	Credentials *credcheck.Details `json:"credentials,omitempty"`
}

// ResultOf gathers the result from the steps' reports.
func ResultOf(reps []step.Report) Result {
	var out Result
	for _, r := range reps {
		switch d := r.Details.(type) {
		case *podidentity.AddonDetails:
			out.Addon = d
		case *podidentity.RoleDetails:
			out.Role, out.Trust, out.TrustDiff, out.Policies, out.Expect = &d.Role, &d.Trust, d.TrustDiff, d.Policies, d.Expect
		case *podidentity.RoleCreateDetails:
			out.Role, out.TrustDiff = &d.Role, d.TrustDiff
		case *podidentity.AssociationDetails:
			out.Association = d.Association
		case *podidentity.DisassociationDetails:
			out.Association, out.Deleted = d.Association, d.Deleted
		case *credcheck.Details:
			out.Credentials = d
		case *workload.RestartDetails:
			out.Pods, out.NotRestarted = d.Pods, d.NotRestarted
		}
	}
	return out
}
