package cmdutil

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/step"
)

// Document is the one JSON document `-o json` prints on stdout, also on
// failure. Its shape is an API: add fields, never rename or remove them.
type Document struct {
	APIVersion     string         `json:"apiVersion"` // APIVersion
	Command        string         `json:"command"`
	Cluster        string         `json:"cluster,omitempty"`
	Namespace      string         `json:"namespace,omitempty"`
	ServiceAccount string         `json:"serviceAccount,omitempty"`
	DryRun         bool           `json:"dryRun"`
	Status         string         `json:"status"` // succeeded, failed
	ExitCode       int            `json:"exitCode"`
	Steps          []step.Report  `json:"steps"`
	Result         any            `json:"result,omitempty"`
	Error          string         `json:"error,omitempty"`
	Hint           string         `json:"hint,omitempty"`
	APICalls       map[string]int `json:"apiCalls,omitempty"`
	Seconds        float64        `json:"seconds"`
}

// APIVersion names the shape of the JSON document; it changes only when a
// field is renamed or removed.
const APIVersion = "podid/v1"

// Outcome is what a command hands to Finish.
type Outcome struct {
	Command        string
	Namespace      string
	ServiceAccount string
	DryRun         bool
	Steps          []step.Report
	Result         any               // command-specific results for -o json
	Text           func(w io.Writer) // command-specific results for text output (stdout)
	Start          time.Time         // when the command started
	Err            error             // the command's error, if any
}

// Finish renders the outcome: in text mode the results on stdout and the
// error with its hint on stderr; with -o json exactly one document on stdout.
// It returns o.Err so commands can `return f.Finish(o)`.
func (f *Factory) Finish(o Outcome) error {
	f.reported = true
	err := o.Err
	if err != nil && fail.KindOf(err) == fail.KindInterrupted {
		err = interrupted(err, o.Steps)
	}
	if f.Globals.JSON() {
		doc := Document{
			APIVersion: APIVersion, Command: o.Command, Cluster: f.Globals.Cluster, Namespace: o.Namespace, ServiceAccount: o.ServiceAccount,
			DryRun: o.DryRun, Status: "succeeded", Steps: o.Steps, Result: o.Result,
			APICalls: f.APICalls(), Seconds: time.Since(o.Start).Seconds(),
		}
		if doc.Steps == nil {
			doc.Steps = []step.Report{}
		}
		if err != nil {
			doc.Status, doc.Error, doc.Hint, doc.ExitCode = "failed", err.Error(), fail.HintOf(err), fail.ExitCode(err)
		}
		enc := json.NewEncoder(f.IO.Out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(doc)
	} else {
		if o.Text != nil {
			o.Text(f.IO.Out)
		}
		if err != nil && !stepReported(o.Steps) {
			printError(f.IO.ErrOut, err)
		} else if err != nil && fail.KindOf(err) == fail.KindInterrupted {
			printError(f.IO.ErrOut, err)
		}
	}
	if f.Globals.Verbose {
		f.printCalls()
	}
	if err != nil {
		return err
	}
	return nil
}

// ReportError renders an error that happened before any step ran (flag
// errors, bad input), keeping the one-document rule for -o json.
func (f *Factory) ReportError(err error) {
	if f.reported {
		return
	}
	f.reported = true
	if f.Globals.JSON() {
		enc := json.NewEncoder(f.IO.Out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(Document{APIVersion: APIVersion, Command: f.command, Cluster: f.Globals.Cluster, Status: "failed", Steps: []step.Report{},
			Error: err.Error(), Hint: fail.HintOf(err), ExitCode: fail.ExitCode(err)})
		return
	}
	printError(f.IO.ErrOut, err)
}

// Reported reports whether the command already printed its outcome.
func (f *Factory) Reported() bool { return f.reported }

func stepReported(steps []step.Report) bool {
	for _, s := range steps {
		if s.Status == step.Failed {
			return true
		}
	}
	return false
}

func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "error: %s\n", err)
	if h := fail.HintOf(err); h != "" {
		fmt.Fprintf(w, "hint: %s\n", h)
	}
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

func (f *Factory) printCalls() {
	calls := f.APICalls()
	if len(calls) == 0 {
		return
	}
	keys := make([]string, 0, len(calls))
	total := 0
	for k, v := range calls {
		keys = append(keys, k)
		total += v
	}
	sort.Strings(keys)
	fmt.Fprintf(f.IO.ErrOut, "api calls: %d total\n", total)
	for _, k := range keys {
		fmt.Fprintf(f.IO.ErrOut, "  %-45s %d\n", k, calls[k])
	}
}

func failedReport(name string, err error) step.Report {
	return step.Report{Name: name, Status: step.Failed, Error: err.Error(), Hint: fail.HintOf(err)}
}

// RunSteps runs steps after the cluster report with the command's timeout
// already in ctx, and returns all reports.
func (f *Factory) RunSteps(ctx context.Context, dryRun bool, first step.Report, steps []step.Step) ([]step.Report, error) {
	reps, err := step.Runner{DryRun: dryRun, Sink: f.Status()}.Run(ctx, steps)
	return append([]step.Report{first}, reps...), err
}

// WithTimeout bounds ctx by --timeout.
func (f *Factory) WithTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.Globals.Timeout)
}
