package credcheck_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/credcheck"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// world is one namespace with a running pod of service account carts, an
// association to role, and a checker signing as the lab's admin.
type world struct {
	env     *labtest.Env
	fake    *fakeaws.Server
	eks     *eks.Client
	app     *labtest.App
	pod     corev1.Pod
	checker *credcheck.Checker
	exp     credcheck.Expected
	assocID string
}

func newWorld(t *testing.T, role string, configure func(in *eks.CreatePodIdentityAssociationInput)) *world {
	t.Helper()
	ctx := context.Background()
	env := labtest.Get(t)
	fake := env.NewFake(t, fakeaws.Options{PropagationDelay: time.Millisecond})
	cfg := labtest.AWSConfig(fake.URL())
	w := &world{env: env, fake: fake, eks: eks.NewFromConfig(cfg)}
	w.app = env.Namespace(t, "cred", labtest.ServiceAccount("carts"), labtest.Replicas(1))
	if err := lab.WaitDeploymentRolledOut(ctx, env.Client, w.app.Namespace, w.app.Deployment, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	pods, err := env.Client.CoreV1().Pods(w.app.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("list pods of %s: %v (%d pods)", w.app.Namespace, err, len(pods.Items))
	}
	w.pod = pods.Items[0]
	in := &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String(lab.WorkshopCluster), Namespace: aws.String(w.app.Namespace),
		ServiceAccount: aws.String("carts"), RoleArn: aws.String(lab.RoleARN(role)),
	}
	if configure != nil {
		configure(in)
	}
	out, err := w.eks.CreatePodIdentityAssociation(ctx, in)
	if err != nil {
		t.Fatalf("create association: %v", err)
	}
	w.assocID = aws.ToString(out.Association.AssociationId)
	w.exp = credcheck.Expected{
		Cluster: lab.WorkshopCluster, Namespace: w.app.Namespace, ServiceAccount: "carts",
		AssociationID: w.assocID, RoleArn: lab.RoleARN(role), TargetRoleArn: aws.ToString(in.TargetRoleArn),
		DisableSessionTags: aws.ToBool(in.DisableSessionTags),
	}
	w.checker = &credcheck.Checker{
		Kube:    env.Client,
		EKSAuth: eksauth.NewFromConfig(cfg, func(o *eksauth.Options) { o.RetryMaxAttempts = 1 }),
		NewSTS:  credcheck.NewSTSFromConfig(cfg),
	}
	return w
}

func (w *world) prove(t *testing.T) credcheck.Proof {
	t.Helper()
	proofs, err := w.checker.Prove(context.Background(), w.exp, []credcheck.Subject{{Workload: "deployment/" + w.app.Deployment, Pod: w.pod.Name, UID: w.pod.UID}})
	if err != nil {
		t.Fatalf("prove: %v", err)
	}
	if len(proofs) != 1 {
		t.Fatalf("got %d proofs, want 1", len(proofs))
	}
	return proofs[0]
}

func TestProveHappyPath(t *testing.T) {
	w := newWorld(t, lab.CartsRole, nil)
	p := w.prove(t)
	if p.Outcome != credcheck.Proven {
		t.Fatalf("outcome %s (%s; %s), want proven", p.Outcome, p.Problem, p.Fix)
	}
	wantPrefix := fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/eks-", lab.WorkshopAccount, lab.CartsRole)
	if !strings.HasPrefix(p.Identity, wantPrefix) {
		t.Errorf("identity %q, want prefix %q", p.Identity, wantPrefix)
	}
	if p.AssociationID != w.assocID || !p.SessionTags || p.Expiration == nil || p.Expiration.Before(time.Now().Add(time.Hour)) {
		t.Errorf("proof %+v: want association %s, session tags, an expiry hours away", p, w.assocID)
	}
	// Cached per run: a second proof of the same pod makes no new exchange.
	n := len(w.fake.Exchanges())
	if q := w.prove(t); q.Identity != p.Identity {
		t.Errorf("second proof %q differs from the first %q", q.Identity, p.Identity)
	}
	if m := len(w.fake.Exchanges()); m != n {
		t.Errorf("second proof made %d more exchanges, want 0 (cached)", m-n)
	}
}

func TestProveDenials(t *testing.T) {
	scoped := func(ns string) string {
		return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":%q}}}]}`, ns)
	}
	t.Run("scoped trust with session tags disabled", func(t *testing.T) {
		w := newWorld(t, lab.CartsRole, func(in *eks.CreatePodIdentityAssociationInput) { in.DisableSessionTags = aws.Bool(true) })
		putTrust(t, w, lab.CartsRole, scoped(w.app.Namespace))
		p := w.prove(t)
		if p.Outcome != credcheck.Denied || p.Link != "trust" {
			t.Fatalf("proof %+v, want denied at the trust", p)
		}
	})
	t.Run("association deleted after the restart", func(t *testing.T) {
		w := newWorld(t, lab.CartsRole, nil)
		if _, err := w.eks.DeletePodIdentityAssociation(context.Background(), &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String(lab.WorkshopCluster), AssociationId: aws.String(w.assocID)}); err != nil {
			t.Fatal(err)
		}
		p := w.prove(t)
		if p.Outcome != credcheck.Denied || p.Link != "association" || !strings.Contains(p.Fix, "podid associate") {
			t.Fatalf("proof %+v, want denied: no association, with the associate fix", p)
		}
	})
	t.Run("association moved to another role", func(t *testing.T) {
		w := newWorld(t, lab.CartsRole, nil)
		w.exp.RoleArn = lab.RoleARN("eks-workshop-other")
		w.exp.AssociationID = ""
		p := w.prove(t)
		if p.Outcome != credcheck.Denied || p.Link != "identity" || !strings.Contains(p.Problem, lab.CartsRole) {
			t.Fatalf("proof %+v, want denied: the pod holds %s, not the expected role", p, lab.CartsRole)
		}
	})
	t.Run("caller without eks-auth:AssumeRoleForPodIdentity", func(t *testing.T) {
		w := newWorld(t, lab.CartsRole, nil)
		w.fake.SetCallerPolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["eks:*","iam:*","sts:*"],"Resource":"*"}]}`)
		p := w.prove(t)
		if p.Outcome != credcheck.NotProven || !strings.Contains(p.Missing, "eks-auth:AssumeRoleForPodIdentity") {
			t.Fatalf("proof %+v, want not proven, naming eks-auth:AssumeRoleForPodIdentity", p)
		}
	})
	t.Run("explainer names the failing link", func(t *testing.T) {
		w := newWorld(t, lab.CartsRole, func(in *eks.CreatePodIdentityAssociationInput) { in.DisableSessionTags = aws.Bool(true) })
		putTrust(t, w, lab.CartsRole, scoped(w.app.Namespace))
		w.checker.Explain = func(context.Context) (string, string, bool) {
			return "the trust requires aws:RequestTag/kubernetes-namespace, but the association disables session tags", "drop --disable-session-tags", true
		}
		p := w.prove(t)
		if p.Outcome != credcheck.Denied || !strings.Contains(p.Problem, "disables session tags") || p.Fix != "drop --disable-session-tags" {
			t.Fatalf("proof %+v, want the explainer's problem and fix", p)
		}
	})
}

func putTrust(t *testing.T, w *world, role, doc string) {
	t.Helper()
	api := iam.NewFromConfig(labtest.AWSConfig(w.fake.URL()))
	if _, err := api.UpdateAssumeRolePolicy(context.Background(), &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(role), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatalf("update trust of %s: %v", role, err)
	}
}
