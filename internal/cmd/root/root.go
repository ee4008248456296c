// Package root assembles podid's command tree.
package root

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmd/apply"
	"github.com/podid/podid/internal/cmd/associate"
	"github.com/podid/podid/internal/cmd/disable"
	"github.com/podid/podid/internal/cmd/enable"
	"github.com/podid/podid/internal/cmd/installagent"
	"github.com/podid/podid/internal/cmd/migrate"
	"github.com/podid/podid/internal/cmd/restart"
	"github.com/podid/podid/internal/cmd/role"
	"github.com/podid/podid/internal/cmd/status"
	"github.com/podid/podid/internal/cmd/verify"
	"github.com/podid/podid/internal/cmd/verifyrole"
	"github.com/podid/podid/internal/cmd/version"
	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/fail"
)

// NewCmd returns the root command.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "podid",
		Short: "Turn on Amazon EKS Pod Identity for a workload, end to end",
		Long: `podid turns on Amazon EKS Pod Identity for a workload, end to end, and proves it works:

  1. install the eks-pod-identity-agent add-on and wait until its DaemonSet is ready on every eligible node;
  2. verify the IAM role: its trust policy and its permissions;
  3. create the pod identity association, or reuse the one already there;
  4. restart the workloads that use the service account and prove the new pods received credentials.

Every step checks first and changes only what is missing: running it again is safe.`,
		Example: `  podid enable --cluster eks-workshop --ns carts --sa carts
  podid enable --cluster eks-workshop --ns carts --sa carts --dry-run
  podid verify-role --cluster eks-workshop --ns carts --sa carts --expect dynamodb:Query`,
		Version:       f.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetVersionTemplate("podid {{.Version}}\n")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fail.Usagef(fmt.Sprintf("run podid %s --help for the flags", c.Name()), "%s", err)
	})
	cmdutil.AddGlobalFlags(cmd, &f.Globals)
	cmd.AddCommand(
		enable.NewCmd(f, nil),
		installagent.NewCmd(f, nil),
		verifyrole.NewCmd(f, nil),
		associate.NewCmd(f, nil),
		restart.NewCmd(f, nil),
		apply.NewCmd(f, nil),
		status.NewCmd(f, nil),
		verify.NewCmd(f, nil),
	)
	cmd.AddCommand(disable.NewCmd(f, nil), migrate.NewCmd(f, nil), role.NewCmd(f), version.NewCmd(f))
	cmd.SetHelpCommand(&cobra.Command{Hidden: true})
	cmd.CompletionOptions.HiddenDefaultCmd = true
	return cmd
}
