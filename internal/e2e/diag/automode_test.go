package diag

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/diagnose"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
)

// An EKS Auto Mode cluster that also has ordinary nodes (the lab's kwok
// nodes stand for a managed node group) plus one Auto Mode node: enable
// installs the add-on for the ordinary nodes, and a pod on the Auto Mode
// node gets no "not served by the agent" warning (the agent is built into
// such nodes). It adds a node to the shared lab, so it does not run in
// parallel.
func TestAutoModeMixedNodes(t *testing.T) {
	w := newWorld(t)
	k := w.Env.Kube()
	w.Fake.AddCluster(fakeaws.Cluster{
		Name: lab.WorkshopCluster, Version: "1.35", PlatformVersion: "eks.5", Status: "ACTIVE", AutoMode: true,
		Endpoint: k.Server, CAData: base64.StdEncoding.EncodeToString(k.CAData),
		Nodegroups: []fakeaws.Nodegroup{{Name: "default", NodeRole: "arn:aws:iam::" + fakeaws.DefaultAccount + ":role/" + lab.WorkshopNodeRole}},
	})
	ctx := context.Background()
	node := "auto-diag-" + w.App.Namespace[len(w.App.Namespace)-6:]
	if err := lab.CreateNode(ctx, w.Env.Client, node, map[string]string{"eks.amazonaws.com/compute-type": "auto"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Env.Client.CoreV1().Nodes().Delete(context.Background(), node, metav1.DeleteOptions{}) })
	one := int32(1)
	labels := map[string]string{"app": "on-auto"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "on-auto", Namespace: w.App.Namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{ServiceAccountName: "carts", NodeName: node,
					Containers: []corev1.Container{{Name: "app", Image: "public.ecr.aws/aws-containers/retail-store-sample-cart:1.0.0"}}},
			},
		},
	}
	if _, err := w.Env.Client.AppsV1().Deployments(w.App.Namespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := lab.WaitDeploymentRolledOut(ctx, w.Env.Client, w.App.Namespace, "on-auto", 90*time.Second); err != nil {
		t.Fatal(err)
	}

	r := w.Podid(t, append([]string{"enable"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("enable: exit %d\n%s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "not Auto Mode nodes and need the add-on") {
		t.Errorf("enable does not say why an Auto Mode cluster gets the add-on:\n%s", r.Stderr)
	}
	if strings.Contains(r.Stderr, "which the agent does not serve") {
		t.Errorf("enable warns about the pod on the Auto Mode node:\n%s", r.Stderr)
	}
	found := false
	for _, e := range w.Fake.Audit() {
		found = found || e.Operation == "CreateAddon"
	}
	if !found {
		t.Errorf("enable did not install the add-on the cluster's other nodes need; audit %+v", w.Fake.Audit())
	}

	r = w.Podid(t, append([]string{"status", "-o", "json"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("status: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	rep := report(t, r)
	mustFind(t, rep, diagnose.AreaCluster, diagnose.OK, "uses EKS Auto Mode, but", "not Auto Mode")
	mustFind(t, rep, diagnose.AreaAddon, diagnose.OK, "ACTIVE")
	mustFind(t, rep, diagnose.AreaAgent, diagnose.OK, "agent ready on")
	// The pod on the Auto Mode node counts as served, as app's 2 pods do.
	mustFind(t, rep, diagnose.AreaWorkload, diagnose.OK, "deployment/on-auto: its pod has the Pod Identity injection and a ready agent on its node")
	mustFind(t, rep, diagnose.AreaWorkload, diagnose.OK, "deployment/app: all 2 pods have the Pod Identity injection and a ready agent on their node")
	for _, f := range rep.Findings {
		if f.Severity != diagnose.OK && strings.Contains(f.Message, node) {
			t.Errorf("finding about the Auto Mode node: %s: %s", f.Severity, f.Message)
		}
	}
	if rep.Agent == nil || !strings.Contains(strings.Join(rep.Agent.BuiltIn, ","), node) {
		t.Errorf("agent result does not list %s as built in: %+v", node, rep.Agent)
	}

	r = w.Podid(t, append([]string{"verify"}, w.Target()...)...)
	if r.Code != 0 {
		t.Errorf("verify: exit %d\n%s", r.Code, r.Stderr)
	}
}

// A role without permission policies: status warns, and the fix says how to
// attach a permission policy, not how to change the trust policy.
func TestRoleWithoutPermissionPolicies(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Fake.PutRole(fakeaws.Role{Name: "carts-empty", TrustPolicy: lab.PodIdentityTrust})
	mustRun(t, w, "associate", "--role", "carts-empty")
	r := w.Podid(t, append([]string{"status", "-o", "json"}, w.Target()...)...)
	rep := report(t, r)
	f := mustFind(t, rep, diagnose.AreaRole, diagnose.Warn, "role carts-empty has no permission policies")
	for _, want := range []string{"aws iam attach-role-policy --role-name carts-empty --policy-arn", "aws iam put-role-policy --role-name carts-empty"} {
		if !strings.Contains(f.Fix, want) {
			t.Errorf("fix %q lacks %q", f.Fix, want)
		}
	}
	if strings.Contains(f.Fix, "trust") {
		t.Errorf("fix points at the trust policy: %q", f.Fix)
	}
}
