package flow

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/trust"
	"github.com/podid/podid/internal/workload"
)

// Command describes one podid command built from flow steps.
type Command struct {
	Name     string
	Opts     Options
	DryRun   bool
	NeedKube bool
	// NoTarget is set for commands without --ns/--sa (install-agent).
	NoTarget bool
	// Steps builds the command's steps once the session is known.
	Steps func(f *Flow) []step.Step
	// Text prints the command's results on stdout (text output).
	Text func(w io.Writer, reps []step.Report)
}

// Run validates input (changing nothing and calling nothing on bad input),
// connects, runs the steps and renders the outcome.
func Run(ctx context.Context, f *cmdutil.Factory, c Command) error {
	start := time.Now()
	out := cmdutil.Outcome{Command: c.Name, Namespace: c.Opts.Namespace, ServiceAccount: c.Opts.ServiceAccount, DryRun: c.DryRun, Start: start}
	if err := f.Globals.Validate(true); err != nil {
		out.Err = err
		return f.Finish(out)
	}
	fl, err := New(c.Opts, !c.NoTarget)
	if err != nil {
		out.Err = err
		return f.Finish(out)
	}
	ctx, cancel := f.WithTimeout(ctx)
	defer cancel()
	sess, first, err := f.Connect(ctx, c.NeedKube)
	if err != nil {
		out.Steps, out.Err = []step.Report{first}, err
		return f.Finish(out)
	}
	fl.Bind(sess)
	reps, err := f.RunSteps(ctx, c.DryRun, first, c.Steps(fl))
	out.Steps, out.Err = reps, err
	out.Result = ResultOf(reps)
	if c.Text != nil {
		out.Text = func(w io.Writer) { c.Text(w, reps) }
	} else {
		out.Text = func(w io.Writer) { Summary(w, c, reps, err == nil) }
	}
	return f.Finish(out)
}

// Result is the `-o json` result of a command built from steps: what its
// steps found and did, gathered from their typed details.
type Result struct {
	Addon       *podidentity.AddonDetails    `json:"addon,omitempty"`
	Role        *podidentity.RoleRef         `json:"role,omitempty"`
	Trust       *trust.Report                `json:"trust,omitempty"`
	TrustDiff   string                       `json:"trustDiff,omitempty"`
	Policies    []podidentity.PolicyInfo     `json:"policies,omitempty"`
	Expect      []podidentity.ExpectResult   `json:"expect,omitempty"`
	Association *podidentity.AssociationInfo `json:"association,omitempty"`
	Deleted     *podidentity.AssociationInfo `json:"deleted,omitempty"`
	Pods        []workload.PodReport         `json:"pods,omitempty"`
	// NotRestarted: the service account's pods the restart does not
	// replace, each with its owner and fix.
	NotRestarted []workload.NotRestarted `json:"notRestarted,omitempty"`
}

// ResultOf gathers the result from the steps' reports.
func ResultOf(reps []step.Report) Result {
	var out Result
	for _, r := range reps {
		switch d := r.Details.(type) {
		case *podidentity.AddonDetails:
			out.Addon = d
		case *podidentity.RoleDetails:
			out.Role, out.Trust, out.TrustDiff, out.Policies, out.Expect = &d.Role, &d.Trust, d.TrustDiff, d.Policies, d.Expect
		case *podidentity.RoleCreateDetails:
			out.Role, out.TrustDiff = &d.Role, d.TrustDiff
		case *podidentity.AssociationDetails:
			out.Association = d.Association
		case *podidentity.DisassociationDetails:
			out.Association, out.Deleted = d.Association, d.Deleted
		case *workload.RestartDetails:
			out.Pods, out.NotRestarted = d.Pods, d.NotRestarted
		}
	}
	return out
}

// Summary is the default stdout text: one line saying what holds now.
func Summary(w io.Writer, c Command, reps []step.Report, ok bool) {
	if !ok {
		printPods(w, reps)
		return
	}
	var changed, planned []string
	for _, r := range reps {
		switch r.Status {
		case step.Changed:
			changed = append(changed, r.Name)
		case step.Planned:
			planned = append(planned, r.Name)
		}
	}
	subject := fmt.Sprintf("%s/%s", c.Opts.Namespace, c.Opts.ServiceAccount)
	defer printPods(w, reps)
	switch {
	case c.DryRun && len(planned) > 0:
		fmt.Fprintf(w, "dry run: %s would change %s; nothing was changed\n", c.Name, strings.Join(planned, ", "))
	case c.DryRun:
		fmt.Fprintf(w, "dry run: nothing to change for %s\n", subject)
	case len(changed) == 0:
		fmt.Fprintf(w, "%s: everything was already in place for %s; nothing changed\n", c.Name, subject)
	default:
		fmt.Fprintf(w, "%s: done for %s (changed: %s)\n", c.Name, subject, strings.Join(changed, ", "))
	}
}

// printPods lists, per pod, what the restart step proved.
func printPods(w io.Writer, reps []step.Report) {
	for _, r := range reps {
		d, ok := r.Details.(*workload.RestartDetails)
		if !ok || r.Status == step.Planned {
			continue
		}
		for _, p := range d.Pods {
			if p.Injected {
				fmt.Fprintf(w, "  ✓ pod %s (%s, node %s): AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, token volume\n", p.Pod, p.Workload, p.Node)
			} else {
				fmt.Fprintf(w, "  ✗ pod %s (%s, node %s): lacks %s\n", p.Pod, p.Workload, p.Node, strings.Join(p.Problems, ", "))
			}
			for _, warn := range p.Warnings {
				fmt.Fprintf(w, "    ! %s\n", warn)
			}
		}
	}
}
