// Package e2e runs podid's commands, in process, against the lab: the real
// aws-sdk-go-v2 clients talk to an in-process fakeaws, client-go talks to
// the lab's real kube-apiserver, and the real pod identity webhook mutates
// pods.
package e2e

import (
	"testing"

	"github.com/podid/podid/internal/e2e/e2etest"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab/labtest"
)

func TestMain(m *testing.M) { labtest.Main(m) }

type world = e2etest.World

var (
	fastOpts    = e2etest.FastOpts
	mustContain = e2etest.MustContain
)

func newWorld(t *testing.T, opts fakeaws.Options, nsOpts ...labtest.NamespaceOption) *world {
	t.Helper()
	return e2etest.New(t, opts, "carts", nsOpts...)
}
