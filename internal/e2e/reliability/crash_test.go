package reliability

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab/labtest"
)

// killPoint is a moment in `podid enable` recognised by a plain stderr
// line: the step's mark ("•" working, "✓" done), its name, and a phrase.
type killPoint struct {
	name   string
	mark   string
	step   string
	phrase string // "" = any line of that mark and step
	during string // the step the interrupted run must name ("" = not asserted: the run may have moved on)
}

func (k killPoint) matches(line string) bool {
	rest, ok := strings.CutPrefix(line, k.mark+" ")
	if !ok {
		return false
	}
	f := strings.Fields(rest)
	return len(f) > 0 && f[0] == k.step && strings.Contains(rest, k.phrase)
}

// killPoints: after each step, and inside each wait. The fake's add-on delay
// and propagation delay are long enough that the waits are really waiting
// when the line appears.
var killPoints = []killPoint{
	{"after cluster", "✓", "cluster", "", ""},
	{"in add-on CREATING wait", "•", "install-agent", "CREATING", "install-agent"},
	{"in agent DaemonSet wait", "•", "install-agent", "DaemonSet", ""},
	{"after install-agent", "✓", "install-agent", "", ""},
	{"after verify-role", "✓", "verify-role", "", ""},
	{"after associate", "✓", "associate", "", ""},
	{"in propagation wait", "•", "propagation", "", "propagation"},
	{"after propagation", "✓", "propagation", "", ""},
	{"at restart patch", "•", "restart", "restarting", ""},
	{"in rollout wait", "•", "restart", "Waiting for deployment", ""},
}

func crashOpts() fakeaws.Options {
	return fakeaws.Options{AddonDelay: 3 * time.Second, PropagationDelay: 3 * time.Second}
}

// SIGKILL podid enable at each point, then rerun it: the rerun finishes and
// the end state is that of an undisturbed run, with nothing duplicated.
func TestCrashAndRerun(t *testing.T) {
	t.Parallel()
	podidBinary(t)
	for _, kp := range killPoints {
		for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
			t.Run(fmt.Sprintf("%s/%s", sig, kp.name), func(t *testing.T) {
				t.Parallel()
				crashAndRerun(t, kp, sig)
			})
		}
	}
}

func crashAndRerun(t *testing.T, kp killPoint, sig syscall.Signal) {
	w := newWorld(t, crashOpts(), labtest.ServiceAccount("carts"))
	env := procEnv(w.Env.Kubeconfig, w.Fake.URL())
	args := append([]string{"enable", "--cluster", "eks-workshop", "--timeout", "3m"}, w.Target()...)
	before, _ := restarts(t, w)

	p := startPodid(t, env, args...)
	line, ok := p.waitLine(kp.matches, 3*time.Minute)
	if !ok {
		r, _ := p.wait(time.Minute)
		t.Fatalf("podid never printed a %q line of step %s with %q (exit %d):\n%s", kp.mark, kp.step, kp.phrase, r.Code, r.Stderr)
	}
	p.signal(sig)
	r, ok := p.wait(2 * time.Minute)
	if !ok {
		t.Fatalf("podid did not exit within 2m of %s at %q:\n%s", sig, line, r.Stderr)
	}
	if testing.Verbose() {
		t.Logf("after %s at %q: exit %d\n%s", sig, line, r.Code, r.Stderr)
	}
	switch sig {
	case syscall.SIGKILL:
		if r.Code != 128+int(syscall.SIGKILL) {
			t.Logf("podid ended with %d before SIGKILL landed (it was at %q)", r.Code, line)
		}
	case syscall.SIGINT:
		if r.Code == 0 {
			// The signal came after the last step's wait ended; nothing to
			// interrupt any more. Only possible at the very end.
			if !strings.Contains(kp.name, "rollout") && !strings.Contains(kp.name, "restart") {
				t.Errorf("exit 0 after SIGINT at %q: the run was not interrupted\n%s", line, r.Stderr)
			}
		} else {
			if r.Code != 130 {
				t.Errorf("exit %d after SIGINT, want 130\n%s", r.Code, r.Stderr)
			}
			mustContain(t, "stderr", r.Stderr, "interrupted", "run the same command again")
			if strings.Contains(r.Stderr, "raise --timeout") {
				t.Errorf("an interrupted run hints at --timeout:\n%s", r.Stderr)
			}
			if kp.during != "" {
				mustContain(t, "stderr", r.Stderr, "interrupted during "+kp.during)
			}
		}
	}

	rerun := runPodid(t, env, 4*time.Minute, args...)
	if rerun.Code != 0 {
		t.Fatalf("rerun after %s at %q: exit %d\n%s\n%s", sig, kp.name, rerun.Code, rerun.Stdout, rerun.Stderr)
	}
	checkEnabledOnce(t, w, before)
	t.Logf("FIGURE kill point %s %q: killed at %q, rerun ok", sig, kp.name, line)
}

// checkEnabledOnce asserts the state of one undisturbed enable: one
// association accepted once, one add-on created once and ACTIVE, every
// current pod injected, and at most one restart more than needed.
func checkEnabledOnce(t *testing.T, w *world, before map[string]bool) {
	t.Helper()
	if as := w.Associations(w.App.Namespace); len(as) != 1 {
		t.Errorf("associations for %s: %+v, want exactly one", w.App.Namespace, as)
	}
	if n := w.Audited("CreatePodIdentityAssociation"); n != 1 {
		t.Errorf("CreatePodIdentityAssociation accepted %d times, want 1", n)
	}
	if n := w.Audited("CreateAddon"); n != 1 {
		t.Errorf("CreateAddon accepted %d times, want 1", n)
	}
	if s := addonStatus(w); s != "ACTIVE" {
		t.Errorf("add-on %s, want ACTIVE", s)
	}
	if inj, total := w.InjectedPods(t); total == 0 || inj != total {
		t.Errorf("%d of %d current pods injected", inj, total)
	}
	after, rss := restarts(t, w)
	n := 0
	for v := range after {
		if !before[v] {
			n++
		}
	}
	if n < 1 || n > 2 {
		t.Errorf("%d new restartedAt values (%v over %d ReplicaSets); want 1, or 2 when the crash came after the restart patch", n, after, rss)
	}
}
