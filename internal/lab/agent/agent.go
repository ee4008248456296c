// Package agent is the lab's EKS Pod Identity agent: what the
// eks-pod-identity-agent DaemonSet does on every EKS node, re-implemented
// from its documented behaviour (shared/reference/EKS-AUTH.md §3; the real
// module go.amzn.com/eks/eks-pod-identity-agent cannot be installed).
//
// An SDK in a pod sends GET /v1/credentials with the pod's projected service
// account token as the raw Authorization header. The agent checks the Host
// header, the token's shape and its exp/nbf (not the signature: only EKS
// Auth has the cluster's keys), then calls EKS Auth AssumeRoleForPodIdentity
// with the node role's credentials through the real Go SDK client and
// answers the JSON that SDKs' container credential providers parse:
//
//	{"AccessKeyId":"ASIA…","SecretAccessKey":"…","Token":"…","AccountId":"…","Expiration":"2026-…Z"}
//
// Errors are text/plain, with EKS Auth's own status passed through. Answers
// are cached per token until min(3 h, the credentials' lifetime), then
// refreshed in the background; irrecoverable EKS Auth errors evict.
//
// On EKS the agent listens on 169.254.170.23:80 and [fd00:ec2::23]:80. The
// lab cannot route those, so it listens on 127.0.0.1 and its Host check
// admits the extra hosts given in Options.Hosts as well.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	"golang.org/x/time/rate"
)

// The addresses the real agent serves and admits in the Host header.
const (
	HostIPv4 = "169.254.170.23"
	HostIPv6 = "fd00:ec2::23"
	// Path is the only route of the credential listener.
	Path = "/v1/credentials"
)

// Defaults of the real agent (cmd/server.go, refreshing_cache.go).
const (
	DefaultRenewal      = 3 * time.Hour // --max-credential-retention-before-renewal
	DefaultMaxEntries   = 2000          // --max-cache-size
	DefaultRefreshQPS   = 3             // --max-service-qps
	DefaultJanitorEvery = time.Minute   // cache cleanup interval
	minCredentialTTL    = 15 * time.Second
	retryInterval       = time.Minute // a failed refresh is retried after this plus jitter
	maxRetryJitter      = time.Minute
	activeRequestWait   = 9 * 200 * time.Millisecond // waiting for an in-flight call of the same token
)

// Options configure an Agent.
type Options struct {
	// Cluster is the EKS cluster name sent to EKS Auth (--cluster-name). Required.
	Cluster string
	// EKSAuth is the EKS Auth client, signing with the node role's
	// credentials (see NewEKSAuthClient). Required.
	EKSAuth *eksauth.Client
	// Hosts are admitted by the Host check besides 169.254.170.23 and
	// fd00:ec2::23, e.g. "127.0.0.1" for a lab agent on loopback.
	Hosts []string
	// Renewal is how long credentials are served from the cache before a
	// background refresh (default 3h); the credentials' own expiry caps it.
	Renewal time.Duration
	// MaxEntries bounds the cache (default 2000, least recently used go first).
	MaxEntries int
	// RefreshQPS limits background refreshes (default 3 per second).
	RefreshQPS float64
	// JanitorEvery is how often the background refresh runs (default 1m);
	// negative disables it (tests call Refresh).
	JanitorEvery time.Duration
	// RequestRate and RequestBurst are the token bucket in front of the
	// handler (default 1000 per second, burst 500, as the real agent).
	RequestRate  float64
	RequestBurst int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives one line per request and refresh (nil = discard).
	// Tokens and secrets are never logged.
	Logger *slog.Logger
}

// Agent serves /v1/credentials. Create it with New.
type Agent struct {
	opts   Options
	log    *slog.Logger
	hosts  []string
	mux    *http.ServeMux
	limit  *rate.Limiter // per listener in the real agent; one listener here
	janLim *rate.Limiter

	mu       sync.Mutex
	cache    map[string]*entry // by token
	inflight map[string]chan struct{}
	tick     uint64 // LRU clock
	stats    Stats

	srv     *http.Server
	url     string
	stopJan context.CancelFunc
	janDone chan struct{}
}

// entry is one cached answer.
type entry struct {
	token     string
	creds     Credentials
	refreshAt time.Time
	used      uint64
}

// Credentials is the agent's JSON answer (pkg/credentials/model.go): field
// order as the real agent writes it, empty strings omitted.
type Credentials struct {
	AccessKeyID     string `json:"AccessKeyId,omitempty"`
	SecretAccessKey string `json:"SecretAccessKey,omitempty"`
	Token           string `json:"Token,omitempty"`
	AccountID       string `json:"AccountId,omitempty"`
	Expiration      string `json:"Expiration,omitempty"`

	expires time.Time
}

// Stats counts what the agent did.
type Stats struct {
	Requests  int `json:"requests"`  // /v1/credentials requests
	CacheHits int `json:"cacheHits"` // answered from the cache
	Calls     int `json:"calls"`     // AssumeRoleForPodIdentity calls, refreshes included
	Refreshes int `json:"refreshes"` // background refreshes that succeeded
	Evictions int `json:"evictions"` // entries dropped after an irrecoverable refresh error or expiry
	Entries   int `json:"entries"`   // cached now
}

// New returns an agent; it does not listen (see Start, or mount it as an
// http.Handler). The background refresh starts with Start.
func New(opts Options) (*Agent, error) {
	if opts.Cluster == "" {
		return nil, errors.New("agent: Options.Cluster is required (the EKS cluster name sent to EKS Auth)")
	}
	if opts.EKSAuth == nil {
		return nil, errors.New("agent: Options.EKSAuth is required (an EKS Auth client with the node role's credentials)")
	}
	if opts.Renewal <= 0 {
		opts.Renewal = DefaultRenewal
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.RefreshQPS <= 0 {
		opts.RefreshQPS = DefaultRefreshQPS
	}
	if opts.JanitorEvery == 0 {
		opts.JanitorEvery = DefaultJanitorEvery
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RequestRate <= 0 {
		opts.RequestRate = 1000
	}
	if opts.RequestBurst <= 0 {
		opts.RequestBurst = 500
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Agent{
		opts:     opts,
		log:      log,
		hosts:    append([]string{HostIPv4, HostIPv6}, opts.Hosts...),
		limit:    rate.NewLimiter(rate.Limit(opts.RequestRate), opts.RequestBurst),
		janLim:   rate.NewLimiter(rate.Limit(opts.RefreshQPS), max(1, int(opts.RefreshQPS))),
		cache:    map[string]*entry{},
		inflight: map[string]chan struct{}{},
	}
	a.mux = http.NewServeMux()
	a.mux.HandleFunc(Path, a.serveCredentials)
	return a, nil
}

// ServeHTTP routes like the real agent: /v1/credentials for any method,
// 404 for every other path.
func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Start listens on addr (e.g. "127.0.0.1:0"), serves, starts the background
// refresh and returns the credentials URL, http://<addr>/v1/credentials.
func (a *Agent) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("agent: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: a, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	a.mu.Lock()
	a.srv, a.url, a.stopJan, a.janDone = srv, "http://"+ln.Addr().String()+Path, cancel, make(chan struct{})
	url, done := a.url, a.janDone
	a.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("agent: serve", "err", err)
		}
	}()
	go func() {
		defer close(done)
		if a.opts.JanitorEvery < 0 {
			return
		}
		t := time.NewTicker(a.opts.JanitorEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				a.Refresh(ctx)
			}
		}
	}()
	return url, nil
}

// URL is the credentials URL returned by Start ("" before).
func (a *Agent) URL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.url
}

// Close stops serving and the background refresh.
func (a *Agent) Close() error {
	a.mu.Lock()
	srv, stop, done := a.srv, a.stopJan, a.janDone
	a.mu.Unlock()
	if srv == nil {
		return nil
	}
	stop()
	<-done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

// Stats returns the agent's counters.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	s.Entries = len(a.cache)
	return s
}

// serveCredentials is the handler pipeline of EKS-AUTH.md §3.2, in order.
func (a *Agent) serveCredentials(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.stats.Requests++
	a.mu.Unlock()
	creds, err := a.credentials(r)
	if err != nil {
		status, body := errorAnswer(err)
		a.log.Info("agent: request failed", "status", status, "answer", body, "error", err.Error())
		http.Error(w, body, status)
		return
	}
	b, err := json.Marshal(creds)
	if err != nil {
		http.Error(w, "Unable to serialize credentials", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (a *Agent) credentials(r *http.Request) (Credentials, error) {
	if !a.limit.Allow() {
		return Credentials{}, &requestError{status: http.StatusTooManyRequests, msg: "Too Many Requests"}
	}
	if err := a.checkHost(r.Host); err != nil {
		return Credentials{}, err
	}
	token := r.Header.Get("Authorization")
	if token == "" {
		return Credentials{}, &requestError{status: http.StatusBadRequest, msg: "Service account token cannot be empty"}
	}
	c, err := parseToken(token, a.opts.Now())
	if err != nil {
		return Credentials{}, err
	}
	a.log.Debug("agent: request", "namespace", c.Kubernetes.Namespace, "serviceAccount", c.Kubernetes.ServiceAccount.Name, "pod", c.Kubernetes.Pod.Name)
	return a.get(r.Context(), token)
}

// checkHost admits the agent's link-local addresses (and the configured
// extra hosts) in the Host header, port and IPv6 brackets stripped.
func (a *Agent) checkHost(host string) error {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	for _, ok := range a.hosts {
		if h == ok {
			return nil
		}
	}
	return &requestError{status: http.StatusForbidden, msg: fmt.Sprintf(
		"Access Denied. Called agent through invalid address, please use either [%s] address not %s", strings.Join(a.hosts, " "), h)}
}

// get answers from the cache or calls EKS Auth (one call per token at a time).
func (a *Agent) get(ctx context.Context, token string) (Credentials, error) {
	deadline := time.Now().Add(activeRequestWait)
	for {
		a.mu.Lock()
		if e, ok := a.cache[token]; ok {
			if e.creds.expires.Sub(a.opts.Now()) > minCredentialTTL {
				a.tick++
				e.used = a.tick
				a.stats.CacheHits++
				a.mu.Unlock()
				return e.creds, nil
			}
			delete(a.cache, token) // too close to expiry to hand out
		}
		wait, busy := a.inflight[token]
		if !busy || time.Now().After(deadline) {
			done := make(chan struct{})
			a.inflight[token] = done
			a.mu.Unlock()
			creds, err := a.fetchAndStore(ctx, token)
			a.mu.Lock()
			if a.inflight[token] == done {
				delete(a.inflight, token)
			}
			a.mu.Unlock()
			close(done)
			if err != nil {
				return Credentials{}, err
			}
			return creds, nil
		}
		a.mu.Unlock()
		select {
		case <-wait:
		case <-time.After(time.Until(deadline)):
		case <-ctx.Done():
			return Credentials{}, ctx.Err()
		}
	}
}

// fetchAndStore calls EKS Auth and caches the answer.
func (a *Agent) fetchAndStore(ctx context.Context, token string) (Credentials, error) {
	creds, err := a.call(ctx, token)
	if err != nil {
		return Credentials{}, err
	}
	now := a.opts.Now()
	left := creds.expires.Sub(now)
	if left <= minCredentialTTL {
		return Credentials{}, &requestError{status: http.StatusInternalServerError, msg: fmt.Sprintf(
			"error getting credentials to cache: fetched credentials are expired or will expire within the next %0.2f seconds", left.Seconds())}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tick++
	a.cache[token] = &entry{token: token, creds: creds, refreshAt: now.Add(min(left, a.opts.Renewal)), used: a.tick}
	for len(a.cache) > a.opts.MaxEntries {
		var oldest *entry
		for _, e := range a.cache {
			if oldest == nil || e.used < oldest.used {
				oldest = e
			}
		}
		delete(a.cache, oldest.token)
	}
	return creds, nil
}

// call is one AssumeRoleForPodIdentity exchange, turned into the agent's answer.
func (a *Agent) call(ctx context.Context, token string) (Credentials, error) {
	a.mu.Lock()
	a.stats.Calls++
	a.mu.Unlock()
	out, err := a.opts.EKSAuth.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{
		ClusterName: aws.String(a.opts.Cluster),
		Token:       aws.String(token),
	})
	if err != nil {
		return Credentials{}, fmt.Errorf("error getting credentials to cache: %w", err)
	}
	if out.Credentials == nil || out.AssumedRoleUser == nil {
		return Credentials{}, errors.New("error getting credentials to cache: EKS Auth answered without credentials or assumedRoleUser")
	}
	parsed, err := arn.Parse(aws.ToString(out.AssumedRoleUser.Arn))
	if err != nil {
		return Credentials{}, fmt.Errorf("unable to parse arn from assumed role: %w", err)
	}
	exp := aws.ToTime(out.Credentials.Expiration).UTC()
	if out.Subject != nil && out.PodIdentityAssociation != nil {
		a.log.Info("agent: EKS Auth issued credentials", "namespace", aws.ToString(out.Subject.Namespace),
			"serviceAccount", aws.ToString(out.Subject.ServiceAccount), "assumedRole", aws.ToString(out.AssumedRoleUser.Arn),
			"association", aws.ToString(out.PodIdentityAssociation.AssociationId), "expires", exp)
	}
	return Credentials{
		AccessKeyID:     aws.ToString(out.Credentials.AccessKeyId),
		SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
		Token:           aws.ToString(out.Credentials.SessionToken),
		AccountID:       parsed.AccountID,
		Expiration:      exp.Format(time.RFC3339Nano),
		expires:         exp,
	}, nil
}

// Refresh runs the background janitor once: every entry due for renewal is
// exchanged again (rate limited); success replaces it, an irrecoverable
// error (AccessDenied, ExpiredToken, InvalidToken, ResourceNotFound) evicts
// it, any other error keeps the old credentials and retries after 1–2 min.
// Entries whose credentials expired are dropped.
func (a *Agent) Refresh(ctx context.Context) {
	now := a.opts.Now()
	a.mu.Lock()
	var due []*entry
	for tok, e := range a.cache {
		switch {
		case !e.creds.expires.After(now):
			delete(a.cache, tok)
			a.stats.Evictions++
		case !now.Before(e.refreshAt):
			due = append(due, e)
		}
	}
	a.mu.Unlock()
	for _, e := range due {
		if err := a.janLim.Wait(ctx); err != nil {
			return
		}
		creds, err := a.call(ctx, e.token)
		if err == nil && creds.expires.Sub(a.opts.Now()) <= minCredentialTTL {
			err = errors.New("fetched credentials are expired or will expire within 15 seconds")
		}
		a.mu.Lock()
		cur, still := a.cache[e.token]
		switch {
		case !still || cur != e:
			// replaced or evicted meanwhile
		case err == nil:
			left := creds.expires.Sub(a.opts.Now())
			e.creds, e.refreshAt = creds, a.opts.Now().Add(min(left, a.opts.Renewal))
			a.stats.Refreshes++
		case irrecoverable(err):
			delete(a.cache, e.token)
			a.stats.Evictions++
		default:
			e.refreshAt = a.opts.Now().Add(retryInterval + rand.N(maxRetryJitter))
		}
		a.mu.Unlock()
		if err != nil {
			_, body := errorAnswer(err)
			a.log.Info("agent: refresh failed", "evicted", irrecoverable(err), "error", body)
		}
	}
}
