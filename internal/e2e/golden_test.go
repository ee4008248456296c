package e2e

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podid/podid/internal/lab/labtest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// golden compares got with testdata/golden/<command>/<name> (rewritten with -update).
func golden(t *testing.T, command, name, got string) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "golden", command, name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./internal/e2e -run Golden -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got); rerun with -update if the change is intended:\n%s", path, diff)
	}
}

var (
	reDuration = regexp.MustCompile(`\((\d+(\.\d+)?(ns|µs|ms|s|m|h))+\)`)
	reAfter    = regexp.MustCompile(`after (\d+(\.\d+)?(ns|µs|ms|s|m))+, \d+ probes?`)
	reAssoc    = regexp.MustCompile(`a-[a-z0-9]{17}`)
	rePod      = regexp.MustCompile(`\b(app)-[a-z0-9]{8,10}-[a-z0-9]{5}\b`)
	rePort     = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	reNode     = regexp.MustCompile(`kwok-node-\d+`)
	// EKS Auth's session names end in a random UUID; credentials expire
	// hours after the run.
	reSession = regexp.MustCompile(`/eks-[A-Za-z0-9_-]+-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	reExpires = regexp.MustCompile(`expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
)

// normalize removes what changes from run to run: durations, IDs, the
// namespace's random suffix, pod names and ports.
func normalize(s, ns string) string {
	if ns != "" {
		s = strings.ReplaceAll(s, ns, "NAMESPACE")
	}
	s = reAfter.ReplaceAllString(s, "after DURATION, N probes")
	s = reDuration.ReplaceAllString(s, "(DURATION)")
	s = reAssoc.ReplaceAllString(s, "a-ASSOCIATIONID")
	s = rePod.ReplaceAllString(s, "$1-POD")
	s = rePort.ReplaceAllString(s, "127.0.0.1:PORT")
	s = reNode.ReplaceAllString(s, "kwok-node-N")
	s = reSession.ReplaceAllString(s, "/eks-SESSION")
	s = reExpires.ReplaceAllString(s, "expires TIME")
	return s
}

// normalizeJSON also zeroes timing fields and drops the API call counts
// (watch and retry counts vary with timing).
func normalizeJSON(t *testing.T, s, ns string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, v := range x {
				switch k {
				case "seconds", "waitedSeconds", "probes":
					x[k] = 0
				case "createdAt", "modifiedAt", "created", "expiration":
					x[k] = "TIME"
				case "apiCalls", "clientRequestToken":
					delete(x, k)
				default:
					walk(v)
				}
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	walk(v)
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return normalize(string(b), ns) + "\n"
}

// The output of enable, as text and JSON, on success, dry run and failure.
func TestGoldenEnable(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"))
	ns := w.App.Namespace

	r := w.Podid(t, append([]string{"enable", "--dry-run"}, w.Target()...)...)
	golden(t, "enable", "dry-run.txt", normalize("stdout:\n"+r.Stdout+"stderr:\n"+r.Stderr, ns))
	r = w.Podid(t, append([]string{"enable", "--dry-run", "-o", "json"}, w.Target()...)...)
	golden(t, "enable", "dry-run.json", normalizeJSON(t, r.Stdout, ns))

	r = w.Podid(t, append([]string{"enable", "-o", "json"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("enable: exit %d\n%s", r.Code, r.Stderr)
	}
	golden(t, "enable", "changed.json", normalizeJSON(t, r.Stdout, ns))

	r = w.Podid(t, append([]string{"enable"}, w.Target()...)...)
	golden(t, "enable", "unchanged.txt", normalize("stdout:\n"+r.Stdout+"stderr:\n"+r.Stderr, ns))
}

func TestGoldenFailures(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	paused := env.Namespace(t, "paused", labtest.ServiceAccount("carts"), labtest.Paused())
	w := &world{Env: env, Fake: env.NewFake(t, fastOpts()), App: paused}
	r := w.Podid(t, append([]string{"enable"}, w.Target()...)...)
	golden(t, "enable", "paused.txt", normalize("exit "+itoa(r.Code)+"\nstdout:\n"+r.Stdout+"stderr:\n"+r.Stderr, paused.Namespace))
	r = w.Podid(t, append([]string{"enable", "-o", "json"}, w.Target()...)...)
	golden(t, "enable", "paused.json", normalizeJSON(t, r.Stdout, paused.Namespace))

	r = w.Podid(t, "verify-role", "--ns", "carts", "--sa", "carts", "--role", "eks-workshop-carts-irsa")
	golden(t, "verify-role", "irsa-only.txt", normalize("exit "+itoa(r.Code)+"\nstdout:\n"+r.Stdout+"stderr:\n"+r.Stderr, ""))
	r = w.Podid(t, "verify-role", "--ns", "carts", "--sa", "carts")
	golden(t, "verify-role", "workshop.txt", normalize("exit "+itoa(r.Code)+"\nstdout:\n"+r.Stdout+"stderr:\n"+r.Stderr, ""))
	r = w.Podid(t, "enable", "--ns", "Bad_NS", "--sa", "carts", "-o", "json")
	golden(t, "enable", "usage.json", normalizeJSON(t, r.Stdout, ""))
}

func itoa(n int) string { return strconv.Itoa(n) }
