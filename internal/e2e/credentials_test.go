package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

// credWorld is a namespace where enable has run: carts is associated with
// the workshop role and its pods restarted.
func credWorld(t *testing.T) *world {
	t.Helper()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"), labtest.Replicas(1))
	r := w.Podid(t, append([]string{"enable", "--role", lab.CartsRole}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("enable: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	return w
}

func eksClient(w *world) *eks.Client { return eks.NewFromConfig(labtest.AWSConfig(w.Fake.URL())) }
func iamClient(w *world) *iam.Client { return iam.NewFromConfig(labtest.AWSConfig(w.Fake.URL())) }

func associationID(t *testing.T, w *world) string {
	t.Helper()
	as := w.Associations(w.App.Namespace)
	if len(as) != 1 {
		t.Fatalf("want one association in %s, got %+v", w.App.Namespace, as)
	}
	return as[0].ID
}

// The happy path: enable, verify and status end with the identity the pods
// will hold, proven by the agent's exchange; nothing secret is printed.
func TestCredentialsProvenByEnableVerifyStatus(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"), labtest.Replicas(1))
	identity := fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/eks-", lab.WorkshopAccount, lab.CartsRole)
	var outputs []string
	for _, args := range [][]string{
		{"enable", "--role", lab.CartsRole},
		{"verify"},
		{"status"},
		{"verify", "-o", "json"},
		{"status", "-o", "json"},
		{"enable", "--role", lab.CartsRole, "-o", "json"},
	} {
		r := w.Podid(t, append(args, w.Target()...)...)
		if r.Code != 0 {
			t.Fatalf("podid %v: exit %d\n%s\n%s", args, r.Code, r.Stdout, r.Stderr)
		}
		if !strings.Contains(r.Stdout, identity) {
			t.Errorf("podid %v: stdout lacks the pods' identity %s…:\n%s", args, identity, r.Stdout)
		}
		outputs = append(outputs, r.Stdout, r.Stderr)
	}
	// What the exchanges issued never reaches podid's output: no token, no
	// secret key, no session token.
	exchanges := w.Fake.Exchanges()
	if len(exchanges) < 3 {
		t.Fatalf("the fake saw %d EKS Auth exchanges, want one per proving command", len(exchanges))
	}
	jwt := regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.`)
	for i, out := range outputs {
		if jwt.MatchString(out) {
			t.Errorf("output %d contains a JWT", i)
		}
		for _, word := range []string{"ASIA", "secretAccessKey", "SecretAccessKey", "sessionToken", "SessionToken"} {
			if strings.Contains(out, word) {
				t.Errorf("output %d contains %q", i, word)
			}
		}
	}
}

// After the restart, the association is deleted or changed behind podid's
// back: verify and status fail (exit 3) with the fix.
func TestCredentialsCaughtAfterTheRestart(t *testing.T) {
	t.Parallel()
	t.Run("association deleted", func(t *testing.T) {
		t.Parallel()
		w := credWorld(t)
		id := associationID(t, w)
		if _, err := eksClient(w).DeletePodIdentityAssociation(context.Background(), &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String(lab.WorkshopCluster), AssociationId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"verify", "status"} {
			r := w.Podid(t, append([]string{cmd}, w.Target()...)...)
			if r.Code != 3 {
				t.Errorf("%s after the association was deleted: exit %d, want 3\n%s\n%s", cmd, r.Code, r.Stdout, r.Stderr)
			}
			mustContain(t, cmd+" output", r.Stdout+r.Stderr, "podid associate", "podid enable")
		}
	})
	t.Run("association changed: session tags disabled under a scoped trust", func(t *testing.T) {
		t.Parallel()
		w := credWorld(t)
		scoped := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":%q}}}]}`, w.App.Namespace)
		ctx := context.Background()
		role := "cred-scoped-" + w.App.Namespace
		if _, err := iamClient(w).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(scoped)}); err != nil {
			t.Fatal(err)
		}
		if _, err := eksClient(w).UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String(lab.WorkshopCluster), AssociationId: aws.String(associationID(t, w)),
			RoleArn: aws.String(lab.RoleARN(role)), DisableSessionTags: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"verify", "status"} {
			r := w.Podid(t, append([]string{cmd}, w.Target()...)...)
			if r.Code != 3 {
				t.Errorf("%s after the association changed: exit %d, want 3\n%s\n%s", cmd, r.Code, r.Stdout, r.Stderr)
			}
			mustContain(t, cmd+" output", r.Stdout+r.Stderr, "aws:RequestTag/kubernetes-namespace", "--disable-session-tags")
		}
	})
	t.Run("node role without eks-auth:AssumeRoleForPodIdentity", func(t *testing.T) {
		t.Parallel()
		w := credWorld(t)
		if _, err := iamClient(w).DetachRolePolicy(context.Background(), &iam.DetachRolePolicyInput{RoleName: aws.String(lab.WorkshopNodeRole), PolicyArn: aws.String(lab.WorkerNodePolicy)}); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"verify", "status"} {
			r := w.Podid(t, append([]string{cmd}, w.Target()...)...)
			if r.Code != 3 {
				t.Errorf("%s with a node role without eks-auth: exit %d, want 3\n%s\n%s", cmd, r.Code, r.Stdout, r.Stderr)
			}
			mustContain(t, cmd+" output", r.Stdout+r.Stderr, lab.WorkshopNodeRole, "eks-auth:AssumeRoleForPodIdentity", "AmazonEKSWorkerNodePolicy")
		}
	})
}

// The caller may not call EKS Auth: the proof is "not proven" (a warning,
// exit 0) naming the missing permission; --credentials require fails it
// (exit 3); --credentials off skips it.
func TestCredentialsNotProvenByTheCaller(t *testing.T) {
	t.Parallel()
	w := credWorld(t)
	w.Fake.SetCallerPolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["eks:*","iam:*","sts:*"],"Resource":"*"}]}`)
	r := w.Podid(t, append([]string{"verify"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("verify (auto) without eks-auth: exit %d, want 0\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	mustContain(t, "verify output", r.Stdout+r.Stderr, "not proven", "eks-auth:AssumeRoleForPodIdentity")
	r = w.Podid(t, append([]string{"verify", "--credentials", "require"}, w.Target()...)...)
	if r.Code != 3 {
		t.Fatalf("verify --credentials require without eks-auth: exit %d, want 3\n%s", r.Code, r.Stderr)
	}
	n := len(w.Fake.Exchanges())
	r = w.Podid(t, append([]string{"verify", "--credentials", "off", "-o", "json"}, w.Target()...)...)
	if r.Code != 0 || len(w.Fake.Exchanges()) != n {
		t.Fatalf("verify --credentials off: exit %d, %d exchanges (want 0 and none)\n%s", r.Code, len(w.Fake.Exchanges())-n, r.Stderr)
	}
	var doc struct {
		Result struct {
			Credentials struct{ Mode string } `json:"credentials"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || doc.Result.Credentials.Mode != "off" {
		t.Errorf("verify --credentials off -o json: mode %q (%v)", doc.Result.Credentials.Mode, err)
	}
	if r := w.Podid(t, append([]string{"verify", "--credentials", "sometimes"}, w.Target()...)...); r.Code != 2 {
		t.Errorf("--credentials sometimes: exit %d, want 2 (usage)", r.Code)
	}
}
