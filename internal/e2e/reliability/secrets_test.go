package reliability

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

const (
	plantedSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYplantedSECRETkey"
	plantedSession   = "IQoJb3JpZ2luX2VjEPLANTEDsessionTOKENxyz0123456789abcdefABCDEF"
	plantedSAToken   = "eyJhbGciOiJSUzI1NiJ9.PLANTEDserviceACCOUNTtoken.c2lnbmF0dXJl"
	plantedBadKube   = "PLANTEDwrongKUBEtoken0123456789"
)

// Nothing podid prints, on stdout or stderr, in text or JSON, with -v, on
// success or on failure, contains a secret it was handed or could read.
func TestNoSecretsInOutput(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"))
	ctx := context.Background()
	// A service-account token Secret in the namespace.
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "carts-token", Namespace: w.App.Namespace, Annotations: map[string]string{corev1.ServiceAccountNameKey: "carts"}},
		Type:       corev1.SecretTypeServiceAccountToken,
		Data:       map[string][]byte{corev1.ServiceAccountTokenKey: []byte(plantedSAToken)},
	}
	if _, err := w.Env.Client.CoreV1().Secrets(w.App.Namespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The lab kubeconfig carries a bearer token: it is a secret too.
	kc, err := os.ReadFile(w.Env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+token:\s*(\S+)\s*$`).FindSubmatch(kc)
	if m == nil {
		t.Fatalf("the lab kubeconfig has no bearer token:\n%s", kc)
	}
	kubeToken := string(m[1])
	badKube := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(badKube, []byte(strings.Replace(string(kc), kubeToken, plantedBadKube, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := []string{plantedSecretKey, plantedSession, plantedSAToken, plantedBadKube, kubeToken}

	env := procEnv(w.Env.Kubeconfig, w.Fake.URL(), "AWS_SECRET_ACCESS_KEY="+plantedSecretKey, "AWS_SESSION_TOKEN="+plantedSession)
	// procEnv's AWS_SECRET_ACCESS_KEY comes first; ours must win.
	env = dedupEnv(env)
	badKubeEnv := dedupEnv(append(append([]string{}, env...), "KUBECONFIG="+badKube))
	expiredEnv := dedupEnv(append(append([]string{}, env...), "AWS_ACCESS_KEY_ID=EXPIREDAKID0001"))
	target := []string{"--cluster", "eks-workshop", "--ns", w.App.Namespace, "--sa", "carts", "--timeout", "2m"}
	runs := []struct {
		name string
		env  []string
		args []string
		ok   bool
		pre  func()
	}{
		{"enable text -v", env, append([]string{"enable", "-v"}, target...), true, nil},
		{"enable json -v (unchanged)", env, append([]string{"enable", "-v", "-o", "json"}, target...), true, nil},
		{"verify-role json -v", env, append([]string{"verify-role", "-v", "-o", "json"}, target...), true, nil},
		{"restart --force -v", env, append([]string{"restart", "-v", "--force"}, target...), true, nil},
		{"enable with an unknown role -v", env, append([]string{"enable", "-v", "--role", "nope"}, target...), false, nil},
		{"enable with expired credentials json -v", expiredEnv, append([]string{"enable", "-v", "-o", "json"}, target...), false, nil},
		{"enable with a rejected kube token -v", badKubeEnv, append([]string{"enable", "-v"}, target...), false, nil},
		{"enable with a rejected kube token json", badKubeEnv, append([]string{"enable", "-o", "json"}, target...), false, nil},
		{"verify-role denied iam:GetRole -v", env, append([]string{"verify-role", "-v", "--role", lab.CartsRole}, target...), false,
			func() { w.Fake.SetCallerPolicy(withoutAction(t, "iam:GetRole")) }},
		{"verify-role denied iam:GetRole json", env, append([]string{"verify-role", "-o", "json", "--role", lab.CartsRole}, target...), false, nil},
		{"enable -v while eks is down", env, append([]string{"enable", "-v", "--timeout", "5s"}, target[:len(target)-2]...), false,
			func() { w.Fake.SetCallerPolicy(""); w.Fake.SetFaults(fakeawsDown("eks")) }},
	}
	for _, r := range runs {
		if r.pre != nil {
			r.pre()
		}
		res := runPodid(t, r.env, 3*time.Minute, r.args...)
		if (res.Code == 0) != r.ok {
			t.Errorf("%s: exit %d, want success=%v\n%s", r.name, res.Code, r.ok, res.Stderr)
		}
		out := res.Stdout + res.Stderr
		if len(out) == 0 {
			t.Errorf("%s: printed nothing: nothing was scanned", r.name)
		}
		for _, s := range secrets {
			for _, frag := range []string{s, s[:12], s[len(s)-12:]} {
				if strings.Contains(out, frag) {
					t.Errorf("%s: output contains a secret (%q…):\n%s", r.name, frag, out)
				}
			}
		}
	}
	t.Logf("FIGURE secrets: %d secrets planted, %d runs scanned (text and JSON, -v, success and failure)", len(secrets), len(runs))
}

// dedupEnv keeps the last value of each variable.
func dedupEnv(env []string) []string {
	idx := map[string]int{}
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

func fakeawsDown(services ...string) fakeaws.Faults { return fakeaws.Faults{Down: services} }
