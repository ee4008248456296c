package flow

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/podidentity"
)

const podsTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`

// fake starts the AWS fake with the workshop cluster and a role, and
// returns real SDK clients pointed at it.
func fake(t *testing.T) (*fakeaws.Server, *awsapi.Clients, string) {
	t.Helper()
	f := fakeaws.New(fakeaws.Options{})
	url, err := f.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	f.AddCluster(fakeaws.Cluster{Name: "eks-workshop", Version: "1.35", PlatformVersion: "eks.5", Endpoint: "https://127.0.0.1:6443"})
	arn := f.PutRole(fakeaws.Role{Name: "carts-dynamo", TrustPolicy: podsTrust})
	cfg := aws.Config{
		Region:       fakeaws.DefaultRegion,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIATESTTESTTESTTEST", "SECRET", ""),
		BaseEndpoint: aws.String(url),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = time.Millisecond; o.RateLimiter = ratelimit.None })
		},
	}
	return f, awsapi.New(cfg, nil), arn
}

func delta(f *fakeaws.Server, before map[string]int, op string) int {
	return f.CallCounts()[op] - before[op]
}

// The run's cache: a lookup made twice reaches EKS once; after a write the
// next lookup asks EKS again; IAM reads are served once until the first IAM
// write, then always go to IAM.
func TestReads(t *testing.T) {
	f, raw, arn := fake(t)
	ctx := context.Background()
	c := newReads(raw, false, 0)
	find := func() *podidentity.AssociationInfo {
		t.Helper()
		a, err := podidentity.FindAssociation(ctx, c.EKS(), "eks-workshop", "carts", "carts")
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if _, err := c.EKS().CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("eks-workshop"),
		Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	before := f.CallCounts()
	if a := find(); a == nil || a.RoleArn != arn {
		t.Fatalf("association %+v", a)
	}
	if a := find(); a == nil {
		t.Fatal("second lookup found nothing")
	}
	if l, d := delta(f, before, "eks:ListPodIdentityAssociations"), delta(f, before, "eks:DescribePodIdentityAssociation"); l != 1 || d != 1 {
		t.Errorf("two lookups made %d List and %d Describe, want 1 and 1", l, d)
	}

	// A write (here: a create that EKS refuses, as after a concurrent
	// creator) forgets the association reads.
	if _, err := c.EKS().CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("eks-workshop"),
		Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(arn)}); err == nil {
		t.Fatal("a second association for carts/carts was accepted")
	}
	before = f.CallCounts()
	find()
	if l := delta(f, before, "eks:ListPodIdentityAssociations"); l != 1 {
		t.Errorf("the lookup after a write made %d List, want 1 (asked EKS again)", l)
	}

	getRole := func() string {
		t.Helper()
		out, err := c.IAM().GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("carts-dynamo")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Role.AssumeRolePolicyDocument)
	}
	before = f.CallCounts()
	getRole()
	getRole()
	if n := delta(f, before, "iam:GetRole"); n != 1 {
		t.Errorf("two GetRole made %d calls, want 1", n)
	}
	if _, err := c.IAM().UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("carts-dynamo"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Sid":"New","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`)}); err != nil {
		t.Fatal(err)
	}
	before = f.CallCounts()
	getRole()
	doc := getRole()
	if n := delta(f, before, "iam:GetRole"); n != 2 {
		t.Errorf("two GetRole after a write made %d calls, want 2 (a wait for the write must see it)", n)
	}
	if doc, _ := url.QueryUnescape(doc); !strings.Contains(doc, `"Sid":"New"`) {
		t.Errorf("GetRole after the write: %s", doc)
	}
}
