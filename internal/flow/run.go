package flow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/step"
)

// Env is what a run takes from the command layer: lazily built clients, the
// cluster (already validated), the --timeout and where step lines go.
type Env struct {
	Clients Clients
	Cluster string
	Timeout time.Duration
	// Sink shows each step's progress and outcome (nil: discard).
	Sink step.Sink
	// Lines shows the steps of one entry of a multi-entry command (apply,
	// migrate), each line prefixed with the entry; entries may run at the
	// same time (nil: discard).
	Lines func(prefix string) step.Sink
	// APICalls reports the API calls made so far, by operation (nil: none).
	APICalls func() map[string]int
}

func (e Env) sink() step.Sink {
	if e.Sink == nil {
		return discard{}
	}
	return e.Sink
}

func (e Env) lines(prefix string) step.Sink {
	if e.Lines == nil {
		return discard{}
	}
	return e.Lines(prefix)
}

type discard struct{}

func (discard) Start(string) step.Line { return discard{} }
func (discard) Waiting(string)         {}
func (discard) Done(step.Report)       {}

// Job is one command's work: what to check before connecting, and what to do
// once connected. The composition functions (Enable, Disable, Apply, …)
// build them; Run runs every one the same way.
type Job struct {
	Command  string
	Target   Target
	DryRun   bool
	NeedKube bool
	// Load, when set, runs before anything else (apply reads its file); it
	// returns the cluster to use given --cluster (the file may name one).
	Load func(flagCluster string) (string, error)
	// Validate checks the input and calls nothing (nil: nothing to check).
	Validate func() error
	// Do runs the command on the connected session.
	Do func(ctx context.Context, sess *Session, env Env) Done
	// Share makes the run's reads shared across entries (apply): one
	// association listing per namespace and an EKS request budget of
	// EKSRate requests per second.
	Share   bool
	EKSRate float64
	// NoCluster is set for commands that talk to no cluster (version): Run
	// neither connects nor bounds them by --timeout, and Do gets a nil
	// session.
	NoCluster bool
}

// Local is a job that talks to no cluster and whose result is known
// before it runs (version).
func Local(command string, result any) Job {
	return Job{Command: command, NoCluster: true, Do: func(context.Context, *Session, Env) Done { return Done{Result: result} }}
}

// Done is what a job's Do returns: its step reports, its typed result and
// its error.
type Done struct {
	Steps  []step.Report
	Result any
	Err    error
}

// Outcome is a run's one typed result, rendered by internal/ui as text or as
// one JSON document, and mapped to the exit code by internal/app.
type Outcome struct {
	Command        string
	Cluster        string
	Namespace      string
	ServiceAccount string
	DryRun         bool
	Steps          []step.Report
	Result         any // Result, ApplyResult, MigrateResult, diagnose.Report, diagnose.Verdict; nil before the run connected
	Err            error
	Duration       time.Duration
	APICalls       map[string]int
}

// Refused is the outcome of a job stopped before it ran (bad global flags).
func Refused(job Job, cluster string, err error) Outcome {
	return Outcome{Command: job.Command, Cluster: cluster, Namespace: job.Target.Namespace, ServiceAccount: job.Target.ServiceAccount, DryRun: job.DryRun, Err: err}
}

// Run is the one skeleton of every podid command: validate the input
// (nothing is called on bad input), connect (the "cluster" step), bound
// everything by --timeout, run the job with one cache of AWS reads, and
// return the outcome. It renders nothing.
func Run(ctx context.Context, env Env, job Job) Outcome {
	start := time.Now()
	out := Refused(job, env.Cluster, nil)
	finish := func(err error) Outcome {
		if err != nil && fail.KindOf(err) == fail.KindInterrupted {
			err = interrupted(err, out.Steps)
		}
		out.Err, out.Duration = err, time.Since(start)
		if env.APICalls != nil {
			out.APICalls = env.APICalls()
		}
		return out
	}
	if job.Validate != nil {
		if err := job.Validate(); err != nil {
			return finish(err)
		}
	}
	if job.NoCluster {
		d := job.Do(ctx, nil, env)
		out.Steps, out.Result = d.Steps, d.Result
		return finish(d.Err)
	}
	ctx, cancel := context.WithTimeout(ctx, env.Timeout)
	defer cancel()
	sess, first, err := connect(ctx, env, job.NeedKube)
	out.Steps = []step.Report{first}
	if err != nil {
		return finish(err)
	}
	shared := *sess
	shared.AWS = newReads(sess.AWS, job.Share, job.EKSRate)
	d := job.Do(ctx, &shared, env)
	out.Steps = append(out.Steps, d.Steps...)
	out.Result = d.Result
	return finish(d.Err)
}

// interrupted rewrites an interruption into a message that says where the
// run stopped and that a rerun is safe.
func interrupted(err error, steps []step.Report) error {
	var done, at []string
	for _, s := range steps {
		switch s.Status {
		case step.Changed, step.Unchanged:
			done = append(done, s.Name)
		case step.Failed:
			at = append(at, s.Name)
		}
	}
	where := "before any step finished"
	if len(at) > 0 {
		where = "during " + at[0]
	}
	state := "nothing was completed"
	if len(done) > 0 {
		state = "completed: " + strings.Join(done, ", ")
	}
	return &fail.Error{Kind: fail.KindInterrupted,
		Err:  fmt.Errorf("interrupted %s (%s)", where, state),
		Hint: "every step is idempotent: run the same command again to finish"}
}
