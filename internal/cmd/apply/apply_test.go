package apply_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/e2e/e2etest"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/flow"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/ui"
)

func TestMain(m *testing.M) { labtest.Main(m) }

const cartsRole = lab.CartsRole // trusts pods.eks.amazonaws.com for any namespace

type world struct{ e2etest.World }

type result = e2etest.Result

// doc is the -o json document with apply's result.
type doc struct {
	ui.Document
	Result struct {
		File    string            `json:"file"`
		Entries []flow.ApplyEntry `json:"entries"`
	} `json:"result"`
}

func applyDoc(t *testing.T, r result) doc {
	t.Helper()
	var d doc
	r.Decode(t, &d)
	return d
}

func newWorld(t *testing.T, faults fakeaws.Faults) *world {
	t.Helper()
	w := e2etest.New(t, e2etest.FastOpts(), "apply")
	w.Fake.SetFaults(faults)
	w.Fake.ResetCounts()
	return &world{*w}
}

// addApp adds a service account and a 1-replica Deployment using it to ns
// and waits for the rollout.
func (w *world) addApp(t *testing.T, ns, name string) {
	t.Helper()
	ctx := context.Background()
	a := lab.App{Namespace: ns, ServiceAccount: name, DeploymentSA: name, Deployment: name, Replicas: 1}
	if err := lab.CreateApp(ctx, w.Env.Client, a); err != nil {
		t.Fatal(err)
	}
}

func (w *world) waitApps(t *testing.T, apps map[string][]string) {
	t.Helper()
	for ns, names := range apps {
		for _, n := range names {
			if err := lab.WaitDeploymentRolledOut(context.Background(), w.Env.Client, ns, n, 90*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func (w *world) associations() map[string]fakeaws.AssociationSnapshot {
	out := map[string]fakeaws.AssociationSnapshot{}
	for _, c := range w.Fake.State().Clusters {
		for _, a := range c.Associations {
			out[a.Namespace+"/"+a.ServiceAccount] = a
		}
	}
	return out
}

func (w *world) injected(t *testing.T, ns, deployment string) (injected, total int) {
	t.Helper()
	ctx := context.Background()
	wl, err := kube.GetWorkload(ctx, w.Env.Client, ns, kube.KindDeployment, deployment)
	if err != nil {
		t.Fatal(err)
	}
	pods, _, err := kube.CurrentPods(ctx, w.Env.Client, wl)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods {
		if kube.CheckInjection(&pods[i]).Injected() {
			injected++
		}
	}
	return injected, len(pods)
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "podid.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func eksCalls(counts map[string]int) int {
	n := 0
	for k, v := range counts {
		if strings.HasPrefix(k, "eks:") {
			n += v
		}
	}
	return n
}

// Three entries in two namespaces: all associated, pods injected, a summary
// table; the second run reports every entry unchanged and changes nothing.
func TestApplyThenUnchanged(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeaws.Faults{})
	a := w.Env.Namespace(t, "apply-a", labtest.ServiceAccount("carts"), labtest.Replicas(1))
	b := w.Env.Namespace(t, "apply-b", labtest.ServiceAccount("carts"), labtest.Replicas(1))
	w.addApp(t, a.Namespace, "orders")
	w.waitApps(t, map[string][]string{a.Namespace: {"orders"}})
	file := writeFile(t, fmt.Sprintf(`apiVersion: podid/v1
kind: PodIdentity
cluster: eks-workshop
defaults:
  tags: {team: retail}
entries:
  - {namespace: %[1]s, serviceAccount: carts, role: %[3]s, workloads: [deployment/app]}
  - {namespace: %[1]s, serviceAccount: orders, role: %[3]s}
  - {namespace: %[2]s, serviceAccount: carts, role: %[4]s}
`, a.Namespace, b.Namespace, cartsRole, cartsRole))

	r := w.Podid(t, "apply", "-f", file)
	if r.Code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, col := range []string{"NAMESPACE", "SERVICE ACCOUNT", "ROLE", "ASSOCIATION", "RESTART", "RESULT", "SECONDS"} {
		if !strings.Contains(r.Stdout, col) {
			t.Errorf("summary table lacks column %s:\n%s", col, r.Stdout)
		}
	}
	if got := strings.Count(r.Stdout, "created a-"); got != 3 {
		t.Errorf("summary table shows %d created associations, want 3:\n%s", got, r.Stdout)
	}
	if !strings.Contains(r.Stdout, "3 entries: 3 changed, 0 unchanged, 0 failed") {
		t.Errorf("stdout lacks the summary line:\n%s", r.Stdout)
	}
	as := w.associations()
	for _, key := range []string{a.Namespace + "/carts", a.Namespace + "/orders", b.Namespace + "/carts"} {
		got, ok := as[key]
		if !ok {
			t.Errorf("no association for %s", key)
			continue
		}
		if got.RoleArn != lab.RoleARN(cartsRole) {
			t.Errorf("association %s: role %s", key, got.RoleArn)
		}
	}
	for _, d := range [][2]string{{a.Namespace, "app"}, {a.Namespace, "orders"}, {b.Namespace, "app"}} {
		if inj, total := w.injected(t, d[0], d[1]); total == 0 || inj != total {
			t.Errorf("%s/%s: %d of %d current pods injected", d[0], d[1], inj, total)
		}
	}
	// One GetRole for the one role named by three entries.
	if n := w.Fake.CallCounts()["iam:GetRole"]; n != 1 {
		t.Errorf("iam:GetRole called %d times for one distinct role, want 1", n)
	}

	// Every entry proved its pods' credentials: one EKS Auth exchange per
	// workload.
	if n := w.Fake.CallCounts()["eks-auth:AssumeRoleForPodIdentity"]; n != 3 {
		t.Errorf("EKS Auth exchanges of the first apply: %d, want 3 (one per workload)", n)
	}

	audit := len(w.Fake.Audit())
	exchanges := w.Fake.CallCounts()["eks-auth:AssumeRoleForPodIdentity"]
	r = w.Podid(t, "apply", "-f", file, "-o", "json", "--credentials", "off")
	if r.Code != 0 {
		t.Fatalf("second apply: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if n := w.Fake.CallCounts()["eks-auth:AssumeRoleForPodIdentity"]; n != exchanges {
		t.Errorf("apply --credentials off made %d EKS Auth exchanges, want none", n-exchanges)
	}
	d := applyDoc(t, r)
	if len(d.Result.Entries) != 3 {
		t.Fatalf("result.entries has %d entries, want 3", len(d.Result.Entries))
	}
	for _, e := range d.Result.Entries {
		if e.Result != step.Unchanged {
			t.Errorf("second run: entry %s/%s is %s, want unchanged", e.Namespace, e.ServiceAccount, e.Result)
		}
		if len(e.Steps) != 5 {
			t.Errorf("entry %s/%s carries %d step reports, want 5 (verify-role, associate, propagation, restart, credentials)", e.Namespace, e.ServiceAccount, len(e.Steps))
		}
		for _, s := range e.Steps {
			details, _ := s.Details.(map[string]any)
			if a, ok := details["association"].(map[string]any); s.Name == "associate" && (!ok || fmt.Sprint(a["tags"]) != "map[team:retail]") {
				t.Errorf("%s/%s: association details %v lack the default tag team=retail", e.Namespace, e.ServiceAccount, details["association"])
			}
			if s.Status != step.Unchanged {
				t.Errorf("second run: %s/%s step %s is %s", e.Namespace, e.ServiceAccount, s.Name, s.Status)
			}
		}
	}
	if got := len(w.Fake.Audit()); got != audit {
		t.Errorf("second run changed AWS: audit %d → %d: %+v", audit, got, w.Fake.Audit()[audit:])
	}
}

// A failing entry (its role does not exist) does not stop the others, and
// the exit code says something failed.
func TestApplyFailedEntryDoesNotStopOthers(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeaws.Faults{})
	a := w.Env.Namespace(t, "apply-f", labtest.ServiceAccount("carts"), labtest.Replicas(1))
	w.addApp(t, a.Namespace, "orders")
	w.waitApps(t, map[string][]string{a.Namespace: {"orders"}})
	file := writeFile(t, fmt.Sprintf(`apiVersion: podid/v1
kind: PodIdentity
entries:
  - {namespace: %[1]s, serviceAccount: carts, role: no-such-role}
  - {namespace: %[1]s, serviceAccount: orders, role: %[2]s}
`, a.Namespace, cartsRole))
	r := w.Podid(t, "apply", "-f", file, "-o", "json")
	if r.Code == 0 {
		t.Fatalf("apply with a missing role: exit 0\n%s", r.Stdout)
	}
	d := applyDoc(t, r)
	got := map[string]step.Status{}
	for _, e := range d.Result.Entries {
		got[e.ServiceAccount] = e.Result
	}
	if got["carts"] != step.Failed || got["orders"] != step.Changed {
		t.Errorf("entry results %v, want carts failed and orders changed", got)
	}
	if !strings.Contains(d.Error, "1 of 2 entries failed") || !strings.Contains(d.Error, "no-such-role") {
		t.Errorf("error %q does not name the failed entry and its role", d.Error)
	}
	as := w.associations()
	if _, ok := as[a.Namespace+"/carts"]; ok {
		t.Errorf("an association was created for the failing entry")
	}
	if _, ok := as[a.Namespace+"/orders"]; !ok {
		t.Errorf("the good entry was not associated")
	}
	if inj, total := w.injected(t, a.Namespace, "orders"); total == 0 || inj != total {
		t.Errorf("orders: %d of %d pods injected", inj, total)
	}
}

// A malformed file stops everything up front: exit 2, every problem at its
// line:col, and not one call to AWS.
func TestApplyMalformedFilesCallNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeaws.Faults{})
	const head = "apiVersion: podid/v1\nkind: PodIdentity\n"
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown key", head + "entries:\n  - {namespace: a, serviceAccount: b, role: r, rol: x}\n", []string{":4:48: unknown key \"rol\""}},
		{"wrong kind", "apiVersion: podid/v1\nkind: Pods\nentries: [{namespace: a, serviceAccount: b, role: r}]\n", []string{":2:7: kind \"Pods\""}},
		{"bad namespace", head + "entries:\n  - namespace: Not_Valid\n    serviceAccount: b\n    role: r\n", []string{":4:16: entries[0].namespace"}},
		{"bad role ARN", head + "entries:\n  - namespace: a\n    serviceAccount: b\n    role: arn:aws:iam::1:role/x\n", []string{":6:11: entries[0].role"}},
		{"duplicate pair", head + "entries:\n  - {namespace: a, serviceAccount: b, role: r}\n  - {namespace: a, serviceAccount: b, role: r}\n", []string{":5:5: entries[1]: a/b is listed twice"}},
		{"policy without disableSessionTags", head + "entries:\n  - namespace: a\n    serviceAccount: b\n    role: r\n    policy: '{}'\n", []string{":7:13: entries[0].policy needs disableSessionTags"}},
		{"wrong type", head + "entries:\n  - namespace: a\n    serviceAccount: b\n    role: r\n    update: sometimes\n", []string{":7:13: entries[0].update must be true or false"}},
		{"missing role", head + "entries:\n  - namespace: a\n    serviceAccount: b\n", []string{":4:5: entries[0] (a/b) has no role"}},
		{"bad expect", head + "entries:\n  - namespace: a\n    serviceAccount: b\n    role: r\n    expect: [query]\n", []string{":7:14: entries[0].expect"}},
		{"several problems", head + "bogus: 1\nentries:\n  - {namespace: a, serviceAccount: B, role: r}\n  - {namespace: a, serviceAccount: c}\n",
			[]string{":3:1: unknown key \"bogus\"", ":5:36: entries[0].serviceAccount", ":6:5: entries[1] (a/c) has no role"}},
		{"cluster mismatch", "apiVersion: podid/v1\nkind: PodIdentity\ncluster: other\nentries: [{namespace: a, serviceAccount: b, role: r}]\n", []string{"--cluster eks-workshop differs from cluster: other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, tt.src)
			r := w.Podid(t, "apply", "-f", file)
			if r.Code != 2 {
				t.Errorf("exit %d, want 2\n%s", r.Code, r.Stderr)
			}
			for _, want := range tt.want {
				if strings.HasPrefix(want, ":") {
					want = file + want
				}
				if !strings.Contains(r.Stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
				}
			}
			if r.Calls.Total() != 0 {
				t.Errorf("a malformed file made AWS calls: %v", r.Calls.Snapshot())
			}
		})
	}
	if n := len(w.Fake.CallCounts()); n != 0 {
		t.Errorf("malformed files reached the fake: %v", w.Fake.CallCounts())
	}
	if n := len(w.Fake.Audit()); n != 0 {
		t.Errorf("malformed files changed AWS: %+v", w.Fake.Audit())
	}
}

// --dry-run prints the full plan and changes nothing anywhere.
func TestApplyDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeaws.Faults{})
	a := w.Env.Namespace(t, "apply-d", labtest.ServiceAccount("carts"), labtest.Replicas(1))
	file := writeFile(t, fmt.Sprintf("apiVersion: podid/v1\nkind: PodIdentity\nentries:\n  - {namespace: %s, serviceAccount: carts, role: %s}\n", a.Namespace, cartsRole))
	before, err := w.Env.Client.AppsV1().Deployments(a.Namespace).Get(context.Background(), "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := w.Podid(t, "apply", "-f", file, "--dry-run")
	if r.Code != 0 {
		t.Fatalf("dry run: exit %d\n%s", r.Code, r.Stderr)
	}
	for _, want := range []string{"create pod identity association " + a.Namespace + "/carts", "restart deployment/app"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("the plan on stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	for _, want := range []string{"would create", "would restart 1", "planned", "dry run: 1 of 1 entries would change"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.Stdout)
		}
	}
	if n := len(w.Fake.Audit()); n != 0 {
		t.Errorf("dry run changed AWS: %+v", w.Fake.Audit())
	}
	after, err := w.Env.Client.AppsV1().Deployments(a.Namespace).Get(context.Background(), "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Generation != before.Generation {
		t.Errorf("dry run restarted the deployment (generation %d → %d)", before.Generation, after.Generation)
	}
}

// 20 workloads in 4 namespaces while EKS allows 10 requests/s: no call is
// throttled (podid paces itself), and EKS sees at most 2 calls per workload
// plus 2 per namespace.
func TestApplyCallBudgetUnderEKSRateLimit(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeaws.Faults{EKSRateLimit: 10})
	const namespaces, perNS = 4, 5
	var entries strings.Builder
	apps := map[string][]string{}
	for i := 0; i < namespaces; i++ {
		a := w.Env.Namespace(t, fmt.Sprintf("budget%d", i), labtest.ServiceAccount("svc0"), labtest.Replicas(1))
		for j := 0; j < perNS; j++ {
			name := fmt.Sprintf("svc%d", j)
			if j > 0 {
				w.addApp(t, a.Namespace, name)
				apps[a.Namespace] = append(apps[a.Namespace], name)
			}
			fmt.Fprintf(&entries, "  - {namespace: %s, serviceAccount: %s, role: %s}\n", a.Namespace, name, cartsRole)
		}
	}
	w.waitApps(t, apps)
	file := writeFile(t, "apiVersion: podid/v1\nkind: PodIdentity\nentries:\n"+entries.String())
	w.Fake.ResetCounts()

	r := w.Podid(t, "apply", "-f", file, "-o", "json")
	if r.Code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	d := applyDoc(t, r)
	for _, e := range d.Result.Entries {
		if e.Result != step.Changed {
			t.Errorf("entry %s/%s: %s (%s)", e.Namespace, e.ServiceAccount, e.Result, e.Error)
		}
	}
	counts := w.Fake.CallCounts()
	budget := 2*namespaces*perNS + 2*namespaces
	if n := eksCalls(counts); n > budget {
		t.Errorf("EKS saw %d requests for %d workloads in %d namespaces; budget %d: %v", n, namespaces*perNS, namespaces, budget, counts)
	}
	if n := counts["eks:ListPodIdentityAssociations"]; n != namespaces {
		t.Errorf("ListPodIdentityAssociations called %d times, want one per namespace (%d)", n, namespaces)
	}
	// Every EKS request went through on its first attempt: nothing throttled.
	logical, attempts := 0, 0
	for k, v := range r.Calls.Snapshot() {
		if strings.HasPrefix(k, "eks:") {
			logical += v
		}
	}
	for k, v := range r.Calls.Attempts() {
		if strings.HasPrefix(k, "eks:") {
			attempts += v
		}
	}
	if attempts != logical {
		t.Errorf("%d EKS attempts for %d calls: podid was throttled and retried", attempts, logical)
	}
	if n := eksCalls(counts); n != attempts {
		t.Errorf("the fake saw %d EKS requests, podid made %d attempts", n, attempts)
	}
	if len(w.associations()) != namespaces*perNS {
		t.Errorf("%d associations, want %d", len(w.associations()), namespaces*perNS)
	}
}
