package apply_test

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

// podid.yaml's workloads take the same references as --workload, a bare
// name included: `workloads: [app]` restarts deployment/app and leaves the
// other Deployment of the service account alone.
func TestApplyBareWorkloadName(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeaws.Faults{})
	a := w.Env.Namespace(t, "apply-ref", labtest.ServiceAccount("carts"), labtest.Replicas(1))
	ctx := context.Background()
	if err := lab.CreateApp(ctx, w.Env.Client, lab.App{Namespace: a.Namespace, Deployment: "orders", DeploymentSA: "carts", Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	w.waitApps(t, map[string][]string{a.Namespace: {"orders"}})
	file := writeFile(t, fmt.Sprintf(`apiVersion: podid/v1
kind: PodIdentity
cluster: eks-workshop
entries:
  - {namespace: %s, serviceAccount: carts, role: %s, workloads: [app]}
`, a.Namespace, cartsRole))

	r := w.Podid(t, "apply", "-f", file)
	if r.Code != 0 {
		t.Fatalf("apply with workloads: [app]: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if inj, total := w.injected(t, a.Namespace, "app"); total == 0 || inj != total {
		t.Errorf("deployment/app: %d of %d current pods injected", inj, total)
	}
	orders, err := w.Env.Client.AppsV1().Deployments(a.Namespace).Get(ctx, "orders", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if orders.Generation != 1 {
		t.Errorf("deployment/orders (not listed in workloads) was restarted: generation %d", orders.Generation)
	}
}
