// Package diag runs `podid status` and `podid verify` in process against
// the lab: real SDK clients against a fresh fakeaws per test, client-go
// against the lab's kube-apiserver, the real pod identity webhook.
package diag

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/podid/podid/internal/diagnose"
	"github.com/podid/podid/internal/e2e/e2etest"
	"github.com/podid/podid/internal/lab/labtest"
)

func TestMain(m *testing.M) { labtest.Main(m) }

type result = e2etest.Result

type world = e2etest.World

// report decodes the status document's result.
func report(t *testing.T, r result) diagnose.Report {
	t.Helper()
	d := r.Doc(t)
	raw, err := json.Marshal(d.Result)
	if err != nil {
		t.Fatal(err)
	}
	var rep diagnose.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("result is not a status report: %v\n%s", err, raw)
	}
	return rep
}

// verdict decodes the verify document's result.
func verdict(t *testing.T, r result) diagnose.Verdict {
	t.Helper()
	d := r.Doc(t)
	raw, err := json.Marshal(d.Result)
	if err != nil {
		t.Fatal(err)
	}
	var v diagnose.Verdict
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("result is not a verdict: %v\n%s", err, raw)
	}
	return v
}

func newWorld(t *testing.T, nsOpts ...labtest.NamespaceOption) *world {
	t.Helper()
	return e2etest.New(t, e2etest.FastOpts(), "diag", append([]labtest.NamespaceOption{labtest.ServiceAccount("carts")}, nsOpts...)...)
}

func mustRun(t *testing.T, w *world, args ...string) {
	t.Helper()
	if r := w.Podid(t, append(args, w.Target()...)...); r.Code != 0 {
		t.Fatalf("podid %s: exit %d\n%s\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
}

// find returns the findings of area with severity sev whose message
// contains every want.
func find(rep diagnose.Report, area string, sev diagnose.Severity, wants ...string) []diagnose.Finding {
	var out []diagnose.Finding
next:
	for _, f := range rep.Findings {
		if f.Area != area || f.Severity != sev {
			continue
		}
		for _, w := range wants {
			if !strings.Contains(f.Message, w) {
				continue next
			}
		}
		out = append(out, f)
	}
	return out
}

func mustFind(t *testing.T, rep diagnose.Report, area string, sev diagnose.Severity, wants ...string) diagnose.Finding {
	t.Helper()
	fs := find(rep, area, sev, wants...)
	if len(fs) == 0 {
		t.Fatalf("no %s finding in area %s containing %q; findings:\n%s", sev, area, wants, dump(rep))
	}
	if fs[0].Severity != diagnose.OK && fs[0].Fix == "" {
		t.Errorf("finding %q has no fix", fs[0].Message)
	}
	return fs[0]
}

func dump(rep diagnose.Report) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		b.WriteString(string(f.Severity) + " " + f.Area + ": " + f.Message + "\n")
		if f.Fix != "" {
			b.WriteString("    fix: " + f.Fix + "\n")
		}
	}
	return b.String()
}

// everyProblemHasFix checks the rule that each warn and error says what to do.
func everyProblemHasFix(t *testing.T, rep diagnose.Report) {
	t.Helper()
	for _, f := range rep.Findings {
		if f.Severity != diagnose.OK && f.Fix == "" {
			t.Errorf("%s finding without a fix: %s: %s", f.Severity, f.Area, f.Message)
		}
	}
}
