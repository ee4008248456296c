package flow

import (
	"context"
	"fmt"
	"time"

	"github.com/podid/podid/internal/credcheck"
	"github.com/podid/podid/internal/diagnose"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/workload"
)

// Credentials is the step after the restart: the agent's exchange for one
// new pod of each restarted workload (credcheck). It reads the pods the
// restart step reported, so it must follow it in the same step list.
func (f *Flow) Credentials() step.Step {
	return &credcheck.Step{Checker: f.checker(), Mode: f.credMode, Target: f.target(func() []credcheck.Subject {
		// Read when the step runs, after the restart reported its pods.
		var c perOwner
		if f.restarted != nil {
			for _, p := range f.restarted.Pods {
				c.add(p.Workload, p.Injected, credcheck.Subject{Workload: p.Workload, Pod: p.Pod, UID: p.UID, Node: p.Node})
			}
		}
		return c.out
	}, false)}
}

// checker is the run's one credentials checker (its proofs are cached per
// pod, so verify after enable in one process pays once).
func (f *Flow) checker() *credcheck.Checker {
	if f.creds == nil {
		c := f.sess.AWS
		f.creds = &credcheck.Checker{Kube: f.sess.Kube.Client, EKSAuth: c.EKSAuth(), NewSTS: credcheck.NewSTSFromConfig(c.Config())}
	}
	return f.creds
}

// expected reads the association the pods will use and wires the static
// explanation of a denial (verify-role's request model) into the checker.
func (f *Flow) expected(ctx context.Context) (credcheck.Expected, bool, error) {
	o, sess := f.opts, f.sess
	a := f.assoc // the associate step of this run knows it: no read
	if a == nil {
		var err error
		a, err = podidentity.FindAssociation(ctx, sess.AWS.EKS(), sess.Cluster.Name, o.Namespace, o.ServiceAccount)
		if err != nil || a == nil {
			return credcheck.Expected{}, false, err
		}
	}
	f.checker().Explain = podidentity.ExplainAssociation(sess.AWS.IAM(), sess.Cluster, *a)
	return credcheck.Expected{
		Cluster: sess.Cluster.Name, ClusterArn: sess.Cluster.Arn, Namespace: o.Namespace, ServiceAccount: o.ServiceAccount,
		AssociationID: a.ID, RoleArn: a.RoleArn, TargetRoleArn: a.TargetRoleArn, DisableSessionTags: a.DisableSessionTags,
	}, true, nil
}

// provePods makes the exchange for the given pods (one per owner; verify
// and status pick them from their verdict). A result without details means
// there was nothing to prove (no association, no pod).
//
// With missingIsError, pods that carry the injection while no association
// exists (it was deleted after the restart) fail the proof: the agent gets
// no credentials for them. status reports the missing association itself.
func (f *Flow) provePods(ctx context.Context, subjects []credcheck.Subject, missingIsError bool) (step.Result, error) {
	st := &credcheck.Step{Checker: f.checker(), Mode: f.credMode, Target: f.target(func() []credcheck.Subject { return subjects }, missingIsError)}
	return st.Verify(ctx, step.Plan{}, nil)
}

// target is the credentials step's target: the association the pods will
// use and the pods subjects returns (one per owner). With missingIsError,
// pods that carry the injection while no association exists fail the
// proof.
func (f *Flow) target(subjects func() []credcheck.Subject, missingIsError bool) credcheck.Target {
	return func(ctx context.Context) (credcheck.Expected, []credcheck.Subject, string, bool, error) {
		o := f.opts
		pods := subjects()
		exp, ok, err := f.expected(ctx)
		if err == nil && !ok && missingIsError && len(pods) > 0 {
			c := f.sess.Cluster.Name
			err = fail.Verifyf(fmt.Sprintf("recreate it: podid enable --cluster %s --ns %s --sa %s (or podid associate --cluster %s --ns %s --sa %s --role ROLE)", c, o.Namespace, o.ServiceAccount, c, o.Namespace, o.ServiceAccount),
				"no pod identity association for %s/%s on cluster %s: its pods carry the injection, but EKS Auth gives them no credentials (was the association deleted after the restart?)", o.Namespace, o.ServiceAccount, c)
		}
		if err != nil || !ok {
			return exp, nil, fmt.Sprintf("no pod identity association for %s/%s", o.Namespace, o.ServiceAccount), false, err
		}
		if len(pods) == 0 {
			return exp, nil, fmt.Sprintf("no running pod of %s/%s has the injection", o.Namespace, o.ServiceAccount), false, nil
		}
		return exp, pods, "", true, nil
	}
}

// perOwner keeps the first passing pod of each owner; a pod without a
// controller is its own owner.
type perOwner struct {
	seen map[string]bool
	out  []credcheck.Subject
}

func (c *perOwner) add(owner string, passing bool, s credcheck.Subject) {
	if owner == "" {
		owner = "pod/" + s.Pod
	}
	if !passing || c.seen[owner] {
		return
	}
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	c.seen[owner] = true
	s.Workload = owner
	c.out = append(c.out, s)
}

// proveStep runs provePods as a step of its own, with its status line.
// after, when the proof passed, checks what the exchange cannot see (the
// node role, which the agent signs with).
func (f *Flow) proveStep(ctx context.Context, env Env, subjects []credcheck.Subject, after func(context.Context) error) (step.Report, *credcheck.Details, error) {
	start := time.Now()
	line := env.sink().Start(credcheck.StepName)
	if f.credMode != credcheck.ModeOff && len(subjects) > 0 {
		line.Waiting(fmt.Sprintf("EKS Auth AssumeRoleForPodIdentity for %s", diagnose.Count(len(subjects), "pod", "pods")))
	}
	res, err := f.provePods(ctx, subjects, true)
	if err == nil && after != nil && f.credMode != credcheck.ModeOff {
		err = after(ctx)
	}
	d, _ := res.Details.(*credcheck.Details)
	rep := step.Report{Name: credcheck.StepName, Status: step.Unchanged, Message: res.Summary, Changes: res.Changes, Warnings: res.Warnings, Details: res.Details, Duration: time.Since(start)}
	rep.Seconds = rep.Duration.Seconds()
	if err != nil {
		rep.Status, rep.Error, rep.Hint = step.Failed, err.Error(), fail.HintOf(err)
	}
	line.Done(rep)
	return rep, d, err
}

// verdictSubjects is one passing pod per owner of verify's verdict.
func verdictSubjects(v diagnose.Verdict) []credcheck.Subject {
	var c perOwner
	for _, p := range v.Pods {
		c.add(p.Owner, p.OK, credcheck.Subject{Pod: p.Name, UID: p.UID, Node: p.Node})
	}
	return c.out
}

// statusSubjects is one injected pod without problems per workload of
// status' report.
func statusSubjects(pods []diagnose.PodInfo) []credcheck.Subject {
	var c perOwner
	for _, p := range pods {
		c.add(p.Workload, p.Injected && len(p.Problems) == 0, credcheck.Subject{Pod: p.Name, UID: p.UID, Node: p.Node})
	}
	return c.out
}

// credentialFindings turns the credentials result into status findings.
func credentialFindings(res step.Result, err error) []diagnose.Finding {
	d, _ := res.Details.(*credcheck.Details)
	switch {
	case err != nil:
		return []diagnose.Finding{{Area: "credentials", Severity: diagnose.Error, Message: err.Error(), Fix: fail.HintOf(err)}}
	case d == nil || d.Mode == credcheck.ModeOff || len(d.Proofs) == 0:
		return nil
	}
	var out []diagnose.Finding
	for _, w := range res.Warnings {
		out = append(out, diagnose.Finding{Area: "credentials", Severity: diagnose.Warn, Message: w})
	}
	for _, p := range d.Proofs {
		if p.Outcome == credcheck.Proven {
			out = append(out, diagnose.Finding{Area: "credentials", Severity: diagnose.OK, Message: credcheck.ProofLine(p)})
		}
	}
	return out
}

// restartStep is the restart step, remembering what it reported for the
// credentials step that follows it.
type restartStep struct {
	*workload.Restart
	f *Flow
}

func (s *restartStep) keep(res step.Result, p step.Plan) {
	if d, ok := res.Details.(*workload.RestartDetails); ok {
		s.f.restarted = d
	} else if d, ok := p.Details.(*workload.RestartDetails); ok {
		s.f.restarted = d
	}
}

func (s *restartStep) Apply(ctx context.Context, p step.Plan, progress step.Progress) (step.Result, error) {
	res, err := s.Restart.Apply(ctx, p, progress)
	s.keep(res, p)
	return res, err
}

func (s *restartStep) Verify(ctx context.Context, p step.Plan, progress step.Progress) (step.Result, error) {
	res, err := s.Restart.Verify(ctx, p, progress)
	s.keep(res, p)
	return res, err
}
