// Package batch runs the entries of a podid.yaml against one cluster: the
// agent add-on step once, then every entry's verify-role → associate →
// propagation → restart (the flow's steps, checks before changes within an
// entry) with bounded concurrency. A failed entry does not stop the others.
// Entries share one EKS request budget, one association listing per
// namespace and one read of each IAM role (see shared).
package batch

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/flow"
	"github.com/podid/podid/internal/manifest"
	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/ui"
	"github.com/podid/podid/internal/workload"
)

// Defaults.
const (
	DefaultConcurrency = 16
	// DefaultEKSRate is podid's own EKS request rate (requests/s, all
	// entries together). EKS throttles per account and API; staying under 10
	// leaves room for other clients of the account.
	DefaultEKSRate  = 8.0
	DefaultEKSBurst = 4
)

// Options shape a run.
type Options struct {
	Concurrency  int     // entries in flight (0 = DefaultConcurrency)
	DryRun       bool    // check everything, change nothing
	EKSRate      float64 // EKS requests/s (0 = DefaultEKSRate)
	EKSBurst     int     // (0 = DefaultEKSBurst)
	AddonVersion string
	// AgentSink shows the add-on step's check when it fails (nil =
	// discard); the step itself then runs alongside the entries and logs to
	// Log with the prefix "add-on".
	AgentSink step.Sink
	// Log receives one line per entry step, prefixed with the entry (nil = discard).
	Log   io.Writer
	Color bool
}

// Entry result values (EntryReport.Result).
const (
	ResultChanged   = "changed"
	ResultUnchanged = "unchanged"
	ResultPlanned   = "planned"
	ResultFailed    = "failed"
	ResultSkipped   = "skipped"
)

// EntryReport is the outcome of one entry; its shape is part of the
// `-o json` API (result.entries[]).
type EntryReport struct {
	Namespace      string        `json:"namespace"`
	ServiceAccount string        `json:"serviceAccount"`
	Role           string        `json:"role"`        // resolved role name (or as written)
	Association    string        `json:"association"` // created, updated, exists, would create, failed, -
	AssociationID  string        `json:"associationId,omitempty"`
	Restart        string        `json:"restart"` // restarted N, not needed, would restart N, failed, -
	Result         string        `json:"result"`
	Error          string        `json:"error,omitempty"`
	Hint           string        `json:"hint,omitempty"`
	Seconds        float64       `json:"seconds"`
	Steps          []step.Report `json:"steps"`

	err error
}

// Report is the outcome of a run.
type Report struct {
	Agent   []step.Report `json:"agent"`
	Entries []EntryReport `json:"entries"`
}

// Run runs file's entries on sess's cluster. The error is the add-on step's,
// or a summary of the failed entries; rep is complete either way.
func Run(ctx context.Context, sess *cmdutil.Session, file *manifest.File, o Options) (Report, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.EKSRate <= 0 {
		o.EKSRate = DefaultEKSRate
	}
	if o.EKSBurst <= 0 {
		o.EKSBurst = DefaultEKSBurst
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.AgentSink == nil {
		o.AgentSink = &prefixSink{w: io.Discard, mu: &sync.Mutex{}}
	}
	shared := *sess
	shared.AWS, _ = newShared(sess.AWS, o.EKSRate, o.EKSBurst)

	rep := Report{Entries: make([]EntryReport, len(file.Entries))}
	for i, e := range file.Entries {
		rep.Entries[i] = EntryReport{Namespace: e.Namespace, ServiceAccount: e.ServiceAccount, Role: e.RoleLabel(),
			Association: "-", Restart: "-", Result: ResultSkipped, Steps: []step.Report{}}
	}

	// The add-on: once for the whole run. Its check (read-only) runs first,
	// so a broken add-on stops the run before anything changes; its apply
	// (create, wait for ACTIVE and the DaemonSet) then runs alongside the
	// entries, whose role checks, associations and propagation do not need
	// the agent. Only their restarts wait for it: new pods get credentials
	// from the agent on their node.
	agentFlow, err := flow.New(flow.Options{AddonVersion: o.AddonVersion}, false)
	if err != nil {
		return rep, err
	}
	agentFlow.Bind(&shared)
	agentStep := agentFlow.Agent()
	if _, err := agentStep.Check(ctx); err != nil {
		rep.Agent = []step.Report{{Name: agentStep.Name(), Status: step.Failed, Error: err.Error(), Hint: fail.HintOf(err)}}
		o.AgentSink.Start(agentStep.Name()).Done(rep.Agent[0])
		for i := range rep.Entries {
			rep.Entries[i].Error = "not run: the eks-pod-identity-agent add-on step failed"
		}
		return rep, err
	}
	// From here on the add-on step and the entries write at the same time:
	// they share one lock on the log.
	mu := &sync.Mutex{}
	agentSink := &prefixSink{w: o.Log, mu: mu, prefix: "add-on", color: o.Color}
	agent := &agentGate{done: make(chan struct{})}
	go func() {
		defer close(agent.done)
		rep.Agent, agent.err = step.Runner{DryRun: o.DryRun, Sink: agentSink}.Run(ctx, []step.Step{agentStep})
	}()

	var wg sync.WaitGroup
	sem := make(chan struct{}, o.Concurrency)
	for i, e := range file.Entries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				rep.Entries[i].Error = "not run: " + ctx.Err().Error()
				rep.Entries[i].err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			sink := &prefixSink{w: o.Log, mu: mu, prefix: e.Key(), color: o.Color}
			rep.Entries[i] = runEntry(ctx, &shared, e, o.DryRun, sink, rep.Entries[i], agent)
		}()
	}
	wg.Wait()
	<-agent.done
	if agent.err != nil {
		return rep, agent.err
	}
	return rep, summarize(rep)
}

// EntryOptions are the flow options of an entry.
func EntryOptions(e manifest.Entry) flow.Options {
	return flow.Options{
		Target: cmdutil.Target{Namespace: e.Namespace, ServiceAccount: e.ServiceAccount},
		Role:   e.Role, Expect: e.Expect,
		Update: e.Update, TargetRoleArn: e.TargetRoleArn, DisableSessionTags: e.DisableSessionTags,
		Policy: e.Policy, Tags: e.Tags, CreateSA: e.CreateServiceAccount,
		Workloads: e.Workloads,
	}
}

func runEntry(ctx context.Context, sess *cmdutil.Session, e manifest.Entry, dryRun bool, sink step.Sink, r EntryReport, agent *agentGate) EntryReport {
	start := time.Now()
	defer func() { r.Seconds = time.Since(start).Seconds() }()
	fl, err := flow.New(EntryOptions(e), true)
	if err != nil {
		r.Result, r.Error, r.Hint, r.err = ResultFailed, err.Error(), fail.HintOf(err), err
		return r
	}
	fl.Bind(sess)
	steps := []step.Step{fl.Role(), fl.Associate(), fl.Propagation(false), agent.gate(fl.Restart())}
	reps, err := step.Runner{DryRun: dryRun, Sink: sink}.Run(ctx, steps)
	r.Steps = reps
	describe(&r, reps)
	if err != nil {
		r.Result, r.Error, r.Hint, r.err = ResultFailed, err.Error(), fail.HintOf(err), err
		return r
	}
	r.Result = ResultUnchanged
	for _, s := range reps {
		switch s.Status {
		case step.Changed:
			r.Result = ResultChanged
		case step.Planned:
			if r.Result != ResultChanged {
				r.Result = ResultPlanned
			}
		}
	}
	return r
}

// describe fills the table columns from the steps' typed details.
func describe(r *EntryReport, reps []step.Report) {
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

func describeAssociation(r *EntryReport, s step.Report) {
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

func describeRestart(r *EntryReport, s step.Report) {
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

// summarize turns failed entries into one error (exit code of the first).
func summarize(rep Report) error {
	var failed []string
	var first error
	for _, e := range rep.Entries {
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
	kind := fail.KindOf(first)
	return fail.New(kind, "fix the failed entries (their hints are in the step lines above) and run podid apply again; entries that succeeded stay as they are and will report unchanged",
		"%d of %d entries failed:\n  %s", len(failed), len(rep.Entries), strings.Join(failed, "\n  "))
}

// prefixSink prints each entry's step lines, prefixed with the entry,
// one line at a time (entries run concurrently).
type prefixSink struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
	color  bool
}

func (s *prefixSink) Start(name string) step.Line { return &prefixLine{s: s, name: name} }

type prefixLine struct {
	s       *prefixSink
	name    string
	waiting string
}

func (l *prefixLine) Waiting(what string) {
	if what == l.waiting {
		return
	}
	l.waiting = what
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	fmt.Fprintf(l.s.w, "%s • %-14s %s\n", l.s.prefix, l.name, what)
}

func (l *prefixLine) Done(r step.Report) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	fmt.Fprintf(l.s.w, "%s %s\n", l.s.prefix, ui.FormatReport(r, l.s.color))
	for _, c := range r.Changes {
		fmt.Fprintf(l.s.w, "%s     %s\n", l.s.prefix, strings.ReplaceAll(c, "\n", "\n"+l.s.prefix+"     "))
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(l.s.w, "%s     ! %s\n", l.s.prefix, w)
	}
	if r.Status == step.Failed && r.Hint != "" {
		fmt.Fprintf(l.s.w, "%s     hint: %s\n", l.s.prefix, r.Hint)
	}
}

// WriteTable prints the summary table (stdout of `podid apply`).
func WriteTable(w io.Writer, rep Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tSERVICE ACCOUNT\tROLE\tASSOCIATION\tRESTART\tRESULT\tSECONDS")
	for _, e := range rep.Entries {
		assoc := e.Association
		if e.AssociationID != "" && assoc != "-" && assoc != "failed" {
			assoc += " " + e.AssociationID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.1f\n", e.Namespace, e.ServiceAccount, e.Role, assoc, e.Restart, e.Result, e.Seconds)
	}
	_ = tw.Flush()
}

// agentGate holds back the restarts until the shared add-on step is done.
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
