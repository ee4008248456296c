package cmdutil

import (
	"context"
	"errors"

	"github.com/podid/podid/internal/flow"
	"github.com/podid/podid/internal/ui"
)

// Execute is the one call every command makes: check the global flags,
// run the job with flow.Run, render its outcome (text, or one JSON
// document) and return its error, marked as already shown.
func Execute(ctx context.Context, f *Factory, job flow.Job) error {
	var (
		out flow.Outcome
		err error
	)
	g := f.Globals // this run's copy: the file may name the cluster
	if job.Load != nil {
		g.Cluster, err = job.Load(g.Cluster)
	}
	if err == nil {
		err = g.Validate(!job.NoCluster)
	}
	if err != nil {
		out = flow.Refused(job, g.Cluster, err)
	} else {
		out = flow.Run(ctx, f.env(g), job)
	}
	ui.Render(f.IO, f.Globals.JSON(), out)
	if f.Globals.Verbose {
		ui.PrintCalls(f.IO.ErrOut, f.APICalls())
	}
	if out.Err != nil {
		return &Shown{Err: out.Err}
	}
	return nil
}

// env is what a run takes from the factory, for the run's global flags g.
func (f *Factory) env(g Globals) flow.Env {
	return flow.Env{
		Clients: f, Cluster: g.Cluster, Timeout: g.Timeout,
		Sink:     f.Status(),
		Lines:    ui.Lines(f.IO.ErrOut, f.IO.ColorEnabled()),
		APICalls: f.APICalls,
	}
}

// Shown is an error whose outcome was already rendered; app maps it to the
// exit code without printing it again.
type Shown struct{ Err error }

func (e *Shown) Error() string { return e.Err.Error() }
func (e *Shown) Unwrap() error { return e.Err }

// IsShown reports whether err's outcome was already rendered.
func IsShown(err error) bool {
	var s *Shown
	return errors.As(err, &s)
}
