package e2e

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab/labtest"
)

// install-agent fails at once on a DEGRADED add-on and prints its health
// issues; on a healthy one it is unchanged.
func TestInstallAgent(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts())
	r := w.Podid(t, "install-agent")
	if r.Code != 0 {
		t.Fatalf("install-agent: exit %d\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "ACTIVE", "ready on 3 of 3")
	r = w.Podid(t, "install-agent", "-o", "json")
	if d := r.Doc(t); r.Code != 0 || d.Steps[1].Status != "unchanged" {
		t.Fatalf("second install-agent: exit %d, %+v", r.Code, d.Steps)
	}

	for _, status := range []string{"DEGRADED", "CREATE_FAILED", "UPDATE_FAILED"} {
		w.Fake.ForceAddonStatus("eks-workshop", "eks-pod-identity-agent", status, fakeaws.HealthIssue{
			Code: "InsufficientNumberOfReplicas", Message: "1 of 3 agent pods are not ready", ResourceIDs: []string{"eks-pod-identity-agent"}})
		audit := w.AuditLen()
		r = w.Podid(t, "install-agent")
		if r.Code == 0 {
			t.Fatalf("install-agent on a %s add-on: exit 0", status)
		}
		mustContain(t, "stderr", r.Stderr, status, "InsufficientNumberOfReplicas", "1 of 3 agent pods are not ready", "hint:")
		if w.AuditLen() != audit {
			t.Errorf("%s: install-agent changed AWS", status)
		}
	}
}

// install-agent --addon-version with an unknown version lists the good ones.
func TestInstallAgentBadVersion(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts())
	r := w.Podid(t, "install-agent", "--addon-version", "v0.0.1-eksbuild.9")
	if r.Code != 2 {
		t.Fatalf("exit %d, want 2\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "v0.0.1-eksbuild.9", "v1.3.10-eksbuild.1")
	if w.AuditLen() != 0 {
		t.Errorf("changed AWS: %+v", w.Fake.Audit())
	}
}

// verify-role finds the missing sts:TagSession, explains it, and --fix adds
// it (scoped), keeping the other statements; a rerun is unchanged.
func TestVerifyRoleFix(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts())
	w.Fake.PutRole(fakeaws.Role{Name: "carts-notag", TrustPolicy: `{"Version":"2012-10-17","Statement":[
		{"Sid":"Ec2","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"},
		{"Sid":"Pods","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`})
	args := []string{"verify-role", "--ns", "carts", "--sa", "carts", "--role", "carts-notag"}

	r := w.Podid(t, args...)
	if r.Code != 3 {
		t.Fatalf("exit %d, want 3\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "sts:TagSession", "Trust policy of the role provided is invalid", "--fix")

	r = w.Podid(t, append(args, "--fix", "--dry-run")...)
	if r.Code != 0 || w.AuditLen() != 0 {
		t.Fatalf("--fix --dry-run: exit %d, audit %+v\n%s", r.Code, w.Fake.Audit(), r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "+", "sts:TagSession")

	r = w.Podid(t, append(args, "--fix")...)
	if r.Code != 0 {
		t.Fatalf("--fix: exit %d\n%s", r.Code, r.Stderr)
	}
	audit := w.Fake.Audit()
	if len(audit) != 1 || audit[0].Operation != "UpdateAssumeRolePolicy" {
		t.Fatalf("audit after --fix: %+v", audit)
	}
	var trustDoc string
	for _, role := range w.Fake.State().Roles {
		if role.Name == "carts-notag" {
			trustDoc = role.TrustPolicy
		}
	}
	mustContain(t, "fixed trust", trustDoc, "ec2.amazonaws.com", `"Sid": "Pods"`, "sts:TagSession")
	if strings.Contains(trustDoc, `"*"`) {
		t.Errorf("--fix widened the trust: %s", trustDoc)
	}
	if r = w.Podid(t, args...); r.Code != 0 {
		t.Fatalf("verify-role after --fix: exit %d\n%s", r.Code, r.Stderr)
	}
	if n := w.AuditLen(); n != 1 {
		t.Errorf("rerun changed AWS again: %+v", w.Fake.Audit())
	}
}

// verify-role lists the permissions and checks --expect with the simulator.
func TestVerifyRolePermissionsAndExpect(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts())
	table := "arn:aws:dynamodb:us-west-2:1234567890:table/eks-workshop-carts"
	r := w.Podid(t, "verify-role", "--ns", "carts", "--sa", "carts", "--expect", "dynamodb:Query="+table, "--expect", "dynamodb:PutItem="+table+"/index/idx-1")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stdout", r.Stdout, "eks-workshop-carts-dynamo", "dynamodb:*", table, "allowed")
	r = w.Podid(t, "verify-role", "--ns", "carts", "--sa", "carts", "--expect", "dynamodb:Query=arn:aws:dynamodb:us-west-2:1234567890:table/other")
	if r.Code != 3 {
		t.Fatalf("exit %d, want 3\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "dynamodb:Query", "table/other")
}

// Without --role and with no association, discovery finds the one
// <cluster>-<sa>* role that trusts Pod Identity; with none it lists them.
func TestVerifyRoleDiscovery(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts())
	r := w.Podid(t, "verify-role", "--ns", "carts", "--sa", "carts")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "eks-workshop-carts-dynamo")
	// The workshop's ARN, with its 10-digit account, works as --role.
	r = w.Podid(t, "verify-role", "--ns", "carts", "--sa", "carts", "--role", "arn:aws:iam::1234567890:role/eks-workshop-carts-dynamo")
	if r.Code != 0 {
		t.Fatalf("--role ARN: exit %d\n%s", r.Code, r.Stderr)
	}
	r = w.Podid(t, "verify-role", "--ns", "carts", "--sa", "nobody")
	if r.Code != 2 {
		t.Fatalf("exit %d, want 2\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "--role")
}

// associate refuses another role without --update; with --update it moves
// the association and enable then restarts even though pods are injected.
func TestAssociateOtherRole(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"))
	if r := w.Podid(t, append([]string{"enable"}, w.Target()...)...); r.Code != 0 {
		t.Fatalf("enable: exit %d\n%s", r.Code, r.Stderr)
	}
	w.Fake.PutRole(fakeaws.Role{Name: "carts-v2", TrustPolicy: labPodTrust})
	audit := w.AuditLen()
	r := w.Podid(t, append([]string{"associate", "--role", "carts-v2"}, w.Target()...)...)
	if r.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "eks-workshop-carts-dynamo", "carts-v2", "--update")
	if w.AuditLen() != audit {
		t.Fatalf("refused associate changed AWS")
	}
	gen := w.Generation(t)
	r = w.Podid(t, append([]string{"enable", "--role", "carts-v2", "--update"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("enable --update: exit %d\n%s", r.Code, r.Stderr)
	}
	as := w.Associations(w.App.Namespace)
	if len(as) != 1 || !strings.HasSuffix(as[0].RoleArn, "role/carts-v2") {
		t.Fatalf("associations: %+v", as)
	}
	if w.Generation(t) == gen {
		t.Errorf("the role changed but the workload was not restarted (the agent would keep serving the old role's cached credentials)")
	}
}

// associate needs the service account; --create-service-account creates it.
func TestAssociateCreatesServiceAccount(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"))
	args := []string{"associate", "--ns", w.App.Namespace, "--sa", "newsa"}
	r := w.Podid(t, append(args, "--role", "eks-workshop-carts-dynamo")...)
	if r.Code != 3 {
		t.Fatalf("exit %d, want 3\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "newsa", "--create-service-account")
	r = w.Podid(t, append(args, "--role", "eks-workshop-carts-dynamo", "--create-service-account", "--tags", "team=carts")...)
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	if _, err := w.Env.Client.CoreV1().ServiceAccounts(w.App.Namespace).Get(context.Background(), "newsa", metav1.GetOptions{}); err != nil {
		t.Fatalf("service account not created: %v", err)
	}
}

// An IRSA annotation on the service account is reported.
func TestAssociateWarnsIRSA(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"), labtest.IRSA("arn:aws:iam::1234567890:role/eks-workshop-orders-irsa"))
	r := w.Podid(t, append([]string{"associate", "--role", "eks-workshop-carts-dynamo"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "IRSA", "eks.amazonaws.com/role-arn")
}

// restart alone: without an association it refuses (restarted pods would
// get nothing); after associate it waits for propagation, restarts, proves
// the injection, and a rerun skips the restart unless --force.
func TestRestart(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"))
	gen := w.Generation(t)
	r := w.Podid(t, append([]string{"restart"}, w.Target()...)...)
	if r.Code != 3 {
		t.Fatalf("restart without association: exit %d, want 3\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "no pod identity association", "podid associate")
	if w.Generation(t) != gen {
		t.Fatal("restarted without an association")
	}
	if r = w.Podid(t, append([]string{"associate", "--role", "eks-workshop-carts-dynamo"}, w.Target()...)...); r.Code != 0 {
		t.Fatalf("associate: exit %d\n%s", r.Code, r.Stderr)
	}
	r = w.Podid(t, append([]string{"restart", "-o", "json"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("restart: exit %d\n%s", r.Code, r.Stderr)
	}
	if inj, total := w.InjectedPods(t); inj != total || total != 2 {
		t.Fatalf("%d of %d pods injected", inj, total)
	}
	gen = w.Generation(t)
	if r = w.Podid(t, append([]string{"restart"}, w.Target()...)...); r.Code != 0 || w.Generation(t) != gen {
		t.Fatalf("second restart: exit %d, generation %d → %d", r.Code, gen, w.Generation(t))
	}
	if r = w.Podid(t, append([]string{"restart", "--force", "--workload", "deployment/app"}, w.Target()...)...); r.Code != 0 || w.Generation(t) == gen {
		t.Fatalf("restart --force: exit %d, generation unchanged\n%s", r.Code, r.Stderr)
	}
}

// A kubeconfig that points at another cluster than --cluster is refused
// before anything happens.
func TestWrongClusterRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"))
	w.Fake.AddCluster(fakeaws.Cluster{Name: "prod", Version: "1.35", PlatformVersion: "eks.5", Status: "ACTIVE",
		Endpoint: "https://ABCDEF0123456789.gr7.us-west-2.eks.amazonaws.com", CAData: "bm90IGEgY2VydA=="})
	gen := w.Generation(t)
	r := w.Podid(t, append([]string{"enable", "--cluster", "prod"}, w.Target()...)...)
	if r.Code != 3 {
		t.Fatalf("exit %d, want 3\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "ABCDEF0123456789.gr7", w.Env.Server, "--context", "update-kubeconfig --name prod --region us-west-2")
	if w.AuditLen() != 0 || w.Generation(t) != gen {
		t.Fatal("something changed")
	}
}

const labPodTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
