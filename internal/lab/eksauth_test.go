package lab_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	eatypes "github.com/aws/aws-sdk-go-v2/service/eksauth/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

// A real TokenRequest token of the lab's apiserver, bound to a pod, is
// accepted by the fake's EKS Auth (verified against the apiserver's OIDC
// keys) and gives the pod's role; the node role's credentials sign the call.
func TestEKSAuthWithLabTokens(t *testing.T) {
	env := labtest.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fake := env.NewFake(t, fakeaws.Options{})
	app := env.Namespace(t, "eksauth", labtest.Replicas(1))
	cfg := labtest.AWSConfig(fake.URL())
	ek := eks.NewFromConfig(cfg)
	if _, err := ek.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String(lab.WorkshopCluster),
		Namespace: aws.String(app.Namespace), ServiceAccount: aws.String(app.ServiceAccount), RoleArn: aws.String(lab.RoleARN(lab.CartsRole))}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !hasIdentity(fake.Identities(lab.WorkshopCluster), app.Namespace, app.ServiceAccount) {
		if time.Now().After(deadline) {
			t.Fatal("the association did not propagate in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	pods, err := env.Client.CoreV1().Pods(app.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("pods of %s: %v (%d)", app.Namespace, err, len(pods.Items))
	}
	pod := pods.Items[0]
	token := func(aud string) string {
		t.Helper()
		tr, err := env.Client.CoreV1().ServiceAccounts(app.Namespace).CreateToken(ctx, app.ServiceAccount, &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{
			Audiences: []string{aud}, ExpirationSeconds: ptr.To[int64](600),
			BoundObjectRef: &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("TokenRequest for %s/%s: %v", app.Namespace, app.ServiceAccount, err)
		}
		return tr.Status.Token
	}

	node, err := lab.NodeRoleCredentials(fake)
	if err != nil {
		t.Fatal(err)
	}
	nodeCfg := cfg.Copy()
	nodeCfg.Credentials = credentials.NewStaticCredentialsProvider(node.AccessKeyID, node.SecretAccessKey, node.SessionToken)
	nodeCfg.RetryMaxAttempts = 1
	ea := eksauth.NewFromConfig(nodeCfg)
	assume := func(tok string) (*eksauth.AssumeRoleForPodIdentityOutput, error) {
		return ea.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String(lab.WorkshopCluster), Token: aws.String(tok)})
	}

	podToken := token(fakeaws.PodIdentityAudience)
	out, err := assume(podToken)
	if err != nil {
		t.Fatalf("AssumeRoleForPodIdentity with a lab token: %v", err)
	}
	if *out.Subject.Namespace != app.Namespace || *out.Subject.ServiceAccount != app.ServiceAccount {
		t.Errorf("subject %s/%s", *out.Subject.Namespace, *out.Subject.ServiceAccount)
	}
	arn := *out.AssumedRoleUser.Arn
	if !strings.HasPrefix(arn, "arn:aws:sts::"+lab.WorkshopAccount+":assumed-role/"+lab.CartsRole+"/eks-eks-worksho-") {
		t.Errorf("assumed role %s", arn)
	}
	x := fake.Exchanges()
	if last := x[len(x)-1]; last.Pod != pod.Name || last.PodUID != string(pod.UID) || last.Caller != node.Arn {
		t.Errorf("exchange %+v: want pod %s (%s) and caller %s", last, pod.Name, pod.UID, node.Arn)
	}
	podCfg := cfg.Copy()
	podCfg.Credentials = credentials.NewStaticCredentialsProvider(*out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
	who, err := sts.NewFromConfig(podCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || *who.Arn != arn {
		t.Fatalf("GetCallerIdentity with the pod's credentials = %v, %v; want %s", who, err, arn)
	}

	// A token for the apiserver's own audience is refused.
	_, err = assume(token("https://kubernetes.default.svc.cluster.local"))
	var invalid *eatypes.InvalidTokenException
	if !errors.As(err, &invalid) {
		t.Errorf("token with the apiserver's audience: %v, want InvalidTokenException", err)
	}

	// The pod goes away: its token still works by default (EKS-AUTH.md
	// §2.2), and is refused with the deleted-pod switch on.
	if err := env.Client.CoreV1().Pods(app.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		p, err := env.Client.CoreV1().Pods(app.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || p.UID != pod.UID || p.DeletionTimestamp != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s/%s still there after 30s", app.Namespace, pod.Name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := assume(podToken); err != nil {
		t.Errorf("deleted pod, switch off: %v", err)
	}
	fake.SetEKSAuthOptions(fakeaws.EKSAuthOptions{RequireLivePod: true})
	_, err = assume(podToken)
	if !errors.As(err, &invalid) || !strings.Contains(invalid.ErrorMessage(), "no longer exists") {
		t.Errorf("deleted pod, switch on: %v, want InvalidTokenException", err)
	}
}

func hasIdentity(ids []fakeaws.Identity, ns, sa string) bool {
	for _, id := range ids {
		if id.Namespace == ns && id.ServiceAccount == sa {
			return true
		}
	}
	return false
}

func TestNodeCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := lab.LoadNodeCredentials(dir); err == nil || !strings.Contains(err.Error(), "podid-lab up") {
		t.Errorf("missing file: %v", err)
	}
	fake := fakeaws.New(fakeaws.Options{})
	defer fake.Close()
	if err := lab.SeedWorkshopAWS(fake, lab.Kube{}); err != nil {
		t.Fatal(err)
	}
	c, err := lab.NodeRoleCredentials(fake)
	if err != nil {
		t.Fatal(err)
	}
	if c.Arn != "arn:aws:sts::"+lab.WorkshopAccount+":assumed-role/"+lab.WorkshopNodeRole+"/"+lab.NodeInstanceID {
		t.Errorf("node session %s", c.Arn)
	}
	if err := lab.SaveNodeCredentials(dir, lab.NodeCredentials{Credentials: c, Endpoint: "http://127.0.0.1:1", Region: lab.WorkshopRegion, Cluster: lab.WorkshopCluster}); err != nil {
		t.Fatal(err)
	}
	got, err := lab.LoadNodeCredentials(dir)
	if err != nil || got.AccessKeyID != c.AccessKeyID || got.SessionToken != c.SessionToken || !got.Expiration.Equal(c.Expiration) || got.Endpoint != "http://127.0.0.1:1" {
		t.Errorf("round trip: %+v, %v", got, err)
	}
}
