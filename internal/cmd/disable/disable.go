// Package disable implements `podid disable`: the reverse of enable. It
// deletes the pod identity association, waits until the webhook no longer
// injects new pods, restarts the workloads and proves that their new pods
// have no Pod Identity injection.
package disable

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/flow"
	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/workload"
)

// Options are disable's inputs.
type Options struct {
	F      *cmdutil.Factory
	Flow   flow.Options
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
		Args: flow.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return run(cmd, opts)
		},
	}
	cmdutil.AddTargetFlags(cmd, &opts.Flow.Target)
	flow.AddDryRun(cmd, &opts.DryRun)
	return cmd
}

// Steps returns disable's steps for a bound flow.
func Steps(fl *flow.Flow) []step.Step {
	sess, o := fl.Session(), fl.Options()
	return []step.Step{
		podidentity.NewDisassociation(sess.AWS.EKS(), sess.Cluster.Name, o.Namespace, o.ServiceAccount),
		&workload.Depropagation{Client: sess.Kube.Client, Namespace: o.Namespace, ServiceAccount: o.ServiceAccount},
		&workload.Restart{
			Client: sess.Kube.Client, Namespace: o.Namespace, ServiceAccount: o.ServiceAccount,
			Problems: func(p *corev1.Pod) []string {
				_, parts := workload.InjectedAny(p)
				return parts
			},
			Want:          "have no Pod Identity injection",
			NoWorkloadsOK: true,
			Hint: fmt.Sprintf("another association may still map %s/%s, or the webhook has not caught up: check `aws eks list-pod-identity-associations --cluster-name %s --namespace %s`, then run podid disable again",
				o.Namespace, o.ServiceAccount, sess.Cluster.Name, o.Namespace),
		},
	}
}

func run(cmd *cobra.Command, opts *Options) error {
	c := flow.Command{Name: "disable", Opts: opts.Flow, DryRun: opts.DryRun, NeedKube: true, Steps: Steps}
	c.Text = func(w io.Writer, reps []step.Report) {
		ok := true
		for _, r := range reps {
			if r.Status == step.Failed {
				ok = false
			}
		}
		flow.Summary(w, c, reps, ok)
		for _, r := range reps {
			if r.Name == "disassociate" && (r.Status == step.Changed || r.Status == step.Planned) {
				fmt.Fprintf(w, "note: %s\n", podidentity.CredentialsNote)
			}
		}
	}
	return flow.Run(cmd.Context(), opts.F, c)
}
