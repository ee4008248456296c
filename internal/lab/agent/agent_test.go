package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
)

// deadEndpoint is an address nothing listens on: an agent that reached EKS
// Auth would answer 500 with a connection error instead of its own 4xx.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func startAgent(t *testing.T, hosts ...string) (*Agent, string) {
	t.Helper()
	cfg := aws.Config{Region: "us-west-2", Credentials: credentials.NewStaticCredentialsProvider("AKIDNODE", "secret", "")}
	a, err := New(Options{
		Cluster:      "eks-workshop",
		EKSAuth:      NewEKSAuthClient(cfg, deadEndpoint(t), 0),
		Hosts:        hosts,
		JanitorEvery: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	url, err := a.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, url
}

// jwt builds an unsigned-but-well-formed JWT (the agent never checks signatures).
func jwt(header, claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(claims)) + "." + enc([]byte("signature"))
}

type answer struct {
	status int
	ctype  string
	body   string
}

func get(t *testing.T, url, method, host, auth string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

func TestHostCheck(t *testing.T) {
	t.Parallel()
	a, url := startAgent(t, "127.0.0.1")
	for _, tc := range []struct {
		host   string
		status int
		body   string
	}{
		{"10.0.0.1", 403, "Access Denied. Called agent through invalid address, please use either [169.254.170.23 fd00:ec2::23 127.0.0.1] address not 10.0.0.1\n"},
		{"localhost:80", 403, "address not localhost\n"},
		{"169.254.170.2", 403, "address not 169.254.170.2\n"}, // the ECS address is not the agent's
		{"169.254.170.23", 400, "Service account token cannot be empty\n"},
		{"169.254.170.23:80", 400, "Service account token cannot be empty\n"},
		{"[fd00:ec2::23]:80", 400, "Service account token cannot be empty\n"},
		{"", 400, "Service account token cannot be empty\n"}, // 127.0.0.1:<port>, admitted for the lab
	} {
		got := get(t, url, http.MethodGet, tc.host, "")
		if got.status != tc.status || !strings.HasSuffix(got.body, tc.body) {
			t.Errorf("Host %q: %d %q, want %d ending %q", tc.host, got.status, got.body, tc.status, tc.body)
		}
		if got.ctype != "text/plain; charset=utf-8" {
			t.Errorf("Host %q: Content-Type %q, want text/plain like http.Error", tc.host, got.ctype)
		}
	}
	// Without the loopback override, the real agent's Host check refuses 127.0.0.1.
	_, strict := startAgent(t)
	if got := get(t, strict, http.MethodGet, "", ""); got.status != 403 || !strings.Contains(got.body, "please use either [169.254.170.23 fd00:ec2::23] address not 127.0.0.1") {
		t.Errorf("strict agent through 127.0.0.1: %d %q, want 403 naming the two agent addresses", got.status, got.body)
	}
	if n := a.Stats().Calls; n != 0 {
		t.Errorf("%d EKS Auth calls, want none", n)
	}
}

func TestAuthorizationErrors(t *testing.T) {
	t.Parallel()
	a, url := startAgent(t, "127.0.0.1")
	now := time.Now().Unix()
	good := `{"alg":"RS256","kid":"k"}`
	for _, tc := range []struct {
		name, auth, body string
	}{
		{"bearer prefix", "Bearer " + jwt(good, `{"exp":9999999999}`),
			"Service account token cannot be parsed: token is malformed: could not base64 decode header: illegal base64 data at input byte 6\n"},
		{"garbage", "not-a-token",
			"Service account token cannot be parsed: token is malformed: token contains an invalid number of segments\n"},
		{"bad JSON claims", jwt(good, `{"exp":`),
			"Service account token cannot be parsed: token is malformed: could not JSON decode claim: unexpected end of JSON input\n"},
		{"unknown alg", jwt(`{"alg":"XX999"}`, `{}`),
			"Service account token cannot be parsed: token is unverifiable: signing method (alg) is unavailable\n"},
		{"no alg", jwt(`{"typ":"JWT"}`, `{}`),
			"Service account token cannot be parsed: token is unverifiable: signing method (alg) is unspecified\n"},
		{"expired", jwt(good, `{"exp":`+itoa(now-60)+`}`),
			"Service account token failed basic claim validations: token has invalid claims: token is expired\n"},
		{"not yet valid", jwt(good, `{"exp":`+itoa(now+3600)+`,"nbf":`+itoa(now+600)+`}`),
			"Service account token failed basic claim validations: token has invalid claims: token is not valid yet\n"},
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost} { // any method, like the real mux
			got := get(t, url, method, "169.254.170.23", tc.auth)
			if got.status != 400 || got.body != tc.body {
				t.Errorf("%s (%s): %d %q, want 400 %q", tc.name, method, got.status, got.body, tc.body)
			}
		}
	}
	if n := a.Stats().Calls; n != 0 {
		t.Errorf("%d EKS Auth calls for tokens the agent must refuse itself, want none", n)
	}
	// A well-formed token gets past the agent's checks to EKS Auth. It is
	// unreachable here: the real agent then answers 500 with the empty request
	// id of the SDK's ResponseError (EKS-AUTH.md §3.4).
	got := get(t, url, http.MethodGet, "169.254.170.23", jwt(good, `{"exp":`+itoa(now+3600)+`}`))
	if got.status != 500 || got.body != "[]\n" {
		t.Errorf("good token, EKS Auth down: %d %q, want 500 \"[]\"", got.status, got.body)
	}
	if n := a.Stats().Calls; n != 1 {
		t.Errorf("%d EKS Auth calls, want 1", n)
	}
	if got := get(t, strings.TrimSuffix(url, Path)+"/v1/credentials/x", http.MethodGet, "169.254.170.23", ""); got.status != 404 {
		t.Errorf("other path: %d, want 404", got.status)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// The Go SDK's container provider surfaces the agent's text error as is.
func TestSDKSeesAgentErrors(t *testing.T) {
	t.Parallel()
	_, url := startAgent(t, "127.0.0.1")
	p := endpointcreds.New(url, func(o *endpointcreds.Options) {
		o.AuthorizationToken = "Bearer x.y.z"
		o.Retryer = aws.NopRetryer{}
	})
	_, err := p.Retrieve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Service account token cannot be parsed") {
		t.Fatalf("Retrieve through a bad token: %v, want the agent's message", err)
	}
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != 400 {
		t.Errorf("Retrieve error %T does not carry status 400", err)
	}
}

func TestNewNeedsClusterAndClient(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{}); err == nil || !strings.Contains(err.Error(), "Cluster is required") {
		t.Errorf("New without cluster: %v", err)
	}
	if _, err := New(Options{Cluster: "c"}); err == nil || !strings.Contains(err.Error(), "EKSAuth is required") {
		t.Errorf("New without client: %v", err)
	}
}

// A token bucket answers 429 beyond its rate, before any other check (the
// real agent: 1000/s, burst 500; here 0.01/s, burst 5).
func TestRateLimit(t *testing.T) {
	t.Parallel()
	cfg := aws.Config{Region: "us-west-2", Credentials: credentials.NewStaticCredentialsProvider("AKIDNODE", "secret", "")}
	a, err := New(Options{Cluster: "c", EKSAuth: NewEKSAuthClient(cfg, deadEndpoint(t), 0), JanitorEvery: -1, RequestRate: 0.01, RequestBurst: 5})
	if err != nil {
		t.Fatal(err)
	}
	url, err := a.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var got []int
	for i := 0; i < 7; i++ {
		ans := get(t, url, http.MethodGet, "10.0.0.1", "")
		got = append(got, ans.status)
		if ans.status == http.StatusTooManyRequests && ans.body != "Too Many Requests\n" {
			t.Errorf("429 body %q, want \"Too Many Requests\"", ans.body)
		}
	}
	if want := []int{403, 403, 403, 403, 403, 429, 429}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v (5 through to the Host check, then the bucket is empty)", got, want)
	}
}
