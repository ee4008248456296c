package kube

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/podid/podid/internal/fail"
)

// Client rate limits: well above client-go's 5/10 so that listing a
// namespace's workloads and watching a rollout never queue, still polite to
// a shared apiserver.
const (
	DefaultQPS   = 100
	DefaultBurst = 300
)

// Cluster is a loaded kubeconfig: the REST config, a client built from it and
// what the safety check (SameCluster) needs.
type Cluster struct {
	Config  *rest.Config
	Client  kubernetes.Interface
	Server  string // API server URL as the kubeconfig has it
	CAData  []byte // PEM bundle the kubeconfig trusts (empty with insecure-skip-tls-verify or system roots)
	Context string // the context in use
	// TLSServerName is the context's tls-server-name ("" = the server's host).
	TLSServerName string
	// Insecure reports insecure-skip-tls-verify in the kubeconfig.
	Insecure bool
	// Calls counts the requests sent through Client, per "kube:VERB resource".
	Calls *CallCounter
}

// LoadOptions refine Load.
type LoadOptions struct {
	Kubeconfig string // explicit path; "" = $KUBECONFIG, then ~/.kube/config
	Context    string // "" = the kubeconfig's current context
	UserAgent  string // default "podid"
	QPS        float32
	Burst      int
}

// Load reads the kubeconfig with client-go's standard rules (explicit path,
// else $KUBECONFIG, else ~/.kube/config), applies a context override and
// builds a client. It never contacts the cluster.
func Load(kubeconfig, context string) (*Cluster, error) {
	return LoadWithOptions(LoadOptions{Kubeconfig: kubeconfig, Context: context})
}

// LoadWithOptions is Load with a user agent and rate limits.
func LoadWithOptions(o LoadOptions) (*Cluster, error) {
	if o.UserAgent == "" {
		o.UserAgent = "podid"
	}
	if o.QPS == 0 {
		o.QPS = DefaultQPS
	}
	if o.Burst == 0 {
		o.Burst = DefaultBurst
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		if _, err := os.Stat(o.Kubeconfig); err != nil {
			return nil, fail.Errorf("check the --kubeconfig path, or run `aws eks update-kubeconfig --name <cluster>`",
				"read kubeconfig %s: %w", o.Kubeconfig, err)
		}
		rules.ExplicitPath = o.Kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.Context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)

	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fail.Errorf("fix the kubeconfig, or recreate it with `aws eks update-kubeconfig --name <cluster>`",
			"load kubeconfig %s: %w", describeSources(rules), err)
	}
	if len(raw.Contexts) == 0 && len(raw.Clusters) == 0 {
		return nil, fail.Errorf("run `aws eks update-kubeconfig --name <cluster>` (or pass --kubeconfig)",
			"no kubeconfig found (looked in %s)", describeSources(rules))
	}
	ctxName := raw.CurrentContext
	if o.Context != "" {
		ctxName = o.Context
	}
	if ctxName == "" {
		return nil, fail.Errorf(contextHint(raw.Contexts),
			"kubeconfig %s has no current context", describeSources(rules))
	}
	if _, ok := raw.Contexts[ctxName]; !ok {
		return nil, fail.Errorf(contextHint(raw.Contexts),
			"context %q not found in kubeconfig %s", ctxName, describeSources(rules))
	}

	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fail.Errorf("fix context "+ctxName+" in the kubeconfig, or recreate it with `aws eks update-kubeconfig --name <cluster>`",
			"kubeconfig context %s: %w", ctxName, err)
	}
	cfg.QPS = o.QPS
	cfg.Burst = o.Burst
	cfg.UserAgent = o.UserAgent

	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		ca, err = os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fail.Errorf("fix certificate-authority of context "+ctxName,
				"read CA file %s of kubeconfig context %s: %w", cfg.CAFile, ctxName, err)
		}
	}

	calls := NewCallCounter()
	cfg.Wrap(calls.wrap)
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("build Kubernetes client for context %s: %w", ctxName, err)
	}
	return &Cluster{
		Config:        cfg,
		Client:        client,
		Server:        cfg.Host,
		CAData:        ca,
		Context:       ctxName,
		Insecure:      cfg.Insecure,
		TLSServerName: cfg.ServerName,
		Calls:         calls,
	}, nil
}

func describeSources(rules *clientcmd.ClientConfigLoadingRules) string {
	if rules.ExplicitPath != "" {
		return rules.ExplicitPath
	}
	return strings.Join(rules.Precedence, ", ")
}

func contextHint(contexts map[string]*clientcmdapi.Context) string {
	names := slices.Sorted(maps.Keys(contexts))
	if len(names) == 0 {
		return "run `aws eks update-kubeconfig --name <cluster>` to add one"
	}
	return "pass --context with one of: " + strings.Join(names, ", ") +
		"; or run `aws eks update-kubeconfig --name <cluster>`"
}

// CallCounter counts Kubernetes API requests per "kube:VERB resource" (e.g.
// "kube:PATCH deployments", "kube:WATCH pods"). Safe for concurrent use.
type CallCounter struct {
	mu    sync.Mutex
	calls map[string]int
}

// NewCallCounter returns an empty counter.
func NewCallCounter() *CallCounter { return &CallCounter{calls: map[string]int{}} }

// Snapshot returns the requests so far.
func (c *CallCounter) Snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.calls)
}

func (c *CallCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		key := "kube:" + requestVerb(r) + " " + requestResource(r.URL.Path)
		c.mu.Lock()
		c.calls[key]++
		c.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func requestVerb(r *http.Request) string {
	if r.Method == http.MethodGet && r.URL.Query().Get("watch") == "true" {
		return "WATCH"
	}
	return r.Method
}

// requestResource extracts the resource from an API path:
// /api/v1/namespaces/x/pods/y → pods; /apis/apps/v1/deployments → deployments;
// /api/v1/namespaces/x → namespaces.
func requestResource(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return path
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	if len(parts) == 0 {
		return "(discovery)"
	}
	res := parts[0]
	if len(parts) >= 3 { // name/subresource
		res += "/" + parts[2]
	}
	return res
}

// Endpoint is where a kubeconfig context sends requests and whom it trusts.
type Endpoint struct {
	Server        string // the context's server URL
	CAData        []byte // PEM bundle it trusts (empty with insecure-skip-tls-verify or system roots)
	TLSServerName string // tls-server-name: the name the server's certificate is checked against
}

// SameCluster is MatchCluster without the note.
func SameCluster(kubeServer string, kubeCA []byte, eksEndpoint, eksCAb64 string) error {
	_, err := MatchCluster(Endpoint{Server: kubeServer, CAData: kubeCA}, eksEndpoint, eksCAb64)
	return err
}

// MatchCluster is the safety check run before podid changes anything: the
// kubeconfig context k must reach the EKS cluster whose endpoint and CA
// (DescribeCluster's endpoint and certificateAuthority.data, base64 PEM) are
// given.
//
// The context matches by its endpoint (compared after normalisation: case
// of scheme and host, default port, trailing slash), or, when it reaches
// the cluster another way (an SSH tunnel, a proxy, a load balancer), by its
// tls-server-name naming the EKS endpoint's host, or by the cluster's CA:
// every EKS cluster has its own CA, so a kubeconfig that trusts it talks to
// that cluster whatever the address. CAs match when any certificate of the
// EKS bundle is also in the kubeconfig's bundle (compared as DER). When
// both sides have a CA and they differ, nothing matches, whatever the
// address (a recreated cluster behind the same endpoint, a stale
// kubeconfig). note is empty for a plain endpoint match and otherwise says
// how the context was matched, for the user to see.
//
// When the kubeconfig has no CA (insecure-skip-tls-verify, or it relies on
// the system roots) or EKS reports none, the endpoint (or tls-server-name)
// alone decides: an EKS endpoint is a unique per-cluster host name; TLS
// trust is then the kubeconfig's business, not podid's.
func MatchCluster(k Endpoint, eksEndpoint, eksCAb64 string) (note string, err error) {
	hint := "select the cluster's context with --context, or run `aws eks update-kubeconfig --name <cluster>`"
	ks, err := normalizeURL(k.Server)
	if err != nil {
		return "", fail.Errorf(hint, "kubeconfig server %q: %w", k.Server, err)
	}
	es, err := normalizeURL(eksEndpoint)
	if err != nil {
		return "", fail.Errorf("check the cluster name and region", "EKS endpoint %q: %w", eksEndpoint, err)
	}
	sameEndpoint := ks == es
	sameName := false
	if u, err := url.Parse(es); err == nil && k.TLSServerName != "" {
		sameName = strings.EqualFold(strings.TrimSuffix(k.TLSServerName, "."), u.Hostname())
	}

	var caMatch, caKnown bool
	// A CA that EKS reports but that is not a certificate bundle cannot
	// match anything: the endpoint alone decides, as with no CA.
	var eksCerts [][]byte
	if eksPEM, err := base64.StdEncoding.DecodeString(strings.TrimSpace(eksCAb64)); err == nil {
		eksCerts, _ = pemCerts(eksPEM)
	}
	if len(bytes.TrimSpace(k.CAData)) > 0 && len(eksCerts) > 0 {
		caKnown = true
		kubeCerts, err := pemCerts(k.CAData)
		if err != nil {
			return "", fail.Errorf(hint, "parse the CA of the kubeconfig for %s: %w", k.Server, err)
		}
		caMatch = slices.ContainsFunc(eksCerts, func(e []byte) bool {
			return slices.ContainsFunc(kubeCerts, func(c []byte) bool { return bytes.Equal(e, c) })
		})
	}

	switch {
	case caKnown && !caMatch && (sameEndpoint || sameName):
		return "", fail.Verifyf(hint,
			"kubeconfig for %s trusts a different CA than the EKS cluster at %s (a recreated cluster with the same endpoint, or a stale kubeconfig)",
			k.Server, eksEndpoint)
	case sameEndpoint:
		return "", nil
	case sameName && caMatch:
		return fmt.Sprintf("the kubeconfig reaches the cluster through %s, not its endpoint %s: matched by tls-server-name %s and the cluster's CA", k.Server, eksEndpoint, k.TLSServerName), nil
	case sameName:
		return fmt.Sprintf("the kubeconfig reaches the cluster through %s, not its endpoint %s: matched by tls-server-name %s", k.Server, eksEndpoint, k.TLSServerName), nil
	case caMatch:
		return fmt.Sprintf("the kubeconfig reaches the cluster through %s, not its endpoint %s: matched by the cluster's CA", k.Server, eksEndpoint), nil
	case caKnown:
		return "", fail.Verifyf(hint,
			"kubeconfig points at %s and trusts another CA, but the EKS cluster's endpoint is %s: neither the endpoint nor the CA matches", k.Server, eksEndpoint)
	}
	return "", fail.Verifyf(hint+" (a context that reaches the cluster through a tunnel or proxy needs the cluster's certificate-authority-data, or tls-server-name set to the endpoint's host)",
		"kubeconfig points at %s, but the EKS cluster's endpoint is %s, and there is no CA on both sides to match by", k.Server, eksEndpoint)
}

// normalizeURL returns scheme://host:port/path with lower-case scheme and
// host, an explicit port and no trailing slash.
func normalizeURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty URL")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", errors.New("no host")
	}
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		default:
			return "", fmt.Errorf("unsupported scheme %q", u.Scheme)
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port) + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// pemCerts returns the DER bytes of every CERTIFICATE block in data.
func pemCerts(data []byte) ([][]byte, error) {
	var out [][]byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return nil, err
		}
		out = append(out, b.Bytes)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}
