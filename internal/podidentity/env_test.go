package podidentity

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/fakeaws"
)

const (
	testCluster = "eks-workshop"
	testAccount = fakeaws.DefaultAccount
	podsTrust   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	irsaTrust   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::1234567890:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`
	assumeOnly  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
)

type env struct {
	fake    *fakeaws.Server
	clients *awsapi.Clients
	cluster ClusterInfo
}

// newEnv starts a fake with one cluster (Kubernetes 1.35) and returns real
// SDK clients pointed at it with a fast retryer.
func newEnv(t *testing.T, opts fakeaws.Options, mod ...func(*fakeaws.Cluster)) *env {
	t.Helper()
	f := fakeaws.New(opts)
	url, err := f.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	c := fakeaws.Cluster{Name: testCluster, Version: "1.35", PlatformVersion: "eks.5", Endpoint: "https://127.0.0.1:6443"}
	for _, m := range mod {
		m(&c)
	}
	f.AddCluster(c)
	cfg := aws.Config{
		Region:       fakeaws.DefaultRegion,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIATESTTESTTESTTEST", "SECRET", ""),
		BaseEndpoint: aws.String(url),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxBackoff = time.Millisecond
				o.RateLimiter = ratelimit.None
			})
		},
	}
	cl := awsapi.New(cfg, nil)
	info, err := LookupCluster(context.Background(), cl.EKS(), testCluster, cl.Region())
	if err != nil {
		t.Fatal(err)
	}
	return &env{fake: f, clients: cl, cluster: info}
}

// fastPoller keeps the production schedule's shape but 20× faster.
func fastPoller() Poller {
	return Poller{Delays: []time.Duration{10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond}, MaxDelay: 200 * time.Millisecond, Sleep: sleepCtx}
}

// recorder is a step.Progress that keeps what it was told.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Waiting(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, what)
}

func mutations(f *fakeaws.Server) []string {
	var out []string
	for _, e := range f.Audit() {
		out = append(out, e.Service+":"+e.Operation)
	}
	return out
}
