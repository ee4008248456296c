// Package diag runs `podid status` and `podid verify` in process against
// the lab: real SDK clients against a fresh fakeaws per test, client-go
// against the lab's kube-apiserver, the real pod identity webhook.
package diag

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/diagnose"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/iostreams"
	"github.com/podid/podid/internal/lab/labtest"
)

func TestMain(m *testing.M) { labtest.Main(m) }

type result struct {
	Code   int
	Stdout string
	Stderr string
}

// doc parses stdout as exactly one JSON document.
func (r result) doc(t *testing.T) cmdutil.Document {
	t.Helper()
	var d cmdutil.Document
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.Stdout)
	}
	if dec.More() {
		t.Fatalf("stdout has more than one JSON document:\n%s", r.Stdout)
	}
	return d
}

// report decodes the status document's result.
func (r result) report(t *testing.T) diagnose.Report {
	t.Helper()
	d := r.doc(t)
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
func (r result) verdict(t *testing.T) diagnose.Verdict {
	t.Helper()
	d := r.doc(t)
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

type world struct {
	env  *labtest.Env
	fake *fakeaws.Server
	app  *labtest.App
}

func newWorld(t *testing.T, nsOpts ...labtest.NamespaceOption) *world {
	t.Helper()
	env := labtest.Get(t)
	w := &world{env: env, fake: env.NewFake(t, fakeaws.Options{AddonDelay: 100 * time.Millisecond, PropagationDelay: 300 * time.Millisecond})}
	w.app = env.Namespace(t, "diag", append([]labtest.NamespaceOption{labtest.ServiceAccount("carts")}, nsOpts...)...)
	return w
}

// podid runs podid in process with the lab's kubeconfig and the world's fake.
func (w *world) podid(t *testing.T, args ...string) result {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	f := cmdutil.NewFactory(ios, "test")
	f.SetAWS(awsapi.New(labtest.AWSConfig(w.fake.URL()), nil))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	full := append([]string{"--kubeconfig", w.env.Kubeconfig, "--cluster", "eks-workshop"}, args...)
	code := app.RunWith(ctx, f, full)
	r := result{Code: code, Stdout: out.String(), Stderr: errOut.String()}
	if testing.Verbose() {
		t.Logf("podid %s → exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, r.Stdout, r.Stderr)
	}
	return r
}

func (w *world) target() []string {
	return []string{"--ns", w.app.Namespace, "--sa", w.app.ServiceAccount}
}

func (w *world) mustRun(t *testing.T, args ...string) {
	t.Helper()
	if r := w.podid(t, append(args, w.target()...)...); r.Code != 0 {
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
