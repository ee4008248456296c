package lifecycle

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/lab/labtest"
	"github.com/podid/podid/internal/workload"
)

// enable, then disable: the association is gone, the new pods carry no
// Pod Identity injection, and a second disable changes nothing.
func TestDisableAfterEnableThenUnchanged(t *testing.T) {
	t.Parallel()
	w := newWorld(t, labtest.ServiceAccount("carts"))
	if r := w.Podid(t, append([]string{"enable"}, w.Target()...)...); r.Code != 0 {
		t.Fatalf("enable: exit %d\n%s", r.Code, r.Stderr)
	}
	if len(w.Associations(w.App.Namespace)) != 1 {
		t.Fatal("enable made no association")
	}
	gen0 := w.Generation(t)

	// Dry run first: nothing changes.
	audit := w.AuditLen()
	r := w.Podid(t, append([]string{"disable", "--dry-run"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("disable --dry-run: exit %d\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stdout", r.Stdout, "dry run", "nothing was changed")
	mustContain(t, "stderr", r.Stderr, "delete pod identity association", "restart deployment/app")
	if w.AuditLen() != audit || w.Generation(t) != gen0 || len(w.Associations(w.App.Namespace)) != 1 {
		t.Fatalf("dry run changed something: audit %+v", w.Fake.Audit()[audit:])
	}

	r = w.Podid(t, append([]string{"disable", "-o", "json"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("disable: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	d := r.Raw(t)
	got := steps(d["steps"])
	for name, want := range map[string]string{"cluster": "unchanged", "disassociate": "changed", "propagation": "changed", "restart": "changed"} {
		if got[name] != want {
			t.Errorf("step %s: %q, want %q (all: %v)", name, got[name], want, got)
		}
	}
	if as := w.Associations(w.App.Namespace); len(as) != 0 {
		t.Fatalf("associations after disable: %+v", as)
	}
	pods := w.Pods(t)
	if len(pods) == 0 {
		t.Fatal("no current pods after disable")
	}
	for _, p := range pods {
		if parts := workload.InjectionParts(p); len(parts) > 0 {
			t.Errorf("pod %s still has %v", p.Pod, parts)
		}
	}
	gen1 := w.Generation(t)
	if gen1 == gen0 {
		t.Error("disable did not restart the deployment")
	}
	if ops := w.Fake.Audit()[audit:]; len(ops) != 1 || ops[0].Operation != "DeletePodIdentityAssociation" {
		t.Errorf("disable's AWS changes: %+v", ops)
	}

	// Second run: unchanged everywhere, with text output.
	audit = w.AuditLen()
	r = w.Podid(t, append([]string{"disable"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("second disable: exit %d\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stdout", r.Stdout, "nothing changed")
	if w.AuditLen() != audit {
		t.Errorf("second disable changed AWS: %+v", w.Fake.Audit()[audit:])
	}
	if g := w.Generation(t); g != gen1 {
		t.Errorf("second disable restarted the deployment (%d → %d)", gen1, g)
	}
}

// The text output says that issued credentials stay valid.
func TestDisableSaysCredentialsStayValid(t *testing.T) {
	t.Parallel()
	w := newWorld(t, labtest.ServiceAccount("carts"), labtest.Replicas(1))
	if r := w.Podid(t, append([]string{"enable"}, w.Target()...)...); r.Code != 0 {
		t.Fatalf("enable: exit %d\n%s", r.Code, r.Stderr)
	}
	r := w.Podid(t, append([]string{"disable"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("disable: exit %d\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stdout", r.Stdout, "disable: done", "stay valid until they expire", "): no Pod Identity injection")
	// The restarted pods are what disable wants: none is listed as lacking
	// something.
	if strings.Contains(r.Stdout, "✗ pod") {
		t.Errorf("stdout lists a pod without the injection as failed:\n%s", r.Stdout)
	}
}

// A service account that never had an association: nothing to do.
func TestDisableWithoutAssociationIsUnchanged(t *testing.T) {
	t.Parallel()
	w := newWorld(t, labtest.ServiceAccount("carts"), labtest.Replicas(1))
	gen := w.Generation(t)
	r := w.Podid(t, append([]string{"disable", "-o", "json"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("disable: exit %d\n%s", r.Code, r.Stderr)
	}
	for name, st := range steps(r.Raw(t)["steps"]) {
		if st != "unchanged" {
			t.Errorf("step %s: %s, want unchanged", name, st)
		}
	}
	if w.AuditLen() != 0 || w.Generation(t) != gen {
		t.Errorf("disable without association changed something: %+v", w.Fake.Audit())
	}
}

// The wait for the webhook to stop injecting is bounded by --timeout (exit
// 4, naming what the last probe still had); a rerun finishes the job.
func TestDisableTimeoutThenRerunFinishes(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	opts := fastOpts()
	opts.PropagationDelay = 4 * time.Second
	w := &world{Env: env, Fake: env.NewFake(t, opts)}
	w.App = env.Namespace(t, "life", labtest.ServiceAccount("carts"), labtest.Replicas(1))
	if r := w.Podid(t, append([]string{"enable"}, w.Target()...)...); r.Code != 0 {
		t.Fatalf("enable: exit %d\n%s", r.Code, r.Stderr)
	}
	gen := w.Generation(t)
	r := w.Podid(t, append([]string{"disable", "--timeout", "1500ms", "-o", "json"}, w.Target()...)...)
	if r.Code != 4 {
		t.Fatalf("exit %d, want 4\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	d := r.Raw(t)
	if st := steps(d["steps"]); st["disassociate"] != "changed" || st["propagation"] != "failed" || st["restart"] != "skipped" {
		t.Errorf("steps: %v", st)
	}
	mustContain(t, "error", fmt.Sprint(d["error"]), "stop injecting", "still had", "label eks.amazonaws.com/pod-identity")
	if w.Generation(t) != gen {
		t.Error("restarted although the webhook still injected")
	}
	r = w.Podid(t, append([]string{"disable", "-o", "json"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("rerun: exit %d\n%s", r.Code, r.Stderr)
	}
	if st := steps(r.Raw(t)["steps"]); st["disassociate"] != "unchanged" || st["restart"] != "changed" {
		t.Errorf("rerun steps: %v", st)
	}
	for _, p := range w.Pods(t) {
		if parts := workload.InjectionParts(p); len(parts) > 0 {
			t.Errorf("pod %s still has %v", p.Pod, parts)
		}
	}
}
