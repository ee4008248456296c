// Package installagent implements `podid install-agent`.
package installagent

import (
	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/flow"
)

// Options are install-agent's inputs.
type Options = cmdutil.StepsOptions

// NewCmd returns the install-agent command; runF replaces the run in tests.
func NewCmd(f *cmdutil.Factory, runF func(*cobra.Command, *Options) error) *cobra.Command {
	return cmdutil.NewStepsCommand(f, cmdutil.StepsSpec{
		Use:   "install-agent --cluster NAME",
		Short: "Install the eks-pod-identity-agent add-on and wait until it runs on every eligible node",
		Long: `Install the eks-pod-identity-agent add-on if it is missing (default version for the cluster's
Kubernetes version, or --addon-version), wait until it is ACTIVE (failing at once on CREATE_FAILED,
DEGRADED or UPDATE_FAILED, with the health issues), then until the kube-system/eks-pod-identity-agent
DaemonSet is rolled out and ready on every eligible node: Linux, amd64 or arm64, not Fargate, hybrid or
Auto nodes. Nodes without a ready agent pod are named.`,
		Example: `  podid install-agent --cluster eks-workshop
  podid install-agent --cluster eks-workshop --addon-version v1.3.10-eksbuild.1 --dry-run`,
		NoTarget: true,
		Flags: func(cmd *cobra.Command, o *Options) {
			cmdutil.AddAgentFlags(cmd, &o.Flow)
		},
		Job: flow.InstallAgent,
	}, runF)
}
