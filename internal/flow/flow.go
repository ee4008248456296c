// Package flow is podid's composition layer: which steps run, in which
// order, for which target. Every command's work is a Job built here (Enable,
// Disable, Apply, Status, …) and run by the one Run: validate, connect,
// check everything, apply, return one typed Outcome. Steps of one target
// share a Flow, so `enable` runs exactly the steps the subcommands run, with
// results passed forward (the role found by verify-role is the one
// associate uses; an association moved to another role forces the
// restart). It knows nothing of flags or of output: the command layer
// (internal/cmd, cmdutil) fills its options, internal/ui renders its
// outcome.
package flow

import (
	"context"
	"fmt"

	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/podid/podid/internal/credcheck"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/validate"
	"github.com/podid/podid/internal/workload"
)

// Options are every flag that shapes the steps.
type Options struct {
	Target

	// install-agent
	AddonVersion     string
	ResolveConflicts string // --resolve-conflicts: overwrite, preserve, none or ""

	// verify-role
	Role string // name or ARN; "" = discover
	// RoleSource says who named Role when it was not --role (migrate: the
	// IRSA annotation).
	RoleSource string
	Fix        bool
	Expect     []string

	// associate
	Update bool
	podidentity.AssociationSettings
	CreateSA bool

	// restart
	Workloads []string
	Force     bool

	// Credentials is --credentials: auto (prove the new pods' credentials
	// when the caller may), require or off ("" = auto).
	Credentials string
}

// Flow builds the steps of one run and carries results between them.
type Flow struct {
	sess *Session
	opts Options

	expect    []podidentity.Expectation
	workloads []kube.WorkloadRef

	role       *podidentity.RoleRef // resolved in verify-role's Check
	assocMoved bool                 // the association changed role in this run
	agent      *workload.Agent
	// associating: this run has the associate step, so the association
	// will have the flags' settings (target role, session tags).
	associating bool
	// verifying: this run has the verify-role step, which judges the
	// request before associate changes anything.
	verifying bool

	resolveConflicts ekstypes.ResolveConflicts // parsed --resolve-conflicts

	credMode  credcheck.Mode           // parsed --credentials
	creds     *credcheck.Checker       // the run's exchanges (cached per pod)
	restarted *workload.RestartDetails // what the restart step reported
}

// New validates the options that need no API call and returns a Flow; bind
// gives it the session before steps are built.
func New(opts Options, needTarget bool) (*Flow, error) {
	if needTarget {
		if err := opts.Target.Validate(); err != nil {
			return nil, err
		}
	}
	f := &Flow{opts: opts}
	rc, err := podidentity.ParseResolveConflicts(opts.ResolveConflicts)
	if err != nil {
		return nil, err
	}
	f.resolveConflicts = rc
	if f.credMode, err = credcheck.ParseMode(opts.Credentials); err != nil {
		return nil, fail.Usagef("pass --credentials auto, require or off", "%v", err)
	}
	if opts.TargetRoleArn != "" {
		if _, err := validate.RoleArn(opts.TargetRoleArn); err != nil {
			return nil, fail.Usagef("pass the ARN of the role to chain to, e.g. --target-role-arn arn:aws:iam::111122223333:role/carts-dynamo", "invalid --target-role-arn: %v", err)
		}
	}
	for _, e := range opts.Expect {
		x, err := podidentity.ParseExpect(e)
		if err != nil {
			return nil, err
		}
		f.expect = append(f.expect, x)
	}
	for _, w := range opts.Workloads {
		r, err := kube.ParseWorkloadRef(w)
		if err != nil {
			return nil, fail.WithKind(err, fail.KindUsage)
		}
		f.workloads = append(f.workloads, r)
	}
	return f, nil
}

// bind attaches the session.
func (f *Flow) bind(sess *Session) { f.sess = sess }

// Agent is the install-agent step.
func (f *Flow) Agent() step.Step {
	f.agent = &workload.Agent{Client: f.sess.Kube.Client}
	return podidentity.NewAgentAddon(f.sess.AWS.EKS(), f.agent, f.sess.Cluster, podidentity.AgentAddonOptions{Version: f.opts.AddonVersion, ResolveConflicts: f.resolveConflicts})
}

// Role is the verify-role step; it resolves the role in its Check.
func (f *Flow) Role() step.Step {
	f.verifying = true
	return &roleStep{f: f}
}

// Associate is the associate step; it uses the role verify-role resolved
// (or resolves it itself when run alone).
func (f *Flow) Associate() step.Step {
	f.associating = true
	return &assocStep{f: f}
}

// Propagation is the step that proves the webhook injects the service
// account. standalone adds the precondition that an association exists.
func (f *Flow) Propagation(standalone bool) step.Step {
	p := &workload.Propagation{Client: f.sess.Kube.Client, Namespace: f.opts.Namespace, ServiceAccount: f.opts.ServiceAccount}
	if standalone {
		p.Precondition = func(ctx context.Context) error {
			a, err := podidentity.FindAssociation(ctx, f.sess.AWS.EKS(), f.sess.Cluster.Name, f.opts.Namespace, f.opts.ServiceAccount)
			if err != nil {
				return err
			}
			if a == nil {
				return fail.Verifyf(fmt.Sprintf("create it first: podid associate --cluster %s --ns %s --sa %s --role ROLE", f.sess.Cluster.Name, f.opts.Namespace, f.opts.ServiceAccount),
					"no pod identity association for %s/%s on cluster %s: restarted pods would get no credentials", f.opts.Namespace, f.opts.ServiceAccount, f.sess.Cluster.Name)
			}
			return nil
		}
	}
	return p
}

// Restart is the restart step.
func (f *Flow) Restart() step.Step {
	return &restartStep{f: f, Restart: &workload.Restart{
		Client: f.sess.Kube.Client, Namespace: f.opts.Namespace, ServiceAccount: f.opts.ServiceAccount,
		Only: f.workloads, Force: f.opts.Force, ForceIf: func() bool { return f.assocMoved },
	}}
}

// Rollout is what follows the association, the same in enable, restart and
// every apply entry: propagation, the restart, then the proof of the new
// pods' credentials. A step that must run after the restart (for every
// command that restarts) goes here.
func (f *Flow) Rollout(standalone bool) []step.Step {
	return []step.Step{f.Propagation(standalone), f.Restart(), f.Credentials()}
}

// resolveRole finds the role once per run.
func (f *Flow) resolveRole(ctx context.Context) (podidentity.RoleRef, error) {
	if f.role != nil {
		return *f.role, nil
	}
	c := f.sess.AWS
	r, err := podidentity.ResolveRole(ctx, c.IAM(), c.EKS(), f.opts.Role, f.sess.Cluster, f.opts.Namespace, f.opts.ServiceAccount)
	if err != nil {
		return r, err
	}
	if f.opts.RoleSource != "" && r.Source == podidentity.RoleFromFlag {
		r.Source = f.opts.RoleSource
	}
	f.role = &r
	return r, nil
}

// requestSettings sets the association settings that shape the request EKS
// makes. With the associate step in this run they are the flags (already
// in the arguments); verify-role alone takes the existing association's
// target role and session tags (none: the defaults). The lookup is
// answered from the run's cache of reads.
func (f *Flow) requestSettings(ctx context.Context, target *string, noTags *bool) error {
	if f.associating {
		return nil
	}
	a, err := podidentity.FindAssociation(ctx, f.sess.AWS.EKS(), f.sess.Cluster.Name, f.opts.Namespace, f.opts.ServiceAccount)
	if err != nil || a == nil {
		return err
	}
	*target, *noTags = a.TargetRoleArn, a.DisableSessionTags
	return nil
}

type roleStep struct {
	f     *Flow
	inner *podidentity.VerifyRole
}

func (s *roleStep) Name() string { return "verify-role" }

func (s *roleStep) Check(ctx context.Context) (step.Plan, error) {
	role, err := s.f.resolveRole(ctx)
	if err != nil {
		return step.Plan{}, err
	}
	opts := podidentity.VerifyRoleOptions{
		Role: role, Cluster: s.f.sess.Cluster, Namespace: s.f.opts.Namespace, ServiceAccount: s.f.opts.ServiceAccount,
		TargetRoleArn: s.f.opts.TargetRoleArn, DisableSessionTags: s.f.opts.DisableSessionTags, Fix: s.f.opts.Fix, Expect: s.f.expect,
	}
	if err := s.f.requestSettings(ctx, &opts.TargetRoleArn, &opts.DisableSessionTags); err != nil {
		return step.Plan{}, err
	}
	iam := s.f.sess.AWS.IAM()
	s.inner, err = podidentity.NewVerifyRole(iam, iam, opts)
	if err != nil {
		return step.Plan{}, err
	}
	return s.inner.Check(ctx)
}

func (s *roleStep) Apply(ctx context.Context, p step.Plan, progress step.Progress) (step.Result, error) {
	return s.inner.Apply(ctx, p, progress)
}

type assocStep struct {
	f     *Flow
	inner *podidentity.Association
	sa    kube.ServiceAccount
}

func (s *assocStep) Name() string { return "associate" }

func (s *assocStep) Check(ctx context.Context) (step.Plan, error) {
	o := s.f.opts
	role, err := s.f.resolveRole(ctx)
	if err != nil {
		return step.Plan{}, err
	}
	s.inner, err = podidentity.NewAssociation(s.f.sess.AWS.EKS(), podidentity.AssociationOptions{
		Cluster: s.f.sess.Cluster.Name, Namespace: o.Namespace, ServiceAccount: o.ServiceAccount, RoleArn: role.Arn,
		AssociationSettings: o.AssociationSettings, Update: o.Update,
		IAMCheck: podidentity.IAMRoleCheck(s.f.sess.AWS.IAM(), role.Arn, s.f.sess.Cluster, o.Namespace, o.ServiceAccount),
	})
	if err != nil {
		return step.Plan{}, err
	}
	var warnings, saChanges []string
	if s.f.sess.Kube != nil {
		s.sa, err = kube.GetServiceAccount(ctx, s.f.sess.Kube.Client, o.Namespace, o.ServiceAccount)
		if err != nil {
			return step.Plan{}, err
		}
		switch {
		case !s.sa.Exists && !o.CreateSA:
			return step.Plan{}, fail.Verifyf(fmt.Sprintf("create it with --create-service-account, or `kubectl -n %s create serviceaccount %s`, or check --sa", o.Namespace, o.ServiceAccount),
				"service account %s/%s does not exist", o.Namespace, o.ServiceAccount)
		case !s.sa.Exists:
			saChanges = append(saChanges, fmt.Sprintf("create service account %s/%s", o.Namespace, o.ServiceAccount))
		}
		if s.sa.IRSARoleARN != "" {
			warnings = append(warnings, fmt.Sprintf("service account %s/%s also carries the IRSA annotation eks.amazonaws.com/role-arn=%s: Pod Identity wins once the association has propagated, but pods created before that get IRSA; remove it with `kubectl -n %s annotate serviceaccount %s eks.amazonaws.com/role-arn-` when the migration is verified",
				o.Namespace, o.ServiceAccount, s.sa.IRSARoleARN, o.Namespace, o.ServiceAccount))
		}
	}
	p, err := s.inner.Check(ctx)
	if err != nil {
		return p, err
	}
	if !p.Satisfied && !s.f.verifying {
		// associate alone is about to create or change the association:
		// refuse settings under which EKS would deny every pod (the same
		// request model as verify-role; its full report is verify-role's).
		if err := s.checkRequest(ctx, role); err != nil {
			return step.Plan{}, err
		}
	}
	p.Warnings = append(p.Warnings, warnings...)
	if len(saChanges) > 0 {
		p.Satisfied = false
		p.Changes = append(saChanges, p.Changes...)
	}
	return p, nil
}

// checkRequest runs verify-role's check of the request EKS will make with
// the association's new settings, without --fix and --expect.
func (s *assocStep) checkRequest(ctx context.Context, role podidentity.RoleRef) error {
	o := s.f.opts
	iam := s.f.sess.AWS.IAM()
	opts := podidentity.VerifyRoleOptions{
		Role: role, Cluster: s.f.sess.Cluster, Namespace: o.Namespace, ServiceAccount: o.ServiceAccount,
		TargetRoleArn: o.TargetRoleArn, DisableSessionTags: o.DisableSessionTags,
	}
	v, err := podidentity.NewVerifyRole(iam, nil, opts)
	if err != nil {
		return err
	}
	_, err = v.Check(ctx)
	return err
}

func (s *assocStep) Apply(ctx context.Context, p step.Plan, progress step.Progress) (step.Result, error) {
	var changes []string
	if s.f.sess.Kube != nil && !s.sa.Exists {
		created, err := kube.EnsureServiceAccount(ctx, s.f.sess.Kube.Client, s.f.opts.Namespace, s.f.opts.ServiceAccount, false)
		if err != nil {
			return step.Result{}, err
		}
		if created {
			changes = append(changes, fmt.Sprintf("created service account %s/%s", s.f.opts.Namespace, s.f.opts.ServiceAccount))
		}
	}
	d, _ := p.Details.(*podidentity.AssociationDetails)
	if d != nil && d.Action == "" && d.Association != nil {
		// Only the service account was missing.
		a := d.Association
		return step.Result{Summary: fmt.Sprintf("association %s already maps %s/%s to %s", a.ID, a.Namespace, a.ServiceAccount, a.RoleArn), Changes: changes}, nil
	}
	res, err := s.inner.Apply(ctx, p, progress)
	if d != nil && d.Action == podidentity.ActionUpdate && err == nil {
		s.f.assocMoved = true
	}
	res.Changes = append(changes, res.Changes...)
	return res, err
}
