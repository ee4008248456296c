package lifecycle

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/lab/labtest"
)

const oidcIssuer = "oidc.eks.us-west-2.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"

func oidcTrust(ns, sa string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"IRSA","Effect":"Allow",
"Principal":{"Federated":"arn:aws:iam::%[1]s:oidc-provider/%[2]s"},"Action":"sts:AssumeRoleWithWebIdentity",
"Condition":{"StringEquals":{"%[2]s:sub":"system:serviceaccount:%[3]s:%[4]s","%[2]s:aud":"sts.amazonaws.com"}}}]}`, account, oidcIssuer, ns, sa)
}

// irsaWorld is a namespace whose service account "orders" is annotated with
// an IRSA role that trusts only the OIDC provider.
func irsaWorld(t *testing.T, replicas int32) (*world, string) {
	t.Helper()
	env := labtest.Get(t)
	fake := env.NewFake(t, fastOpts())
	// The annotation needs the ARN before the namespace exists, the trust
	// needs the namespace: the ARN depends only on the name.
	const name = "orders-irsa"
	arn := fmt.Sprintf("arn:aws:iam::%s:role/%s", account, name)
	app := env.Namespace(t, "mig", labtest.ServiceAccount("orders"), labtest.IRSA(arn), labtest.Replicas(replicas))
	if got := fake.PutRole(fakeaws.Role{Name: name, TrustPolicy: oidcTrust(app.Namespace, "orders")}); got != arn {
		t.Fatalf("role ARN %s, want %s", got, arn)
	}
	if err := fake.PutRolePolicy(name, "sqs", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
	return &world{Env: env, Fake: fake, App: app}, name
}

// Without --approve, migrate prints the plan and changes nothing: no AWS
// call that mutates, no Kubernetes object touched.
func TestMigratePlanOnlyChangesNothing(t *testing.T) {
	t.Parallel()
	w, role := irsaWorld(t, 1)
	rv, _ := saVersion(t, w, w.App.Namespace, "orders")
	gen := w.Generation(t)
	r := w.Podid(t, "migrate", "--ns", w.App.Namespace)
	if r.Code != 0 {
		t.Fatalf("migrate: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	mustContain(t, "stdout", r.Stdout, "SERVICE ACCOUNT", "orders", "planned", "plan for "+w.App.Namespace+"/orders",
		"AllowEksAuthToAssumeRoleForPodIdentity", "create pod identity association", "nothing was changed", "--approve")
	if n := w.AuditLen(); n != 0 {
		t.Errorf("plan-only migrate changed AWS: %+v", w.Fake.Audit())
	}
	if got, _ := saVersion(t, w, w.App.Namespace, "orders"); got != rv {
		t.Errorf("plan-only migrate touched the service account (resourceVersion %s → %s)", rv, got)
	}
	if g := w.Generation(t); g != gen {
		t.Errorf("plan-only migrate restarted the deployment")
	}
	rr, _ := w.Role(role)
	if strings.Contains(rr.TrustPolicy, "pods.eks.amazonaws.com") {
		t.Errorf("plan-only migrate changed the trust: %s", rr.TrustPolicy)
	}

	// JSON: one document, planned per service account.
	r = w.Podid(t, "migrate", "--ns", w.App.Namespace, "-o", "json")
	if r.Code != 0 {
		t.Fatalf("migrate -o json: exit %d\n%s", r.Code, r.Stderr)
	}
	d := r.Raw(t)
	res, _ := d["result"].(map[string]any)
	sas, _ := res["serviceAccounts"].([]any)
	if len(sas) != 1 {
		t.Fatalf("result.serviceAccounts: %v", res)
	}
	sa := sas[0].(map[string]any)
	if sa["status"] != "planned" || sa["serviceAccount"] != "orders" {
		t.Errorf("service account result: %v", sa)
	}
	if d["dryRun"] != true || w.AuditLen() != 0 {
		t.Errorf("dryRun %v, audit %d", d["dryRun"], w.AuditLen())
	}
}

// --approve: the role gets the Pod Identity trust next to its OIDC
// statement, the association exists, the new pods are on Pod Identity, and
// the annotation is kept; a rerun changes nothing; then
// --remove-irsa-annotation --remove-oidc-trust clean up.
func TestMigrateApproveThenCleanUp(t *testing.T) {
	t.Parallel()
	w, role := irsaWorld(t, 2)
	gen0 := w.Generation(t)
	r := w.Podid(t, "migrate", "--ns", w.App.Namespace, "--approve", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("migrate --approve: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	d := r.Raw(t)
	sa := d["result"].(map[string]any)["serviceAccounts"].([]any)[0].(map[string]any)
	if sa["status"] != "migrated" {
		t.Fatalf("status %v: %v", sa["status"], sa)
	}
	got := steps(sa["steps"])
	for name, want := range map[string]string{"verify-role": "changed", "associate": "changed", "propagation": "changed", "restart": "changed"} {
		if got[name] != want {
			t.Errorf("step %s: %q, want %q (%v)", name, got[name], want, got)
		}
	}
	rr, _ := w.Role(role)
	mustContain(t, "trust", rr.TrustPolicy, "oidc-provider/"+oidcIssuer, "sts:AssumeRoleWithWebIdentity", "pods.eks.amazonaws.com", "sts:TagSession", "kubernetes-service-account")
	as := w.Associations(w.App.Namespace)
	if len(as) != 1 || as[0].ServiceAccount != "orders" || !strings.HasSuffix(as[0].RoleArn, "/"+role) {
		t.Fatalf("associations: %+v", as)
	}
	pods := w.Pods(t)
	if len(pods) != 2 {
		t.Fatalf("%d current pods", len(pods))
	}
	for _, p := range pods {
		if !p.Injected() {
			t.Errorf("pod %s lacks %v", p.Pod, p.Missing)
		}
		for c, ci := range p.Containers {
			if ci.IRSA {
				t.Errorf("pod %s container %s has IRSA variables", p.Pod, c)
			}
		}
	}
	if w.Generation(t) == gen0 {
		t.Error("the deployment was not restarted")
	}
	_, ann := saVersion(t, w, w.App.Namespace, "orders")
	if ann[kube.IRSARoleAnnotation] == "" {
		t.Error("the IRSA annotation was removed without --remove-irsa-annotation")
	}

	// Rerun: unchanged.
	audit, gen1 := w.AuditLen(), w.Generation(t)
	r = w.Podid(t, "migrate", "--ns", w.App.Namespace, "--approve")
	if r.Code != 0 {
		t.Fatalf("second migrate: exit %d\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stdout", r.Stdout, "unchanged", "0 migrated, 1 unchanged, 0 failed")
	if w.AuditLen() != audit || w.Generation(t) != gen1 {
		t.Errorf("second migrate changed something: %+v", w.Fake.Audit()[audit:])
	}

	// Clean-up: the annotation and the OIDC statement go, Pod Identity stays.
	r = w.Podid(t, "migrate", "--ns", w.App.Namespace, "--approve", "--remove-irsa-annotation", "--remove-oidc-trust")
	if r.Code != 0 {
		t.Fatalf("migrate clean-up: exit %d\n%s", r.Code, r.Stderr)
	}
	if _, ann := saVersion(t, w, w.App.Namespace, "orders"); ann[kube.IRSARoleAnnotation] != "" {
		t.Errorf("annotation still there: %v", ann)
	}
	rr, _ = w.Role(role)
	if strings.Contains(rr.TrustPolicy, "oidc-provider") || !strings.Contains(rr.TrustPolicy, "pods.eks.amazonaws.com") {
		t.Errorf("trust after --remove-oidc-trust: %s", rr.TrustPolicy)
	}
	if w.Generation(t) != gen1 {
		t.Error("clean-up restarted the deployment")
	}
	// Nothing left to migrate.
	r = w.Podid(t, "migrate", "--ns", w.App.Namespace)
	if r.Code != 0 {
		t.Fatalf("migrate after clean-up: exit %d\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stdout", r.Stdout, "nothing to migrate")
}

// A failure stops one service account only: a role in another account is
// refused (exit 3) while the other service account is migrated.
func TestMigrateOneFailureDoesNotStopOthers(t *testing.T) {
	t.Parallel()
	w, _ := irsaWorld(t, 1)
	foreign := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "foreign", Namespace: w.App.Namespace,
		Annotations: map[string]string{kube.IRSARoleAnnotation: "arn:aws:iam::999988887777:role/elsewhere"}}}
	if _, err := w.Env.Client.CoreV1().ServiceAccounts(w.App.Namespace).Create(context.Background(), foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := w.Podid(t, "migrate", "--ns", w.App.Namespace, "--approve", "-o", "json")
	if r.Code != 3 {
		t.Fatalf("exit %d, want 3\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	d := r.Raw(t)
	status := map[string]string{}
	for _, x := range d["result"].(map[string]any)["serviceAccounts"].([]any) {
		m := x.(map[string]any)
		status[m["serviceAccount"].(string)] = m["status"].(string)
		if m["serviceAccount"] == "foreign" {
			mustContain(t, "foreign error", fmt.Sprint(m["error"]), "999988887777", account)
		}
	}
	if status["foreign"] != "failed" || status["orders"] != "migrated" {
		t.Errorf("statuses: %v", status)
	}
	mustContain(t, "error", fmt.Sprint(d["error"]), "1 of 2 service accounts failed", w.App.Namespace+"/foreign")
	if as := w.Associations(w.App.Namespace); len(as) != 1 || as[0].ServiceAccount != "orders" {
		t.Errorf("associations: %+v", as)
	}
}
