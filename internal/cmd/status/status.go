// Package status implements `podid status`: every read-only check that
// decides whether EKS Pod Identity works for a service account (or for the
// whole cluster), as a checklist of findings that each say what to do.
package status

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/flow"
)

// Options are status' inputs.
type Options struct {
	F           *cmdutil.Factory
	Target      flow.Target
	Credentials string
}

// NewCmd returns the status command; runF replaces the run in tests.
func NewCmd(f *cmdutil.Factory, runF func(*cobra.Command, *Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "status --cluster NAME [--ns NAMESPACE --sa SERVICE_ACCOUNT]",
		Short: "Check everything that decides whether Pod Identity works, and say what to fix",
		Long: `Check, without changing anything, everything that decides whether EKS Pod Identity works:

  cluster          the Kubernetes and platform version support Pod Identity (Auto Mode noted)
  add-on           eks-pod-identity-agent: status, health issues, version, newer default version
  agent            the agent DaemonSet has a ready pod on every eligible node
  node-role        the managed node groups' roles allow eks-auth:AssumeRoleForPodIdentity
With --ns/--sa:
  association      the pod identity association: role, target role, session tags
  role             the role's trust admits this association; its permissions
  service-account  exists; IRSA annotation
  workload         each workload's current pods have the injection (else: created before the association?)
                   and run on nodes with a ready agent (not Fargate, Windows or hybrid)
  credentials      the agent's exchange for one ready pod per workload (EKS Auth AssumeRoleForPodIdentity,
                   then sts:GetCallerIdentity with the credentials returned): the role the pods will hold
Without them:
  association      every association of the cluster: role exists? trust ok?

Each finding is ok, warn or error; every warn and error says what to do. Exit 3 when any is an error.`,
		Example: `  podid status --cluster eks-workshop
  podid status --cluster eks-workshop --ns carts --sa carts
  podid status --cluster eks-workshop --ns carts --sa carts -o json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmdutil.AddTargetFlags(cmd, &opts.Target)
	cmdutil.AddCredentialsFlag(cmd, &opts.Credentials)
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	return cmdutil.Execute(ctx, opts.F, flow.Status(opts.Target, opts.Credentials))
}
