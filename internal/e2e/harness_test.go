// Package e2e runs podid's commands, in process, against the lab: the real
// aws-sdk-go-v2 clients talk to an in-process fakeaws, client-go talks to
// the lab's real kube-apiserver, and the real pod identity webhook mutates
// pods.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/iostreams"
	"github.com/podid/podid/internal/lab/labtest"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// result is one podid run.
type result struct {
	Code   int
	Stdout string
	Stderr string
}

// doc parses the -o json document.
func (r result) doc(t *testing.T) cmdutil.Document {
	t.Helper()
	var d cmdutil.Document
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.Stdout)
	}
	if dec.More() {
		t.Fatalf("stdout has more than one JSON document:\n%s", r.Stdout)
	}
	return d
}

// world is one test's lab namespace and fake AWS.
type world struct {
	env  *labtest.Env
	fake *fakeaws.Server
	app  *labtest.App
}

func newWorld(t *testing.T, opts fakeaws.Options, nsOpts ...labtest.NamespaceOption) *world {
	t.Helper()
	env := labtest.Get(t)
	w := &world{env: env, fake: env.NewFake(t, opts)}
	if nsOpts != nil {
		w.app = env.Namespace(t, "carts", nsOpts...)
	}
	return w
}

// podid runs podid with the lab's kubeconfig and the world's fake.
func (w *world) podid(t *testing.T, args ...string) result {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	f := cmdutil.NewFactory(ios, "test")
	f.SetAWS(awsapi.New(labtest.AWSConfig(w.fake.URL()), nil))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"--kubeconfig", w.env.Kubeconfig, "--cluster", "eks-workshop"}, args...)
	code := app.RunWith(ctx, f, full)
	r := result{Code: code, Stdout: out.String(), Stderr: errOut.String()}
	if testing.Verbose() {
		t.Logf("podid %s → exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, r.Stdout, r.Stderr)
	}
	return r
}

// target is the --ns/--sa flags of the world's namespace.
func (w *world) target() []string {
	return []string{"--ns", w.app.Namespace, "--sa", w.app.ServiceAccount}
}

func fastOpts() fakeaws.Options {
	return fakeaws.Options{AddonDelay: 100 * time.Millisecond, PropagationDelay: 300 * time.Millisecond}
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}

var _ = bytes.Buffer{}
