package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

// The credentials scenario: the cost of the credentials step (the Pod
// Identity agent's exchange, internal/credcheck) in `podid verify`, on
// namespaces where `podid enable` already ran. Issue 11's budget: at most
// 3 more API calls per workload and a median of at most 300 ms.
const (
	credMaxCallsPerWorkload = 3
	credMaxMedian           = 300 * time.Millisecond
	// credWorkloads is the number of Deployments of the measured namespace
	// (one service account); a second namespace has one, so that the calls
	// per workload and per run can be told apart.
	credWorkloads = 2
	credReplicas  = 2
	credSA        = "carts"
)

// podidRunner runs podid against a world: the built binary (benchmarks) or
// in-process (make test).
type podidRunner func(ctx context.Context, args ...string) run

// credNS is a namespace where enable ran: one service account and
// Deployments that use it, all associated and restarted.
type credNS struct {
	ns, sa  string
	deploys []string
}

// credentialsNamespace creates a namespace with n Deployments of
// credReplicas pods under one service account and runs `podid enable` on
// it (association, restart, injection and credentials checks).
func (r *rig) credentialsNamespace(ctx context.Context, tb testing.TB, podid podidRunner, prefix string, n int) credNS {
	tb.Helper()
	a := r.env.Namespace(tb, prefix, labtest.ServiceAccount(credSA), labtest.Replicas(credReplicas))
	c := credNS{ns: a.Namespace, sa: a.ServiceAccount, deploys: []string{a.Deployment}}
	for i := 2; i <= n; i++ {
		name := fmt.Sprintf("%s-%d", a.Deployment, i)
		if err := lab.CreateApp(ctx, r.env.Client, lab.App{Namespace: c.ns, ServiceAccount: c.sa, DeploymentSA: c.sa, Deployment: name, Replicas: credReplicas}); err != nil {
			tb.Fatal(err)
		}
		if err := lab.WaitDeploymentRolledOut(ctx, r.env.Client, c.ns, name, 2*time.Minute); err != nil {
			tb.Fatal(err)
		}
		c.deploys = append(c.deploys, name)
	}
	res := podid(ctx, "enable", "--ns", c.ns, "--sa", c.sa, "--role", lab.CartsRole)
	if res.Code != 0 {
		tb.Fatalf("podid enable --ns %s: %s", c.ns, res)
	}
	for _, d := range c.deploys {
		if err := r.assertInjected(ctx, c.ns, d); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

// verifyRun is one `podid verify -o json`.
type verifyRun struct {
	Wall  time.Duration
	Calls map[string]int // the document's apiCalls
	// Check is the credentials step's own duration (steps[].seconds).
	Check time.Duration
	// Proven is the workloads whose proof came out "proven".
	Proven []string
	// Fake is the fake's count of the calls it served during the run.
	Fake map[string]int
}

// verifyDoc is the part of verify's JSON document the scenario reads.
type verifyDoc struct {
	ExitCode int            `json:"exitCode"`
	APICalls map[string]int `json:"apiCalls"`
	Steps    []struct {
		Name    string  `json:"name"`
		Status  string  `json:"status"`
		Seconds float64 `json:"seconds"`
		Details *struct {
			Mode   string `json:"mode"`
			Proofs []struct {
				Workload string `json:"workload"`
				Outcome  string `json:"outcome"`
			} `json:"proofs"`
		} `json:"details"`
	} `json:"steps"`
}

// verifyCredentials runs `podid verify -o json` on c with --credentials
// mode ("" = the default) and checks that it passed; with the check on,
// every workload's proof must be "proven".
func verifyCredentials(ctx context.Context, w *world, podid podidRunner, c credNS, mode string) (verifyRun, error) {
	args := []string{"verify", "--ns", c.ns, "--sa", c.sa, "-o", "json"}
	if mode != "" {
		args = append(args, "--credentials", mode)
	}
	w.fake.ResetCounts()
	res := podid(ctx, args...)
	_, fakeCalls := w.calls()
	if res.Code != 0 {
		return verifyRun{}, fmt.Errorf("podid %s: %s", strings.Join(args, " "), res)
	}
	var doc verifyDoc
	if err := json.Unmarshal([]byte(res.Stdout), &doc); err != nil {
		return verifyRun{}, fmt.Errorf("read the JSON document of podid %s: %w\n%s", strings.Join(args, " "), err, res)
	}
	if len(doc.APICalls) == 0 {
		return verifyRun{}, fmt.Errorf("podid %s: the JSON document has no apiCalls", strings.Join(args, " "))
	}
	v := verifyRun{Wall: res.Wall(), Calls: doc.APICalls, Fake: fakeCalls}
	found := false
	for _, s := range doc.Steps {
		if s.Name != "credentials" {
			continue
		}
		found = true
		v.Check = time.Duration(s.Seconds * float64(time.Second))
		if s.Details == nil {
			return v, fmt.Errorf("podid %s: the credentials step has no details", strings.Join(args, " "))
		}
		for _, p := range s.Details.Proofs {
			if p.Outcome != "proven" {
				return v, fmt.Errorf("podid %s: the proof of %s is %q, want proven", strings.Join(args, " "), p.Workload, p.Outcome)
			}
			v.Proven = append(v.Proven, p.Workload)
		}
	}
	if !found {
		return v, fmt.Errorf("podid %s: no credentials step in the JSON document", strings.Join(args, " "))
	}
	want := len(c.deploys)
	if mode == "off" {
		want = 0
	}
	if len(v.Proven) != want {
		return v, fmt.Errorf("podid %s: %d proofs (%s), want %d (one per Deployment)", strings.Join(args, " "), len(v.Proven), strings.Join(v.Proven, ", "), want)
	}
	return v, nil
}

// callDelta is on − off per operation (zero entries dropped).
func callDelta(on, off map[string]int) map[string]int {
	out := map[string]int{}
	for k := range on {
		if d := on[k] - off[k]; d != 0 {
			out[k] = d
		}
	}
	for k, v := range off {
		if _, ok := on[k]; !ok {
			out[k] = -v
		}
	}
	return out
}

func sumCalls(c map[string]int) int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// checkCalls splits the calls the check adds into per workload and per
// run: with the check's added calls d1 on a one-workload namespace and dn
// on an n-workload one, per workload = (dn − d1)/(n − 1) and per run =
// d1 − per workload. An operation whose count does not divide evenly is an
// error (the cost would not be linear in the workloads).
func checkCalls(d1, dn map[string]int, n int) (perWorkload, perRun map[string]int, err error) {
	perWorkload, perRun = map[string]int{}, map[string]int{}
	keys := map[string]bool{}
	for k := range d1 {
		keys[k] = true
	}
	for k := range dn {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		diff := dn[k] - d1[k]
		if diff%(n-1) != 0 {
			return nil, nil, fmt.Errorf("%s: %d calls for 1 workload, %d for %d: not linear in the workloads", k, d1[k], dn[k], n)
		}
		if w := diff / (n - 1); w != 0 {
			perWorkload[k] = w
		}
		if r := d1[k] - diff/(n-1); r != 0 {
			perRun[k] = r
		}
	}
	return perWorkload, perRun, nil
}

// fmtSigned is fmtDur for a difference, which may be negative (the
// machine's noise exceeds a small difference).
func fmtSigned(d time.Duration) string {
	switch {
	case d < 0:
		return "−" + fmtDur(-d)
	case d == 0:
		return "0"
	}
	return fmtDur(d)
}

func fmtSignedDurs(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmtSigned(d)
	}
	return strings.Join(parts, " ")
}

// credPair is one repetition on one namespace: verify with and without the
// check, in the given order.
type credPair struct{ on, off verifyRun }

func (p credPair) added() time.Duration { return p.on.Wall - p.off.Wall }

func runCredPair(ctx context.Context, w *world, podid podidRunner, c credNS, onFirst bool) (credPair, error) {
	var p credPair
	var err error
	order := []string{"", "off"}
	if !onFirst {
		order = []string{"off", ""}
	}
	for _, mode := range order {
		var v verifyRun
		if v, err = verifyCredentials(ctx, w, podid, c, mode); err != nil {
			return p, err
		}
		if mode == "off" {
			p.off = v
		} else {
			p.on = v
		}
	}
	return p, nil
}

// fakeExchanges is what the fake served of the exchange: EKS Auth calls and
// STS GetCallerIdentity calls (those of podid's own identity included).
func fakeExchanges(c map[string]int) string {
	return fmt.Sprintf("AssumeRoleForPodIdentity %d, GetCallerIdentity %d", c["eks-auth:AssumeRoleForPodIdentity"], c["sts:GetCallerIdentity"])
}

func benchCredentials(b *testing.B, r *rig, rep *report) {
	ctx := benchCtx(b, 15*time.Minute)
	w := r.newWorld(b, fakeaws.Options{AddonDelay: 100 * time.Millisecond, PropagationDelay: 100 * time.Millisecond})
	podid := func(ctx context.Context, args ...string) run { return w.podidExec(ctx, b, args...) }
	one := r.credentialsNamespace(ctx, b, podid, "bench-cr1", 1)
	many := r.credentialsNamespace(ctx, b, podid, "bench-cr", credWorkloads)

	var pairs1, pairsN []credPair
	i := 0
	for b.Loop() {
		// Alternate which of the two runs goes first: the machine's load
		// drifts, and a pair shares it.
		p1, err := runCredPair(ctx, w, podid, one, i%2 == 0)
		if err != nil {
			b.Fatal(err)
		}
		pn, err := runCredPair(ctx, w, podid, many, i%2 == 1)
		if err != nil {
			b.Fatal(err)
		}
		pairs1, pairsN = append(pairs1, p1), append(pairsN, pn)
		i++
	}

	x := row{
		Scenario: "credentials", N: len(pairsN),
		Measures: fmt.Sprintf("the credentials step of `podid verify -o json` (its steps[].seconds) on a namespace where enable ran: %d Deployments × %d pods under one service account; the agent's exchange for one pod per workload (TokenRequest, EKS Auth AssumeRoleForPodIdentity, STS GetCallerIdentity), then the node role check", credWorkloads, credReplicas),
		Anchor:   "`podid verify --credentials off` (wall time), same namespace, paired with each `podid verify` in alternating order",
		Target:   fmt.Sprintf("≤ %d calls per workload; check median and added wall ≤ %s", credMaxCallsPerWorkload, fmtDur(credMaxMedian)),
	}
	var checks, checks1, offWalls, onWalls, added, added1 []time.Duration
	maxPerWorkload, lastPerRun := 0, map[string]int{}
	var lastPerWorkload map[string]int
	for k := range pairsN {
		pn, p1 := pairsN[k], pairs1[k]
		checks, checks1 = append(checks, pn.on.Check), append(checks1, p1.on.Check)
		offWalls, onWalls = append(offWalls, pn.off.Wall), append(onWalls, pn.on.Wall)
		added, added1 = append(added, pn.added()), append(added1, p1.added())
		perW, perR, err := checkCalls(callDelta(p1.on.Calls, p1.off.Calls), callDelta(pn.on.Calls, pn.off.Calls), credWorkloads)
		if err != nil {
			b.Fatalf("repetition %d: %v", k+1, err)
		}
		maxPerWorkload = max(maxPerWorkload, sumCalls(perW))
		lastPerWorkload, lastPerRun = perW, perR
	}
	last := pairsN[len(pairsN)-1]
	x.PodidRuns, x.AnchorRuns = checks, offWalls
	x.Podid, x.AnchorValue = median(checks), median(offWalls)
	x.CallsByOp = last.on.Calls
	x.Calls = fmt.Sprintf("%d per workload, %d per run (check added %d for %d workloads)", sumCalls(lastPerWorkload), sumCalls(lastPerRun), sumCalls(callDelta(last.on.Calls, last.off.Calls)), credWorkloads)
	x.Met = maxPerWorkload <= credMaxCallsPerWorkload && x.Podid <= credMaxMedian && median(added) <= credMaxMedian
	x.Notes = append(x.Notes,
		fmt.Sprintf("check median %s (runs %s); added wall time of verify, median of the paired differences %s (runs %s); verify %s with the check, %s without",
			fmtDur(x.Podid), fmtDurs(checks), fmtSigned(median(added)), fmtSignedDurs(added), fmtDur(median(onWalls)), fmtDur(x.AnchorValue)),
		fmt.Sprintf("one workload (a namespace with 1 Deployment × %d pods): check median %s, added wall %s", credReplicas, fmtDur(median(checks1)), fmtSigned(median(added1))),
		fmt.Sprintf("calls the check adds per workload: %s (the apiCalls of verify minus those of verify --credentials off, %d workloads minus 1 workload)", formatCalls(lastPerWorkload), credWorkloads),
		fmt.Sprintf("calls the check adds per run, whatever the number of workloads: %s (the association lookup for the expected role, and the node role check the agent depends on: EKS nodegroups and IAM SimulatePrincipalPolicy)", formatCalls(lastPerRun)),
		fmt.Sprintf("served by the fake during the last verify: %s; during verify --credentials off: %s", fakeExchanges(last.on.Fake), fakeExchanges(last.off.Fake)),
		fmt.Sprintf("one proof per workload, not per pod: %d Deployments × %d pods gave %d proofs; proofs are cached by pod UID within one podid process (credcheck.Checker), not across processes: every podid verify makes its own exchange", credWorkloads, credReplicas, len(last.on.Proven)))
	rep.add(x)
	b.ReportMetric(float64(x.Podid)/float64(time.Millisecond), "check-ms")
	b.ReportMetric(float64(median(added))/float64(time.Millisecond), "added-ms")
	b.ReportMetric(float64(sumCalls(lastPerWorkload)), "calls/workload")
	b.ReportMetric(float64(sumCalls(lastPerRun)), "calls/run")
}
