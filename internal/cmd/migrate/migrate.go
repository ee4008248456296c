// Package migrate implements `podid migrate`: move service accounts from
// IRSA (the eks.amazonaws.com/role-arn annotation) to EKS Pod Identity, one
// service account at a time, verified before anything IRSA is removed.
package migrate

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/flow"
	"github.com/podid/podid/internal/irsa"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/trust"
	"github.com/podid/podid/internal/validate"
	"github.com/podid/podid/internal/workload"
)

// Options are migrate's inputs.
type Options struct {
	F                    *cmdutil.Factory
	Target               cmdutil.Target // both optional filters
	Approve              bool
	RemoveIRSAAnnotation bool
	RemoveOIDCTrust      bool
}

// Per-service-account outcome (SAResult.Status).
const (
	StatusMigrated  = "migrated"
	StatusUnchanged = "unchanged" // already on Pod Identity; nothing to do
	StatusPlanned   = "planned"
	StatusFailed    = "failed"
)

// SAResult is one service account's migration, as printed and in JSON.
type SAResult struct {
	Namespace      string        `json:"namespace"`
	ServiceAccount string        `json:"serviceAccount"`
	RoleArn        string        `json:"roleArn"`
	Status         string        `json:"status"`
	Error          string        `json:"error,omitempty"`
	Hint           string        `json:"hint,omitempty"`
	Steps          []step.Report `json:"steps"`

	err error
}

// Summary counts results by status.
type Summary struct {
	Total     int `json:"total"`
	Migrated  int `json:"migrated"`
	Unchanged int `json:"unchanged"`
	Planned   int `json:"planned"`
	Failed    int `json:"failed"`
}

// Result is migrate's JSON result.
type Result struct {
	Approved        bool       `json:"approved"`
	ServiceAccounts []SAResult `json:"serviceAccounts"`
	Summary         Summary    `json:"summary"`
}

// NewCmd returns the migrate command; runF replaces the run in tests.
func NewCmd(f *cmdutil.Factory, runF func(*cobra.Command, *Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "migrate [--ns NAMESPACE] [--sa SERVICE_ACCOUNT] [--approve]",
		Short: "Move service accounts from IRSA to Pod Identity",
		Long: `Find the service accounts annotated eks.amazonaws.com/role-arn (IRSA), in every namespace or in --ns,
and move each to EKS Pod Identity with the same role:

  verify-role        the role (from the annotation; it must be in the cluster's account) gets the Pod
                     Identity trust statement, scoped to this cluster, namespace and service account;
                     its OIDC statement is kept
  associate          the pod identity association is created
  propagation        the webhook injects new pods of the service account
  restart            the workloads are restarted; every new pod must have the Pod Identity credentials
                     and no IRSA variables
  remove-annotation  with --remove-irsa-annotation, only after the restart was verified
  remove-oidc-trust  with --remove-oidc-trust, only after the restart was verified, and only the OIDC
                     statement that serves this service account alone

Without --approve, migrate prints the plan for every service account and changes nothing.
A failure stops that service account only; the others go on. Run it again to finish.`,
		Example: `  podid migrate --cluster eks-workshop
  podid migrate --ns orders --approve
  podid migrate --ns orders --approve --remove-irsa-annotation --remove-oidc-trust`,
		Args: flow.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmdutil.AddTargetFlags(cmd, &opts.Target)
	fs := cmd.Flags()
	fs.BoolVar(&opts.Approve, "approve", false, "make the changes (default: print the plan and change nothing)")
	fs.BoolVar(&opts.RemoveIRSAAnnotation, "remove-irsa-annotation", false, "remove eks.amazonaws.com/role-arn from each service account once its pods are verified on Pod Identity")
	fs.BoolVar(&opts.RemoveOIDCTrust, "remove-oidc-trust", false, "remove the role's OIDC trust statement for the service account once its pods are verified on Pod Identity")
	return cmd
}

func (o *Options) validate() error {
	if err := o.F.Globals.Validate(true); err != nil {
		return err
	}
	if o.Target.Namespace != "" {
		if err := validate.Namespace(o.Target.Namespace); err != nil {
			return fail.Usagef("namespaces are DNS-1123 labels: lowercase letters, digits and '-', at most 63 characters", "invalid --ns: %v", err)
		}
	}
	if o.Target.ServiceAccount != "" {
		if err := validate.ServiceAccount(o.Target.ServiceAccount); err != nil {
			return fail.Usagef("service account names are DNS-1123 subdomains: lowercase letters, digits, '-' and '.'", "invalid --sa: %v", err)
		}
	}
	return nil
}

func run(ctx context.Context, opts *Options) error {
	f := opts.F
	out := cmdutil.Outcome{Command: "migrate", Namespace: opts.Target.Namespace, ServiceAccount: opts.Target.ServiceAccount, DryRun: !opts.Approve, Start: time.Now()}
	ctx, cancel := f.WithTimeout(ctx)
	defer cancel()
	sess, first, err := f.Connect(ctx, true)
	if err != nil {
		out.Steps, out.Err = []step.Report{first}, err
		return f.Finish(out)
	}
	out.Steps = []step.Report{first}
	cands, err := irsa.Find(ctx, sess.Kube.Client, opts.Target.Namespace)
	if err != nil {
		out.Err = err
		return f.Finish(out)
	}
	res := Result{Approved: opts.Approve, ServiceAccounts: []SAResult{}}
	for _, c := range cands {
		if opts.Target.ServiceAccount != "" && c.ServiceAccount != opts.Target.ServiceAccount {
			continue
		}
		r := migrateOne(ctx, f, sess, c, opts)
		res.ServiceAccounts = append(res.ServiceAccounts, r)
		if ctx.Err() != nil {
			break
		}
	}
	var failed []string
	var firstErr error
	for _, r := range res.ServiceAccounts {
		res.Summary.Total++
		switch r.Status {
		case StatusMigrated:
			res.Summary.Migrated++
		case StatusUnchanged:
			res.Summary.Unchanged++
		case StatusPlanned:
			res.Summary.Planned++
		case StatusFailed:
			res.Summary.Failed++
			failed = append(failed, fmt.Sprintf("%s/%s", r.Namespace, r.ServiceAccount))
			if firstErr == nil {
				firstErr = r.err
			}
		}
	}
	out.Result = res
	out.Text = func(w io.Writer) { printText(w, opts, res) }
	if len(failed) > 0 {
		out.Err = &fail.Error{Kind: fail.KindOf(firstErr),
			Err:  fmt.Errorf("migrate: %d of %d service accounts failed: %s (first: %v)", len(failed), res.Summary.Total, strings.Join(failed, ", "), firstErr),
			Hint: "fix what each failure names (see its hint), then run podid migrate again: the migrated ones report unchanged"}
	}
	return f.Finish(out)
}

// Steps returns the migration steps of one service account.
func Steps(sess *cmdutil.Session, c irsa.Candidate, opts *Options) ([]step.Step, error) {
	arn, err := validate.RoleArn(c.RoleArn)
	if err != nil {
		return nil, fail.Verifyf(fmt.Sprintf("fix the annotation: kubectl -n %s annotate serviceaccount %s %s=ROLE_ARN --overwrite", c.Namespace, c.ServiceAccount, kube.IRSARoleAnnotation),
			"service account %s/%s: annotation %s: %v", c.Namespace, c.ServiceAccount, kube.IRSARoleAnnotation, err)
	}
	if arn.Account != sess.Cluster.Account {
		return nil, fail.Verifyf(fmt.Sprintf("Pod Identity needs a role in the cluster's account %s; create one (podid role create --ns %s --sa %s) and chain to %s with podid enable --target-role-arn", sess.Cluster.Account, c.Namespace, c.ServiceAccount, c.RoleArn),
			"service account %s/%s: role %s is in account %s, not the cluster's account %s", c.Namespace, c.ServiceAccount, c.RoleArn, arn.Account, sess.Cluster.Account)
	}
	iamc, eksc, kc := sess.AWS.IAM(), sess.AWS.EKS(), sess.Kube.Client
	vr, err := podidentity.NewVerifyRole(iamc, iamc, podidentity.VerifyRoleOptions{
		Role:    podidentity.RoleRef{Name: arn.Name, Arn: c.RoleArn, Source: "irsa annotation"},
		Cluster: sess.Cluster, Namespace: c.Namespace, ServiceAccount: c.ServiceAccount, Fix: true,
	})
	if err != nil {
		return nil, err
	}
	assoc, err := podidentity.NewAssociation(eksc, podidentity.AssociationOptions{
		Cluster: sess.Cluster.Name, Namespace: c.Namespace, ServiceAccount: c.ServiceAccount, RoleArn: c.RoleArn,
		// The trust was just fixed: EKS may read the old one for a while.
		IAMCheck: podidentity.IAMRoleCheck(iamc, c.RoleArn, sess.Cluster, c.Namespace, c.ServiceAccount),
	})
	if err != nil {
		return nil, err
	}
	steps := []step.Step{
		vr, assoc,
		&workload.Propagation{Client: kc, Namespace: c.Namespace, ServiceAccount: c.ServiceAccount},
		&workload.Restart{
			Client: kc, Namespace: c.Namespace, ServiceAccount: c.ServiceAccount,
			Problems:      PodProblems,
			Want:          "have Pod Identity credentials and no IRSA variables",
			NoWorkloadsOK: true,
			Hint: fmt.Sprintf("check the association (aws eks list-pod-identity-associations --cluster-name %s --namespace %s) and the pod identity webhook, then run podid migrate --ns %s --approve again; the IRSA annotation and trust were left in place",
				sess.Cluster.Name, c.Namespace, c.Namespace),
		},
	}
	if opts.RemoveIRSAAnnotation {
		steps = append(steps, &irsa.AnnotationStep{Client: kc, Namespace: c.Namespace, ServiceAccount: c.ServiceAccount})
	}
	if opts.RemoveOIDCTrust {
		steps = append(steps, &irsa.OIDCTrustStep{API: iamc, Role: arn.Name, Namespace: c.Namespace, ServiceAccount: c.ServiceAccount,
			Request: trust.Request{Cluster: sess.Cluster.Name, Namespace: c.Namespace, ServiceAccount: c.ServiceAccount, Account: sess.Cluster.Account, ClusterArn: sess.Cluster.Arn}})
	}
	return steps, nil
}

// PodProblems is what keeps a pod from counting as migrated: a missing
// part of the Pod Identity injection, or IRSA variables that AWS SDKs would
// use first.
func PodProblems(p *corev1.Pod) []string {
	in := kube.CheckInjection(p)
	out := append([]string(nil), in.Missing...)
	var irsaC []string
	for name, c := range in.Containers {
		if c.IRSA {
			irsaC = append(irsaC, name)
		}
	}
	if len(irsaC) > 0 {
		out = append(out, "IRSA variables (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE) in containers "+strings.Join(irsaC, ", "))
	}
	return out
}

func migrateOne(ctx context.Context, f *cmdutil.Factory, sess *cmdutil.Session, c irsa.Candidate, opts *Options) SAResult {
	r := SAResult{Namespace: c.Namespace, ServiceAccount: c.ServiceAccount, RoleArn: c.RoleArn, Steps: []step.Report{}}
	prefix := c.Namespace + "/" + c.ServiceAccount + " "
	steps, err := Steps(sess, c, opts)
	if err != nil {
		r.Status, r.Error, r.Hint, r.err = StatusFailed, err.Error(), fail.HintOf(err), err
		line := f.Status().Start(prefix + "plan")
		line.Done(step.Report{Name: prefix + "plan", Status: step.Failed, Error: err.Error(), Hint: fail.HintOf(err)})
		return r
	}
	reps, err := step.Runner{DryRun: !opts.Approve, Sink: prefixSink{inner: f.Status(), prefix: prefix}}.Run(ctx, steps)
	r.Steps = reps
	if err != nil {
		r.Status, r.Error, r.Hint, r.err = StatusFailed, err.Error(), fail.HintOf(err), err
		return r
	}
	r.Status = StatusUnchanged
	for _, s := range reps {
		switch s.Status {
		case step.Planned:
			r.Status = StatusPlanned
		case step.Changed:
			r.Status = StatusMigrated
		}
	}
	return r
}

// prefixSink names each status line after the service account.
type prefixSink struct {
	inner  step.Sink
	prefix string
}

func (s prefixSink) Start(name string) step.Line {
	return prefixLine{Line: s.inner.Start(s.prefix + name), prefix: s.prefix}
}

type prefixLine struct {
	step.Line
	prefix string
}

func (l prefixLine) Done(r step.Report) {
	r.Name = l.prefix + r.Name
	l.Line.Done(r)
}

func printText(w io.Writer, opts *Options, res Result) {
	if len(res.ServiceAccounts) == 0 {
		where := "any namespace"
		if opts.Target.Namespace != "" {
			where = "namespace " + opts.Target.Namespace
		}
		fmt.Fprintf(w, "no service account in %s is annotated %s: nothing to migrate\n", where, kube.IRSARoleAnnotation)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tSERVICE ACCOUNT\tROLE\tSTATUS\tDETAIL")
	for _, r := range res.ServiceAccounts {
		detail := ""
		switch r.Status {
		case StatusFailed:
			detail = r.Error
		case StatusPlanned:
			var names []string
			for _, s := range r.Steps {
				if s.Status == step.Planned {
					names = append(names, s.Name)
				}
			}
			detail = "would change: " + strings.Join(names, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Namespace, r.ServiceAccount, r.RoleArn, r.Status, firstLine(detail))
	}
	_ = tw.Flush()
	if !opts.Approve {
		for _, r := range res.ServiceAccounts {
			if r.Status != StatusPlanned {
				continue
			}
			fmt.Fprintf(w, "\nplan for %s/%s:\n", r.Namespace, r.ServiceAccount)
			for _, s := range r.Steps {
				for _, c := range s.Changes {
					fmt.Fprintf(w, "  %-18s %s\n", s.Name, strings.ReplaceAll(c, "\n", "\n"+strings.Repeat(" ", 21)))
				}
			}
		}
		fmt.Fprintf(w, "\ndry run: %d service account(s) to migrate; nothing was changed. Run again with --approve to migrate.\n", res.Summary.Planned)
		return
	}
	fmt.Fprintf(w, "\nmigrate: %d migrated, %d unchanged, %d failed\n", res.Summary.Migrated, res.Summary.Unchanged, res.Summary.Failed)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
