package lifecycle

import (
	"fmt"
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
	if r := w.podid(t, append([]string{"enable"}, w.target()...)...); r.Code != 0 {
		t.Fatalf("enable: exit %d\n%s", r.Code, r.Stderr)
	}
	if len(w.associations(w.app.Namespace)) != 1 {
		t.Fatal("enable made no association")
	}
	gen0 := w.generation(t)

	// Dry run first: nothing changes.
	audit := w.auditLen()
	r := w.podid(t, append([]string{"disable", "--dry-run"}, w.target()...)...)
	if r.Code != 0 {
		t.Fatalf("disable --dry-run: exit %d\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stdout", r.Stdout, "dry run", "nothing was changed")
	mustContain(t, "stderr", r.Stderr, "delete pod identity association", "restart deployment/app")
	if w.auditLen() != audit || w.generation(t) != gen0 || len(w.associations(w.app.Namespace)) != 1 {
		t.Fatalf("dry run changed something: audit %+v", w.fake.Audit()[audit:])
	}

	r = w.podid(t, append([]string{"disable", "-o", "json"}, w.target()...)...)
	if r.Code != 0 {
		t.Fatalf("disable: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	d := r.doc(t)
	got := steps(d["steps"])
	for name, want := range map[string]string{"cluster": "unchanged", "disassociate": "changed", "propagation": "changed", "restart": "changed"} {
		if got[name] != want {
			t.Errorf("step %s: %q, want %q (all: %v)", name, got[name], want, got)
		}
	}
	if as := w.associations(w.app.Namespace); len(as) != 0 {
		t.Fatalf("associations after disable: %+v", as)
	}
	pods := w.pods(t)
	if len(pods) == 0 {
		t.Fatal("no current pods after disable")
	}
	for _, p := range pods {
		if parts := workload.InjectionParts(p); len(parts) > 0 {
			t.Errorf("pod %s still has %v", p.Pod, parts)
		}
	}
	gen1 := w.generation(t)
	if gen1 == gen0 {
		t.Error("disable did not restart the deployment")
	}
	if ops := w.fake.Audit()[audit:]; len(ops) != 1 || ops[0].Operation != "DeletePodIdentityAssociation" {
		t.Errorf("disable's AWS changes: %+v", ops)
	}

	// Second run: unchanged everywhere, with text output.
	audit = w.auditLen()
	r = w.podid(t, append([]string{"disable"}, w.target()...)...)
	if r.Code != 0 {
		t.Fatalf("second disable: exit %d\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stdout", r.Stdout, "nothing changed")
	if w.auditLen() != audit {
		t.Errorf("second disable changed AWS: %+v", w.fake.Audit()[audit:])
	}
	if g := w.generation(t); g != gen1 {
		t.Errorf("second disable restarted the deployment (%d → %d)", gen1, g)
	}
}

// The text output says that issued credentials stay valid.
func TestDisableSaysCredentialsStayValid(t *testing.T) {
	t.Parallel()
	w := newWorld(t, labtest.ServiceAccount("carts"), labtest.Replicas(1))
	if r := w.podid(t, append([]string{"enable"}, w.target()...)...); r.Code != 0 {
		t.Fatalf("enable: exit %d\n%s", r.Code, r.Stderr)
	}
	r := w.podid(t, append([]string{"disable"}, w.target()...)...)
	if r.Code != 0 {
		t.Fatalf("disable: exit %d\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stdout", r.Stdout, "disable: done", "stay valid until they expire")
}

// A service account that never had an association: nothing to do.
func TestDisableWithoutAssociationIsUnchanged(t *testing.T) {
	t.Parallel()
	w := newWorld(t, labtest.ServiceAccount("carts"), labtest.Replicas(1))
	gen := w.generation(t)
	r := w.podid(t, append([]string{"disable", "-o", "json"}, w.target()...)...)
	if r.Code != 0 {
		t.Fatalf("disable: exit %d\n%s", r.Code, r.Stderr)
	}
	for name, st := range steps(r.doc(t)["steps"]) {
		if st != "unchanged" {
			t.Errorf("step %s: %s, want unchanged", name, st)
		}
	}
	if w.auditLen() != 0 || w.generation(t) != gen {
		t.Errorf("disable without association changed something: %+v", w.fake.Audit())
	}
}

// The wait for the webhook to stop injecting is bounded by --timeout (exit
// 4, naming what the last probe still had); a rerun finishes the job.
func TestDisableTimeoutThenRerunFinishes(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	opts := fastOpts()
	opts.PropagationDelay = 4 * time.Second
	w := &world{env: env, fake: env.NewFake(t, opts)}
	w.app = env.Namespace(t, "life", labtest.ServiceAccount("carts"), labtest.Replicas(1))
	if r := w.podid(t, append([]string{"enable"}, w.target()...)...); r.Code != 0 {
		t.Fatalf("enable: exit %d\n%s", r.Code, r.Stderr)
	}
	gen := w.generation(t)
	r := w.podid(t, append([]string{"disable", "--timeout", "1500ms", "-o", "json"}, w.target()...)...)
	if r.Code != 4 {
		t.Fatalf("exit %d, want 4\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	d := r.doc(t)
	if st := steps(d["steps"]); st["disassociate"] != "changed" || st["propagation"] != "failed" || st["restart"] != "skipped" {
		t.Errorf("steps: %v", st)
	}
	mustContain(t, "error", fmt.Sprint(d["error"]), "stop injecting", "still had", "label eks.amazonaws.com/pod-identity")
	if w.generation(t) != gen {
		t.Error("restarted although the webhook still injected")
	}
	r = w.podid(t, append([]string{"disable", "-o", "json"}, w.target()...)...)
	if r.Code != 0 {
		t.Fatalf("rerun: exit %d\n%s", r.Code, r.Stderr)
	}
	if st := steps(r.doc(t)["steps"]); st["disassociate"] != "unchanged" || st["restart"] != "changed" {
		t.Errorf("rerun steps: %v", st)
	}
	for _, p := range w.pods(t) {
		if parts := workload.InjectionParts(p); len(parts) > 0 {
			t.Errorf("pod %s still has %v", p.Pod, parts)
		}
	}
}
