// Package verify implements `podid verify`: the post-condition for CI after
// a deploy — every running pod of the service account has the Pod Identity
// injection and a ready agent on its node.
package verify

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/diagnose"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/flow"
	"github.com/podid/podid/internal/step"
)

// Options are verify's inputs.
type Options struct {
	F      *cmdutil.Factory
	Target cmdutil.Target
	Wait   bool
}

// NewCmd returns the verify command; runF replaces the run in tests.
func NewCmd(f *cmdutil.Factory, runF func(*cobra.Command, *Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "verify --cluster NAME --ns NAMESPACE --sa SERVICE_ACCOUNT [--wait]",
		Short: "Check that every running pod of a service account has Pod Identity credentials",
		Long: `Check the post-condition of a deploy, without changing anything: every running (not finished, not
terminating) pod of the service account has the Pod Identity injection (label, projected token volume,
environment and mount in every container) and runs on a node with a ready agent pod.

Exit 3 names each bad pod and why. With --wait, podid watches the pods, the nodes and the agent pods
until the post-condition holds; when --timeout runs out it exits 4 naming what is still missing.`,
		Example: `  podid verify --cluster eks-workshop --ns carts --sa carts
  podid verify --cluster eks-workshop --ns carts --sa carts --wait --timeout 5m`,
		Args: flow.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmdutil.AddTargetFlags(cmd, &opts.Target)
	cmd.Flags().BoolVar(&opts.Wait, "wait", false, "wait (up to --timeout) until every pod passes, watching pods and agent pods")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	f := opts.F
	t := opts.Target
	out := cmdutil.Outcome{Command: "verify", Namespace: t.Namespace, ServiceAccount: t.ServiceAccount, Start: time.Now()}
	if err := f.Globals.Validate(true); err != nil {
		out.Err = err
		return f.Finish(out)
	}
	if err := t.Validate(); err != nil {
		out.Err = err
		return f.Finish(out)
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
	line := f.Status().Start("verify")
	var v diagnose.Verdict
	if opts.Wait {
		line.Waiting(fmt.Sprintf("watching the pods of %s/%s", t.Namespace, t.ServiceAccount))
		v, err = diagnose.WaitVerified(ctx, sess.Kube.Client, t.Namespace, t.ServiceAccount, line.Waiting)
		if err != nil && fail.KindOf(err) == fail.KindTimeout {
			err = diagnose.VerdictError(sess.Cluster.Name, v, err)
		}
	} else {
		v, err = diagnose.Verify(ctx, sess.Kube.Client, t.Namespace, t.ServiceAccount)
		if err == nil && !v.OK() {
			err = diagnose.VerdictError(sess.Cluster.Name, v, nil)
		}
	}
	rep := step.Report{Name: "verify", Status: step.Unchanged, Message: v.Summary(), Duration: time.Since(start)}
	rep.Seconds = rep.Duration.Seconds()
	if err != nil {
		rep.Status, rep.Error, rep.Hint = step.Failed, err.Error(), fail.HintOf(err)
	}
	line.Done(rep)
	out.Steps = append(out.Steps, rep)
	out.Err = err
	out.Result = v
	out.Text = func(w io.Writer) { Render(w, v) }
	return f.Finish(out)
}

// Render prints one line per pod (✓ or ✗, its owner and node) and the
// summary, which gives each problem once, grouped by cause with its fix.
func Render(w io.Writer, v diagnose.Verdict) {
	for _, p := range v.Pods {
		mark := "✓"
		if !p.OK {
			mark = "✗"
		}
		owner := p.Owner
		if owner == "" {
			owner = "no controller"
		}
		fmt.Fprintf(w, "%s %s (%s, node %s)\n", mark, p.Name, owner, p.Node)
	}
	fmt.Fprintln(w, v.Summary())
}
