package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMedian(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name string
		in   []time.Duration
		want time.Duration
	}{
		{"none", nil, 0},
		{"one", []time.Duration{7 * ms}, 7 * ms},
		{"odd, unsorted", []time.Duration{9 * ms, 1 * ms, 5 * ms}, 5 * ms},
		{"even: mean of the middle two", []time.Duration{4 * ms, 1 * ms, 2 * ms, 100 * ms}, 3 * ms},
		{"outlier does not move it", []time.Duration{1 * ms, 2 * ms, 3 * ms, 4 * ms, time.Hour}, 3 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			orig := append([]time.Duration(nil), tt.in...)
			if got := median(tt.in); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if diff := cmp.Diff(orig, tt.in); diff != "" {
				t.Errorf("median changed its input (-before +after):\n%s", diff)
			}
		})
	}
	if got := medianInt([]int{3, 1, 2, 10}); got != 2.5 {
		t.Errorf("medianInt = %v, want 2.5", got)
	}
	if got := medianFloat([]float64{0.5, 2, 1}); got != 1 {
		t.Errorf("medianFloat = %v, want 1", got)
	}
}

func TestAddonWaitRates(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name         string
		w            addonWait
		rate, steady float64
	}{
		// Poller: 0, 0.2, 0.7, 1.7, 2.7, 3.7, 4.7, 5.7 s → 8 calls in 5.7 s.
		{"poller over 5.7s", addonWait{Created: t0, Noticed: t0.Add(5700 * time.Millisecond), Describe: 8}, 8 / 5.7, 1},
		{"noticed within the front-loaded calls", addonWait{Created: t0, Noticed: t0.Add(200 * time.Millisecond), Describe: 2}, 10, 0},
	}
	for _, tt := range tests {
		if got := tt.w.rate(); abs(got-tt.rate) > 1e-9 {
			t.Errorf("%s: rate = %v, want %v", tt.name, got, tt.rate)
		}
		if got := tt.w.steadyRate(); abs(got-tt.steady) > 1e-9 {
			t.Errorf("%s: steadyRate = %v, want %v", tt.name, got, tt.steady)
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestFmtDur(t *testing.T) {
	t.Parallel()
	tests := map[time.Duration]string{
		0:                         "—",
		1500 * time.Microsecond:   "1.5ms",
		20*time.Millisecond + 440: "20.0ms",
		5220 * time.Millisecond:   "5.22s",
		30 * time.Second:          "30.00s",
		250 * time.Microsecond:    "250µs",
	}
	for in, want := range tests {
		if got := fmtDur(in); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestCPUModel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "cpuinfo")
	if err := os.WriteFile(p, []byte("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := cpuModel(p); got != "AMD EPYC 7B13" {
		t.Errorf("cpuModel = %q, want %q", got, "AMD EPYC 7B13")
	}
	if got := cpuModel(filepath.Join(dir, "missing")); got != "unknown" {
		t.Errorf("cpuModel of a missing file = %q, want unknown", got)
	}
}

func TestReportTableAndJSON(t *testing.T) {
	t.Parallel()
	rep := &report{Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Machine: machine{CPUs: 2, Model: "M", GoVersion: "go1.26.8", OS: "linux/amd64"}, shared: map[string]time.Duration{}}
	rep.add(row{Scenario: "restart", N: 2, Measures: "m", Anchor: "a", Podid: 1100 * time.Millisecond, AnchorValue: time.Second,
		PodidRuns: []time.Duration{time.Second, 1200 * time.Millisecond}, AnchorRuns: []time.Duration{time.Second, time.Second},
		Calls: "1", Target: "≤ 1.1× anchor", Met: true, CallsByOp: map[string]int{"eks:DescribeCluster": 1, "iam:GetRole": 0}})
	rep.add(row{Scenario: "apply", Target: "t", Skip: "apply not available"})
	var b strings.Builder
	if err := rep.writeText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"2 CPUs (M), go1.26.8",
		"scenario", "podid median", "anchor median", "ratio", "API calls",
		"restart   2  1.10s", "1.00s", "1.100", "yes",
		"apply", "skipped: apply not available",
		"calls of one podid run: eks:DescribeCluster 1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Machine machine `json:"machine"`
		Rows    []struct {
			Scenario string    `json:"scenario"`
			Podid    float64   `json:"podidMedianSeconds"`
			Ratio    float64   `json:"ratio"`
			Runs     []float64 `json:"podidSeconds"`
			Skipped  string    `json:"skipped"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != 2 || got.Rows[0].Podid != 1.1 || abs(got.Rows[0].Ratio-1.1) > 1e-9 || len(got.Rows[0].Runs) != 2 || got.Rows[1].Skipped == "" || got.Machine.CPUs != 2 {
		t.Errorf("JSON = %s", js)
	}
}

func TestCheckCallsSplitsPerWorkloadAndPerRun(t *testing.T) {
	off := map[string]int{"kube:LIST pods": 1, "sts:GetCallerIdentity": 1}
	on1 := map[string]int{"kube:LIST pods": 1, "sts:GetCallerIdentity": 2, "eks-auth:AssumeRoleForPodIdentity": 1, "eks:ListNodegroups": 1}
	on2 := map[string]int{"kube:LIST pods": 1, "sts:GetCallerIdentity": 3, "eks-auth:AssumeRoleForPodIdentity": 2, "eks:ListNodegroups": 1}
	d1, d2 := callDelta(on1, off), callDelta(on2, off)
	if d1["kube:LIST pods"] != 0 || d1["sts:GetCallerIdentity"] != 1 || len(d1) != 3 {
		t.Errorf("callDelta = %v", d1)
	}
	if d := callDelta(map[string]int{}, map[string]int{"x:Y": 2}); d["x:Y"] != -2 {
		t.Errorf("an operation only in off: %v, want -2", d)
	}
	perW, perR, err := checkCalls(d1, d2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := formatCalls(perW); got != "eks-auth:AssumeRoleForPodIdentity 1, sts:GetCallerIdentity 1" {
		t.Errorf("per workload: %s", got)
	}
	if got := formatCalls(perR); got != "eks:ListNodegroups 1" || sumCalls(perW) != 2 {
		t.Errorf("per run: %s; per workload sum %d", got, sumCalls(perW))
	}
	// Not linear: 1 call for one workload, 4 for three.
	if _, _, err := checkCalls(map[string]int{"a:B": 1}, map[string]int{"a:B": 4}, 3); err == nil {
		t.Error("checkCalls accepted counts that are not linear in the workloads")
	}
}
