// Package lifecycle tests podid disable, migrate and role create, in
// process, against the lab: the real aws-sdk-go-v2 clients talk to an
// in-process fakeaws, client-go talks to the lab's real kube-apiserver, and
// the real pod identity webhook mutates pods.
package lifecycle

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/e2e/e2etest"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab/labtest"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// account is a 12-digit account: role ARNs given on the command line are
// validated as real ARNs, and the fake's default account has 10 digits.
const account = "111122223333"

type result = e2etest.Result

type world = e2etest.World

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

func fastOpts() fakeaws.Options {
	o := e2etest.FastOpts()
	o.Account = account
	return o
}

func newWorld(t *testing.T, nsOpts ...labtest.NamespaceOption) *world {
	t.Helper()
	return e2etest.New(t, fastOpts(), "life", nsOpts...)
}

// saVersion is the service account's resourceVersion.
func saVersion(t *testing.T, w *world, ns, name string) (string, map[string]string) {
	t.Helper()
	sa, err := w.Env.Client.CoreV1().ServiceAccounts(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sa.ResourceVersion, sa.Annotations
}

var mustContain = e2etest.MustContain
