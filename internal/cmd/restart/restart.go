// Package restart implements `podid restart`.
package restart

import (
	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/flow"
)

// Options are restart's inputs.
type Options = cmdutil.StepsOptions

// NewCmd returns the restart command; runF replaces the run in tests.
func NewCmd(f *cmdutil.Factory, runF func(*cobra.Command, *Options) error) *cobra.Command {
	return cmdutil.NewStepsCommand(f, cmdutil.StepsSpec{
		Use:   "restart --cluster NAME --ns NAMESPACE --sa SERVICE_ACCOUNT",
		Short: "Restart the workloads of a service account and prove their new pods have credentials",
		Long: `Restart the Deployments, StatefulSets and DaemonSets whose pods run under the service account, the way
kubectl rollout restart does, wait for the rollout with kubectl's rollout-status rules, and check that
every new pod has AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE and the
projected token volume (exit 3 otherwise).

First it proves that the webhook injects new pods of the service account (a server-side dry-run probe,
retried until the association has propagated), so the restart is never too early. Workloads whose pods
all have the injection already are skipped (--force restarts anyway); a paused Deployment is refused.`,
		Example: `  podid restart --cluster eks-workshop --ns carts --sa carts
  podid restart --ns carts --sa carts --workload deployment/carts --force`,
		Flags: func(cmd *cobra.Command, o *Options) {
			cmdutil.AddRestartFlags(cmd, &o.Flow)
		},
		Job: flow.Restart,
	}, runF)
}
