package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
	"github.com/podid/podid/internal/step"
)

// The workshop flow: enable does everything, proves the injection, and a
// second run changes nothing.
func TestEnableEndToEndThenUnchanged(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"))
	gen0 := w.Generation(t)

	r := w.Podid(t, append([]string{"enable", "-o", "json"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("enable: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	d := r.Doc(t)
	want := map[string]step.Status{"cluster": step.Unchanged, "install-agent": "", "verify-role": step.Unchanged,
		"associate": step.Changed, "propagation": step.Changed, "restart": step.Changed, "credentials": step.Unchanged}
	for _, s := range d.Steps {
		if ws, ok := want[s.Name]; !ok || (ws != "" && s.Status != ws) {
			t.Errorf("step %s: status %s, want %s", s.Name, s.Status, ws)
		}
		delete(want, s.Name)
	}
	if len(want) != 0 {
		t.Errorf("steps missing from the report: %v", want)
	}
	if as := w.Associations(w.App.Namespace); len(as) != 1 || as[0].ServiceAccount != "carts" {
		t.Fatalf("associations after enable: %+v", as)
	}
	// enable ends with the identity the pods will hold (the agent's exchange).
	var res struct {
		Result struct {
			Credentials struct {
				Proofs []struct{ Outcome, Identity string } `json:"proofs"`
			} `json:"credentials"`
		} `json:"result"`
	}
	r.Decode(t, &res)
	if ps := res.Result.Credentials.Proofs; len(ps) != 1 || ps[0].Outcome != "proven" || !strings.Contains(ps[0].Identity, ":assumed-role/"+lab.CartsRole+"/eks-") {
		t.Errorf("enable's credentials proof: %+v, want one proven assumed-role session of %s", ps, lab.CartsRole)
	}
	if inj, total := w.InjectedPods(t); total == 0 || inj != total {
		t.Fatalf("after enable %d of %d current pods are injected", inj, total)
	}
	gen1 := w.Generation(t)
	if gen1 == gen0 {
		t.Fatalf("deployment was not restarted (generation %d)", gen1)
	}

	audit := w.AuditLen()
	r = w.Podid(t, append([]string{"enable", "-o", "json"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("second enable: exit %d\n%s", r.Code, r.Stderr)
	}
	for _, s := range r.Doc(t).Steps {
		if s.Status != step.Unchanged {
			t.Errorf("second run: step %s is %s, want unchanged", s.Name, s.Status)
		}
	}
	// verify-role and associate share one association lookup.
	calls := r.Calls.Snapshot()
	if calls["eks:ListPodIdentityAssociations"] != 1 || calls["eks:DescribePodIdentityAssociation"] != 1 {
		t.Errorf("second run looked the association up more than once: %v", calls)
	}
	if got := w.AuditLen(); got != audit {
		t.Errorf("second run changed AWS: audit %d → %d: %+v", audit, got, w.Fake.Audit()[audit:])
	}
	if g := w.Generation(t); g != gen1 {
		t.Errorf("second run restarted the deployment (generation %d → %d)", gen1, g)
	}
}

// --dry-run checks everything, prints the plan and changes nothing anywhere.
func TestEnableDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"))
	gen := w.Generation(t)
	r := w.Podid(t, append([]string{"enable", "--dry-run"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("enable --dry-run: exit %d\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "would change", "create pod identity association", "restart deployment/app")
	mustContain(t, "stdout", r.Stdout, "dry run", "nothing was changed")
	if n := w.AuditLen(); n != 0 {
		t.Errorf("dry run made %d AWS changes: %+v", n, w.Fake.Audit())
	}
	if g := w.Generation(t); g != gen {
		t.Errorf("dry run restarted the deployment")
	}
}

// The association's propagation delay is waited out by probing, not by
// sleeping: the restart comes after the webhook injects, and the new pods
// have credentials.
func TestEnableWaitsForPropagation(t *testing.T) {
	t.Parallel()
	const delay = 2 * time.Second
	w := newWorld(t, fakeaws.Options{PropagationDelay: delay}, labtest.ServiceAccount("carts"))
	start := time.Now()
	r := w.Podid(t, append([]string{"enable", "-o", "json"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("enable: exit %d\n%s", r.Code, r.Stderr)
	}
	if took := time.Since(start); took < delay {
		t.Errorf("enable took %s, less than the propagation delay %s: it cannot have waited", took, delay)
	}
	var probes float64
	for _, s := range r.Doc(t).Steps {
		if s.Name == "propagation" {
			details, _ := s.Details.(map[string]any)
			probes, _ = details["probes"].(float64)
		}
	}
	if probes < 2 {
		t.Errorf("propagation step reported %v probes; expected several while the delay ran", probes)
	}
	if inj, total := w.InjectedPods(t); inj != total || total == 0 {
		t.Errorf("%d of %d pods injected", inj, total)
	}
}

// A timeout ends with exit 4 and names what was awaited.
func TestEnableTimeout(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeaws.Options{PropagationDelay: time.Minute}, labtest.ServiceAccount("carts"))
	r := w.Podid(t, append([]string{"enable", "--timeout", "3s"}, w.Target()...)...)
	if r.Code != 4 {
		t.Fatalf("exit %d, want 4 (timeout)\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "propagation", "dry-run probes")
}

// Problems found by any check stop the run before anything changes.
func TestEnableBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	paused := env.Namespace(t, "paused", labtest.ServiceAccount("carts"), labtest.Paused())
	other := env.Namespace(t, "othersa", labtest.ServiceAccount("carts"), labtest.DeploymentSA("default"))
	good := env.Namespace(t, "good", labtest.ServiceAccount("carts"))
	tests := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"invalid namespace", []string{"--ns", "Carts_1", "--sa", "carts"}, 2, []string{"invalid --ns", "DNS-1123"}},
		{"invalid service account", []string{"--ns", "carts", "--sa", "a/b"}, 2, []string{"invalid --sa"}},
		{"invalid cluster", []string{"--cluster", "-bad", "--ns", "carts", "--sa", "carts"}, 2, []string{"invalid --cluster"}},
		{"invalid role ARN", []string{"--ns", good.Namespace, "--sa", "carts", "--role", "arn:aws:iam::12:role/x"}, 2, []string{"role"}},
		{"no namespace flag", []string{"--sa", "carts"}, 2, []string{"--ns"}},
		{"unknown cluster", []string{"--cluster", "nope", "--ns", good.Namespace, "--sa", "carts"}, 1, []string{"nope", "not found"}},
		{"missing namespace", []string{"--ns", "does-not-exist", "--sa", "carts"}, 3, []string{"does-not-exist", "not found"}},
		{"workload under another service account", []string{"--ns", other.Namespace, "--sa", "carts"}, 3, []string{"deployment/app uses default"}},
		{"paused deployment", []string{"--ns", paused.Namespace, "--sa", "carts"}, 3, []string{"paused", "rollout resume"}},
		{"missing role", []string{"--ns", good.Namespace, "--sa", "carts", "--role", "no-such-role"}, 1, []string{"no-such-role"}},
		{"IRSA-only role", []string{"--ns", good.Namespace, "--sa", "carts", "--role", "eks-workshop-carts-irsa"}, 3, []string{"IRSA", "--fix"}},
		{"policy without disable-session-tags", []string{"--ns", good.Namespace, "--sa", "carts", "--policy", "{}"}, 2, []string{"--disable-session-tags"}},
		{"bad expect", []string{"--ns", good.Namespace, "--sa", "carts", "--expect", "Query"}, 2, []string{"--expect"}},
		{"expect denied", []string{"--ns", good.Namespace, "--sa", "carts", "--expect", "s3:GetObject=arn:aws:s3:::bucket/key"}, 3, []string{"s3:GetObject"}},
		{"bad workload", []string{"--ns", good.Namespace, "--sa", "carts", "--workload", "pod/x"}, 2, []string{"pod/x"}},
		{"bad output", []string{"--ns", good.Namespace, "--sa", "carts", "-o", "yaml"}, 2, []string{"--output"}},
		{"bad tag", []string{"--ns", good.Namespace, "--sa", "carts", "--tags", "novalue"}, 2, []string{"tag"}},
		{"positional argument", []string{"carts"}, 2, []string{"unexpected argument"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := &world{Env: env, Fake: env.NewFake(t, fastOpts())}
			gens := map[string]int64{}
			for _, a := range []*labtest.App{paused, other, good} {
				w.App = a
				gens[a.Namespace] = w.Generation(t)
			}
			r := w.Podid(t, append([]string{"enable"}, tt.args...)...)
			if r.Code != tt.code {
				t.Errorf("exit %d, want %d\nstderr:\n%s", r.Code, tt.code, r.Stderr)
			}
			mustContain(t, "stderr", r.Stderr, tt.wants...)
			mustContain(t, "stderr", r.Stderr, "hint:")
			if n := w.AuditLen(); n != 0 {
				t.Errorf("AWS changed: %+v", w.Fake.Audit())
			}
			for _, a := range []*labtest.App{paused, other, good} {
				w.App = a
				if g := w.Generation(t); g != gens[a.Namespace] {
					t.Errorf("deployment in %s restarted", a.Namespace)
				}
			}
			// JSON: exactly one document, also on failure.
			r = w.Podid(t, append([]string{"enable", "-o", "json"}, tt.args...)...)
			if tt.name != "bad output" {
				d := r.Doc(t)
				if d.Status != "failed" || d.ExitCode != tt.code || d.Error == "" {
					t.Errorf("json: status %q exit %d error %q", d.Status, d.ExitCode, d.Error)
				}
			}
		})
	}
}
