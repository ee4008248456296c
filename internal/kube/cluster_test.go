package kube

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/fail"
)

func testCert(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestMatchCluster(t *testing.T) {
	t.Parallel()
	caA := testCert(t, "a")
	caB := testCert(t, "b")
	leaf := testCert(t, "leaf")
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	const eks = "https://ABCDEF0123.gr7.us-west-2.eks.amazonaws.com"
	const eksHost = "abcdef0123.gr7.us-west-2.eks.amazonaws.com"
	tests := []struct {
		name     string
		kube     Endpoint
		eksURL   string
		eksCA    string
		wantNote []string // "" = none
		wantErr  string
	}{
		{name: "identical", kube: Endpoint{Server: eks, CAData: caA}, eksURL: eks, eksCA: b64(caA)},
		{name: "case, default port, trailing slash", kube: Endpoint{Server: "HTTPS://abcdef0123.GR7.us-west-2.eks.amazonaws.com:443/", CAData: caA}, eksURL: eks, eksCA: b64(caA)},
		{name: "no scheme on the EKS side", kube: Endpoint{Server: eks, CAData: caA}, eksURL: eksHost, eksCA: b64(caA)},
		{name: "lab port kept", kube: Endpoint{Server: "https://127.0.0.1:16443", CAData: caA}, eksURL: "https://127.0.0.1:16443/", eksCA: b64(caA)},
		{name: "EKS CA in kubeconfig bundle", kube: Endpoint{Server: eks, CAData: append(append([]byte{}, leaf...), caA...)}, eksURL: eks, eksCA: b64(caA)},
		{name: "kubeconfig without CA trusts the endpoint", kube: Endpoint{Server: eks}, eksURL: eks, eksCA: b64(caA)},
		{name: "EKS without CA", kube: Endpoint{Server: eks, CAData: caA}, eksURL: eks},

		// Through a tunnel, a proxy or a load balancer: the CA or tls-server-name decides, and podid says so.
		{name: "SSH tunnel matched by CA", kube: Endpoint{Server: "https://127.0.0.1:8443", CAData: caA}, eksURL: eks, eksCA: b64(caA),
			wantNote: []string{"through https://127.0.0.1:8443", "not its endpoint " + eks, "matched by the cluster's CA"}},
		{name: "proxy with tls-server-name and CA", kube: Endpoint{Server: "https://proxy.corp.example:443", CAData: caA, TLSServerName: eksHost}, eksURL: eks, eksCA: b64(caA),
			wantNote: []string{"through https://proxy.corp.example:443", "matched by tls-server-name " + eksHost + " and the cluster's CA"}},
		{name: "tls-server-name without a CA", kube: Endpoint{Server: "https://10.0.0.5:6443", TLSServerName: strings.ToUpper(eksHost)}, eksURL: eks, eksCA: b64(caA),
			wantNote: []string{"matched by tls-server-name"}},
		{name: "different scheme, same CA", kube: Endpoint{Server: "http://127.0.0.1:16443", CAData: caA}, eksURL: "https://127.0.0.1:16443", eksCA: b64(caA),
			wantNote: []string{"matched by the cluster's CA"}},

		// Refusals: nothing matches, or the CA contradicts the address.
		{name: "different CA, same endpoint", kube: Endpoint{Server: eks, CAData: caB}, eksURL: eks, eksCA: b64(caA), wantErr: "trusts a different CA"},
		{name: "different CA, tls-server-name", kube: Endpoint{Server: "https://127.0.0.1:8443", CAData: caB, TLSServerName: eksHost}, eksURL: eks, eksCA: b64(caA), wantErr: "trusts a different CA"},
		{name: "other endpoint, other CA", kube: Endpoint{Server: "https://127.0.0.1:16444", CAData: caB}, eksURL: "https://127.0.0.1:16443", eksCA: b64(caA),
			wantErr: "kubeconfig points at https://127.0.0.1:16444 and trusts another CA, but the EKS cluster's endpoint is https://127.0.0.1:16443: neither the endpoint nor the CA matches"},
		{name: "other host, no kubeconfig CA", kube: Endpoint{Server: "https://x.example.com"}, eksURL: eks, eksCA: b64(caA), wantErr: "kubeconfig points at https://x.example.com, but the EKS cluster's endpoint is " + eks},
		{name: "other host, EKS without CA", kube: Endpoint{Server: "https://x.example.com", CAData: caA}, eksURL: eks, wantErr: "no CA on both sides"},
		{name: "tls-server-name of another cluster", kube: Endpoint{Server: "https://127.0.0.1:8443", TLSServerName: "other.gr7.us-west-2.eks.amazonaws.com"}, eksURL: eks, eksCA: b64(caA), wantErr: "kubeconfig points at"},
		{name: "garbage kubeconfig CA", kube: Endpoint{Server: eks, CAData: []byte("not pem")}, eksURL: eks, eksCA: b64(caA), wantErr: "no PEM certificate"},
		{name: "garbage EKS CA, same endpoint", kube: Endpoint{Server: eks, CAData: caA}, eksURL: eks, eksCA: "!!!"},
		{name: "garbage EKS CA, other endpoint", kube: Endpoint{Server: "https://127.0.0.1:8443", CAData: caA}, eksURL: eks, eksCA: "bm90IGEgY2VydA==", wantErr: "no CA on both sides"},
		{name: "empty kubeconfig server", kube: Endpoint{CAData: caA}, eksURL: eks, eksCA: b64(caA), wantErr: "empty URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			note, err := MatchCluster(tt.kube, tt.eksURL, tt.eksCA)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if len(tt.wantNote) == 0 && note != "" {
				t.Errorf("note %q, want none for an endpoint match", note)
			}
			for _, w := range tt.wantNote {
				if !strings.Contains(note, w) {
					t.Errorf("note %q lacks %q", note, w)
				}
			}
			if SameCluster(tt.kube.Server, tt.kube.CAData, tt.eksURL, tt.eksCA) != nil && tt.kube.TLSServerName == "" {
				t.Errorf("SameCluster disagrees with MatchCluster")
			}
		})
	}
}

func TestSameClusterMismatchHint(t *testing.T) {
	t.Parallel()
	err := SameCluster("https://a.example.com", nil, "https://b.example.com", "")
	if got := fail.HintOf(err); !strings.Contains(got, "--context") || !strings.Contains(got, "aws eks update-kubeconfig --name") {
		t.Errorf("hint = %q, want --context and update-kubeconfig", got)
	}
	if fail.KindOf(err) != fail.KindVerification {
		t.Errorf("kind = %v, want verification", fail.KindOf(err))
	}
}

func TestRequestResource(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"/api/v1/namespaces/carts/pods":                          "pods",
		"/api/v1/namespaces/carts/pods/p1":                       "pods",
		"/api/v1/namespaces/carts":                               "namespaces",
		"/api/v1/nodes":                                          "nodes",
		"/apis/apps/v1/namespaces/carts/deployments/carts":       "deployments",
		"/apis/apps/v1/namespaces/carts/deployments/carts/scale": "deployments/scale",
		"/apis/apps/v1/daemonsets":                               "daemonsets",
		"/api":                                                   "/api",
		"/apis/apps/v1":                                          "(discovery)",
	}
	for path, want := range tests {
		if got := requestResource(path); got != want {
			t.Errorf("requestResource(%q) = %q, want %q", path, got, want)
		}
	}
}

const kubeconfigTmpl = `apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: https://127.0.0.1:16443/
    certificate-authority: CAFILE
- name: other
  cluster:
    server: https://other.example.com
    insecure-skip-tls-verify: true
- name: tunnel
  cluster:
    server: https://127.0.0.1:8443
    certificate-authority: CAFILE
    tls-server-name: abcdef0123.gr7.us-west-2.eks.amazonaws.com
users:
- name: admin
  user:
    token: abc
contexts:
- name: lab
  context: {cluster: lab, user: admin}
- name: other
  context: {cluster: other, user: admin}
- name: tunnel
  context: {cluster: tunnel, user: admin}
current-context: lab
`

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	ca := testCert(t, "ca")
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(kubeconfigTmpl, "CAFILE", caFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("current context", func(t *testing.T) {
		c, err := LoadWithOptions(LoadOptions{Kubeconfig: path, UserAgent: "podid/test"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Context != "lab" || c.Server != "https://127.0.0.1:16443/" || string(c.CAData) != string(ca) || c.Insecure {
			t.Errorf("got context %q server %q insecure %v CA %d bytes", c.Context, c.Server, c.Insecure, len(c.CAData))
		}
		if c.Config.QPS != DefaultQPS || c.Config.Burst != DefaultBurst || c.Config.UserAgent != "podid/test" {
			t.Errorf("QPS %v Burst %v UA %q", c.Config.QPS, c.Config.Burst, c.Config.UserAgent)
		}
		if err := SameCluster(c.Server, c.CAData, "https://127.0.0.1:16443", base64.StdEncoding.EncodeToString(ca)); err != nil {
			t.Errorf("SameCluster on the loaded kubeconfig: %v", err)
		}
	})
	t.Run("context override", func(t *testing.T) {
		c, err := Load(path, "other")
		if err != nil {
			t.Fatal(err)
		}
		if c.Context != "other" || !c.Insecure || len(c.CAData) != 0 || c.Config.UserAgent != "podid" {
			t.Errorf("got context %q insecure %v CA %d bytes UA %q", c.Context, c.Insecure, len(c.CAData), c.Config.UserAgent)
		}
	})
	t.Run("tunnel with tls-server-name", func(t *testing.T) {
		c, err := Load(path, "tunnel")
		if err != nil {
			t.Fatal(err)
		}
		if c.TLSServerName != "abcdef0123.gr7.us-west-2.eks.amazonaws.com" {
			t.Errorf("TLSServerName = %q", c.TLSServerName)
		}
		note, err := MatchCluster(Endpoint{Server: c.Server, CAData: c.CAData, TLSServerName: c.TLSServerName},
			"https://ABCDEF0123.gr7.us-west-2.eks.amazonaws.com", base64.StdEncoding.EncodeToString(ca))
		if err != nil || !strings.Contains(note, "matched by tls-server-name") {
			t.Errorf("MatchCluster on the loaded tunnel context: %q, %v", note, err)
		}
	})
	t.Run("unknown context lists the others", func(t *testing.T) {
		_, err := Load(path, "prod")
		if err == nil || !strings.Contains(err.Error(), `context "prod" not found`) {
			t.Fatalf("err = %v", err)
		}
		if h := fail.HintOf(err); !strings.Contains(h, "lab, other, tunnel") {
			t.Errorf("hint = %q, want the available contexts", h)
		}
	})
	t.Run("KUBECONFIG is honoured", func(t *testing.T) {
		t.Setenv("KUBECONFIG", path)
		c, err := Load("", "")
		if err != nil || c.Context != "lab" {
			t.Fatalf("Load via KUBECONFIG: %v", err)
		}
	})
	t.Run("no kubeconfig", func(t *testing.T) {
		t.Setenv("KUBECONFIG", filepath.Join(dir, "missing"))
		t.Setenv("HOME", dir)
		_, err := Load("", "")
		if err == nil || !strings.Contains(err.Error(), "no kubeconfig found") {
			t.Fatalf("err = %v", err)
		}
		if h := fail.HintOf(err); !strings.Contains(h, "aws eks update-kubeconfig --name") {
			t.Errorf("hint = %q", h)
		}
	})
	t.Run("empty explicit kubeconfig", func(t *testing.T) {
		_, err := Load(empty, "")
		if err == nil || !strings.Contains(err.Error(), "no kubeconfig found") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing explicit kubeconfig", func(t *testing.T) {
		_, err := Load(filepath.Join(dir, "nope"), "")
		if err == nil || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("err = %v", err)
		}
	})
}
