package awsapi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/fakeaws"
)

func startFake(t *testing.T, opts fakeaws.Options, maxAttempts int) (*fakeaws.Server, *Clients) {
	t.Helper()
	f := fakeaws.New(opts)
	url, err := f.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	f.AddCluster(fakeaws.Cluster{Name: "eks-workshop", Version: "1.35", PlatformVersion: "eks.5"})
	cfg := aws.Config{
		Region:       fakeaws.DefaultRegion,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "SESSIONTOKENSESSIONTOKENSESSIONTOKENSESSIONTOKEN0123456789"),
		BaseEndpoint: aws.String(url),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxBackoff = time.Millisecond
				o.RateLimiter = ratelimit.None
				o.MaxAttempts = maxAttempts
			})
		},
	}
	return f, New(cfg, nil)
}

func TestLoadNeedsRegion(t *testing.T) {
	dir := t.TempDir()
	for _, kv := range [][2]string{
		{"AWS_REGION", ""}, {"AWS_DEFAULT_REGION", ""}, {"AWS_PROFILE", ""},
		{"AWS_CONFIG_FILE", filepath.Join(dir, "config")}, {"AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials")},
		{"AWS_EC2_METADATA_DISABLED", "true"},
	} {
		t.Setenv(kv[0], kv[1])
	}
	_, err := Load(context.Background(), Options{})
	if err == nil || !strings.Contains(fail.HintOf(err), "--region") || !strings.Contains(fail.HintOf(err), "AWS_REGION") {
		t.Fatalf("err = %v, hint %q", err, fail.HintOf(err))
	}
	c, err := Load(context.Background(), Options{Region: "eu-central-1"})
	if err != nil || c.Region() != "eu-central-1" {
		t.Fatalf("Load with region: %v", err)
	}
	if c.Config().Retryer().MaxAttempts() != DefaultMaxAttempts {
		t.Errorf("max attempts = %d", c.Config().Retryer().MaxAttempts())
	}
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte("[profile p]\nregion = ap-south-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(context.Background(), Options{Profile: "p"})
	if err != nil || c.Region() != "ap-south-1" {
		t.Fatalf("Load with profile: %v", err)
	}
	if _, err := Load(context.Background(), Options{Profile: "missing", Region: "us-west-2"}); err == nil || !strings.Contains(fail.HintOf(err), "missing") {
		t.Errorf("missing profile: %v", err)
	}
}

func TestClientsAreLazyAndCounted(t *testing.T) {
	t.Parallel()
	f, c := startFake(t, fakeaws.Options{Faults: fakeaws.Faults{ThrottleRate: 0.5, Seed: 7}}, 20)
	ctx := context.Background()
	for range 10 {
		if _, err := c.EKS().DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("eks-workshop")}); err != nil {
			t.Fatal(err)
		}
	}
	if e, i, s := c.built(); !e || i || s {
		t.Errorf("built eks=%v iam=%v sts=%v, want only eks", e, i, s)
	}
	if got := c.Calls.Snapshot()["eks:DescribeCluster"]; got != 10 || c.Calls.Total() != 10 {
		t.Errorf("calls = %v", c.Calls.Snapshot())
	}
	attempts := c.Calls.Attempts()["eks:DescribeCluster"]
	if server := f.CallCounts()["eks:DescribeCluster"]; attempts != server || attempts <= 10 || c.Calls.TotalAttempts() != attempts {
		t.Errorf("attempts = %d, server saw %d (want equal and > 10 with throttling)", attempts, server)
	}
}

func TestRetryerSurvivesLongThrottling(t *testing.T) {
	t.Parallel()
	r := Retryer(0, 0)
	if r.MaxAttempts() != DefaultMaxAttempts {
		t.Errorf("attempts %d", r.MaxAttempts())
	}
	// 1000 failed retries (14 tokens each) would exhaust the SDK's default
	// bucket of 500 tokens after 35.
	ctx := context.Background()
	for i := range 1000 {
		if _, err := r.GetRetryToken(ctx, errors.New("x")); err != nil {
			t.Fatalf("retry %d: %v", i, err)
		}
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	f, c := startFake(t, fakeaws.Options{}, 2)
	ctx := context.Background()

	_, err := c.EKS().DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String("nope"), AddonName: aws.String("x")})
	ex := Explain(err, "describe add-on", "x on cluster nope")
	var nf *ekstypes.ResourceNotFoundException
	if !errors.As(ex, &nf) || !strings.Contains(ex.Error(), "describe add-on x on cluster nope: not found") || fail.HintOf(ex) == "" {
		t.Errorf("not found: %v (hint %q)", ex, fail.HintOf(ex))
	}

	f.SetCallerPolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks:Describe*","Resource":"*"}]}`)
	_, err = c.IAM().GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("r")})
	ex = Explain(err, "get role", "r")
	if !strings.Contains(ex.Error(), "iam:GetRole") || !strings.Contains(fail.HintOf(ex), "grant iam:GetRole") || !strings.Contains(fail.HintOf(ex), "IAM policy for podid") {
		t.Errorf("access denied: %v (hint %q)", ex, fail.HintOf(ex))
	}
	f.SetCallerPolicy("")

	f.SetFaults(fakeaws.Faults{ThrottleRate: 1})
	_, err = c.EKS().DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("eks-workshop")})
	ex = Explain(err, "describe cluster", "eks-workshop")
	if !IsThrottle(err) || !strings.Contains(ex.Error(), "throttling") || !strings.Contains(fail.HintOf(ex), "run again") {
		t.Errorf("throttled: %v (hint %q)", ex, fail.HintOf(ex))
	}
	f.SetFaults(fakeaws.Faults{Down: []string{"eks"}})
	_, err = c.EKS().DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("eks-workshop")})
	if ex = Explain(err, "describe cluster", "eks-workshop"); !strings.Contains(ex.Error(), "after retries") {
		t.Errorf("down: %v", ex)
	}
	f.SetFaults(fakeaws.Faults{})

	// No credentials at all.
	cfg := c.Config()
	cfg.Credentials = aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("no EC2 IMDS role found")
	}))
	_, err = eks.NewFromConfig(cfg).DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("eks-workshop")})
	ex = Explain(err, "describe cluster", "eks-workshop")
	if err == nil || !strings.Contains(fail.HintOf(ex), "aws sso login") {
		t.Errorf("no credentials: %v (hint %q)", ex, fail.HintOf(ex))
	}
	if Explain(nil, "x", "y") != nil {
		t.Error("Explain(nil) != nil")
	}
	if ex := Explain(context.DeadlineExceeded, "wait", "x"); fail.KindOf(ex) != fail.KindTimeout {
		t.Errorf("deadline kind = %d", fail.KindOf(ex))
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	in := "key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY token IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLXdlc3QtMiJHMEUCIQ arn:aws:iam::111122223333:role/averyveryveryveryveryverylongrolename1234"
	out := redact(in)
	for _, leak := range []string{"IOSFODNN7EXAMPLE", "wJalrXUtnFEMI", "IQoJb3JpZ2lu"} {
		if strings.Contains(out, leak) {
			t.Errorf("redact leaked %q: %s", leak, out)
		}
	}
	if !strings.Contains(out, "AKIA…") || !strings.Contains(out, "arn:aws:iam::111122223333:role/") {
		t.Errorf("redact = %s", out)
	}
}

func TestExplainCredentialCodes(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"ExpiredToken", "InvalidClientTokenId", "UnrecognizedClientException"} {
		ex := Explain(&smithy.GenericAPIError{Code: code, Message: "The security token included in the request is invalid"}, "get caller identity", "")
		if !strings.Contains(fail.HintOf(ex), "aws sso login") || !strings.Contains(fail.HintOf(ex), "AWS_PROFILE") {
			t.Errorf("%s: %v (hint %q)", code, ex, fail.HintOf(ex))
		}
	}
}
