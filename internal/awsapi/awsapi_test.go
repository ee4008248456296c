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
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
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

// Every client's calls are counted under "service:Operation" with the key
// the fake uses, including eksauth v1.1.0, whose generated code registers
// the service ID inside the Initialize step.
func TestCallKeysOfEveryClient(t *testing.T) {
	t.Parallel()
	f, c := startFake(t, fakeaws.Options{}, 1)
	ctx := context.Background()
	// The fake refuses the token (no issuer keys): the call still counts.
	_, err := c.EKSAuth().AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("eks-workshop"), Token: aws.String("not-a-token")})
	if err == nil {
		t.Fatal("AssumeRoleForPodIdentity with a bogus token succeeded")
	}
	if _, err := c.EKS().DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("eks-workshop")}); err != nil {
		t.Fatal(err)
	}
	calls, attempts, server := c.Calls.Snapshot(), c.Calls.Attempts(), f.CallCounts()
	for _, k := range []string{"eks-auth:AssumeRoleForPodIdentity", "eks:DescribeCluster"} {
		if calls[k] != 1 || attempts[k] != 1 || server[k] != 1 {
			t.Errorf("%s: %d calls, %d attempts, the fake saw %d; want 1 each (calls %v, attempts %v, fake %v)", k, calls[k], attempts[k], server[k], calls, attempts, server)
		}
	}
	for k := range calls {
		if strings.HasPrefix(k, ":") || strings.HasSuffix(k, ":") || strings.Contains(k, " ") {
			t.Errorf("call key %q lacks the service or the operation, or has a space (calls %v)", k, calls)
		}
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

// TestRetrySettings runs real SDK clients built by Load against a fake EKS
// that is down (every attempt answers 503) and counts the attempts the
// server saw: AWS_MAX_ATTEMPTS, AWS_RETRY_MODE and the profile's
// max_attempts and retry_mode must take effect, with podid's default when
// none is set.
func TestRetrySettings(t *testing.T) {
	f := fakeaws.New(fakeaws.Options{})
	url, err := f.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	f.AddCluster(fakeaws.Cluster{Name: "eks-workshop", Version: "1.35", PlatformVersion: "eks.5"})
	f.SetFaults(fakeaws.Faults{Down: []string{"eks"}})

	dir := t.TempDir()
	keys := "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
	profiles := "[profile few]\nmax_attempts = 4\n" + keys + "\n[profile adaptive]\nretry_mode = adaptive\nmax_attempts = 2\n" + keys
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(profiles), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": url, "AWS_REGION": fakeaws.DefaultRegion,
		"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_PROFILE": "", "AWS_MAX_ATTEMPTS": "", "AWS_RETRY_MODE": "",
	}
	tests := []struct {
		name         string
		env          map[string]string
		opts         Options
		wantAttempts int
		wantAdaptive bool
	}{
		{name: "podid default", wantAttempts: DefaultMaxAttempts},
		{name: "AWS_MAX_ATTEMPTS", env: map[string]string{"AWS_MAX_ATTEMPTS": "3"}, wantAttempts: 3},
		{name: "profile max_attempts", env: map[string]string{"AWS_PROFILE": "few"}, wantAttempts: 4},
		{name: "--profile max_attempts", opts: Options{Profile: "few"}, wantAttempts: 4},
		{name: "environment beats profile", env: map[string]string{"AWS_PROFILE": "few", "AWS_MAX_ATTEMPTS": "2"}, wantAttempts: 2},
		{name: "AWS_RETRY_MODE adaptive", env: map[string]string{"AWS_RETRY_MODE": "adaptive", "AWS_MAX_ATTEMPTS": "3"}, wantAttempts: 3, wantAdaptive: true},
		{name: "profile retry_mode", env: map[string]string{"AWS_PROFILE": "adaptive"}, wantAttempts: 2, wantAdaptive: true},
		{name: "explicit option wins", env: map[string]string{"AWS_MAX_ATTEMPTS": "3"}, opts: Options{MaxAttempts: 5}, wantAttempts: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range base {
				t.Setenv(k, v)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if v, ok := tt.env["AWS_PROFILE"]; !ok || v == "" {
				os.Unsetenv("AWS_PROFILE")
			}
			o := tt.opts
			o.MaxBackoff = time.Millisecond
			c, err := Load(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			before := f.CallCounts()["eks:DescribeCluster"]
			_, err = c.EKS().DescribeCluster(context.Background(), &eks.DescribeClusterInput{Name: aws.String("eks-workshop")})
			var maxErr *retry.MaxAttemptsError
			if !errors.As(err, &maxErr) {
				t.Fatalf("err = %v, want the retryer to give up", err)
			}
			if got := f.CallCounts()["eks:DescribeCluster"] - before; got != tt.wantAttempts {
				t.Errorf("server saw %d attempts, want %d", got, tt.wantAttempts)
			}
			if got := c.Calls.Attempts()["eks:DescribeCluster"]; got != tt.wantAttempts {
				t.Errorf("podid counted %d attempts, want %d", got, tt.wantAttempts)
			}
			_, adaptive := c.Config().Retryer().(*retry.AdaptiveMode)
			if adaptive != tt.wantAdaptive {
				t.Errorf("retryer %T, want adaptive=%v", c.Config().Retryer(), tt.wantAdaptive)
			}
		})
	}
}
