// Package awsapi builds podid's AWS clients (EKS, IAM, STS) from the usual
// AWS configuration chain and turns SDK errors into podid errors with hints.
//
// Consumers declare their own narrow interfaces next to their code (see
// internal/podidentity); this package only hands out the concrete clients.
package awsapi

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/podid/podid/internal/fail"
)

// Retry defaults. Eight attempts with backoff capped at 5 s ride out a
// throttling or 5xx storm of roughly 20–30 s per call (throttling backoff
// starts at 1 s and doubles, with jitter), while a dead endpoint still fails
// within well under a minute per call.
const (
	DefaultMaxAttempts = 8
	DefaultMaxBackoff  = 5 * time.Second
	// retryTokens sizes the client-side retry token bucket. The SDK default
	// (500 tokens, 5 per throttled retry, 14 per other retry, refunded only on
	// success) lets roughly 35–100 failed retries happen per process before
	// every further retry fails at once with "retry quota exceeded". A
	// ten-minute add-on wait under sustained throttling, or `podid apply`
	// over many entries, can burn through that although each call would
	// have succeeded on a later attempt. We keep a bucket, so that a truly
	// runaway loop is still cut off eventually, but make it 200 times
	// larger: per-call attempts are already bounded by MaxAttempts, and our
	// own pollers pace themselves (see podidentity.Poller).
	retryTokens uint = 100_000
)

// Options select the AWS configuration.
type Options struct {
	Region  string // overrides AWS_REGION and the profile's region
	Profile string // overrides AWS_PROFILE
	// Verbose receives one debug line per API attempt (nil = silent).
	Verbose *slog.Logger
	// MaxAttempts per API call. 0 = the standard settings (AWS_MAX_ATTEMPTS,
	// the profile's max_attempts), else DefaultMaxAttempts.
	MaxAttempts int
	// MaxBackoff caps the delay between attempts (0 = DefaultMaxBackoff).
	MaxBackoff time.Duration
}

// Retryer returns podid's retryer in standard mode: the SDK's standard
// retryer with more attempts, a lower backoff cap and a large retry token
// bucket.
func Retryer(maxAttempts int, maxBackoff time.Duration) aws.Retryer {
	return NewRetryer(aws.RetryModeStandard, maxAttempts, maxBackoff)
}

// NewRetryer returns the SDK's retryer for mode (standard, or adaptive,
// which adds client-side rate limiting on throttles) with podid's additions:
// maxAttempts (0 = DefaultMaxAttempts), a backoff cap (0 =
// DefaultMaxBackoff) and a large retry token bucket.
func NewRetryer(mode aws.RetryMode, maxAttempts int, maxBackoff time.Duration) aws.Retryer {
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	if maxBackoff <= 0 {
		maxBackoff = DefaultMaxBackoff
	}
	standard := func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = maxBackoff
		o.RateLimiter = ratelimit.NewTokenRateLimit(retryTokens)
	}
	if mode == aws.RetryModeAdaptive {
		return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
			o.StandardOptions = append(o.StandardOptions, standard)
		})
	}
	return retry.NewStandard(standard)
}

// Load reads the default AWS configuration (environment, shared config and
// credentials files, profiles, SSO, AWS_ENDPOINT_URL*) and returns lazily
// built clients. It fails when no region is configured anywhere.
//
// Retries follow the standard settings: AWS_MAX_ATTEMPTS and AWS_RETRY_MODE,
// or max_attempts and retry_mode in the profile; without them podid allows
// DefaultMaxAttempts attempts in standard mode. Either way the retryer keeps
// podid's backoff cap and retry token bucket (see NewRetryer).
func Load(ctx context.Context, o Options) (*Clients, error) {
	var opts []func(*config.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.Profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		hint := "check AWS_PROFILE and ~/.aws/config; run aws configure list"
		if o.Profile != "" {
			hint = fmt.Sprintf("check that profile %q exists in ~/.aws/config (aws configure list-profiles)", o.Profile)
		}
		return nil, fail.Errorf(hint, "load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fail.Usagef("pass --region or set AWS_REGION (or a region in your AWS profile)",
			"no AWS region configured")
	}
	useRetrySettings(&cfg, o)
	return New(cfg, o.Verbose), nil
}

// useRetrySettings installs podid's retryer, built from the retry mode and
// attempts the configuration resolved (environment or profile; without
// a custom retryer, LoadDefaultConfig leaves them in cfg.RetryMode and
// cfg.RetryMaxAttempts) unless o overrides the attempts.
func useRetrySettings(cfg *aws.Config, o Options) {
	attempts := o.MaxAttempts
	if attempts <= 0 {
		attempts = cfg.RetryMaxAttempts
	}
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	mode := cfg.RetryMode
	if mode == "" {
		mode = aws.RetryModeStandard
	}
	// The service clients wrap cfg.Retryer with cfg.RetryMaxAttempts when it
	// is set; keep the two in agreement.
	cfg.RetryMaxAttempts, cfg.RetryMode = attempts, mode
	cfg.Retryer = func() aws.Retryer { return NewRetryer(mode, attempts, o.MaxBackoff) }
}

// Clients hands out the EKS, IAM and STS clients, each built on first use,
// so a command that only talks to EKS never builds an IAM client. All share
// one CallCounter.
type Clients struct {
	cfg   aws.Config
	Calls *CallCounter

	eksOnce, iamOnce, stsOnce sync.Once
	eks                       *eks.Client
	iam                       *iam.Client
	sts                       *sts.Client

	eksAuthOnce sync.Once
	eksAuth     *eksauth.Client
}

// New wraps an existing configuration (tests point it at fakeaws with
// BaseEndpoint and static credentials). It adds the call-counting
// middleware; log may be nil.
func New(cfg aws.Config, log *slog.Logger) *Clients {
	calls := NewCallCounter(log)
	cfg = cfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, calls.AddMiddleware)
	return &Clients{cfg: cfg, Calls: calls}
}

// Region is the configured region.
func (c *Clients) Region() string { return c.cfg.Region }

// Config returns a copy of the configuration the clients are built from.
func (c *Clients) Config() aws.Config { return c.cfg.Copy() }

// EKS returns the EKS client.
func (c *Clients) EKS() *eks.Client {
	c.eksOnce.Do(func() { c.eks = eks.NewFromConfig(c.cfg) })
	return c.eks
}

// IAM returns the IAM client.
func (c *Clients) IAM() *iam.Client {
	c.iamOnce.Do(func() { c.iam = iam.NewFromConfig(c.cfg) })
	return c.iam
}

// STS returns the STS client.
func (c *Clients) STS() *sts.Client {
	c.stsOnce.Do(func() { c.sts = sts.NewFromConfig(c.cfg) })
	return c.sts
}

// EKSAuth returns the EKS Auth client (AssumeRoleForPodIdentity, the Pod
// Identity agent's call, which the credentials check makes too). It honours
// AWS_ENDPOINT_URL_EKS_AUTH.
func (c *Clients) EKSAuth() *eksauth.Client {
	c.eksAuthOnce.Do(func() { c.eksAuth = eksauth.NewFromConfig(c.cfg) })
	return c.eksAuth
}

// built reports which clients exist (for tests of laziness).
func (c *Clients) built() (eksBuilt, iamBuilt, stsBuilt bool) {
	return c.eks != nil, c.iam != nil, c.sts != nil
}
