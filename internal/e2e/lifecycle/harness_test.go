// Package lifecycle tests podid disable, migrate and role create, in
// process, against the lab: the real aws-sdk-go-v2 clients talk to an
// in-process fakeaws, client-go talks to the lab's real kube-apiserver, and
// the real pod identity webhook mutates pods.
package lifecycle

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/iostreams"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/lab/labtest"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// account is a 12-digit account: role ARNs given on the command line are
// validated as real ARNs, and the fake's default account has 10 digits.
const account = "111122223333"

type result struct {
	Code   int
	Stdout string
	Stderr string
}

// doc parses the -o json document and fails unless stdout is exactly one.
func (r result) doc(t *testing.T) map[string]any {
	t.Helper()
	var d map[string]any
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.Stdout)
	}
	if dec.More() {
		t.Fatalf("stdout has more than one JSON document:\n%s", r.Stdout)
	}
	return d
}

// steps returns name → status of a document's steps (or of a list of steps).
func steps(list any) map[string]string {
	out := map[string]string{}
	arr, _ := list.([]any)
	for _, s := range arr {
		m, _ := s.(map[string]any)
		name, _ := m["name"].(string)
		st, _ := m["status"].(string)
		out[name] = st
	}
	return out
}

type world struct {
	env  *labtest.Env
	fake *fakeaws.Server
	app  *labtest.App
}

func fastOpts() fakeaws.Options {
	return fakeaws.Options{Account: account, AddonDelay: 100 * time.Millisecond, PropagationDelay: 300 * time.Millisecond}
}

func newWorld(t *testing.T, nsOpts ...labtest.NamespaceOption) *world {
	t.Helper()
	env := labtest.Get(t)
	w := &world{env: env, fake: env.NewFake(t, fastOpts())}
	if nsOpts != nil {
		w.app = env.Namespace(t, "life", nsOpts...)
	}
	return w
}

func (w *world) podid(t *testing.T, args ...string) result {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	f := cmdutil.NewFactory(ios, "test")
	f.SetAWS(awsapi.New(labtest.AWSConfig(w.fake.URL()), nil))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	full := append([]string{"--kubeconfig", w.env.Kubeconfig, "--cluster", "eks-workshop", "--timeout", "2m"}, args...)
	code := app.RunWith(ctx, f, full)
	r := result{Code: code, Stdout: out.String(), Stderr: errOut.String()}
	if testing.Verbose() {
		t.Logf("podid %s → exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, r.Stdout, r.Stderr)
	}
	return r
}

func (w *world) target() []string {
	return []string{"--ns", w.app.Namespace, "--sa", w.app.ServiceAccount}
}

func (w *world) associations(ns string) []fakeaws.AssociationSnapshot {
	var out []fakeaws.AssociationSnapshot
	for _, c := range w.fake.State().Clusters {
		for _, a := range c.Associations {
			if a.Namespace == ns {
				out = append(out, a)
			}
		}
	}
	return out
}

func (w *world) role(name string) (fakeaws.RoleSnapshot, bool) {
	for _, r := range w.fake.State().Roles {
		if r.Name == name {
			return r, true
		}
	}
	return fakeaws.RoleSnapshot{}, false
}

func (w *world) generation(t *testing.T) int64 {
	t.Helper()
	d, err := w.env.Client.AppsV1().Deployments(w.app.Namespace).Get(context.Background(), w.app.Deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Generation
}

// saVersion is the service account's resourceVersion.
func (w *world) saVersion(t *testing.T, ns, name string) (string, map[string]string) {
	t.Helper()
	sa, err := w.env.Client.CoreV1().ServiceAccounts(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sa.ResourceVersion, sa.Annotations
}

// pods returns the injection of the Deployment's current pods.
func (w *world) pods(t *testing.T) []kube.Injection {
	t.Helper()
	ctx := context.Background()
	wl, err := kube.GetWorkload(ctx, w.env.Client, w.app.Namespace, kube.KindDeployment, w.app.Deployment)
	if err != nil {
		t.Fatal(err)
	}
	pods, _, err := kube.CurrentPods(ctx, w.env.Client, wl)
	if err != nil {
		t.Fatal(err)
	}
	var out []kube.Injection
	for i := range pods {
		out = append(out, kube.CheckInjection(&pods[i]))
	}
	return out
}

func (w *world) auditLen() int { return len(w.fake.Audit()) }

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, s := range wants {
		if !strings.Contains(got, s) {
			t.Errorf("%s does not contain %q:\n%s", what, s, got)
		}
	}
}
