package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const module = "github.com/podid/podid"

// The layers (README, "Architecture"): only the command layer knows cobra;
// the composition layer (flow) knows neither the command layer nor the
// rendering; the domain knows none of the layers above it.
var layerRules = []struct {
	// who: packages the rule applies to (prefix match after the module path)
	who      []string
	except   []string // packages the rule does not apply to
	mustNot  []string // imports (prefix match; "~" = relative to the module)
	becauseF string
}{
	{
		who:      []string{"~/"},
		except:   []string{"~/cmd/", "~/internal/cmd/", "~/internal/cmdutil", "~/internal/app", "~/internal/e2e/", "~/internal/lab/labtest", "~/internal/bench"},
		mustNot:  []string{"github.com/spf13/cobra"},
		becauseF: "only the command layer (cmd/, internal/cmd/, cmdutil, app) and test helpers may use cobra",
	},
	{
		who:      []string{"~/internal/flow"},
		mustNot:  []string{"~/internal/cmdutil", "~/internal/cmd/", "~/internal/app", "~/internal/ui", "~/internal/iostreams"},
		becauseF: "the composition layer neither parses flags nor renders",
	},
	{
		who:      []string{"~/internal/podidentity", "~/internal/kube", "~/internal/workload", "~/internal/trust", "~/internal/diagnose", "~/internal/irsa", "~/internal/step", "~/internal/manifest", "~/internal/validate", "~/internal/awsapi", "~/internal/fail"},
		mustNot:  []string{"~/internal/flow", "~/internal/cmdutil", "~/internal/cmd/", "~/internal/app", "~/internal/ui"},
		becauseF: "calls run downhill: the domain and the clients do not know the layers above them",
	},
}

func expand(p string) string { return strings.Replace(p, "~", module, 1) }

func matches(pkg string, prefixes []string) bool {
	for _, p := range prefixes {
		p = expand(p)
		if pkg == strings.TrimSuffix(p, "/") || strings.HasPrefix(pkg, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

// layerViolations lists every dependency (direct or not) that breaks a rule.
func layerViolations(deps map[string][]string) []string {
	var out []string
	for pkg, ds := range deps {
		for _, r := range layerRules {
			if !matches(pkg, r.who) || matches(pkg, r.except) {
				continue
			}
			for _, d := range ds {
				if matches(d, r.mustNot) {
					out = append(out, pkg+" depends on "+d+": "+r.becauseF)
				}
			}
		}
	}
	return out
}

// goListDeps is `go list -deps` per package of the module (tests excluded).
func goListDeps(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[f[0]] = f[1:]
	}
	if len(deps) < 20 {
		t.Fatalf("go list found only %d packages", len(deps))
	}
	return deps
}

func TestLayers(t *testing.T) {
	for _, v := range layerViolations(goListDeps(t)) {
		t.Error(v)
	}
}

// The rules catch what they are for.
func TestLayerRules(t *testing.T) {
	deps := map[string][]string{
		module + "/internal/flow":            {module + "/internal/cmdutil", module + "/internal/step"},
		module + "/internal/podidentity":     {"github.com/spf13/cobra", module + "/internal/ui"},
		module + "/internal/cmd/enable":      {"github.com/spf13/cobra", module + "/internal/flow"},
		module + "/internal/cmdutil":         {"github.com/spf13/cobra", module + "/internal/ui"},
		module + "/internal/workloadextra":   {}, // not the workload package
		module + "/internal/e2e/e2etest":     {"github.com/spf13/cobra"},
		module + "/internal/flowchart/thing": {"github.com/spf13/cobra"},
	}
	got := layerViolations(deps)
	want := []string{
		module + "/internal/flow depends on " + module + "/internal/cmdutil: the composition layer neither parses flags nor renders",
		module + "/internal/flowchart/thing depends on github.com/spf13/cobra: only the command layer (cmd/, internal/cmd/, cmdutil, app) and test helpers may use cobra",
		module + "/internal/podidentity depends on " + module + "/internal/ui: calls run downhill: the domain and the clients do not know the layers above them",
		module + "/internal/podidentity depends on github.com/spf13/cobra: only the command layer (cmd/, internal/cmd/, cmdutil, app) and test helpers may use cobra",
	}
	if diff := cmp.Diff(want, got, cmpSorted); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}

var cmpSorted = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})
