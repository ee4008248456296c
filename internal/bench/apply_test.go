package bench

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
)

// The apply scenario: 50 workloads in 10 namespaces under an EKS limit of
// 10 requests/s. P is 1 s here (not 5 s) so that the anchor, 50 enables one
// after the other, fits the run's budget; the single-enable reference is
// taken with the same A and P.
const (
	applyNamespaces   = 10
	applyPerNamespace = 5
	applyEKSRate      = 10
	applyPropagation  = time.Second
)

// applyAvailable reports whether the podid binary has the apply command.
func applyAvailable(ctx context.Context, b *testing.B) (bool, string) {
	res := execute(ctx, nil, podidBinary(b), "apply", "--help")
	if res.Code != 0 || !strings.Contains(res.Stdout, "podid.yaml") {
		return false, fmt.Sprintf("apply not available: `podid apply --help` exited %d", res.Code)
	}
	return true, ""
}

// throttleCounter is a slog.Handler that counts the fake's throttling answers.
type throttleCounter struct{ n atomic.Int64 }

func (c *throttleCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *throttleCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *throttleCounter) WithGroup(string) slog.Handler            { return c }
func (c *throttleCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "fakeaws: error" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "code" && strings.Contains(a.Value.String(), "Throttl") {
			c.n.Add(1)
		}
		return true
	})
	return nil
}

type entry struct{ ns, sa, deploy string }

// makeApps creates ns namespaces with per service accounts and a
// one-replica Deployment each, waits until all are rolled out and returns
// the entries and a function that deletes the namespaces.
func (r *rig) makeApps(ctx context.Context, tb testing.TB, prefix string, ns, per int) ([]entry, func()) {
	tb.Helper()
	var names []string
	var out []entry
	cleanup := func() {
		for _, n := range names {
			_ = r.env.Client.CoreV1().Namespaces().Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	}
	tb.Cleanup(cleanup)
	suffix := fmt.Sprintf("%04x", rand.IntN(1<<16))
	for i := range ns {
		name := fmt.Sprintf("%s-%s-%d", prefix, suffix, i)
		names = append(names, name)
		for j := range per {
			e := entry{ns: name, sa: fmt.Sprintf("svc-%d", j), deploy: fmt.Sprintf("app-%d", j)}
			if err := lab.CreateApp(ctx, r.env.Client, lab.App{Namespace: e.ns, ServiceAccount: e.sa, DeploymentSA: e.sa, Deployment: e.deploy, Replicas: 1}); err != nil {
				tb.Fatal(err)
			}
			out = append(out, e)
		}
	}
	for _, e := range out {
		if err := lab.WaitDeploymentRolledOut(ctx, r.env.Client, e.ns, e.deploy, 3*time.Minute); err != nil {
			tb.Fatal(err)
		}
	}
	return out, cleanup
}

func writeManifest(tb testing.TB, entries []entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: podid/v1\nkind: PodIdentity\ncluster: %s\nentries:\n", lab.WorkshopCluster)
	for _, e := range entries {
		fmt.Fprintf(&b, "  - namespace: %s\n    serviceAccount: %s\n    role: %s\n", e.ns, e.sa, lab.CartsRole)
	}
	p := filepath.Join(tb.TempDir(), "podid.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func eksCalls(c map[string]int) int {
	n := 0
	for k, v := range c {
		if strings.HasPrefix(k, "eks:") {
			n += v
		}
	}
	return n
}

func (r *rig) applyWorld(ctx context.Context, tb testing.TB) (*world, *throttleCounter) {
	if err := r.resetAgent(ctx); err != nil {
		tb.Fatal(err)
	}
	tc := &throttleCounter{}
	w := r.newWorld(tb, fakeaws.Options{AddonDelay: addonDelay, PropagationDelay: applyPropagation,
		Faults: fakeaws.Faults{EKSRateLimit: applyEKSRate}, Logger: slog.New(tc)})
	return w, tc
}

func benchApply(b *testing.B, r *rig, rep *report) {
	ctx := benchCtx(b, 20*time.Minute)
	target := fmt.Sprintf("wall ≤ 3× one enable, 0 throttled, EKS calls ≤ %d", 2*applyNamespaces*applyPerNamespace+2*applyNamespaces)
	x := row{
		Scenario: "apply", Target: target,
		Measures: fmt.Sprintf("`podid apply -f podid.yaml` of %d workloads (one service account and a 1-replica Deployment each) in %d namespaces, new add-on, EKS limited to %d requests/s by the fake", applyNamespaces*applyPerNamespace, applyNamespaces, applyEKSRate),
		Anchor:   "the same entries as `podid enable` runs one at a time (run once); the first of them, which installs the add-on, is the single-enable reference",
	}
	if ok, why := applyAvailable(ctx, b); !ok {
		x.Skip = why
		rep.add(x)
		b.Skip(why)
	}
	var walls []time.Duration
	var calls, throttled []int
	var lastCalls map[string]int
	var setup time.Duration
	for b.Loop() {
		t0 := time.Now()
		entries, cleanup := r.makeApps(ctx, b, "bench-ap", applyNamespaces, applyPerNamespace)
		setup += time.Since(t0)
		file := writeManifest(b, entries)
		w, tc := r.applyWorld(ctx, b)
		res := w.podidExec(ctx, b, "apply", "-f", file)
		if res.Code != 0 {
			b.Fatalf("podid apply: %s", res)
		}
		for _, e := range entries {
			if err := r.assertInjected(ctx, e.ns, e.deploy); err != nil {
				b.Fatal(err)
			}
		}
		_, byOp := w.calls()
		walls = append(walls, res.Wall())
		calls, throttled, lastCalls = append(calls, eksCalls(byOp)), append(throttled, int(tc.n.Load())), byOp
		w.close(b)
		cleanup()
	}

	// The anchor, once: the same entries, one podid enable after another.
	entries, cleanup := r.makeApps(ctx, b, "bench-as", applyNamespaces, applyPerNamespace)
	w, tc := r.applyWorld(ctx, b)
	var single, seqTotal time.Duration
	for i, e := range entries {
		res := w.podidExec(ctx, b, "enable", "--ns", e.ns, "--sa", e.sa, "--role", lab.CartsRole)
		if res.Code != 0 {
			b.Fatalf("podid enable %s/%s: %s", e.ns, e.sa, res)
		}
		if i == 0 {
			single = res.Wall()
		}
		seqTotal += res.Wall()
	}
	_, seqOps := w.calls()
	w.close(b)
	cleanup()

	x.N = len(walls)
	x.PodidRuns, x.AnchorRuns = walls, []time.Duration{seqTotal}
	x.Podid, x.AnchorValue = median(walls), seqTotal
	maxCalls := 2*applyNamespaces*applyPerNamespace + 2*applyNamespaces
	x.Calls = fmt.Sprintf("EKS %.0f, throttled %.0f; sequential EKS %d, throttled %d", medianInt(calls), medianInt(throttled), eksCalls(seqOps), tc.n.Load())
	x.CallsByOp = lastCalls
	maxThrottled := 0
	for _, t := range throttled {
		maxThrottled = max(maxThrottled, t)
	}
	maxEKS := 0
	for _, c := range calls {
		maxEKS = max(maxEKS, c)
	}
	x.Met = x.Podid <= 3*single && maxThrottled == 0 && maxEKS <= maxCalls
	x.Notes = append(x.Notes,
		fmt.Sprintf("A = %s, P = %s; single-workload enable (the anchor's first run, new add-on) %s, so 3× = %s; apply/single = %.2f", addonDelay, applyPropagation, fmtDur(single), fmtDur(3*single), float64(x.Podid)/float64(single)),
		fmt.Sprintf("setup (50 Deployments rolled out) took %s per repetition, outside the measurement", fmtDur(setup/time.Duration(max(1, len(walls))))),
		fmt.Sprintf("throttled EKS answers per apply run: %v (the fake answers ThrottlingException above %d/s; podid's own --eks-rate default is 8/s); EKS calls per run: %v (budget %d)", throttled, applyEKSRate, calls, maxCalls))
	rep.add(x)
	b.ReportMetric(x.Podid.Seconds(), "podid-s")
	b.ReportMetric(x.AnchorValue.Seconds(), "anchor-s")
}
