// Package associate implements `podid associate`.
package associate

import (
	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/flow"
)

// Options are associate's inputs.
type Options = cmdutil.StepsOptions

// NewCmd returns the associate command; runF replaces the run in tests.
func NewCmd(f *cmdutil.Factory, runF func(*cobra.Command, *Options) error) *cobra.Command {
	return cmdutil.NewStepsCommand(f, cmdutil.StepsSpec{
		Use:   "associate --cluster NAME --ns NAMESPACE --sa SERVICE_ACCOUNT [--role ROLE]",
		Short: "Create the pod identity association, or reuse the one already there",
		Long: `Create the pod identity association for a namespace and service account, or reuse the existing one.

An existing association with the same role and settings is left alone. One with another role or other
settings is refused unless --update is given (associations owned by an add-on are always refused). A
concurrent creator's association is accepted when it matches. The service account must exist
(--create-service-account creates it); an IRSA annotation on it is reported.`,
		Example: `  podid associate --cluster eks-workshop --ns carts --sa carts --role eks-workshop-carts-dynamo
  podid associate --ns carts --sa carts --role other-role --update
  podid associate --ns carts --sa carts --role r --disable-session-tags --policy "$(cat session-policy.json)"`,
		Flags: func(cmd *cobra.Command, o *Options) {
			cmd.Flags().StringVar(&o.Flow.Role, "role", "", "IAM role name or ARN (default: the existing association's role, else the one Pod Identity role named <cluster>-<sa>*)")
			cmdutil.AddAssociateFlags(cmd, &o.Flow, &o.Tags)
		},
		Job: flow.Associate,
	}, runF)
}
