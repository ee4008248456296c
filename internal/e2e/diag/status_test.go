package diag

import (
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/diagnose"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

// After enable, status finds nothing wrong (scoped and cluster-wide) and
// verify passes; neither changes anything.
func TestHealthyAfterEnable(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mustRun(t, w, "enable")
	audit := len(w.Fake.Audit())

	r := w.Podid(t, append([]string{"status", "-o", "json"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("status: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	rep := report(t, r)
	everyProblemHasFix(t, rep)
	if errs := rep.Errors(); len(errs) != 0 {
		t.Fatalf("status after enable has errors:\n%s", dump(rep))
	}
	mustFind(t, rep, diagnose.AreaCluster, diagnose.OK, "supports EKS Pod Identity")
	mustFind(t, rep, diagnose.AreaAddon, diagnose.OK, "ACTIVE")
	mustFind(t, rep, diagnose.AreaAgent, diagnose.OK, "agent ready on")
	mustFind(t, rep, diagnose.AreaNodeRole, diagnose.OK, "eks-workshop-node-role allows eks-auth:AssumeRoleForPodIdentity")
	mustFind(t, rep, diagnose.AreaAssociation, diagnose.OK, "eks-workshop-carts-dynamo", "session tags enabled")
	mustFind(t, rep, diagnose.AreaRole, diagnose.OK, "trusts pods.eks.amazonaws.com")
	mustFind(t, rep, diagnose.AreaRole, diagnose.OK, "permissions: eks-workshop-carts-dynamo")
	mustFind(t, rep, diagnose.AreaWorkload, diagnose.OK, "deployment/app: all 2 pods")
	if rep.Association == nil || len(rep.Pods) != 2 {
		t.Errorf("result: association %+v, %d pods; want the association and 2 pods", rep.Association, len(rep.Pods))
	}
	for _, p := range rep.Pods {
		if !p.Injected || p.CreatedBeforeAssociation {
			t.Errorf("pod %+v: want injected and created after the association", p)
		}
	}

	// Text: a checklist on stdout, exit 0.
	r = w.Podid(t, append([]string{"status"}, w.Target()...)...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "✓ association") || !strings.Contains(r.Stdout, "Pod Identity works for "+w.App.Namespace+"/carts") {
		t.Errorf("status text: exit %d\n%s", r.Code, r.Stdout)
	}

	// Cluster-wide: the association has a one-line verdict.
	r = w.Podid(t, "status", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("cluster status: exit %d\n%s", r.Code, r.Stdout)
	}
	crep := report(t, r)
	if len(crep.Associations) != 1 || !crep.Associations[0].RoleExists || !crep.Associations[0].TrustOK {
		t.Errorf("cluster status associations: %+v", crep.Associations)
	}
	mustFind(t, crep, diagnose.AreaAssociation, diagnose.OK, w.App.Namespace+"/carts", "trust ok")

	r = w.Podid(t, append([]string{"verify", "-o", "json"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("verify: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if v := verdict(t, r); len(v.Pods) != 2 || !v.OK() {
		t.Errorf("verify verdict: %+v", v)
	}
	if got := len(w.Fake.Audit()); got != audit {
		t.Errorf("status/verify changed AWS: %+v", w.Fake.Audit()[audit:])
	}
}

// Before any association: the missing association and every pod without
// credentials are findings, exit 3; verify names each pod.
func TestBeforeAssociation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.Podid(t, append([]string{"status", "-o", "json"}, w.Target()...)...)
	if r.Code != 3 {
		t.Fatalf("status: exit %d, want 3\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	d := r.Doc(t)
	if d.ExitCode != 3 || d.Status != "failed" || d.Hint == "" {
		t.Errorf("document: exitCode %d status %s hint %q", d.ExitCode, d.Status, d.Hint)
	}
	rep := report(t, r)
	everyProblemHasFix(t, rep)
	a := mustFind(t, rep, diagnose.AreaAssociation, diagnose.Error, "no pod identity association for "+w.App.Namespace+"/carts")
	if !strings.Contains(a.Fix, "podid enable") {
		t.Errorf("association fix %q does not name podid enable", a.Fix)
	}
	wl := mustFind(t, rep, diagnose.AreaWorkload, diagnose.Error, "deployment/app: pods ", " lack the Pod Identity injection")
	if !strings.Contains(wl.Fix, "podid enable") {
		t.Errorf("workload fix %q", wl.Fix)
	}
	mustFind(t, rep, diagnose.AreaAddon, diagnose.Error, "not installed")
	if len(w.Fake.Audit()) != 0 {
		t.Errorf("status changed AWS: %+v", w.Fake.Audit())
	}

	r = w.Podid(t, append([]string{"verify"}, w.Target()...)...)
	if r.Code != 3 {
		t.Fatalf("verify: exit %d, want 3\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	pods, err := w.Env.Client.CoreV1().Pods(w.App.Namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// One line for the cause (the Deployment's pods lack the injection),
	// naming every pod once.
	if !strings.Contains(r.Stderr, "deployment/app: pods ") || !strings.Contains(r.Stderr, " lack the Pod Identity injection; fix: podid restart") {
		t.Errorf("verify error lacks the cause line for deployment/app:\n%s", r.Stderr)
	}
	for _, p := range pods.Items {
		if n := strings.Count(r.Stderr, p.Name); n != 1 {
			t.Errorf("verify error names pod %s %d times, want once:\n%s", p.Name, n, r.Stderr)
		}
	}
}

// A DEGRADED add-on is an error finding that carries the health issue.
func TestDegradedAddon(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mustRun(t, w, "enable")
	w.Fake.ForceAddonStatus(lab.WorkshopCluster, "eks-pod-identity-agent", "DEGRADED",
		fakeaws.HealthIssue{Code: "InsufficientNumberOfReplicas", Message: "The add-on is unhealthy because it doesn't have the desired number of replicas.", ResourceIDs: []string{"kube-system/eks-pod-identity-agent"}})
	r := w.Podid(t, append([]string{"status", "-o", "json"}, w.Target()...)...)
	if r.Code != 3 {
		t.Fatalf("status: exit %d, want 3\n%s", r.Code, r.Stdout)
	}
	rep := report(t, r)
	f := mustFind(t, rep, diagnose.AreaAddon, diagnose.Error, "DEGRADED", "InsufficientNumberOfReplicas", "desired number of replicas")
	if !strings.Contains(f.Fix, "update-addon") {
		t.Errorf("fix %q", f.Fix)
	}
	if rep.Addon == nil || len(rep.Addon.HealthIssues) != 1 {
		t.Errorf("addon result: %+v", rep.Addon)
	}
}

// The IRSA annotation on the service account is a warning with the command
// that removes it.
func TestIRSAAnnotation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, labtest.IRSA(lab.RoleARN("eks-workshop-orders-irsa")))
	mustRun(t, w, "enable")
	r := w.Podid(t, append([]string{"status", "-o", "json"}, w.Target()...)...)
	rep := report(t, r)
	f := mustFind(t, rep, diagnose.AreaServiceAccount, diagnose.Warn, "IRSA annotation eks.amazonaws.com/role-arn=")
	if !strings.Contains(f.Fix, "annotate serviceaccount carts eks.amazonaws.com/role-arn-") {
		t.Errorf("fix %q", f.Fix)
	}
	if r.Code != 0 {
		t.Errorf("status with only warnings: exit %d, want 0\n%s", r.Code, dump(rep))
	}
}

// A node group whose role lacks eks-auth:AssumeRoleForPodIdentity is an
// error (a second fake cluster on the same lab, so the workshop stays intact).
func TestNodeRoleWithoutPermission(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	arn := w.Fake.PutRole(fakeaws.Role{Name: "bare-node-role",
		TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`})
	w.Fake.AddCluster(fakeaws.Cluster{Name: "eks-bare", Version: "1.35", PlatformVersion: "eks.5",
		Endpoint: w.Env.Server, CAData: base64.StdEncoding.EncodeToString(w.Env.CAData),
		Nodegroups: []fakeaws.Nodegroup{{Name: "bare", NodeRole: arn}}})
	r := w.Podid(t, "status", "--cluster", "eks-bare", "-o", "json")
	if r.Code != 3 {
		t.Fatalf("status: exit %d, want 3\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	rep := report(t, r)
	f := mustFind(t, rep, diagnose.AreaNodeRole, diagnose.Error, "node group bare", "bare-node-role does not allow eks-auth:AssumeRoleForPodIdentity")
	if !strings.Contains(f.Fix, "AmazonEKSWorkerNodePolicy") {
		t.Errorf("fix %q", f.Fix)
	}
	if len(rep.NodeRoles) != 1 || rep.NodeRoles[0].Decision == "allowed" {
		t.Errorf("node roles: %+v", rep.NodeRoles)
	}
}

// A pod of the service account's workload on a Fargate node is an error.
// It adds a node to the shared lab, so it does not run in parallel.
func TestPodOnFargateNode(t *testing.T) {
	w := newWorld(t)
	mustRun(t, w, "enable")
	ctx := context.Background()
	node := "fargate-diag-" + w.App.Namespace[len(w.App.Namespace)-6:]
	if err := lab.CreateNode(ctx, w.Env.Client, node, map[string]string{"eks.amazonaws.com/compute-type": "fargate"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Env.Client.CoreV1().Nodes().Delete(context.Background(), node, metav1.DeleteOptions{}) })
	one := int32(1)
	labels := map[string]string{"app": "on-fargate"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "on-fargate", Namespace: w.App.Namespace},
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
	if err := lab.WaitDeploymentRolledOut(ctx, w.Env.Client, w.App.Namespace, "on-fargate", 90*time.Second); err != nil {
		t.Fatal(err)
	}
	r := w.Podid(t, append([]string{"status", "-o", "json"}, w.Target()...)...)
	if r.Code != 3 {
		t.Fatalf("status: exit %d, want 3\n%s", r.Code, r.Stdout)
	}
	rep := report(t, r)
	f := mustFind(t, rep, diagnose.AreaWorkload, diagnose.Error, "deployment/on-fargate", "on node "+node, "Fargate")
	if !strings.Contains(f.Fix, "fargate") {
		t.Errorf("fix %q", f.Fix)
	}
	mustFind(t, rep, diagnose.AreaWorkload, diagnose.OK, "deployment/app: all 2 pods")

	r = w.Podid(t, append([]string{"verify"}, w.Target()...)...)
	if r.Code != 3 || !strings.Contains(r.Stderr, "deployment/on-fargate: pod ") || !strings.Contains(r.Stderr, "on node "+node+", which is not served by the agent") {
		t.Errorf("verify: exit %d, want 3 naming node %s\n%s", r.Code, node, r.Stderr)
	}
}

// verify --wait returns once a concurrent restart gives every pod the
// injection.
func TestVerifyWaitSucceedsWithConcurrentRestart(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if r := w.Podid(t, "install-agent"); r.Code != 0 {
		t.Fatalf("install-agent: exit %d\n%s", r.Code, r.Stderr)
	}
	mustRun(t, w, "associate", "--role", lab.CartsRole)

	var wg sync.WaitGroup
	var vr result
	wg.Add(1)
	go func() {
		defer wg.Done()
		vr = w.Podid(t, append([]string{"verify", "--wait", "--timeout", "150s", "-o", "json"}, w.Target()...)...)
	}()
	mustRun(t, w, "restart")
	wg.Wait()
	if vr.Code != 0 {
		t.Fatalf("verify --wait: exit %d\n%s\n%s", vr.Code, vr.Stdout, vr.Stderr)
	}
	if v := verdict(t, vr); !v.OK() || len(v.Pods) != 2 {
		t.Errorf("verdict: %+v", v)
	}
}

// verify --wait without an association runs out of time: exit 4, naming
// what is still missing.
func TestVerifyWaitTimesOut(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.Podid(t, append([]string{"verify", "--wait", "--timeout", "6s", "-o", "json"}, w.Target()...)...)
	if r.Code != 4 {
		t.Fatalf("verify --wait: exit %d, want 4\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	d := r.Doc(t)
	if d.ExitCode != 4 || !strings.Contains(d.Error, "still missing") || !strings.Contains(d.Error, "deployment/app: pods ") || !strings.Contains(d.Error, "lack the Pod Identity injection") {
		t.Errorf("document: exitCode %d error %q", d.ExitCode, d.Error)
	}
	if v := verdict(t, r); len(v.Bad()) != 2 {
		t.Errorf("verdict: %+v", v)
	}
}
