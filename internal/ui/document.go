package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/flow"
	"github.com/podid/podid/internal/iostreams"
	"github.com/podid/podid/internal/step"
)

// APIVersion names the shape of the JSON document; it changes only when a
// field is renamed or removed.
const APIVersion = "podid/v1"

// Document is the one JSON document `-o json` prints on stdout, also on
// failure. Its shape is an API, written down in schema/podid.schema.json:
// add fields, never rename or remove them.
type Document struct {
	APIVersion     string         `json:"apiVersion"`
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

// DocumentOf is the JSON document of an outcome.
func DocumentOf(out flow.Outcome) Document {
	doc := Document{
		APIVersion: APIVersion, Command: out.Command, Cluster: out.Cluster, Namespace: out.Namespace, ServiceAccount: out.ServiceAccount,
		DryRun: out.DryRun, Status: "succeeded", Steps: out.Steps, Result: out.Result,
		APICalls: out.APICalls, Seconds: out.Duration.Seconds(),
	}
	if doc.Steps == nil {
		doc.Steps = []step.Report{}
	}
	if out.Err != nil {
		doc.Status, doc.Error, doc.Hint, doc.ExitCode = "failed", out.Err.Error(), fail.HintOf(out.Err), fail.ExitCode(out.Err)
	}
	return doc
}

// Render shows an outcome: with asJSON exactly one document on stdout;
// otherwise the command's results on stdout and, unless a failed step line
// already showed it, the error with its hint on stderr.
func Render(ios *iostreams.IOStreams, asJSON bool, out flow.Outcome) {
	if asJSON {
		enc := json.NewEncoder(ios.Out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(DocumentOf(out))
		return
	}
	Text(ios.Out, out)
	err := out.Err
	if err != nil && (!stepReported(out.Steps) || fail.KindOf(err) == fail.KindInterrupted) {
		PrintError(ios.ErrOut, err)
	}
}

func stepReported(steps []step.Report) bool {
	for _, s := range steps {
		if s.Status == step.Failed {
			return true
		}
	}
	return false
}

// PrintError prints an error and its hint (stderr).
func PrintError(w io.Writer, err error) {
	fmt.Fprintf(w, "error: %s\n", err)
	if h := fail.HintOf(err); h != "" {
		fmt.Fprintf(w, "hint: %s\n", h)
	}
}

// PrintCalls prints the API calls made, by operation (-v).
func PrintCalls(w io.Writer, calls map[string]int) {
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
	fmt.Fprintf(w, "api calls: %d total\n", total)
	for _, k := range keys {
		fmt.Fprintf(w, "  %-45s %d\n", k, calls[k])
	}
}
