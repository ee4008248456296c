package step

import (
	"context"
	"errors"
	"time"

	"github.com/podid/podid/internal/fail"
)

// Line shows one step's progress and outcome.
type Line interface {
	Progress
	Done(r Report)
}

// Sink creates a Line per step (internal/ui renders them; tests collect them).
type Sink interface {
	Start(name string) Line
}

// Runner runs steps: every Check first, in order, then Apply (or Verify) in
// order. A failed check stops the run before anything has changed.
type Runner struct {
	DryRun bool
	Sink   Sink
	Now    func() time.Time // for tests; default time.Now
}

// Run runs steps and returns one report per step (in order) and the first
// error. Steps after a failure are reported as skipped.
func (r Runner) Run(ctx context.Context, steps []Step) ([]Report, error) {
	now := r.Now
	if now == nil {
		now = time.Now
	}
	reports := make([]Report, len(steps))
	plans := make([]Plan, len(steps))
	for i, s := range steps {
		reports[i] = Report{Name: s.Name(), Status: Skipped}
	}

	// Phase 1: checks, read-only.
	for i, s := range steps {
		start := now()
		p, err := s.Check(ctx)
		if err != nil {
			line := r.Sink.Start(s.Name())
			reports[i] = failed(s.Name(), err, now().Sub(start))
			// A check may say what it found along with the problem.
			reports[i].Details, reports[i].Warnings = p.Details, p.Warnings
			line.Done(reports[i])
			return reports, err
		}
		plans[i] = p
		reports[i].Duration += now().Sub(start)
	}

	// Phase 2: apply what is missing (or, in a dry run, report the plan).
	for i, s := range steps {
		p := plans[i]
		line := r.Sink.Start(s.Name())
		start := now().Add(-reports[i].Duration)
		rep := Report{Name: s.Name(), Details: p.Details, Warnings: p.Warnings}
		var (
			res Result
			err error
		)
		switch {
		case r.DryRun && p.Satisfied:
			rep.Status, rep.Message = Unchanged, p.Summary
		case r.DryRun:
			rep.Status, rep.Message, rep.Changes = Planned, p.Summary, p.Changes
		case p.Satisfied:
			rep.Status, rep.Message = Unchanged, p.Summary
			if v, ok := s.(Verifier); ok {
				res, err = v.Verify(ctx, p, line)
				mergeResult(&rep, res)
			}
		default:
			rep.Status = Changed
			res, err = s.Apply(ctx, p, line)
			mergeResult(&rep, res)
		}
		if err != nil {
			f := failed(s.Name(), err, now().Sub(start))
			f.Details, f.Warnings, f.Changes = rep.Details, rep.Warnings, rep.Changes
			reports[i] = f
			line.Done(f)
			return reports, err
		}
		rep.Duration = now().Sub(start)
		rep.Seconds = rep.Duration.Seconds()
		reports[i] = rep
		line.Done(rep)
	}
	return reports, nil
}

func mergeResult(rep *Report, res Result) {
	if res.Summary != "" {
		rep.Message = res.Summary
	}
	rep.Changes = append(rep.Changes, res.Changes...)
	rep.Warnings = append(rep.Warnings, res.Warnings...)
	if res.Details != nil {
		rep.Details = res.Details
	}
}

func failed(name string, err error, d time.Duration) Report {
	msg, hint := err.Error(), fail.HintOf(err)
	if errors.Is(err, context.DeadlineExceeded) && fail.KindOf(err) == fail.KindTimeout {
		msg = "timed out: " + msg
		if hint == "" {
			hint = TimeoutHint
		}
	}
	if errors.Is(err, context.Canceled) && fail.KindOf(err) == fail.KindInterrupted {
		// The step's own hint (often "raise --timeout") does not fit an interruption.
		hint = InterruptedHint
	}
	return Report{Name: name, Status: Failed, Error: msg, Hint: hint, Duration: d, Seconds: d.Seconds()}
}
