package cmdutil

import (
	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/flow"
)

// StepsOptions are the inputs of a command made of flow steps: the flags,
// parsed.
type StepsOptions struct {
	F      *Factory
	Flow   flow.Options
	Tags   []string // raw --tags, parsed into Flow.Tags
	DryRun bool
}

// StepsSpec describes a podid command made of flow steps.
type StepsSpec struct {
	Use, Short, Long, Example string
	NoTarget                  bool // no --ns/--sa (install-agent)
	// Flags registers the command's flags.
	Flags func(cmd *cobra.Command, o *StepsOptions)
	// Job is the command's work (flow.Enable, flow.Restart, …).
	Job func(o flow.Options, dryRun bool) flow.Job
}

// NewStepsCommand builds the cobra command for spec: flags → options → one
// call. runF, when set, replaces the call (tests check flag parsing).
func NewStepsCommand(f *Factory, spec StepsSpec, runF func(*cobra.Command, *StepsOptions) error) *cobra.Command {
	opts := &StepsOptions{F: f}
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
			return Execute(cmd.Context(), f, spec.Job(opts.Flow, opts.DryRun))
		},
	}
	if !spec.NoTarget {
		AddTargetFlags(cmd, &opts.Flow.Target)
	}
	spec.Flags(cmd, opts)
	AddDryRun(cmd, &opts.DryRun)
	return cmd
}
