package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/flow"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/lab"
)

// The scale scenario: 500 workloads in 10 namespaces, one apply, against one
// enable of a single workload in the same conditions (new add-on, the same
// A and P, the same EKS limit). The lab's three nodes hold 330 pods, so the
// scenario adds nodes for the 500 pods and their surge pods, and deletes
// them afterwards.
const (
	largeNamespaces   = 10
	largePerNamespace = 50
	largeExtraNodes   = 5
)

// largeReps is how many times the 500-workload apply runs (default 1; one
// run takes minutes). PODID_BENCH_LARGE_REPS overrides it.
func largeReps() int {
	if n, err := strconv.Atoi(os.Getenv("PODID_BENCH_LARGE_REPS")); err == nil && n > 0 {
		return n
	}
	return 1
}

// addNodes creates n extra kwok nodes and waits until they are Ready; the
// returned function deletes them.
func (r *rig) addNodes(ctx context.Context, tb testing.TB, prefix string, n int) func() {
	tb.Helper()
	c := r.env.Client
	var names []string
	cleanup := func() {
		for _, name := range names {
			_ = c.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
		}
	}
	tb.Cleanup(cleanup)
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if err := lab.CreateNode(ctx, c, name, nil); err != nil {
			tb.Fatal(err)
		}
		names = append(names, name)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, name := range names {
		for {
			node, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err == nil && nodeIsReady(node) {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("node %s not Ready after 2m (kwok marks lab nodes Ready)", name)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return cleanup
}

// podidCalls reads the apiCalls of a podid -o json document: the AWS calls
// ("eks:…", "iam:…", "sts:…") and the Kubernetes calls ("kube:…") it made.
func podidCalls(stdout string) (aws, kubeCalls int, byOp map[string]int, err error) {
	var doc struct {
		APICalls map[string]int `json:"apiCalls"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		return 0, 0, nil, fmt.Errorf("read podid's JSON document: %w", err)
	}
	if len(doc.APICalls) == 0 {
		return 0, 0, nil, fmt.Errorf("podid's JSON document has no apiCalls")
	}
	for k, v := range doc.APICalls {
		if strings.HasPrefix(k, "kube:") {
			kubeCalls += v
		} else {
			aws += v
		}
	}
	return aws, kubeCalls, doc.APICalls, nil
}

// topCalls is the n most frequent operations, for the notes.
func topCalls(byOp map[string]int, n int) string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range byOp {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var parts []string
	for i, e := range all {
		if i == n {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", e.k, e.v))
	}
	return strings.Join(parts, ", ")
}

func benchApplyLarge(b *testing.B, r *rig, rep *report) {
	ctx := benchCtx(b, 30*time.Minute)
	total := largeNamespaces * largePerNamespace
	x := row{
		Scenario: "apply-500",
		Measures: fmt.Sprintf("`podid apply -f podid.yaml -o json` of %d workloads (one service account and a 1-replica Deployment each) in %d namespaces, new add-on, EKS limited to %d requests/s by the fake", total, largeNamespaces, applyEKSRate),
		Anchor:   "one `podid enable` of a single workload in the same conditions (new add-on, same A, P and EKS limit)",
	}
	maxEKS := 2*total + 2*largeNamespaces
	x.Target = fmt.Sprintf("0 throttled, EKS calls ≤ %d (2 per entry + 2 per namespace), Kubernetes calls ≤ %d per workload", maxEKS, 30)
	if ok, why := applyAvailable(ctx, b); !ok {
		x.Skip = why
		rep.add(x)
		b.Skip(why)
	}
	delNodes := r.addNodes(ctx, b, "bench-large", largeExtraNodes)
	defer delNodes()

	// The reference: one enable of one workload, new add-on.
	refEntries, refCleanup := r.makeApps(ctx, b, "bench-l1", 1, 1)
	w, _ := r.applyWorld(ctx, b)
	e := refEntries[0]
	single := w.podidExec(ctx, b, "enable", "--ns", e.ns, "--sa", e.sa, "--role", lab.CartsRole, "-o", "json")
	if single.Code != 0 {
		b.Fatalf("podid enable: %s", single)
	}
	singleAWS, singleKube, _, err := podidCalls(single.Stdout)
	if err != nil {
		b.Fatal(err)
	}
	w.close(b)
	refCleanup()

	var walls []time.Duration
	var setup time.Duration
	var awsCalls, kubeCalls, eksCallsN, throttled []int
	var lastOps map[string]int
	reps := largeReps()
	for i := 0; b.Loop(); i++ {
		if i >= reps {
			continue // -benchtime asks for more loops than this scenario affords
		}
		t0 := time.Now()
		entries, cleanup := r.makeApps(ctx, b, "bench-al", largeNamespaces, largePerNamespace)
		setup += time.Since(t0)
		file := writeManifest(b, entries)
		w, tc := r.applyWorld(ctx, b)
		res := w.podidExec(ctx, b, "apply", "-f", file, "-o", "json", "--timeout", "20m")
		if res.Code != 0 {
			b.Fatalf("podid apply: %s", res)
		}
		for _, e := range entries {
			if err := r.assertInjected(ctx, e.ns, e.deploy); err != nil {
				b.Fatal(err)
			}
		}
		a, k, byOp, err := podidCalls(res.Stdout)
		if err != nil {
			b.Fatal(err)
		}
		_, fakeOps := w.calls()
		walls = append(walls, res.Wall())
		awsCalls, kubeCalls = append(awsCalls, a), append(kubeCalls, k)
		eksCallsN, throttled = append(eksCallsN, eksCalls(fakeOps)), append(throttled, int(tc.n.Load()))
		lastOps = byOp
		w.close(b)
		cleanup()
	}

	x.N = len(walls)
	x.PodidRuns, x.AnchorRuns = walls, []time.Duration{single.Wall()}
	x.Podid, x.AnchorValue = median(walls), single.Wall()
	x.Calls = fmt.Sprintf("AWS %.0f (EKS seen by the fake %.0f, throttled %.0f), Kubernetes %.0f; one enable: AWS %d, Kubernetes %d",
		medianInt(awsCalls), medianInt(eksCallsN), medianInt(throttled), medianInt(kubeCalls), singleAWS, singleKube)
	x.CallsByOp = lastOps
	maxThrottled, maxSeen, maxKube := 0, 0, 0
	for i := range walls {
		maxThrottled, maxSeen, maxKube = max(maxThrottled, throttled[i]), max(maxSeen, eksCallsN[i]), max(maxKube, kubeCalls[i])
	}
	x.Met = maxThrottled == 0 && maxSeen <= maxEKS && maxKube <= 30*total
	x.Notes = append(x.Notes,
		fmt.Sprintf("apply of %d / one enable = %.1f× (%s / %s); per workload %s", total, x.ratio(), fmtDur(x.Podid), fmtDur(single.Wall()), fmtDur(x.Podid/time.Duration(total))),
		fmt.Sprintf("rate limits set deliberately: podid's Kubernetes client %g QPS, burst %d (kube.DefaultQPS/DefaultBurst); podid's EKS budget %g requests/s, burst %d (flow.DefaultEKSRate/DefaultEKSBurst) under the fake's limit of %d/s; %d entries at a time (flow.DefaultConcurrency)",
			float64(kube.DefaultQPS), kube.DefaultBurst, flow.DefaultEKSRate, flow.DefaultEKSBurst, applyEKSRate, flow.DefaultConcurrency),
		fmt.Sprintf("the EKS budget is the floor: %d EKS calls at %g/s take at least %s", medianIntInt(eksCallsN), flow.DefaultEKSRate, fmtDur(time.Duration(float64(medianIntInt(eksCallsN))/flow.DefaultEKSRate*float64(time.Second)))),
		fmt.Sprintf("most frequent calls of the last run: %s", topCalls(lastOps, 8)),
		fmt.Sprintf("setup (%d Deployments rolled out, %d extra kwok nodes) took %s per repetition, outside the measurement; repetitions: %d (PODID_BENCH_LARGE_REPS)", total, largeExtraNodes, fmtDur(setup/time.Duration(max(1, len(walls)))), reps))
	rep.add(x)
	b.ReportMetric(x.Podid.Seconds(), "podid-s")
	b.ReportMetric(x.AnchorValue.Seconds(), "anchor-s")
}

func medianIntInt(xs []int) int { return int(medianInt(xs)) }

func nodeIsReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
