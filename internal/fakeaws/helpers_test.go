package fakeaws

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const (
	testCluster = "eks-workshop"
	podsTrust   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	irsaTrust   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::1234567890:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`
)

type clients struct {
	srv *Server
	url string
	eks *eks.Client
	iam *iam.Client
	sts *sts.Client
}

// clientsFor builds real SDK clients pointed at url with a fast retryer.
func clientsFor(url, akid string, maxAttempts int) (*eks.Client, *iam.Client, *sts.Client) {
	cfg := aws.Config{
		Region:      DefaultRegion,
		Credentials: credentials.NewStaticCredentialsProvider(akid, "SECRET", ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxBackoff = time.Millisecond
				o.RateLimiter = ratelimit.None
				if maxAttempts > 0 {
					o.MaxAttempts = maxAttempts
				}
			})
		},
	}
	return eks.NewFromConfig(cfg, func(o *eks.Options) { o.BaseEndpoint = aws.String(url) }),
		iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(url) }),
		sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(url) })
}

// start runs a seeded fake with one cluster and a role "carts-dynamo".
func start(t *testing.T, opts Options) *clients {
	t.Helper()
	s := New(opts)
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	s.AddCluster(Cluster{Name: testCluster, Version: "1.35", PlatformVersion: "eks.5", Endpoint: "https://127.0.0.1:6443", CAData: "Q0EK",
		Nodegroups: []Nodegroup{{Name: "default", NodeRole: "arn:aws:iam::1234567890:role/node", Labels: map[string]string{"role": "worker"}}}})
	s.PutRole(Role{Name: "carts-dynamo", TrustPolicy: podsTrust})
	e, i, st := clientsFor(url, "AKID", 0)
	return &clients{srv: s, url: url, eks: e, iam: i, sts: st}
}

func roleArn(name string) string { return "arn:aws:iam::" + DefaultAccount + ":role/" + name }

// recordingBackend is a small ClusterBackend for tests: the agent becomes
// ready readyAfter after ApplyAgent (never if readyAfter < 0).
type recordingBackend struct {
	mu         sync.Mutex
	readyAfter time.Duration
	applied    time.Time
	ready      *bool // overrides readyAfter when set
	calls      []string
	identities [][]Identity
	setTimes   []time.Time
}

func (b *recordingBackend) record(format string, args ...any) {
	b.calls = append(b.calls, fmt.Sprintf(format, args...))
}

func (b *recordingBackend) ApplyAgent(_ context.Context, spec AgentSpec) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("ApplyAgent %s %s", spec.Cluster, spec.Version)
	b.applied = time.Now()
	return nil
}

func (b *recordingBackend) AgentHealth(_ context.Context, cluster string) (AgentHealth, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ready != nil {
		if *b.ready {
			return AgentHealth{Ready: true}, nil
		}
		return AgentHealth{Detail: "1 of 2 pods ready; kwok-node-1 has no ready agent pod"}, nil
	}
	if b.applied.IsZero() || b.readyAfter < 0 || time.Since(b.applied) < b.readyAfter {
		return AgentHealth{Detail: "0 of 2 pods ready"}, nil
	}
	return AgentHealth{Ready: true}, nil
}

func (b *recordingBackend) DeleteAgent(_ context.Context, cluster string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("DeleteAgent %s", cluster)
	return nil
}

func (b *recordingBackend) SetIdentities(_ context.Context, cluster string, ids []Identity) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("SetIdentities %s %d", cluster, len(ids))
	b.identities = append(b.identities, append([]Identity(nil), ids...))
	b.setTimes = append(b.setTimes, time.Now())
	return nil
}

func (b *recordingBackend) setReady(v bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ready = &v
}

func (b *recordingBackend) snapshot() ([]string, [][]Identity, []time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.calls...), append([][]Identity(nil), b.identities...), append([]time.Time(nil), b.setTimes...)
}

// eventually polls cond every 10ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
