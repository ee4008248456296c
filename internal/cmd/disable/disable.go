// Package disable implements `podid disable`: the reverse of enable. It
// deletes the pod identity association, waits until the webhook no longer
// injects new pods, restarts the workloads and proves that their new pods
// have no Pod Identity injection.
package disable

import (
	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/flow"
)

// Options are disable's inputs.
type Options struct {
	F      *cmdutil.Factory
	Target flow.Target
	DryRun bool
}

// NewCmd returns the disable command; runF replaces the run in tests.
func NewCmd(f *cmdutil.Factory, runF func(*cobra.Command, *Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "disable --cluster NAME --ns NAMESPACE --sa SERVICE_ACCOUNT",
		Short: "Turn off Pod Identity for a service account's workloads (the reverse of enable)",
		Long: `Turn off EKS Pod Identity for the workloads that run under a service account:

  disassociate  the pod identity association is deleted (one owned by an EKS add-on is refused:
                change it through the add-on)
  propagation   the webhook no longer injects new pods of the service account (server-side dry-run probe)
  restart       the workloads are restarted, rolled out, and no new pod has the Pod Identity injection

All checks run before any change. A second run reports every step unchanged and restarts nothing.
Credentials already issued stay valid until they expire.`,
		Example: `  podid disable --cluster eks-workshop --ns carts --sa carts
  podid disable --ns carts --sa carts --dry-run`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return run(cmd, opts)
		},
	}
	cmdutil.AddTargetFlags(cmd, &opts.Target)
	cmdutil.AddDryRun(cmd, &opts.DryRun)
	return cmd
}

func run(cmd *cobra.Command, opts *Options) error {
	return cmdutil.Execute(cmd.Context(), opts.F, flow.Disable(opts.Target, opts.DryRun))
}
