// Package enable implements `podid enable`: install-agent, verify-role,
// associate, propagation and restart, with every check before any change.
package enable

import (
	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/flow"
)

// Options are enable's inputs.
type Options = cmdutil.StepsOptions

// NewCmd returns the enable command; runF replaces the run in tests.
func NewCmd(f *cmdutil.Factory, runF func(*cobra.Command, *Options) error) *cobra.Command {
	return cmdutil.NewStepsCommand(f, cmdutil.StepsSpec{
		Use:   "enable --cluster NAME --ns NAMESPACE --sa SERVICE_ACCOUNT",
		Short: "Turn on Pod Identity for a service account's workloads, end to end",
		Long: `Turn on EKS Pod Identity for the workloads that run under a service account:

  install-agent  the eks-pod-identity-agent add-on is ACTIVE and its DaemonSet ready on every eligible node
  verify-role    the role trusts pods.eks.amazonaws.com (sts:AssumeRole, sts:TagSession) for this cluster,
                 namespace and service account; its permissions are listed (and --expect checked)
  associate      the pod identity association exists (created, reused, or --update'd)
  propagation    the webhook injects new pods of the service account (server-side dry-run probe)
  restart        the workloads are restarted, rolled out, and every new pod has the credentials

All checks run before any change: a problem found by any of them stops the run with nothing changed.
A second run reports every step unchanged and restarts nothing.`,
		Example: `  podid enable --cluster eks-workshop --ns carts --sa carts
  podid enable --ns carts --sa carts --role eks-workshop-carts-dynamo --expect dynamodb:Query --dry-run`,
		Flags: func(cmd *cobra.Command, o *Options) {
			cmdutil.AddAgentFlags(cmd, &o.Flow)
			cmdutil.AddRoleFlags(cmd, &o.Flow)
			cmdutil.AddAssociateFlags(cmd, &o.Flow, &o.Tags)
			cmdutil.AddRestartFlags(cmd, &o.Flow)
		},
		Job: flow.Enable,
	}, runF)
}
