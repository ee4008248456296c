package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/lab/labtest"
)

// One golden case: a command run in a world prepared by setup, as text and
// as JSON. The files are testdata/golden/<command>/<name>.{txt,json};
// `make golden` rewrites them.
type goldenCase struct {
	command, name string
	ns            []labtest.NamespaceOption // a fresh namespace; nil = none
	// setup runs first (e.g. enable before status); it may return a
	// directory it made (shown as TMPDIR).
	setup func(t *testing.T, w *world) string
	args  func(w *world, dir string) []string
	code  int // the exit code both runs must end with
	// slow makes the association take 3 s to reach the webhook (instead of
	// 300 ms), so that a wait for it is always seen.
	slow bool
}

func target(w *world, _ string) []string { return w.Target() }

func enabled(t *testing.T, w *world) string {
	t.Helper()
	if r := w.Podid(t, append([]string{"enable"}, w.Target()...)...); r.Code != 0 {
		t.Fatalf("enable: exit %d\n%s", r.Code, r.Stderr)
	}
	return ""
}

// agentInstalled makes the outcome independent of the other tests: the
// lab's agent DaemonSet is shared, and ready on every node once installed.
func agentInstalled(t *testing.T, w *world) string {
	t.Helper()
	if r := w.Podid(t, "install-agent"); r.Code != 0 {
		t.Fatalf("install-agent: exit %d\n%s", r.Code, r.Stderr)
	}
	return ""
}

func podidYAML(body string) func(t *testing.T, w *world) string {
	return func(t *testing.T, w *world) string {
		t.Helper()
		dir := t.TempDir()
		path := filepath.Join(dir, "podid.yaml")
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(body, "NAMESPACE", w.App.Namespace)), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
}

func fileArg(_ *world, dir string) []string { return []string{"-f", filepath.Join(dir, "podid.yaml")} }

var goldenCases = []goldenCase{
	{command: "install-agent", name: "changed", args: func(*world, string) []string { return nil }},
	{command: "install-agent", name: "unknown-version", args: func(*world, string) []string { return []string{"--addon-version", "v0.0.1-eksbuild.1"} }, code: 2},

	{command: "verify-role", name: "ok", args: func(*world, string) []string {
		return []string{"--ns", "carts", "--sa", "carts", "--role", "eks-workshop-carts-dynamo", "--expect", "dynamodb:Query=arn:aws:dynamodb:us-west-2:1234567890:table/eks-workshop-carts"}
	}},
	{command: "verify-role", name: "irsa-trust", args: func(*world, string) []string {
		return []string{"--ns", "carts", "--sa", "carts", "--role", "eks-workshop-carts-irsa"}
	}, code: 3},

	{command: "associate", name: "changed", ns: []labtest.NamespaceOption{labtest.ServiceAccount("carts")}, args: func(w *world, _ string) []string {
		return append(w.Target(), "--role", "eks-workshop-carts-dynamo", "--tags", "team=carts")
	}},
	{command: "associate", name: "no-service-account", ns: []labtest.NamespaceOption{labtest.ServiceAccount("carts")}, args: func(w *world, _ string) []string {
		return []string{"--ns", w.App.Namespace, "--sa", "nosuch", "--role", "eks-workshop-carts-dynamo"}
	}, code: 3},

	{command: "restart", name: "changed", ns: []labtest.NamespaceOption{labtest.ServiceAccount("carts")}, slow: true,
		setup: func(t *testing.T, w *world) string {
			t.Helper()
			if r := w.Podid(t, append([]string{"associate", "--role", "eks-workshop-carts-dynamo"}, w.Target()...)...); r.Code != 0 {
				t.Fatalf("associate: exit %d\n%s", r.Code, r.Stderr)
			}
			return ""
		},
		args: func(w *world, _ string) []string { return append(w.Target(), "--force") }},
	{command: "restart", name: "no-association", ns: []labtest.NamespaceOption{labtest.ServiceAccount("carts")}, args: target, code: 3},

	{command: "status", name: "ok", ns: []labtest.NamespaceOption{labtest.ServiceAccount("carts")}, setup: enabled, args: target},
	{command: "status", name: "no-association", ns: []labtest.NamespaceOption{labtest.ServiceAccount("carts")}, setup: agentInstalled, args: target, code: 3},

	{command: "verify", name: "ok", ns: []labtest.NamespaceOption{labtest.ServiceAccount("carts")}, setup: enabled, args: target},
	{command: "verify", name: "not-injected", ns: []labtest.NamespaceOption{labtest.ServiceAccount("carts")}, setup: agentInstalled, args: target, code: 3},

	{command: "apply", name: "changed", ns: []labtest.NamespaceOption{labtest.ServiceAccount("carts")},
		setup: podidYAML("apiVersion: podid/v1\nkind: PodIdentity\nentries:\n  - namespace: NAMESPACE\n    serviceAccount: carts\n    role: eks-workshop-carts-dynamo\n    workloads: [deployment/app]\n"),
		args:  fileArg},
	{command: "apply", name: "invalid-file", ns: []labtest.NamespaceOption{labtest.ServiceAccount("carts")},
		setup: podidYAML("apiVersion: podid/v1\nkind: PodIdentity\nentries:\n  - namespace: NAMESPACE\n    serviceAcount: carts\n    role: arn:aws:iam::bad\n"),
		args:  fileArg, code: 2},

	{command: "disable", name: "changed", ns: []labtest.NamespaceOption{labtest.ServiceAccount("carts")}, setup: enabled, args: target},
	{command: "disable", name: "no-namespace", args: func(*world, string) []string { return []string{"--sa", "carts"} }, code: 2},

	{command: "migrate", name: "nothing", ns: []labtest.NamespaceOption{labtest.ServiceAccount("carts")}, args: func(w *world, _ string) []string { return []string{"--ns", w.App.Namespace} }},
	{command: "migrate", name: "foreign-role", ns: []labtest.NamespaceOption{labtest.ServiceAccount("orders"), labtest.IRSA("arn:aws:iam::999988887777:role/elsewhere")},
		args: func(w *world, _ string) []string { return []string{"--ns", w.App.Namespace, "--approve"} }, code: 3},

	{command: "role create", name: "changed", args: func(*world, string) []string {
		return []string{"--ns", "carts", "--sa", "carts", "--name", "golden-role", "--policy-arn", "arn:aws:iam::1234567890:policy/eks-workshop-carts-dynamo"}
	}},
	{command: "role create", name: "other-trust", args: func(*world, string) []string {
		return []string{"--ns", "carts", "--sa", "carts", "--name", "eks-workshop-carts-irsa"}
	}, code: 3},

	{command: "version", name: "ok", args: func(*world, string) []string { return nil }},
	{command: "version", name: "extra-argument", args: func(*world, string) []string { return []string{"extra"} }, code: 2},
}

var (
	reGoVersion = regexp.MustCompile(`go1\.\d+(\.\d+)?( [a-z0-9]+/[a-z0-9]+)?`)
	reModVer    = regexp.MustCompile(`v\d+\.\d+\.\d+(-[0-9a-z.-]+)?`)
)

// TestGoldenCommands: every command's text and JSON output, on success and
// on its typical failure.
func TestGoldenCommands(t *testing.T) {
	t.Parallel()
	for _, gc := range goldenCases {
		t.Run(strings.ReplaceAll(gc.command, " ", "-")+"/"+gc.name, func(t *testing.T) {
			t.Parallel()
			for _, asJSON := range []bool{false, true} {
				opts := fastOpts()
				if gc.slow {
					opts.PropagationDelay = 3 * time.Second
				}
				w := newWorld(t, opts, gc.ns...)
				repl := map[string]string{}
				dir := ""
				if gc.setup != nil {
					if dir = gc.setup(t, w); dir != "" {
						repl[dir] = "TMPDIR"
					}
				}
				args := append(strings.Fields(gc.command), gc.args(w, dir)...)
				if asJSON {
					args = append(args, "-o", "json")
				}
				r := w.Podid(t, args...)
				if r.Code != gc.code {
					t.Fatalf("podid %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, gc.code, r.Stdout, r.Stderr)
				}
				ns := ""
				if w.App != nil {
					ns = w.App.Namespace
				}
				folder := strings.ReplaceAll(gc.command, " ", "-")
				if asJSON {
					golden(t, folder, gc.name+".json", goldenVersion(gc.command, replaceAll(normalizeJSON(t, r.Stdout, ns), repl)))
					continue
				}
				golden(t, folder, gc.name+".txt", goldenVersion(gc.command, replaceAll(normalize("exit "+itoa(r.Code)+"\nstdout:\n"+r.Stdout+"stderr:\n"+stableStderr(r.Stderr), ns), repl)))
			}
		})
	}
}

// stableStderr drops the progress lines ("• step waiting: …", as many as
// the waits took) and groups the lines of concurrent entries (apply) by
// their prefix, keeping each entry's order.
func stableStderr(s string) string {
	type line struct{ key, text string }
	var lines []line
	for _, l := range strings.SplitAfter(s, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "•" || len(f) > 1 && f[1] == "•" {
			continue
		}
		key := ""
		if len(f) > 0 && (strings.Contains(f[0], "/") || f[0] == "add-on") {
			key = f[0]
		}
		lines = append(lines, line{key, l})
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].key != "" && lines[j].key != "" && lines[i].key < lines[j].key })
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.text)
	}
	return b.String()
}

func replaceAll(s string, repl map[string]string) string {
	for k, v := range repl {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// goldenVersion hides what the toolchain and go.mod decide in version's output.
func goldenVersion(command, s string) string {
	if command != "version" {
		return s
	}
	return reModVer.ReplaceAllString(reGoVersion.ReplaceAllString(s, "GOVERSION"), "VERSION")
}
