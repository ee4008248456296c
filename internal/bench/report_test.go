package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/podid/podid/internal/lab"
)

// row is one scenario of the table.
type row struct {
	Scenario string `json:"scenario"`
	N        int    `json:"repetitions"`
	// What is measured, for podid and for the anchor.
	Measures string `json:"measures"`
	Anchor   string `json:"anchor"`

	Podid       time.Duration   `json:"-"`
	AnchorValue time.Duration   `json:"-"`
	PodidRuns   []time.Duration `json:"-"`
	AnchorRuns  []time.Duration `json:"-"`

	Calls  string   `json:"apiCalls"` // short, for the table
	Target string   `json:"target"`   // e.g. "≤ 1s"
	Met    bool     `json:"met"`
	Skip   string   `json:"skipped,omitempty"` // why the scenario did not run
	Notes  []string `json:"notes,omitempty"`
	// CallsByOp are the fake's per-operation counts of one podid run.
	CallsByOp map[string]int `json:"callsByOperation,omitempty"`
}

func (r row) ratio() float64 {
	if r.AnchorValue <= 0 {
		return 0
	}
	return float64(r.Podid) / float64(r.AnchorValue)
}

// MarshalJSON adds the durations in seconds.
func (r row) MarshalJSON() ([]byte, error) {
	type plain row
	return json.Marshal(struct {
		plain
		PodidMedian  float64   `json:"podidMedianSeconds"`
		AnchorMedian float64   `json:"anchorMedianSeconds"`
		Ratio        float64   `json:"ratio"`
		PodidRuns    []float64 `json:"podidSeconds"`
		AnchorRuns   []float64 `json:"anchorSeconds"`
	}{plain(r), r.Podid.Seconds(), r.AnchorValue.Seconds(), r.ratio(), seconds(r.PodidRuns), seconds(r.AnchorRuns)})
}

func seconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

// median of ds (mean of the two middle values for an even count; 0 for none).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

func medianInt(xs []int) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return float64(s[m])
	}
	return float64(s[m-1]+s[m]) / 2
}

func medianFloat(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// machine describes where the figures were taken.
type machine struct {
	CPUs      int    `json:"nproc"`
	Model     string `json:"cpuModel"`
	GoVersion string `json:"goVersion"`
	OS        string `json:"os"`
}

func thisMachine() machine {
	return machine{CPUs: runtime.NumCPU(), Model: cpuModel("/proc/cpuinfo"), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
}

// cpuModel is the first "model name" of a /proc/cpuinfo file.
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// report collects the rows of one run.
type report struct {
	mu      sync.Mutex
	Started time.Time `json:"started"`
	Machine machine   `json:"machine"`
	Rows    []row     `json:"rows"`
	// values shared between scenarios (e.g. the SDK add-on wait for the
	// enable anchor).
	shared map[string]time.Duration
}

func newReport() *report {
	return &report{Started: time.Now().UTC(), Machine: thisMachine(), shared: map[string]time.Duration{}}
}

func (r *report) add(x row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Rows = append(r.Rows, x)
}

func (r *report) set(k string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shared[k] = d
}

func (r *report) get(k string) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.shared[k]
	return d, ok
}

// fmtDur prints a duration with about three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// writeText renders the table and the notes.
func (r *report) writeText(w io.Writer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(w, "podid benchmarks, %s; %d CPUs (%s), %s, %s\n\n", r.Started.Format(time.RFC3339), r.Machine.CPUs, r.Machine.Model, r.Machine.GoVersion, r.Machine.OS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tn\tpodid median\tanchor median\tratio\tAPI calls (podid)\ttarget\tmet")
	for _, x := range r.Rows {
		if x.Skip != "" {
			fmt.Fprintf(tw, "%s\t0\t—\t—\t—\t—\t%s\tskipped: %s\n", x.Scenario, x.Target, x.Skip)
			continue
		}
		ratio := "—"
		if x.ratio() > 0 {
			ratio = fmt.Sprintf("%.3f", x.ratio())
		}
		met := "yes"
		if !x.Met {
			met = "NO"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Scenario, x.N, fmtDur(x.Podid), fmtDur(x.AnchorValue), ratio, x.Calls, x.Target, met)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, x := range r.Rows {
		fmt.Fprintf(w, "%s: podid = %s; anchor = %s\n", x.Scenario, x.Measures, x.Anchor)
		for _, n := range x.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
		if len(x.CallsByOp) > 0 {
			fmt.Fprintf(w, "  - calls of one podid run: %s\n", formatCalls(x.CallsByOp))
		}
	}
	return nil
}

// formatCalls prints per-operation counts sorted by operation.
func formatCalls(c map[string]int) string {
	keys := slices.Sorted(maps.Keys(c))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if c[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, c[k]))
		}
	}
	return strings.Join(parts, ", ")
}

// save writes testdata/bench/latest.txt and latest.json in the checkout.
func (r *report) save() (string, error) {
	root, err := lab.RepoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "testdata", "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	var txt strings.Builder
	if err := r.writeText(&txt); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.txt"), []byte(txt.String()), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", filepath.Join(dir, "latest.txt"), err)
	}
	r.mu.Lock()
	js, err := json.MarshalIndent(r, "", "  ")
	r.mu.Unlock()
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.json"), append(js, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", filepath.Join(dir, "latest.json"), err)
	}
	return dir, nil
}
