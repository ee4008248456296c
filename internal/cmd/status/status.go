// Package status implements `podid status`: every read-only check that
// decides whether EKS Pod Identity works for a service account (or for the
// whole cluster), as a checklist of findings that each say what to do.
package status

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/diagnose"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/flow"
	"github.com/podid/podid/internal/step"
)

// Options are status' inputs.
type Options struct {
	F      *cmdutil.Factory
	Target cmdutil.Target
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
Without them:
  association      every association of the cluster: role exists? trust ok?

Each finding is ok, warn or error; every warn and error says what to do. Exit 3 when any is an error.`,
		Example: `  podid status --cluster eks-workshop
  podid status --cluster eks-workshop --ns carts --sa carts
  podid status --cluster eks-workshop --ns carts --sa carts -o json`,
		Args: flow.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmdutil.AddTargetFlags(cmd, &opts.Target)
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	f := opts.F
	t := opts.Target
	out := cmdutil.Outcome{Command: "status", Namespace: t.Namespace, ServiceAccount: t.ServiceAccount, Start: time.Now()}
	if err := f.Globals.Validate(true); err != nil {
		out.Err = err
		return f.Finish(out)
	}
	if t.Namespace != "" || t.ServiceAccount != "" {
		if err := t.Validate(); err != nil {
			out.Err = fail.WithHint(err, "pass both --ns and --sa, or neither for the whole cluster")
			return f.Finish(out)
		}
	}
	ctx, cancel := f.WithTimeout(ctx)
	defer cancel()
	sess, first, err := f.Connect(ctx, true)
	out.Steps = []step.Report{first}
	if err != nil {
		out.Err = err
		return f.Finish(out)
	}
	start := time.Now()
	line := f.Status().Start("status")
	line.Waiting("checking add-on, agent, node roles, associations, workloads")
	o := diagnose.Options{Cluster: sess.Cluster, Namespace: t.Namespace, ServiceAccount: t.ServiceAccount}
	rep, err := diagnose.Status(ctx, diagnose.Deps{EKS: sess.AWS.EKS(), IAM: sess.AWS.IAM(), Kube: sess.Kube.Client}, o)
	sr := step.Report{Name: "status", Status: step.Unchanged, Duration: time.Since(start)}
	sr.Seconds = sr.Duration.Seconds()
	switch {
	case err != nil:
		sr.Status, sr.Error, sr.Hint = step.Failed, err.Error(), fail.HintOf(err)
	default:
		sr.Message = summary(rep, o)
		if errs := rep.Errors(); len(errs) > 0 {
			err = fail.Verifyf("fix each ✗ finding as its fix: line says, then run podid status again",
				"%s for %s: %s", count(len(errs), "problem", "problems"), subject(o), errs[0].Message)
		}
	}
	line.Done(sr)
	out.Steps = append(out.Steps, sr)
	out.Err = err
	out.Result = rep
	out.Text = func(w io.Writer) { Render(w, rep, o) }
	return f.Finish(out)
}

func subject(o diagnose.Options) string {
	if o.Scoped() {
		return fmt.Sprintf("%s/%s on cluster %s", o.Namespace, o.ServiceAccount, o.Cluster.Name)
	}
	return "cluster " + o.Cluster.Name
}

func summary(rep diagnose.Report, o diagnose.Options) string {
	errs, warns := len(rep.Errors()), len(rep.Warnings())
	if errs == 0 {
		s := fmt.Sprintf("Pod Identity works for %s", subject(o))
		if !o.Scoped() {
			s = fmt.Sprintf("Pod Identity is ready on %s", subject(o))
		}
		if warns > 0 {
			s += " (" + count(warns, "warning", "warnings") + ")"
		}
		return s
	}
	return fmt.Sprintf("%s, %s for %s", count(errs, "problem", "problems"), count(warns, "warning", "warnings"), subject(o))
}

// Render prints the findings as a checklist: ✓ ok, ! warn, ✗ error, each
// warn and error followed by its fix.
func Render(w io.Writer, rep diagnose.Report, o diagnose.Options) {
	for _, fd := range rep.Findings {
		mark := "✓"
		switch fd.Severity {
		case diagnose.Warn:
			mark = "!"
		case diagnose.Error:
			mark = "✗"
		}
		fmt.Fprintf(w, "%s %-16s %s\n", mark, fd.Area, strings.ReplaceAll(fd.Message, "\n", "\n"+strings.Repeat(" ", 19)))
		if fd.Fix != "" && fd.Severity != diagnose.OK {
			fmt.Fprintf(w, "  %-16s fix: %s\n", "", strings.ReplaceAll(fd.Fix, "\n", "\n"+strings.Repeat(" ", 24)))
		}
	}
	fmt.Fprintln(w, summary(rep, o))
}

// count is "1 problem", "2 problems".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
