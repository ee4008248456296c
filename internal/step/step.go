// Package step runs podid's steps: every step first checks (read-only), then
// applies only what is missing, then waits until the change is real.
package step

import (
	"context"
	"time"
)

// Status of a step in a report.
type Status string

const (
	Unchanged Status = "unchanged" // already as wanted; nothing done
	Changed   Status = "changed"   // something was changed (or would be, in a dry run)
	Failed    Status = "failed"
	Skipped   Status = "skipped" // not run because an earlier step failed or the user narrowed the run
	Planned   Status = "planned" // dry run: this change would be made
)

// Details are a step's machine-readable facts: a value of the step's own
// struct type (podidentity.AddonDetails, workload.RestartDetails, …) whose
// JSON is the step's "details" object in `-o json`. A step's Check puts what
// its Apply needs there (the typed hand-off from check to apply); readers in
// other packages type-assert to the step's type, never dig in a map.
type Details any

// Plan is what Check found: whether the step is already satisfied and, if
// not, what Apply would change.
type Plan struct {
	Satisfied bool
	Summary   string   // one line: "add-on eks-pod-identity-agent v1.3.10-eksbuild.1 is ACTIVE"
	Changes   []string // what Apply would do, one line each (empty when Satisfied)
	Warnings  []string
	Details   Details // the step's typed plan (nil when it has none)
}

// Result is what Apply did.
type Result struct {
	Summary  string
	Changes  []string
	Warnings []string
	Details  Details // the step's typed result; nil keeps the plan's details
}

// Progress receives what a step is waiting for, for live status lines.
type Progress interface {
	Waiting(what string)
}

// Step is one unit of podid's work.
type Step interface {
	Name() string
	// Check is read-only: is the step already done? what would change?
	Check(ctx context.Context) (Plan, error)
	// Apply makes the change idempotently and waits until it is real.
	// It is called only when Check returned an unsatisfied plan.
	Apply(ctx context.Context, p Plan, progress Progress) (Result, error)
}

// Verifier is implemented by steps that also verify a post-condition when
// Check found them satisfied (for example: the agent add-on exists but its
// DaemonSet must still be ready on every node).
type Verifier interface {
	Verify(ctx context.Context, p Plan, progress Progress) (Result, error)
}

// Report is the outcome of one step, as printed and as JSON.
type Report struct {
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Message  string        `json:"message,omitempty"`
	Changes  []string      `json:"changes,omitempty"`
	Warnings []string      `json:"warnings,omitempty"`
	Details  Details       `json:"details,omitempty"`
	Error    string        `json:"error,omitempty"`
	Hint     string        `json:"hint,omitempty"`
	Duration time.Duration `json:"-"`
	Seconds  float64       `json:"seconds"`
}
