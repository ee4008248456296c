package flow

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/podid/podid/internal/podidentity"
)

// assocReads is the EKS association API of one run with its reads
// remembered until the next write: verify-role (finding the role of an
// existing association) and associate both look the association up during
// the check phase, and the second lookup is answered without calling EKS.
// Any create or update forgets everything, so a lookup after a write (the
// recheck after a 409) always asks EKS.
type assocReads struct {
	podidentity.AssociationAPI

	mu    sync.Mutex
	lists map[string]*eks.ListPodIdentityAssociationsOutput
	descs map[string]*eks.DescribePodIdentityAssociationOutput
}

func newAssocReads(api podidentity.AssociationAPI) *assocReads {
	r := &assocReads{AssociationAPI: api}
	r.forget()
	return r
}

func (r *assocReads) forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lists = map[string]*eks.ListPodIdentityAssociationsOutput{}
	r.descs = map[string]*eks.DescribePodIdentityAssociationOutput{}
}

func (r *assocReads) ListPodIdentityAssociations(ctx context.Context, in *eks.ListPodIdentityAssociationsInput, optFns ...func(*eks.Options)) (*eks.ListPodIdentityAssociationsOutput, error) {
	key := fmt.Sprintf("%s|%s|%s|%s|%d", aws.ToString(in.ClusterName), aws.ToString(in.Namespace), aws.ToString(in.ServiceAccount), aws.ToString(in.NextToken), aws.ToInt32(in.MaxResults))
	r.mu.Lock()
	out, ok := r.lists[key]
	r.mu.Unlock()
	if ok {
		return out, nil
	}
	out, err := r.AssociationAPI.ListPodIdentityAssociations(ctx, in, optFns...)
	if err == nil {
		r.mu.Lock()
		r.lists[key] = out
		r.mu.Unlock()
	}
	return out, err
}

func (r *assocReads) DescribePodIdentityAssociation(ctx context.Context, in *eks.DescribePodIdentityAssociationInput, optFns ...func(*eks.Options)) (*eks.DescribePodIdentityAssociationOutput, error) {
	key := aws.ToString(in.ClusterName) + "|" + aws.ToString(in.AssociationId)
	r.mu.Lock()
	out, ok := r.descs[key]
	r.mu.Unlock()
	if ok {
		return out, nil
	}
	out, err := r.AssociationAPI.DescribePodIdentityAssociation(ctx, in, optFns...)
	if err == nil {
		r.mu.Lock()
		r.descs[key] = out
		r.mu.Unlock()
	}
	return out, err
}

func (r *assocReads) CreatePodIdentityAssociation(ctx context.Context, in *eks.CreatePodIdentityAssociationInput, optFns ...func(*eks.Options)) (*eks.CreatePodIdentityAssociationOutput, error) {
	r.forget()
	defer r.forget()
	return r.AssociationAPI.CreatePodIdentityAssociation(ctx, in, optFns...)
}

func (r *assocReads) UpdatePodIdentityAssociation(ctx context.Context, in *eks.UpdatePodIdentityAssociationInput, optFns ...func(*eks.Options)) (*eks.UpdatePodIdentityAssociationOutput, error) {
	r.forget()
	defer r.forget()
	return r.AssociationAPI.UpdatePodIdentityAssociation(ctx, in, optFns...)
}
