package step

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeStep is an in-memory step for testing the runner's ordering rules.
type fakeStep struct {
	name      string
	satisfied bool
	checkErr  error
	applyErr  error
	verify    bool
	log       *[]string
}

func (s *fakeStep) Name() string { return s.name }
func (s *fakeStep) Check(context.Context) (Plan, error) {
	*s.log = append(*s.log, "check "+s.name)
	return Plan{Satisfied: s.satisfied, Summary: s.name + " plan", Changes: []string{"change " + s.name}}, s.checkErr
}
func (s *fakeStep) Apply(context.Context, Plan, Progress) (Result, error) {
	*s.log = append(*s.log, "apply "+s.name)
	return Result{Summary: s.name + " applied"}, s.applyErr
}

type verifyingStep struct{ *fakeStep }

func (s verifyingStep) Verify(context.Context, Plan, Progress) (Result, error) {
	*s.log = append(*s.log, "verify "+s.name)
	return Result{Summary: s.name + " verified"}, s.applyErr
}

type sink struct{ done []Report }

type line struct{ s *sink }

func (s *sink) Start(string) Line { return line{s} }
func (l line) Waiting(string)     {}
func (l line) Done(r Report)      { l.s.done = append(l.s.done, r) }
func statuses(rs []Report) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name+":"+string(r.Status))
	}
	return out
}

func TestRunner(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		dryRun   bool
		steps    func(log *[]string) []Step
		wantLog  []string
		wantStat []string
		wantErr  bool
	}{
		{
			name: "checks all before applying, applies only unsatisfied",
			steps: func(log *[]string) []Step {
				return []Step{&fakeStep{name: "a", satisfied: true, log: log}, &fakeStep{name: "b", log: log}, &fakeStep{name: "c", log: log}}
			},
			wantLog:  []string{"check a", "check b", "check c", "apply b", "apply c"},
			wantStat: []string{"a:unchanged", "b:changed", "c:changed"},
		},
		{
			name: "a failed check stops before any change",
			steps: func(log *[]string) []Step {
				return []Step{&fakeStep{name: "a", log: log}, &fakeStep{name: "b", checkErr: boom, log: log}, &fakeStep{name: "c", log: log}}
			},
			wantLog:  []string{"check a", "check b"},
			wantStat: []string{"a:skipped", "b:failed", "c:skipped"},
			wantErr:  true,
		},
		{
			name:   "dry run applies nothing",
			dryRun: true,
			steps: func(log *[]string) []Step {
				return []Step{&fakeStep{name: "a", satisfied: true, log: log}, verifyingStep{&fakeStep{name: "v", satisfied: true, log: log}}, &fakeStep{name: "b", log: log}}
			},
			wantLog:  []string{"check a", "check v", "check b"},
			wantStat: []string{"a:unchanged", "v:unchanged", "b:planned"},
		},
		{
			name: "satisfied verifiers verify",
			steps: func(log *[]string) []Step {
				return []Step{verifyingStep{&fakeStep{name: "v", satisfied: true, log: log}}}
			},
			wantLog:  []string{"check v", "verify v"},
			wantStat: []string{"v:unchanged"},
		},
		{
			name: "an apply error stops the rest",
			steps: func(log *[]string) []Step {
				return []Step{&fakeStep{name: "a", applyErr: boom, log: log}, &fakeStep{name: "b", log: log}}
			},
			wantLog:  []string{"check a", "check b", "apply a"},
			wantStat: []string{"a:failed", "b:skipped"},
			wantErr:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			s := &sink{}
			reps, err := Runner{DryRun: tt.dryRun, Sink: s}.Run(context.Background(), tt.steps(&log))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantLog, log); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStat, statuses(reps)); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
		})
	}
}
