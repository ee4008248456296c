package podidentity

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/step"
)

// DisassociationAPI is what the disassociate step needs from EKS.
type DisassociationAPI interface {
	AssociationReadAPI
	DeletePodIdentityAssociation(ctx context.Context, in *eks.DeletePodIdentityAssociationInput, optFns ...func(*eks.Options)) (*eks.DeletePodIdentityAssociationOutput, error)
}

// CredentialsNote says what deleting an association does not undo.
const CredentialsNote = "credentials already issued stay valid until they expire: deleting the association stops new credentials, not the ones pods hold"

// Disassociation is the step that deletes the pod identity association of
// (cluster, namespace, service account): the reverse of Association.
type Disassociation struct {
	api                                DisassociationAPI
	cluster, namespace, serviceAccount string

	found *AssociationInfo // from Check
}

// NewDisassociation returns the disassociate step.
func NewDisassociation(api DisassociationAPI, cluster, namespace, serviceAccount string) *Disassociation {
	return &Disassociation{api: api, cluster: cluster, namespace: namespace, serviceAccount: serviceAccount}
}

// Name implements step.Step.
func (s *Disassociation) Name() string { return "disassociate" }

// AddonOwner returns the add-on name in an association's ownerArn
// (arn:aws:eks:<region>:<account>:addon/<cluster>/<addon>/<id>), or "" when
// the ARN does not name an add-on.
func AddonOwner(ownerArn string) string {
	parts := strings.SplitN(ownerArn, ":", 6)
	if len(parts) != 6 {
		return ""
	}
	res, ok := strings.CutPrefix(parts[5], "addon/")
	if !ok {
		return ""
	}
	segs := strings.Split(res, "/")
	if len(segs) < 2 {
		return ""
	}
	return segs[1]
}

// DecideDisassociation decides what disable does with the association found
// for ns/sa on cluster: nothing when there is none (satisfied), refuse when
// an add-on owns it (EKS manages it through the add-on and would recreate or
// reject the change), delete otherwise.
func DecideDisassociation(a *AssociationInfo, cluster, ns, sa string) (del bool, err error) {
	if a == nil {
		return false, nil
	}
	if a.OwnerArn != "" {
		addon := AddonOwner(a.OwnerArn)
		if addon == "" {
			addon = "ADDON"
		}
		return false, fail.Verifyf(
			fmt.Sprintf("change it through the add-on: aws eks update-addon --cluster-name %s --addon-name %s --pod-identity-associations '[…]' (leave out %s/%s), or delete the add-on",
				cluster, addon, ns, sa),
			"pod identity association %s for %s/%s on cluster %s is owned by %s (add-on %s); podid does not delete an add-on's association",
			a.ID, ns, sa, cluster, a.OwnerArn, addon)
	}
	return true, nil
}

// Check finds the association and decides.
func (s *Disassociation) Check(ctx context.Context) (step.Plan, error) {
	a, err := FindAssociation(ctx, s.api, s.cluster, s.namespace, s.serviceAccount)
	if err != nil {
		return step.Plan{}, err
	}
	del, err := DecideDisassociation(a, s.cluster, s.namespace, s.serviceAccount)
	if err != nil {
		return step.Plan{Details: &DisassociationDetails{Association: a}}, err
	}
	if !del {
		return step.Plan{Satisfied: true,
			Summary: fmt.Sprintf("no pod identity association for %s/%s on cluster %s", s.namespace, s.serviceAccount, s.cluster),
			Details: &DisassociationDetails{}}, nil
	}
	s.found = a
	return step.Plan{
		Summary: fmt.Sprintf("association %s maps %s/%s to %s", a.ID, a.Namespace, a.ServiceAccount, a.RoleArn),
		Changes: []string{fmt.Sprintf("delete pod identity association %s (%s/%s → %s)", a.ID, a.Namespace, a.ServiceAccount, a.RoleArn)},
		Details: &DisassociationDetails{Association: a, Action: ActionDelete},
	}, nil
}

// Apply deletes the association; one already gone counts as deleted.
func (s *Disassociation) Apply(ctx context.Context, _ step.Plan, progress step.Progress) (step.Result, error) {
	a := s.found
	progress.Waiting("delete pod identity association " + a.ID)
	_, err := s.api.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String(s.cluster), AssociationId: aws.String(a.ID)})
	var nf *ekstypes.ResourceNotFoundException
	if err != nil && !errors.As(err, &nf) {
		return step.Result{}, awsapi.Explain(err, "delete pod identity association", fmt.Sprintf("%s (%s/%s) on cluster %s", a.ID, s.namespace, s.serviceAccount, s.cluster))
	}
	return step.Result{
		Summary: fmt.Sprintf("deleted association %s (%s/%s → %s)", a.ID, a.Namespace, a.ServiceAccount, a.RoleArn),
		Changes: []string{"deleted pod identity association " + a.ID},
		Details: &DisassociationDetails{Association: a, Action: ActionDelete, Deleted: a, Note: CredentialsNote},
	}, nil
}
