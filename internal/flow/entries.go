package flow

import (
	"context"
	"sync"
	"time"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/step"
)

// entry is one unit of a command that works on many service accounts (an
// entry of podid.yaml, a service account to migrate). Its steps check
// before they change, like any command's.
type entry struct {
	Target
	// steps builds the entry's steps; an error fails the entry before
	// anything runs.
	steps func() ([]step.Step, error)
}

// EntryReport is the outcome of one entry.
type EntryReport struct {
	Namespace      string        `json:"namespace"`
	ServiceAccount string        `json:"serviceAccount"`
	Result         step.Status   `json:"result"` // changed, unchanged, planned, failed, skipped
	Error          string        `json:"error,omitempty"`
	Hint           string        `json:"hint,omitempty"`
	Seconds        float64       `json:"seconds"`
	Steps          []step.Report `json:"steps"`

	err error
}

// Err is the entry's error (nil unless it failed or did not run).
func (r EntryReport) Err() error { return r.err }

// runEntries runs entries, up to concurrency at a time, each entry's lines
// going to sinkFor(its namespace/service account). A failed entry does not
// stop the others; once ctx ends, entries not started yet are reported as
// not run.
func runEntries(ctx context.Context, entries []entry, concurrency int, dryRun bool, sinkFor func(prefix string) step.Sink) []EntryReport {
	reps := make([]EntryReport, len(entries))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(concurrency, 1))
	for i, e := range entries {
		reps[i] = EntryReport{Namespace: e.Namespace, ServiceAccount: e.ServiceAccount, Result: step.Skipped, Steps: []step.Report{}}
		// In order, one at a time, stop at the first entry ctx did not let start.
		if concurrency <= 1 && ctx.Err() != nil {
			reps[i].Error, reps[i].err = "not run: "+ctx.Err().Error(), ctx.Err()
			continue
		}
		wg.Add(1)
		run := func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				reps[i].Error, reps[i].err = "not run: "+ctx.Err().Error(), ctx.Err()
				return
			}
			defer func() { <-sem }()
			reps[i] = runEntry(ctx, e, dryRun, sinkFor(e.Namespace+"/"+e.ServiceAccount), reps[i])
		}
		if concurrency <= 1 {
			run()
			continue
		}
		go run()
	}
	wg.Wait()
	return reps
}

func runEntry(ctx context.Context, e entry, dryRun bool, sink step.Sink, r EntryReport) EntryReport {
	start := time.Now()
	defer func() { r.Seconds = time.Since(start).Seconds() }()
	steps, err := e.steps()
	if err != nil {
		r.Result, r.Error, r.Hint, r.err = step.Failed, err.Error(), fail.HintOf(err), err
		sink.Start("plan").Done(step.Report{Name: "plan", Status: step.Failed, Error: err.Error(), Hint: fail.HintOf(err)})
		return r
	}
	reps, err := step.Runner{DryRun: dryRun, Sink: sink}.Run(ctx, steps)
	r.Steps = reps
	if err != nil {
		r.Result, r.Error, r.Hint, r.err = step.Failed, err.Error(), fail.HintOf(err), err
		return r
	}
	r.Result = Overall(reps)
	return r
}

// Overall is the state of a list of steps that all succeeded: changed when
// one changed, else planned when one would change, else unchanged.
func Overall(reps []step.Report) step.Status {
	out := step.Unchanged
	for _, s := range reps {
		switch s.Status {
		case step.Changed:
			return step.Changed
		case step.Planned:
			out = step.Planned
		}
	}
	return out
}

// prefixNames names each step line after an entry (migrate's lines on the
// one status renderer).
type prefixNames struct {
	inner  step.Sink
	prefix string
}

func (s prefixNames) Start(name string) step.Line {
	return prefixLine{Line: s.inner.Start(s.prefix + " " + name), prefix: s.prefix}
}

type prefixLine struct {
	step.Line
	prefix string
}

func (l prefixLine) Done(r step.Report) {
	r.Name = l.prefix + " " + r.Name
	l.Line.Done(r)
}
