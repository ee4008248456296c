package flow

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/step"
)

// CmdOptions are the inputs of a flow command: the flags, parsed.
type CmdOptions struct {
	F      *cmdutil.Factory
	Flow   Options
	Tags   []string // raw --tags, parsed into Flow.Tags
	DryRun bool
}

// Spec describes a podid command built from flow steps.
type Spec struct {
	Use, Short, Long, Example string
	NeedKube                  bool
	NoTarget                  bool // no --ns/--sa (install-agent)
	// Flags registers the command's flags on cmd.
	Flags func(cmd *cobra.Command, o *CmdOptions)
	// Steps builds the command's steps once the session is known.
	Steps func(f *Flow) []step.Step
	// Text prints results on stdout (default: a one-line summary).
	Text func(w io.Writer, reps []step.Report)
}

// NewCommand builds the cobra command for spec. runF, when set, replaces
// the run (tests check flag parsing through it).
func NewCommand(f *cmdutil.Factory, spec Spec, runF func(*cobra.Command, *CmdOptions) error) *cobra.Command {
	opts := &CmdOptions{F: f}
	cmd := &cobra.Command{
		Use: spec.Use, Short: spec.Short, Long: spec.Long, Example: spec.Example,
		Args: NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tags, err := ParseTags(opts.Tags)
			if err != nil {
				return err
			}
			opts.Flow.Tags = tags
			if runF != nil {
				return runF(cmd, opts)
			}
			return Run(cmd.Context(), f, Command{
				Name: cmd.Name(), Opts: opts.Flow, DryRun: opts.DryRun,
				NeedKube: spec.NeedKube, NoTarget: spec.NoTarget, Steps: spec.Steps, Text: spec.Text,
			})
		},
	}
	if !spec.NoTarget {
		cmdutil.AddTargetFlags(cmd, &opts.Flow.Target)
	}
	spec.Flags(cmd, opts)
	AddDryRun(cmd, &opts.DryRun)
	return cmd
}
