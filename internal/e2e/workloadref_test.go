package e2e

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

// --workload takes the same references as podid.yaml's workloads: a bare
// name restarts that workload and leaves the service account's other
// Deployment alone; a kind podid does not restart is a usage error.
func TestEnableBareWorkloadName(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"), labtest.Replicas(1))
	ctx := context.Background()
	if err := lab.CreateApp(ctx, w.Env.Client, lab.App{Namespace: w.App.Namespace, Deployment: "orders", DeploymentSA: "carts", Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	if err := lab.WaitDeploymentRolledOut(ctx, w.Env.Client, w.App.Namespace, "orders", 90*time.Second); err != nil {
		t.Fatal(err)
	}
	r := w.Podid(t, append([]string{"enable", "--role", "eks-workshop-carts-dynamo", "--workload", "job/app"}, w.Target()...)...)
	if r.Code != 2 {
		t.Fatalf("--workload job/app: exit %d, want 2\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, `kind "job"`)
	// A name podid.yaml refuses is refused by the flag too, before anything
	// changes (it was taken as a name that matched nothing).
	r = w.Podid(t, append([]string{"enable", "--role", "eks-workshop-carts-dynamo", "--workload", "deployment/App"}, w.Target()...)...)
	if r.Code != 2 || w.AuditLen() != 0 {
		t.Fatalf("--workload deployment/App: exit %d (want 2), %d AWS changes\n%s", r.Code, w.AuditLen(), r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "lowercase RFC 1123")

	r = w.Podid(t, append([]string{"enable", "--role", "eks-workshop-carts-dynamo", "--workload", "app"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("enable --workload app: exit %d\n%s", r.Code, r.Stderr)
	}
	if inj, total := w.InjectedPods(t); total == 0 || inj != total {
		t.Errorf("deployment/app: %d of %d current pods injected", inj, total)
	}
	orders, err := w.Env.Client.AppsV1().Deployments(w.App.Namespace).Get(ctx, "orders", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if orders.Generation != 1 {
		t.Errorf("deployment/orders (not named by --workload) was restarted: generation %d", orders.Generation)
	}
}
