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

func TestSameCluster(t *testing.T) {
	t.Parallel()
	caA := testCert(t, "a")
	caB := testCert(t, "b")
	leaf := testCert(t, "leaf")
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	const eks = "https://ABCDEF0123.gr7.us-west-2.eks.amazonaws.com"
	tests := []struct {
		name       string
		kubeServer string
		kubeCA     []byte
		eksURL     string
		eksCA      string
		wantErr    string
	}{
		{"identical", eks, caA, eks, b64(caA), ""},
		{"case, default port, trailing slash", "HTTPS://abcdef0123.GR7.us-west-2.eks.amazonaws.com:443/", caA, eks, b64(caA), ""},
		{"no scheme on the EKS side", eks, caA, "abcdef0123.gr7.us-west-2.eks.amazonaws.com", b64(caA), ""},
		{"lab port kept", "https://127.0.0.1:16443", caA, "https://127.0.0.1:16443/", b64(caA), ""},
		{"different port", "https://127.0.0.1:16443", caA, "https://127.0.0.1:16444", b64(caA), "kubeconfig points at https://127.0.0.1:16443, but the EKS cluster's endpoint is https://127.0.0.1:16444"},
		{"different host", "https://other.gr7.us-west-2.eks.amazonaws.com", caA, eks, b64(caA), "but the EKS cluster's endpoint is " + eks},
		{"different scheme", "http://127.0.0.1:16443", caA, "https://127.0.0.1:16443", b64(caA), "kubeconfig points at"},
		{"EKS CA in kubeconfig bundle", eks, append(append([]byte{}, leaf...), caA...), eks, b64(caA), ""},
		{"different CA", eks, caB, eks, b64(caA), "trusts a different CA"},
		{"kubeconfig without CA trusts the endpoint", eks, nil, eks, b64(caA), ""},
		{"kubeconfig without CA, other endpoint", "https://x.example.com", nil, eks, b64(caA), "kubeconfig points at"},
		{"EKS without CA", eks, caA, eks, "", ""},
		{"garbage kubeconfig CA", eks, []byte("not pem"), eks, b64(caA), "no PEM certificate"},
		{"garbage EKS CA", eks, caA, eks, "!!!", "decode the EKS cluster's certificateAuthority.data"},
		{"empty kubeconfig server", "", caA, eks, b64(caA), "empty URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := SameCluster(tt.kubeServer, tt.kubeCA, tt.eksURL, tt.eksCA)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
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
users:
- name: admin
  user:
    token: abc
contexts:
- name: lab
  context: {cluster: lab, user: admin}
- name: other
  context: {cluster: other, user: admin}
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
	t.Run("unknown context lists the others", func(t *testing.T) {
		_, err := Load(path, "prod")
		if err == nil || !strings.Contains(err.Error(), `context "prod" not found`) {
			t.Fatalf("err = %v", err)
		}
		if h := fail.HintOf(err); !strings.Contains(h, "lab, other") {
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
