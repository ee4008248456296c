package flow

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/irsa"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/trust"
	"github.com/podid/podid/internal/validate"
	"github.com/podid/podid/internal/workload"
)

// MigrateOptions shape `podid migrate`.
type MigrateOptions struct {
	Target               // both optional filters
	Approve              bool
	RemoveIRSAAnnotation bool
	RemoveOIDCTrust      bool
}

// MigrateStatus is how migrate names a service account's outcome: a
// changed one is "migrated"; the others keep the step vocabulary.
func MigrateStatus(s step.Status) string {
	if s == step.Changed {
		return "migrated"
	}
	return string(s)
}

// SAResult is one service account's migration, as printed and in JSON.
type SAResult struct {
	Namespace      string        `json:"namespace"`
	ServiceAccount string        `json:"serviceAccount"`
	RoleArn        string        `json:"roleArn"`
	Status         string        `json:"status"` // migrated, unchanged, planned, failed
	Error          string        `json:"error,omitempty"`
	Hint           string        `json:"hint,omitempty"`
	Steps          []step.Report `json:"steps"`
}

// MigrateSummary counts results by status.
type MigrateSummary struct {
	Total     int `json:"total"`
	Migrated  int `json:"migrated"`
	Unchanged int `json:"unchanged"`
	Planned   int `json:"planned"`
	Failed    int `json:"failed"`
}

// MigrateResult is migrate's result.
type MigrateResult struct {
	Approved        bool           `json:"approved"`
	ServiceAccounts []SAResult     `json:"serviceAccounts"`
	Summary         MigrateSummary `json:"summary"`
}

// Migrate is `podid migrate`: every service account annotated for IRSA (in
// t's namespace, or every one) moves to Pod Identity with the same role,
// one at a time; a failure stops that service account only.
func Migrate(o MigrateOptions) Job {
	return Job{
		Command: "migrate", Target: o.Target, DryRun: !o.Approve, NeedKube: true,
		Validate: o.Target.ValidateGiven,
		Do: func(ctx context.Context, sess *Session, env Env) Done {
			cands, err := irsa.Find(ctx, sess.Kube.Client, o.Namespace)
			if err != nil {
				return Done{Err: err}
			}
			res, err := runMigrate(ctx, sess, env, o, cands)
			return Done{Result: res, Err: err}
		},
	}
}

func runMigrate(ctx context.Context, sess *Session, env Env, o MigrateOptions, cands []irsa.Candidate) (MigrateResult, error) {
	res := MigrateResult{Approved: o.Approve, ServiceAccounts: []SAResult{}}
	var entries []entry
	var roles []string
	for _, c := range cands {
		if o.ServiceAccount != "" && c.ServiceAccount != o.ServiceAccount {
			continue
		}
		entries = append(entries, entry{Target: Target{Namespace: c.Namespace, ServiceAccount: c.ServiceAccount},
			steps: func() ([]step.Step, error) { return migrateSteps(sess, c, o) }})
		roles = append(roles, c.RoleArn)
	}
	sink := func(prefix string) step.Sink { return prefixNames{inner: env.sink(), prefix: prefix} }
	var failed []string
	var firstErr error
	for i, r := range runEntries(ctx, entries, 1, !o.Approve, sink) {
		if r.Result == step.Skipped && r.err != nil {
			break // interrupted before this one started
		}
		res.ServiceAccounts = append(res.ServiceAccounts, SAResult{Namespace: r.Namespace, ServiceAccount: r.ServiceAccount, RoleArn: roles[i],
			Status: MigrateStatus(r.Result), Error: r.Error, Hint: r.Hint, Steps: r.Steps})
		res.Summary.Total++
		switch r.Result {
		case step.Changed:
			res.Summary.Migrated++
		case step.Unchanged:
			res.Summary.Unchanged++
		case step.Planned:
			res.Summary.Planned++
		case step.Failed:
			res.Summary.Failed++
			failed = append(failed, r.Namespace+"/"+r.ServiceAccount)
			if firstErr == nil {
				firstErr = r.err
			}
		}
	}
	if len(failed) == 0 {
		return res, nil
	}
	return res, &fail.Error{Kind: fail.KindOf(firstErr),
		Err:  fmt.Errorf("migrate: %d of %d service accounts failed: %s (first: %v)", len(failed), res.Summary.Total, strings.Join(failed, ", "), firstErr),
		Hint: "fix what each failure names (see its hint), then run podid migrate again: the migrated ones report unchanged"}
}

// migrateSteps are the migration steps of one service account.
func migrateSteps(sess *Session, c irsa.Candidate, o MigrateOptions) ([]step.Step, error) {
	arn, err := validate.RoleArn(c.RoleArn)
	if err != nil {
		return nil, fail.Verifyf(fmt.Sprintf("fix the annotation: kubectl -n %s annotate serviceaccount %s %s=ROLE_ARN --overwrite", c.Namespace, c.ServiceAccount, kube.IRSARoleAnnotation),
			"service account %s/%s: annotation %s: %v", c.Namespace, c.ServiceAccount, kube.IRSARoleAnnotation, err)
	}
	if arn.Account != sess.Cluster.Account {
		return nil, fail.Verifyf(fmt.Sprintf("Pod Identity needs a role in the cluster's account %s; create one (podid role create --ns %s --sa %s) and chain to %s with podid enable --target-role-arn", sess.Cluster.Account, c.Namespace, c.ServiceAccount, c.RoleArn),
			"service account %s/%s: role %s is in account %s, not the cluster's account %s", c.Namespace, c.ServiceAccount, c.RoleArn, arn.Account, sess.Cluster.Account)
	}
	iamc, kc := sess.AWS.IAM(), sess.Kube.Client
	// The same verify-role (with --fix), associate and propagation as
	// enable's, for the annotation's role.
	fl, err := New(Options{Target: Target{Namespace: c.Namespace, ServiceAccount: c.ServiceAccount}, Role: c.RoleArn, RoleSource: "irsa annotation", Fix: true}, true)
	if err != nil {
		return nil, err
	}
	fl.bind(sess)
	steps := []step.Step{
		fl.Role(), fl.Associate(), fl.Propagation(false),
		&workload.Restart{
			Client: kc, Namespace: c.Namespace, ServiceAccount: c.ServiceAccount,
			Problems:      PodProblems,
			Want:          "have Pod Identity credentials and no IRSA variables",
			NoWorkloadsOK: true,
			Hint: fmt.Sprintf("check the association (aws eks list-pod-identity-associations --cluster-name %s --namespace %s) and the pod identity webhook, then run podid migrate --ns %s --approve again; the IRSA annotation and trust were left in place",
				sess.Cluster.Name, c.Namespace, c.Namespace),
		},
	}
	if o.RemoveIRSAAnnotation {
		steps = append(steps, &irsa.AnnotationStep{Client: kc, Namespace: c.Namespace, ServiceAccount: c.ServiceAccount})
	}
	if o.RemoveOIDCTrust {
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
