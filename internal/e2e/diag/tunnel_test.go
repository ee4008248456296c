package diag

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tunnel forwards TCP from a new 127.0.0.1 port to target (host:port), as
// `ssh -L` or `kubectl port-forward` to a bastion would; it returns its
// address.
func tunnel(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}

func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "another-cluster-ca"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// A kubeconfig that reaches the lab's apiserver through a tunnel (another
// address than the cluster's endpoint) is accepted because it trusts the
// cluster's CA, and podid says so; one that trusts another CA at another
// address is refused, changing nothing.
func TestKubeContextThroughTunnel(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	raw, err := os.ReadFile(w.Env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	server := strings.TrimPrefix(w.Env.Server, "https://")
	local := tunnel(t, server)
	dir := t.TempDir()
	tunnelled := filepath.Join(dir, "tunnel.kubeconfig")
	if err := os.WriteFile(tunnelled, []byte(strings.ReplaceAll(string(raw), w.Env.Server, "https://"+local)), 0o600); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), w.Env.Server) {
		t.Fatalf("the lab kubeconfig does not name the server %s", w.Env.Server)
	}

	r := w.Podid(t, append([]string{"status", "--kubeconfig", tunnelled}, w.Target()...)...)
	if r.Code != 0 && r.Code != 3 {
		t.Fatalf("status through the tunnel: exit %d\n%s", r.Code, r.Stderr)
	}
	for _, want := range []string{`note: kube context "podid-lab"`, "reaches the cluster through https://" + local, "not its endpoint " + w.Env.Server, "matched by the cluster's CA"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}

	caFile := filepath.Join(dir, "other-ca.crt")
	if err := os.WriteFile(caFile, otherCA(t), 0o600); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(string(raw), w.Env.Server, "https://"+local), "\n") {
		if strings.Contains(l, "certificate-authority") {
			l = l[:strings.Index(l, "certificate-authority")] + "certificate-authority: " + caFile
		}
		lines = append(lines, l)
	}
	wrong := filepath.Join(dir, "wrong.kubeconfig")
	if err := os.WriteFile(wrong, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	r = w.Podid(t, append([]string{"enable", "--kubeconfig", wrong}, w.Target()...)...)
	if r.Code != 3 || !strings.Contains(r.Stderr, "neither the endpoint nor the CA matches") || !strings.Contains(r.Stderr, "--context") {
		t.Errorf("enable with another cluster's CA through a tunnel: exit %d, want 3 naming the mismatch\n%s", r.Code, r.Stderr)
	}
	if a := w.Fake.Audit(); len(a) != 0 {
		t.Errorf("AWS changed: %+v", a)
	}
}
