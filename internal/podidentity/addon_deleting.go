package podidentity

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/step"
)

// An add-on that is being deleted
//
// EKS answers CreateAddon with 409 ResourceInUseException both when
// another run has just created the add-on and while an add-on of that name
// is DELETING. The first is fine (wait for it to be ACTIVE); the second is
// not: the add-on is on its way out. podid tells them apart by reading the
// add-on, waits for the delete to finish, and creates it again.

// createAddon creates the add-on with in, waiting out a delete in
// progress. It records what it did in res; the caller then waits for ACTIVE.
func (s *AgentAddon) createAddon(ctx context.Context, in *eks.CreateAddonInput, progress step.Progress, res *step.Result) error {
	for {
		_, err := s.api.CreateAddon(ctx, in)
		var inUse *ekstypes.ResourceInUseException
		switch {
		case err == nil:
			res.Changes = append(res.Changes, fmt.Sprintf("created add-on %s %s", AgentAddonName, aws.ToString(in.AddonVersion)))
			return nil
		case !errors.As(err, &inUse):
			return awsapi.Explain(err, "create add-on", fmt.Sprintf("%s on cluster %s", AgentAddonName, s.cluster.Name))
		}
		out, derr := s.api.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String(s.cluster.Name), AddonName: aws.String(AgentAddonName)})
		var nf *ekstypes.ResourceNotFoundException
		switch {
		case errors.As(derr, &nf):
			continue // the delete finished between the two calls
		case derr != nil:
			return awsapi.Explain(derr, "describe add-on", fmt.Sprintf("%s on cluster %s", AgentAddonName, s.cluster.Name))
		case out.Addon.Status == ekstypes.AddonStatusDeleting:
			if err := s.waitDeleted(ctx, progress); err != nil {
				return err
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("add-on %s was being deleted; podid waited for the delete and created it again", AgentAddonName))
			continue
		default:
			res.Warnings = append(res.Warnings, fmt.Sprintf("add-on %s was created concurrently by someone else (%s); waiting for it", AgentAddonName, out.Addon.Status))
			return nil
		}
	}
}

// waitDeleted polls until the add-on is gone; DELETE_FAILED is an error.
func (s *AgentAddon) waitDeleted(ctx context.Context, progress step.Progress) error {
	if progress != nil {
		progress.Waiting(fmt.Sprintf("add-on %s to finish deleting (it is DELETING; podid creates it again afterwards)", AgentAddonName))
	}
	in := &eks.DescribeAddonInput{ClusterName: aws.String(s.cluster.Name), AddonName: aws.String(AgentAddonName)}
	err := s.opts.Poller.Poll(ctx, func(ctx context.Context) (bool, error) {
		out, err := s.api.DescribeAddon(ctx, in)
		var nf *ekstypes.ResourceNotFoundException
		switch {
		case errors.As(err, &nf):
			return true, nil
		case err != nil:
			return false, err
		case out.Addon.Status == ekstypes.AddonStatusDeleteFailed:
			return false, s.failedError(out.Addon)
		case out.Addon.Status != ekstypes.AddonStatusDeleting:
			return true, nil // re-created by someone else meanwhile: CreateAddon will tell
		}
		return false, nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return &fail.Error{Kind: fail.KindOf(ctx.Err()), Err: fmt.Errorf("add-on %s on cluster %s is still DELETING: %w", AgentAddonName, s.cluster.Name, ctx.Err()),
			Hint: fmt.Sprintf("run podid again when the delete is done (aws eks wait addon-deleted --cluster-name %s --addon-name %s), or raise --timeout", s.cluster.Name, AgentAddonName)}
	}
	var fe *fail.Error
	if errors.As(err, &fe) {
		return err
	}
	return awsapi.Explain(err, "describe add-on", fmt.Sprintf("%s on cluster %s", AgentAddonName, s.cluster.Name))
}
