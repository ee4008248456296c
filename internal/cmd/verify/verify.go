// Package verify implements `podid verify`: the post-condition for CI after
// a deploy — every running pod of the service account has the Pod Identity
// injection and a ready agent on its node.
package verify

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/flow"
)

// Options are verify's inputs.
type Options struct {
	F           *cmdutil.Factory
	Target      flow.Target
	Wait        bool
	Credentials string
}

// NewCmd returns the verify command; runF replaces the run in tests.
func NewCmd(f *cmdutil.Factory, runF func(*cobra.Command, *Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "verify --cluster NAME --ns NAMESPACE --sa SERVICE_ACCOUNT [--wait]",
		Short: "Check that every running pod of a service account has Pod Identity credentials",
		Long: `Check the post-condition of a deploy, without changing anything: every running (not finished, not
terminating) pod of the service account has the Pod Identity injection (label, projected token volume,
environment and mount in every container) and runs on a node with a ready agent pod. Then podid makes the
exchange the agent will make for one pod of each workload (a token bound to the pod, EKS Auth
AssumeRoleForPodIdentity, sts:GetCallerIdentity with the credentials returned) and reports the role
the pods will hold; a denial names the failing link and the fix (--credentials off skips it).

Exit 3 names each bad pod and why. With --wait, podid watches the pods, the nodes and the agent pods
until the post-condition holds; when --timeout runs out it exits 4 naming what is still missing.`,
		Example: `  podid verify --cluster eks-workshop --ns carts --sa carts
  podid verify --cluster eks-workshop --ns carts --sa carts --wait --timeout 5m`,
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
	cmd.Flags().BoolVar(&opts.Wait, "wait", false, "wait (up to --timeout) until every pod passes, watching pods and agent pods")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	return cmdutil.Execute(ctx, opts.F, flow.Verify(opts.Target, opts.Wait, opts.Credentials))
}
