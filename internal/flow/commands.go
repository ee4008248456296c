package flow

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/podid/podid/internal/credcheck"
	"github.com/podid/podid/internal/diagnose"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/workload"
)

// The commands made of steps for one target. Each list is the one place
// that says which steps a command runs, in which order.

// Enable is `podid enable`.
func Enable(o Options, dryRun bool) Job {
	return stepsJob("enable", o, dryRun, true, true, func(f *Flow) []step.Step {
		return append([]step.Step{f.Agent(), f.Role(), f.Associate()}, f.Rollout(false)...)
	})
}

// InstallAgent is `podid install-agent`.
func InstallAgent(o Options, dryRun bool) Job {
	return stepsJob("install-agent", o, dryRun, true, false, func(f *Flow) []step.Step { return []step.Step{f.Agent()} })
}

// VerifyRole is `podid verify-role`.
func VerifyRole(o Options, dryRun bool) Job {
	return stepsJob("verify-role", o, dryRun, false, true, func(f *Flow) []step.Step { return []step.Step{f.Role()} })
}

// Associate is `podid associate`.
func Associate(o Options, dryRun bool) Job {
	return stepsJob("associate", o, dryRun, true, true, func(f *Flow) []step.Step { return []step.Step{f.Associate()} })
}

// Restart is `podid restart`.
func Restart(o Options, dryRun bool) Job {
	return stepsJob("restart", o, dryRun, true, true, func(f *Flow) []step.Step { return f.Rollout(true) })
}

// Disable is `podid disable`: the reverse of enable.
func Disable(t Target, dryRun bool) Job {
	return stepsJob("disable", Options{Target: t}, dryRun, true, true, func(f *Flow) []step.Step {
		sess, o := f.sess, f.opts
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
	})
}

// RoleCreateOptions are `podid role create`'s inputs, validated by the
// command layer (the cluster's name and account are known only here).
type RoleCreateOptions struct {
	Target
	Name, Path, Description, PermissionsBoundary string
	PolicyArns                                   []string
	InlineName, InlineDocument                   string
	Tags                                         map[string]string
	Unscoped                                     bool
}

// RoleCreate is `podid role create`.
func RoleCreate(o RoleCreateOptions, dryRun bool) Job {
	return stepsJob("role create", Options{Target: o.Target}, dryRun, false, true, func(f *Flow) []step.Step {
		sess := f.sess
		return []step.Step{podidentity.NewRoleCreate(sess.AWS.IAM(), podidentity.RoleCreateOptions{
			Cluster: sess.Cluster, Namespace: o.Namespace, ServiceAccount: o.ServiceAccount,
			Name: o.Name, Path: o.Path, Description: o.Description, PermissionsBoundary: o.PermissionsBoundary,
			PolicyArns: o.PolicyArns, InlineName: o.InlineName, InlineDocument: o.InlineDocument, Tags: o.Tags,
			Unscoped: o.Unscoped,
		})}
	})
}

// stepsJob is a command made of steps for one target: every check, then
// every change, in the order build gives.
func stepsJob(command string, o Options, dryRun, needKube, needTarget bool, build func(*Flow) []step.Step) Job {
	var fl *Flow
	return Job{
		Command: command, Target: o.Target, DryRun: dryRun, NeedKube: needKube,
		Validate: func() (err error) {
			fl, err = New(o, needTarget)
			return err
		},
		Do: func(ctx context.Context, sess *Session, env Env) Done {
			fl.bind(sess)
			reps, err := step.Runner{DryRun: dryRun, Sink: env.sink()}.Run(ctx, build(fl))
			return Done{Steps: reps, Result: ResultOf(reps), Err: err}
		},
	}
}

// Status is `podid status`: every read-only check, cluster-wide or for one
// service account (both or neither of t's names).
func Status(t Target, credentials string) Job {
	var fl *Flow
	return Job{
		Command: "status", Target: t, NeedKube: true,
		Validate: func() error {
			var err error
			if t.Namespace == "" && t.ServiceAccount == "" {
				fl, err = New(Options{Credentials: credentials}, false)
				return err
			}
			if err := fail.WithHint(t.Validate(), "pass both --ns and --sa, or neither for the whole cluster"); err != nil {
				return err
			}
			fl, err = New(Options{Target: t, Credentials: credentials}, true)
			return err
		},
		Do: func(ctx context.Context, sess *Session, env Env) Done {
			start := time.Now()
			line := env.sink().Start("status")
			line.Waiting("checking add-on, agent, node roles, associations, workloads")
			o := diagnose.Options{Cluster: sess.Cluster, Namespace: t.Namespace, ServiceAccount: t.ServiceAccount}
			rep, err := diagnose.Status(ctx, diagnose.Deps{EKS: sess.AWS.EKS(), IAM: sess.AWS.IAM(), Kube: sess.Kube.Client}, o)
			var creds *credcheck.Details
			if err == nil && t.Namespace != "" {
				// The agent's exchange for the pods that passed.
				fl.bind(sess)
				line.Waiting("EKS Auth AssumeRoleForPodIdentity for the running pods")
				res, cerr := fl.provePods(ctx, statusSubjects(rep.Pods), false)
				creds, _ = res.Details.(*credcheck.Details)
				if cerr != nil && fail.KindOf(cerr) != fail.KindVerification {
					err = cerr
				} else {
					rep.Findings = append(rep.Findings, credentialFindings(res, cerr)...)
				}
			}
			sr := step.Report{Name: "status", Status: step.Unchanged, Duration: time.Since(start)}
			sr.Seconds = sr.Duration.Seconds()
			switch {
			case err != nil:
				sr.Status, sr.Error, sr.Hint = step.Failed, err.Error(), fail.HintOf(err)
			default:
				sr.Message = rep.Summary(o)
				if errs := rep.Errors(); len(errs) > 0 {
					err = fail.Verifyf("fix each ✗ finding as its fix: line says, then run podid status again",
						"%s for %s: %s", diagnose.Count(len(errs), "problem", "problems"), o.Scope(), errs[0].Message)
				}
			}
			line.Done(sr)
			return Done{Steps: []step.Report{sr}, Result: StatusResult{Report: rep, Credentials: creds, Options: o}, Err: err}
		},
	}
}

// VerifyResult is verify's result: the verdict on the running pods and the
// proof of their credentials.
type VerifyResult struct {
	diagnose.Verdict
	Credentials *credcheck.Details `json:"credentials,omitempty"`
}

// StatusResult is status' result: the findings, and what they were for.
type StatusResult struct {
	diagnose.Report
	// Credentials is the proof of the running pods' credentials (with --ns
	// and --sa).
	Credentials *credcheck.Details `json:"credentials,omitempty"`
	Options     diagnose.Options   `json:"-"`
}

// Verify is `podid verify`: every running pod of the service account has
// the injection and a ready agent; with wait, until it holds.
func Verify(t Target, wait bool, credentials string) Job {
	var fl *Flow
	return Job{
		Command: "verify", Target: t, NeedKube: true,
		Validate: func() (err error) {
			fl, err = New(Options{Target: t, Credentials: credentials}, true)
			return err
		},
		Do: func(ctx context.Context, sess *Session, env Env) Done {
			start := time.Now()
			line := env.sink().Start("verify")
			var (
				v   diagnose.Verdict
				err error
			)
			if wait {
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
			v.SetCluster(sess.Cluster.Name) // the fixes name the cluster
			rep := step.Report{Name: "verify", Status: step.Unchanged, Message: v.Summary(), Duration: time.Since(start)}
			rep.Seconds = rep.Duration.Seconds()
			if err != nil {
				rep.Status, rep.Error, rep.Hint = step.Failed, err.Error(), fail.HintOf(err)
			}
			line.Done(rep)
			reps := []step.Report{rep}
			res := VerifyResult{Verdict: v}
			if err == nil {
				// Injected is half the path: the agent's exchange proves the rest.
				fl.bind(sess)
				var cr step.Report
				cr, res.Credentials, err = fl.proveStep(ctx, env, verdictSubjects(v), func(ctx context.Context) error {
					// The agent signs with the node role, not with podid's
					// identity: a node role without the permission fails
					// every pod on its nodes although the exchange succeeded.
					o := diagnose.Options{Cluster: sess.Cluster, Namespace: t.Namespace, ServiceAccount: t.ServiceAccount}
					probs, err := diagnose.NodeRoleProblems(ctx, diagnose.Deps{EKS: sess.AWS.EKS(), IAM: sess.AWS.IAM(), Kube: sess.Kube.Client}, o)
					if err != nil || len(probs) == 0 {
						return err
					}
					return fail.Verifyf(probs[0].Fix, "%s", probs[0].Message)
				})
				reps = append(reps, cr)
			}
			return Done{Steps: reps, Result: res, Err: err}
		},
	}
}
