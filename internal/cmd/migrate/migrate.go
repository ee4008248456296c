// Package migrate implements `podid migrate`: move service accounts from
// IRSA (the eks.amazonaws.com/role-arn annotation) to EKS Pod Identity, one
// service account at a time, verified before anything IRSA is removed.
package migrate

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/flow"
)

// Options are migrate's inputs.
type Options struct {
	F                    *cmdutil.Factory
	Target               flow.Target // both optional filters
	Approve              bool
	RemoveIRSAAnnotation bool
	RemoveOIDCTrust      bool
}

// NewCmd returns the migrate command; runF replaces the run in tests.
func NewCmd(f *cmdutil.Factory, runF func(*cobra.Command, *Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "migrate [--ns NAMESPACE] [--sa SERVICE_ACCOUNT] [--approve]",
		Short: "Move service accounts from IRSA to Pod Identity",
		Long: `Find the service accounts annotated eks.amazonaws.com/role-arn (IRSA), in every namespace or in --ns,
and move each to EKS Pod Identity with the same role:

  verify-role        the role (from the annotation; it must be in the cluster's account) gets the Pod
                     Identity trust statement, scoped to this cluster, namespace and service account;
                     its OIDC statement is kept
  associate          the pod identity association is created
  propagation        the webhook injects new pods of the service account
  restart            the workloads are restarted; every new pod must have the Pod Identity credentials
                     and no IRSA variables
  remove-annotation  with --remove-irsa-annotation, only after the restart was verified
  remove-oidc-trust  with --remove-oidc-trust, only after the restart was verified, and only the OIDC
                     statement that serves this service account alone

Without --approve, migrate prints the plan for every service account and changes nothing.
A failure stops that service account only; the others go on. Run it again to finish.`,
		Example: `  podid migrate --cluster eks-workshop
  podid migrate --ns orders --approve
  podid migrate --ns orders --approve --remove-irsa-annotation --remove-oidc-trust`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmdutil.AddTargetFlags(cmd, &opts.Target)
	fs := cmd.Flags()
	fs.BoolVar(&opts.Approve, "approve", false, "make the changes (default: print the plan and change nothing)")
	fs.BoolVar(&opts.RemoveIRSAAnnotation, "remove-irsa-annotation", false, "remove eks.amazonaws.com/role-arn from each service account once its pods are verified on Pod Identity")
	fs.BoolVar(&opts.RemoveOIDCTrust, "remove-oidc-trust", false, "remove the role's OIDC trust statement for the service account once its pods are verified on Pod Identity")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	return cmdutil.Execute(ctx, opts.F, flow.Migrate(flow.MigrateOptions{
		Target: opts.Target, Approve: opts.Approve, RemoveIRSAAnnotation: opts.RemoveIRSAAnnotation, RemoveOIDCTrust: opts.RemoveOIDCTrust,
	}))
}
