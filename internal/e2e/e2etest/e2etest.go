// Package e2etest runs podid's commands in process against the lab, for the
// end-to-end test packages: the real aws-sdk-go-v2 clients talk to a fresh
// in-process fakeaws per test, client-go talks to the lab's real
// kube-apiserver, and the real pod identity webhook mutates pods. Only test
// code imports it.
package e2etest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/iostreams"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/lab/labtest"
	"github.com/podid/podid/internal/ui"
	"github.com/podid/podid/internal/ui/schemacheck"
)

// Result is one podid run.
type Result struct {
	Code   int
	Stdout string
	Stderr string
	// Calls are the API calls podid's clients made.
	Calls *awsapi.CallCounter
}

// Doc parses stdout as exactly one -o json document.
func (r Result) Doc(t testing.TB) ui.Document {
	t.Helper()
	var d ui.Document
	r.Decode(t, &d)
	return d
}

// Raw parses stdout as exactly one JSON document, untyped.
func (r Result) Raw(t testing.TB) map[string]any {
	t.Helper()
	var d map[string]any
	r.Decode(t, &d)
	return d
}

// Decode parses stdout as exactly one JSON document into v.
func (r Result) Decode(t testing.TB, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.Stdout)
	}
	if dec.More() {
		t.Fatalf("stdout has more than one JSON document:\n%s", r.Stdout)
	}
}

// World is one test's fake AWS and, optionally, its lab namespace.
type World struct {
	Env  *labtest.Env
	Fake *fakeaws.Server
	App  *labtest.App
	// Timeout is passed as --timeout (default 2m).
	Timeout string
	// Config makes the SDK configuration for the fake's URL (default
	// labtest.AWSConfig: quick retries).
	Config func(url string) aws.Config
}

// FastOpts are fake delays short enough for tests: 100 ms add-on, 300 ms
// propagation.
func FastOpts() fakeaws.Options {
	return fakeaws.Options{AddonDelay: 100 * time.Millisecond, PropagationDelay: 300 * time.Millisecond}
}

// New starts a fresh fake with opts and, when nsOpts are given, a fresh
// namespace "<prefix>-<random>" with a service account and a rolled-out
// Deployment "app".
func New(t testing.TB, opts fakeaws.Options, prefix string, nsOpts ...labtest.NamespaceOption) *World {
	t.Helper()
	env := labtest.Get(t)
	w := &World{Env: env, Fake: env.NewFake(t, opts)}
	if nsOpts != nil {
		w.App = env.Namespace(t, prefix, nsOpts...)
	}
	return w
}

// Podid runs podid with the lab's kubeconfig, --cluster eks-workshop and the
// world's fake.
func (w *World) Podid(t testing.TB, args ...string) Result {
	t.Helper()
	cfg := labtest.AWSConfig
	if w.Config != nil {
		cfg = w.Config
	}
	return w.PodidCfg(t, cfg(w.Fake.URL()), args...)
}

// PodidCfg is Podid with the given SDK configuration.
func (w *World) PodidCfg(t testing.TB, cfg aws.Config, args ...string) Result {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	f := cmdutil.NewFactory(ios, "test")
	clients := awsapi.New(cfg, nil)
	f.SetAWS(clients)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	timeout := w.Timeout
	if timeout == "" {
		timeout = "2m"
	}
	full := append([]string{"--kubeconfig", w.Env.Kubeconfig, "--cluster", "eks-workshop", "--timeout", timeout}, args...)
	code := app.RunWith(ctx, f, full)
	r := Result{Code: code, Stdout: out.String(), Stderr: errOut.String(), Calls: clients.Calls}
	if testing.Verbose() {
		t.Logf("podid %s → exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, r.Stdout, r.Stderr)
	}
	if JSONOutput(args) {
		// Every JSON document any test sees must match the schema.
		if err := schemacheck.Validate([]byte(r.Stdout)); err != nil {
			t.Errorf("podid %s: %v\n%s", strings.Join(args, " "), err, r.Stdout)
		}
	}
	return r
}

// JSONOutput reports whether args ask for -o json (the last -o wins).
func JSONOutput(args []string) bool {
	out := ""
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, "--output="):
			out = strings.TrimPrefix(a, "--output=")
		case strings.HasPrefix(a, "-o=") || strings.HasPrefix(a, "-o") && len(a) > 2 && !strings.HasPrefix(a, "--"):
			out = strings.TrimPrefix(strings.TrimPrefix(a, "-o"), "=")
		case (a == "-o" || a == "--output") && i+1 < len(args):
			out = args[i+1]
		}
	}
	return out == "json"
}

// Target is --ns/--sa of the world's namespace.
func (w *World) Target() []string {
	return []string{"--ns", w.App.Namespace, "--sa", w.App.ServiceAccount}
}

// Associations returns the fake's associations in namespace ns.
func (w *World) Associations(ns string) []fakeaws.AssociationSnapshot {
	var out []fakeaws.AssociationSnapshot
	for _, c := range w.Fake.State().Clusters {
		for _, a := range c.Associations {
			if a.Namespace == ns {
				out = append(out, a)
			}
		}
	}
	return out
}

// Role returns the fake's role by name.
func (w *World) Role(name string) (fakeaws.RoleSnapshot, bool) {
	for _, r := range w.Fake.State().Roles {
		if r.Name == name {
			return r, true
		}
	}
	return fakeaws.RoleSnapshot{}, false
}

// Generation is the Deployment's metadata.generation (it moves on a restart).
func (w *World) Generation(t testing.TB) int64 {
	t.Helper()
	d, err := w.Env.Client.AppsV1().Deployments(w.App.Namespace).Get(context.Background(), w.App.Deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Generation
}

// Pods returns the injection of each of the Deployment's current pods.
func (w *World) Pods(t testing.TB) []kube.Injection {
	t.Helper()
	ctx := context.Background()
	wl, err := kube.GetWorkload(ctx, w.Env.Client, w.App.Namespace, kube.KindDeployment, w.App.Deployment)
	if err != nil {
		t.Fatal(err)
	}
	pods, _, err := kube.CurrentPods(ctx, w.Env.Client, wl)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]kube.Injection, 0, len(pods))
	for i := range pods {
		out = append(out, kube.CheckInjection(&pods[i]))
	}
	return out
}

// InjectedPods counts the Deployment's current pods that carry the injection.
func (w *World) InjectedPods(t testing.TB) (injected, total int) {
	t.Helper()
	for _, in := range w.Pods(t) {
		if in.Injected() {
			injected++
		}
		total++
	}
	return injected, total
}

// Audited counts the accepted mutating calls of operation op.
func (w *World) Audited(op string) int {
	n := 0
	for _, e := range w.Fake.Audit() {
		if e.Operation == op {
			n++
		}
	}
	return n
}

// AuditLen is the number of mutating calls the fake accepted.
func (w *World) AuditLen() int { return len(w.Fake.Audit()) }

// MustContain fails t for each want that got lacks.
func MustContain(t testing.TB, what, got string, wants ...string) {
	t.Helper()
	for _, s := range wants {
		if !strings.Contains(got, s) {
			t.Errorf("%s does not contain %q:\n%s", what, s, got)
		}
	}
}
