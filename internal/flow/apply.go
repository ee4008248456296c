package flow

import (
	"context"
	"fmt"
	"strings"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/manifest"
	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/workload"
)

// Defaults of apply.
const (
	DefaultConcurrency = 16
	// DefaultEKSRate is podid's own EKS request rate (requests/s, all
	// entries together). EKS throttles per account and API; staying under 10
	// leaves room for other clients of the account.
	DefaultEKSRate  = 8.0
	DefaultEKSBurst = 4
)

// ApplyOptions shape `podid apply`.
type ApplyOptions struct {
	File         *manifest.File
	Concurrency  int     // entries in flight (0 = DefaultConcurrency)
	DryRun       bool    // check everything, change nothing
	EKSRate      float64 // EKS requests/s (0 = DefaultEKSRate)
	AddonVersion string
	Credentials  string // --credentials for every entry: auto, require or off
}

// ApplyEntry is the outcome of one entry of podid.yaml; its shape is part of
// the `-o json` API (result.entries[]).
type ApplyEntry struct {
	EntryReport
	Role          string `json:"role"`        // resolved role name (or as written)
	Association   string `json:"association"` // created, updated, exists, would create, failed, -
	AssociationID string `json:"associationId,omitempty"`
	Restart       string `json:"restart"` // restarted N, not needed, would restart N, failed, -
}

// ApplyResult is apply's result.
type ApplyResult struct {
	File    string        `json:"file"`
	Agent   []step.Report `json:"-"` // the add-on step (also in the document's steps)
	Entries []ApplyEntry  `json:"entries"`
}

// Apply is `podid apply`: the agent add-on step once, then every entry's
// verify-role → associate → propagation → restart with bounded concurrency.
// Entries share one cache of AWS reads and one EKS request budget.
func Apply(o ApplyOptions) Job {
	return Job{
		Command: "apply", DryRun: o.DryRun, NeedKube: true, Share: true, EKSRate: o.EKSRate,
		Load: func(flagCluster string) (string, error) {
			switch {
			case o.File.Cluster == "" || flagCluster == o.File.Cluster:
				return flagCluster, nil
			case flagCluster == "":
				return o.File.Cluster, nil
			}
			return flagCluster, fail.Usagef("drop --cluster, or change cluster: in the file", "--cluster %s differs from cluster: %s in %s", flagCluster, o.File.Cluster, o.File.Path)
		},
		Do: func(ctx context.Context, sess *Session, env Env) Done {
			res, err := runApply(ctx, sess, env, o)
			return Done{Steps: res.Agent, Result: res, Err: err}
		},
	}
}

// EntryOptions are the flow options of an entry of podid.yaml.
func EntryOptions(e manifest.Entry) Options {
	return Options{
		Target: Target{Namespace: e.Namespace, ServiceAccount: e.ServiceAccount},
		Role:   e.Role, Expect: e.Expect,
		AssociationSettings: e.AssociationSettings, Update: e.Update, CreateSA: e.CreateServiceAccount,
		Workloads: e.Workloads,
	}
}

func runApply(ctx context.Context, sess *Session, env Env, o ApplyOptions) (ApplyResult, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	res := ApplyResult{File: o.File.Path, Entries: make([]ApplyEntry, len(o.File.Entries))}
	for i, e := range o.File.Entries {
		res.Entries[i] = ApplyEntry{EntryReport: EntryReport{Namespace: e.Namespace, ServiceAccount: e.ServiceAccount, Result: step.Skipped, Steps: []step.Report{}},
			Role: e.RoleLabel(), Association: "-", Restart: "-"}
	}

	// The add-on: once for the whole run. Its check (read-only) runs first,
	// so a broken add-on stops the run before anything changes; its apply
	// (create, wait for ACTIVE and the DaemonSet) then runs alongside the
	// entries, whose role checks, associations and propagation do not need
	// the agent. Only the steps after propagation wait for it: new pods get
	// credentials from the agent on their node.
	agentFlow, err := New(Options{AddonVersion: o.AddonVersion}, false)
	if err != nil {
		return res, err
	}
	agentFlow.bind(sess)
	agentStep := agentFlow.Agent()
	if _, err := agentStep.Check(ctx); err != nil {
		res.Agent = []step.Report{{Name: agentStep.Name(), Status: step.Failed, Error: err.Error(), Hint: fail.HintOf(err)}}
		env.sink().Start(agentStep.Name()).Done(res.Agent[0])
		for i := range res.Entries {
			res.Entries[i].Error = "not run: the eks-pod-identity-agent add-on step failed"
		}
		return res, err
	}
	agent := &agentGate{done: make(chan struct{})}
	go func() {
		defer close(agent.done)
		res.Agent, agent.err = step.Runner{DryRun: o.DryRun, Sink: env.lines("add-on")}.Run(ctx, []step.Step{agentStep})
	}()

	entries := make([]entry, len(o.File.Entries))
	for i, e := range o.File.Entries {
		entries[i] = entry{Target: Target{Namespace: e.Namespace, ServiceAccount: e.ServiceAccount}, steps: func() ([]step.Step, error) {
			eo := EntryOptions(e)
			eo.Credentials = o.Credentials
			fl, err := New(eo, true)
			if err != nil {
				return nil, err
			}
			fl.bind(sess)
			steps := append([]step.Step{fl.Role(), fl.Associate()}, fl.Rollout(false)...)
			// Every step after propagation needs the agent on the pods' nodes.
			for j := 3; j < len(steps); j++ {
				steps[j] = agent.gate(steps[j])
			}
			return steps, nil
		}}
	}
	reps := runEntries(ctx, entries, o.Concurrency, o.DryRun, env.lines)
	for i, r := range reps {
		res.Entries[i].EntryReport = r
		describe(&res.Entries[i], r.Steps)
	}
	<-agent.done
	if agent.err != nil {
		return res, agent.err
	}
	return res, summarizeApply(res.Entries)
}

// describe fills the table columns from the steps' typed details.
func describe(r *ApplyEntry, reps []step.Report) {
	for _, s := range reps {
		switch d := s.Details.(type) {
		case *podidentity.RoleDetails:
			if d.Role.Name != "" {
				r.Role = d.Role.Name
			}
		case *podidentity.AssociationDetails:
			r.AssociationID = d.AssociationID
		}
		switch s.Name {
		case "associate":
			describeAssociation(r, s)
		case "restart":
			describeRestart(r, s)
		}
	}
}

func describeAssociation(r *ApplyEntry, s step.Report) {
	action := ""
	if d, ok := s.Details.(*podidentity.AssociationDetails); ok {
		action = d.Action
	}
	switch s.Status {
	case step.Changed:
		r.Association = map[string]string{podidentity.ActionCreate: "created", podidentity.ActionUpdate: "updated"}[action]
		if r.Association == "" {
			r.Association = "changed"
		}
	case step.Unchanged:
		r.Association = "exists"
	case step.Planned:
		r.Association = "would " + action
		if action == "" {
			r.Association = "would change"
		}
	case step.Failed:
		r.Association = "failed"
	}
}

func describeRestart(r *ApplyEntry, s step.Report) {
	d, _ := s.Details.(*workload.RestartDetails)
	if d == nil {
		d = &workload.RestartDetails{}
	}
	switch s.Status {
	case step.Changed:
		r.Restart = fmt.Sprintf("restarted %d", len(d.Restarted))
		if len(d.Restarted) == 0 {
			r.Restart = "rolled out"
		}
	case step.Unchanged:
		r.Restart = "not needed"
		if n := len(d.Restarted); n > 0 {
			r.Restart = fmt.Sprintf("restarted %d", n)
		}
	case step.Planned:
		r.Restart = fmt.Sprintf("would restart %d", len(d.Restart))
	case step.Failed:
		r.Restart = "failed"
	}
}

// summarizeApply turns failed entries into one error (exit code of the first).
func summarizeApply(entries []ApplyEntry) error {
	var failed []string
	var first error
	for _, e := range entries {
		if e.err == nil {
			continue
		}
		if first == nil {
			first = e.err
		}
		failed = append(failed, fmt.Sprintf("%s/%s: %s", e.Namespace, e.ServiceAccount, e.Error))
	}
	if first == nil {
		return nil
	}
	return fail.New(fail.KindOf(first), "fix the failed entries (their hints are in the step lines above) and run podid apply again; entries that succeeded stay as they are and will report unchanged",
		"%d of %d entries failed:\n  %s", len(failed), len(entries), strings.Join(failed, "\n  "))
}

// agentGate holds back the steps that need the agent until the shared
// add-on step is done.
type agentGate struct {
	done chan struct{}
	err  error
}

func (g *agentGate) wait(ctx context.Context) error {
	select {
	case <-g.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if g.err != nil {
		return fmt.Errorf("not restarted: the eks-pod-identity-agent add-on step failed: %w", g.err)
	}
	return nil
}

// gate wraps a step whose changes need the agent.
func (g *agentGate) gate(s step.Step) step.Step { return &gated{Step: s, g: g} }

type gated struct {
	step.Step
	g *agentGate
}

func (s *gated) Apply(ctx context.Context, p step.Plan, progress step.Progress) (step.Result, error) {
	progress.Waiting("the eks-pod-identity-agent add-on and its DaemonSet")
	if err := s.g.wait(ctx); err != nil {
		return step.Result{}, err
	}
	return s.Step.Apply(ctx, p, progress)
}

func (s *gated) Verify(ctx context.Context, p step.Plan, progress step.Progress) (step.Result, error) {
	v, ok := s.Step.(step.Verifier)
	if !ok {
		return step.Result{}, nil
	}
	if err := s.g.wait(ctx); err != nil {
		return step.Result{}, err
	}
	return v.Verify(ctx, p, progress)
}
