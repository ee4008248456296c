package lifecycle

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/e2e/e2etest"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab/labtest"
)

// disable, then enable again at once, as a user undoing a mistake does. EKS
// still holds the deleted association's service account for a while (409
// "Association already exists: <deleted id>") and remembers client request
// tokens across the delete: enable must create a new association (not
// replay the deleted one), waiting out the lag and saying so.
func TestDisableThenEnableAgainAtOnce(t *testing.T) {
	t.Parallel()
	opts := fastOpts()
	// Longer than disable's own propagation and restart waits take on a
	// busy machine, so that enable still meets the lag.
	opts.AssociationDeleteLag = 8 * time.Second
	w := e2etest.New(t, opts, "life", labtest.ServiceAccount("carts"), labtest.Replicas(1))
	enable := append([]string{"enable"}, w.Target()...)
	if r := w.Podid(t, enable...); r.Code != 0 {
		t.Fatalf("enable: exit %d\n%s", r.Code, r.Stderr)
	}
	first := w.Associations(w.App.Namespace)
	if len(first) != 1 {
		t.Fatalf("associations after enable: %+v", first)
	}
	deleted := time.Now() // disable deletes first, then waits for the webhook and restarts
	if r := w.Podid(t, append([]string{"disable"}, w.Target()...)...); r.Code != 0 {
		t.Fatalf("disable: exit %d\n%s", r.Code, r.Stderr)
	}
	inLag := time.Since(deleted) < opts.AssociationDeleteLag-time.Second
	r := w.Podid(t, enable...)
	if r.Code != 0 {
		t.Fatalf("enable right after disable: exit %d\n%s", r.Code, r.Stderr)
	}
	if inLag {
		mustContain(t, "stderr", r.Stderr, "waiting: EKS to finish deleting association "+first[0].ID)
	} else {
		t.Logf("disable took longer than the delete lag on this machine; enable did not meet it")
	}
	now := w.Associations(w.App.Namespace)
	if len(now) != 1 || now[0].ID == first[0].ID {
		t.Errorf("associations after the second enable: %+v, want a new one (the first was %s)", now, first[0].ID)
	}
	if injected, total := w.InjectedPods(t); total == 0 || injected != total {
		t.Errorf("%d of %d pods injected after the second enable", injected, total)
	}
}

// role create with the AWS managed policy from issue 12, then enable with
// that role while IAM has not propagated it to EKS yet: enable waits for
// IAM, says so, and gets through.
func TestRoleCreateThenEnableWhileIAMPropagates(t *testing.T) {
	t.Parallel()
	w := newWorld(t, labtest.ServiceAccount("carts"), labtest.Replicas(1))
	const delay = 6 * time.Second
	w.Fake.SetFaults(fakeaws.Faults{IAMPropagationDelay: delay})
	created := time.Now()
	ddb := "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"
	r := w.Podid(t, append([]string{"role", "create", "--name", "carts-fresh", "--policy-arn", ddb}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("role create --policy-arn %s: exit %d\n%s", ddb, r.Code, r.Stderr)
	}
	arn := strings.TrimSpace(r.Stdout)
	if want := fmt.Sprintf("arn:aws:iam::%s:role/carts-fresh", account); arn != want {
		t.Fatalf("role create printed %q, want %s", arn, want)
	}
	start := time.Now()
	r = w.Podid(t, append([]string{"enable", "--role", arn}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("enable --role %s while IAM propagates: exit %d\n%s", arn, r.Code, r.Stderr)
	}
	// enable reaches associate after install-agent and verify-role; on a
	// loaded machine that can take longer than the delay.
	if stderrAssociate := r.Stderr; start.Sub(created) < delay/2 {
		mustContain(t, "stderr", stderrAssociate, "waiting: IAM to propagate the new role "+arn, "Role provided in the request does not exist")
	} else {
		t.Logf("enable reached associate after the IAM delay; it did not meet the propagation")
	}
	if as := w.Associations(w.App.Namespace); len(as) != 1 || as[0].RoleArn != arn {
		t.Errorf("associations: %+v", as)
	}
	t.Logf("enable took %v with a %v IAM propagation delay\n%s", time.Since(start).Round(100*time.Millisecond), delay, r.Stderr)

	// IAM slower than --timeout: exit 4, naming what podid waited for.
	w.Fake.SetFaults(fakeaws.Faults{IAMPropagationDelay: time.Minute})
	r = w.Podid(t, append([]string{"role", "create", "--name", "carts-slow"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("role create carts-slow: exit %d\n%s", r.Code, r.Stderr)
	}
	slow := strings.TrimSpace(r.Stdout)
	w.Timeout = "5s"
	r = w.Podid(t, append([]string{"associate", "--update", "--role", slow}, w.Target()...)...)
	if r.Code != 4 {
		t.Fatalf("associate while IAM is slower than --timeout: exit %d, want 4\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "waiting: IAM to propagate the new role "+slow, "gave up after", "Role provided in the request does not exist", "--timeout")
	t.Logf("associate with --timeout 5s and a 1m IAM propagation delay:\n%s", r.Stderr)
}
