package reliability

import (
	"strings"
	"testing"

	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

// The README's least-privilege policy, as written (account 1234567890,
// us-west-2, cluster eks-workshop, role eks-workshop-carts-dynamo: the
// workshop world), is enough for the whole enable; without any one of its
// required statements enable fails and names the missing permission.
func TestREADMEPolicyIsLeastPrivilege(t *testing.T) {
	t.Parallel()
	doc := readmePolicy(t)
	full := encode(t, doc)
	var required, optional []string
	for _, st := range statements(doc) {
		sid, _ := st["Sid"].(string)
		if sid == "" {
			t.Fatalf("README policy statement without a Sid: %v", st)
		}
		if strings.HasPrefix(sid, "Optional") {
			optional = append(optional, sid)
		} else {
			required = append(required, sid)
		}
	}
	if len(required) < 4 {
		t.Fatalf("README policy has only %d required statements: %v", len(required), required)
	}
	onlyRequired := readmePolicy(t)
	var kept []any
	for _, st := range statements(onlyRequired) {
		if !strings.HasPrefix(st["Sid"].(string), "Optional") {
			kept = append(kept, st)
		}
	}
	onlyRequired["Statement"] = kept

	enable := func(t *testing.T, policy string, extra ...string) (*world, result) {
		w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"))
		w.Fake.SetCallerPolicy(policy)
		args := append([]string{"enable", "--timeout", "3m"}, w.Target()...)
		return w, w.Podid(t, append(args, extra...)...)
	}
	t.Run("full policy", func(t *testing.T) {
		t.Parallel()
		w, r := enable(t, full, "--role", lab.CartsRole, "--credentials", "require")
		if r.Code != 0 {
			t.Fatalf("enable --credentials require with the README policy: exit %d\n%s", r.Code, r.Stderr)
		}
		if inj, total := w.InjectedPods(t); total == 0 || inj != total {
			t.Errorf("%d of %d pods injected", inj, total)
		}
	})
	t.Run("full policy, role discovered", func(t *testing.T) {
		t.Parallel()
		if _, r := enable(t, full); r.Code != 0 {
			t.Fatalf("enable without --role under the README policy: exit %d\n%s", r.Code, r.Stderr)
		}
	})
	t.Run("required statements only", func(t *testing.T) {
		t.Parallel()
		if _, r := enable(t, encode(t, onlyRequired), "--role", lab.CartsRole); r.Code != 0 {
			t.Fatalf("enable --role with the optional statements removed (%v): exit %d\n%s", optional, r.Code, r.Stderr)
		}
	})
	for _, sid := range required {
		t.Run("without "+sid, func(t *testing.T) {
			t.Parallel()
			var actions []string
			for _, st := range statements(readmePolicy(t)) {
				if st["Sid"] == sid {
					actions = actionsOf(st)
				}
			}
			// The proof of the pods' credentials is demanded, so that its
			// permission is proven necessary too (the default, auto, only
			// warns without it; tested below).
			_, r := enable(t, withoutStatement(t, sid), "--role", lab.CartsRole, "--credentials", "require")
			if r.Code == 0 {
				t.Fatalf("enable passed without statement %s (%v): the README lists a permission podid does not need", sid, actions)
			}
			named := false
			for _, a := range actions {
				if strings.Contains(r.Stderr, a) {
					named = true
				}
			}
			if !named {
				t.Errorf("the failure names none of %s's actions %v:\n%s", sid, actions, r.Stderr)
			}
			mustContain(t, "stderr", r.Stderr, "hint:")
		})
	}
	t.Run("without ProveCredentials, auto only warns", func(t *testing.T) {
		t.Parallel()
		_, r := enable(t, withoutStatement(t, "ProveCredentials"), "--role", lab.CartsRole)
		if r.Code != 0 {
			t.Fatalf("enable (--credentials auto) without ProveCredentials: exit %d, want 0 with a warning\n%s", r.Code, r.Stderr)
		}
		mustContain(t, "stderr", r.Stderr, "not proven", "eks-auth:AssumeRoleForPodIdentity")
	})
	t.Logf("FIGURE least privilege: %d required statements each proven necessary, %d optional ones proven unneeded for enable --role", len(required), len(optional))
}
