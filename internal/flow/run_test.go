package flow

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/step"
)

// clients records what a run asked for; its AWS configuration fails.
type clients struct{ calls []string }

func (c *clients) AWS(context.Context) (*awsapi.Clients, error) {
	c.calls = append(c.calls, "aws")
	return nil, fail.Errorf("configure credentials", "no AWS credentials")
}

func (c *clients) Kube() (*kube.Cluster, error) {
	c.calls = append(c.calls, "kube")
	return nil, errors.New("no kubeconfig")
}

type lines struct{ done []string }

func (l *lines) Start(string) step.Line { return l }
func (l *lines) Waiting(string)         {}
func (l *lines) Done(r step.Report)     { l.done = append(l.done, r.Name+":"+string(r.Status)) }

func TestRun(t *testing.T) {
	did := false
	do := func(context.Context, *Session, Env) Done {
		did = true
		return Done{Result: "result"}
	}
	tests := []struct {
		name      string
		job       Job
		wantCalls []string
		wantLines []string
		wantDo    bool
		wantKind  fail.Kind
		wantSteps []string
	}{
		{
			name:     "bad input calls nothing and runs nothing",
			job:      Job{Command: "enable", Validate: func() error { return fail.Usagef("pass --ns", "no namespace given") }, Do: do},
			wantKind: fail.KindUsage,
		},
		{
			name:      "a failed connection is the cluster step, and nothing runs",
			job:       Job{Command: "enable", Do: do},
			wantCalls: []string{"aws"},
			wantLines: []string{"cluster:failed"},
			wantKind:  fail.KindError,
			wantSteps: []string{"cluster:failed"},
		},
		{
			name:   "a local job connects to nothing",
			job:    Job{Command: "version", NoCluster: true, Do: do},
			wantDo: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			did = false
			c, l := &clients{}, &lines{}
			out := Run(context.Background(), Env{Clients: c, Cluster: "eks-workshop", Timeout: 1e9, Sink: l}, tt.job)
			if diff := cmp.Diff(tt.wantCalls, c.calls); diff != "" {
				t.Errorf("client calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLines, l.done); diff != "" {
				t.Errorf("step lines (-want +got):\n%s", diff)
			}
			if did != tt.wantDo {
				t.Errorf("job ran: %v, want %v", did, tt.wantDo)
			}
			if fail.KindOf(out.Err) != tt.wantKind {
				t.Errorf("error %v (kind %d), want kind %d", out.Err, fail.KindOf(out.Err), tt.wantKind)
			}
			var steps []string
			for _, s := range out.Steps {
				steps = append(steps, s.Name+":"+string(s.Status))
			}
			if diff := cmp.Diff(tt.wantSteps, steps); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			if out.Command != tt.job.Command || out.Cluster != "eks-workshop" {
				t.Errorf("outcome names %q on %q", out.Command, out.Cluster)
			}
		})
	}
}

// An interruption says where the run stopped and that a rerun is safe.
func TestRunInterrupted(t *testing.T) {
	job := Job{Command: "restart", NoCluster: true, Do: func(context.Context, *Session, Env) Done {
		return Done{Steps: []step.Report{{Name: "propagation", Status: step.Changed}, {Name: "restart", Status: step.Failed}}, Err: context.Canceled}
	}}
	out := Run(context.Background(), Env{Clients: &clients{}}, job)
	if fail.KindOf(out.Err) != fail.KindInterrupted || !strings.Contains(out.Err.Error(), "interrupted during restart (completed: propagation)") ||
		!strings.Contains(fail.HintOf(out.Err), "run the same command again") {
		t.Errorf("error %q (hint %q)", out.Err, fail.HintOf(out.Err))
	}
}

// Overall is the one vocabulary of an entry's state.
func TestOverall(t *testing.T) {
	for _, tt := range []struct {
		in   []step.Status
		want step.Status
	}{
		{nil, step.Unchanged},
		{[]step.Status{step.Unchanged, step.Planned}, step.Planned},
		{[]step.Status{step.Planned, step.Changed, step.Unchanged}, step.Changed},
	} {
		var reps []step.Report
		for _, s := range tt.in {
			reps = append(reps, step.Report{Status: s})
		}
		if got := Overall(reps); got != tt.want {
			t.Errorf("Overall(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
