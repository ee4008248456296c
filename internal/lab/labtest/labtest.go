// Package labtest gives tests one lab control plane per test binary and fresh
// fakeaws servers wired to it.
//
//	func TestMain(m *testing.M) { labtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		env := labtest.Get(t)
//		fake := env.NewFake(t, fakeaws.Options{})
//		app := env.Namespace(t, "x")
//		…
//	}
//
// A lab that cannot be built or started fails the test binary with the
// reason; it is never skipped silently. With -short, lab tests skip and say so.
package labtest

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/agent"
)

// Env is the running lab of this test binary.
type Env struct {
	Kubeconfig string
	RESTConfig *rest.Config
	Client     kubernetes.Interface
	Server     string // apiserver URL
	CAData     []byte // PEM of the CA that Kubeconfig trusts

	// State is the lab's recorded state (processes, identities file, …).
	State *lab.State
	hub   *lab.Hub
}

var (
	env      *Env
	startErr error
)

// Main builds missing lab binaries, starts a lab, seeds the workshop's
// Kubernetes objects (carts, checkout, orders), runs the tests and stops the
// lab. Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Fprintln(os.Stderr, "labtest: -short: not starting the lab; lab tests will skip")
		return m.Run()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir, err := os.MkdirTemp("", "podid-lab-test-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "labtest: create lab folder: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)

	t0 := time.Now()
	cp, err := start(ctx, dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "labtest: FAIL: the lab did not start: %v\n", err)
		if cp != nil {
			_ = cp.Stop(context.Background())
		}
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "labtest: lab up in %s at %s\n", time.Since(t0).Round(time.Millisecond), env.Server)
	}
	code := m.Run()
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cp.Stop(stopCtx); err != nil {
		fmt.Fprintf(os.Stderr, "labtest: stop lab: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func start(ctx context.Context, dir string) (*lab.ControlPlane, error) {
	root, err := lab.RepoRoot()
	if err != nil {
		return nil, err
	}
	binDir, err := lab.Build(ctx, os.Stderr, root)
	if err != nil {
		return nil, err
	}
	cp, err := lab.Start(ctx, lab.Options{Dir: dir, BinDir: binDir})
	if err != nil {
		return nil, err
	}
	s := &cp.State
	rc, err := s.RESTConfig()
	if err != nil {
		return cp, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return cp, err
	}
	ca, err := s.CAData()
	if err != nil {
		return cp, err
	}
	if err := lab.SeedWorkshopKube(ctx, client); err != nil {
		return cp, fmt.Errorf("seed the workshop's Kubernetes objects: %w", err)
	}
	env = &Env{
		Kubeconfig: s.Kubeconfig,
		RESTConfig: rc,
		Client:     client,
		Server:     s.Server,
		CAData:     ca,
		State:      s,
		hub:        lab.NewBackend(client, s.IdentitiesFile),
	}
	return cp, nil
}

// Get returns the lab of this test binary. With -short it skips the test.
func Get(t testing.TB) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("lab test skipped: -short does not start the lab (run without -short to include it)")
	}
	if env == nil {
		t.Fatal("labtest.Get: no lab is running; add `func TestMain(m *testing.M) { labtest.Main(m) }` to the package's tests")
	}
	return env
}

// Kube is the lab cluster for lab.SeedWorkshop and friends.
func (e *Env) Kube() lab.Kube {
	return lab.Kube{Client: e.Client, Server: e.Server, CAData: e.CAData}
}

// NewFake starts a fresh in-process fakeaws server seeded with the workshop's
// AWS world, backed by the lab through its own backend handle. It is closed
// when the test ends. opts.Backend is replaced; unset EKS Auth hooks
// (IssuerKeys, PodLookup) are the lab apiserver's (lab.WireEKSAuth).
func (e *Env) NewFake(t testing.TB, opts fakeaws.Options) *fakeaws.Server {
	t.Helper()
	handle := e.hub.Handle()
	opts.Backend = handle
	lab.WireEKSAuth(&opts, e.Client)
	fake := fakeaws.New(opts)
	if _, err := fake.Start("127.0.0.1:0"); err != nil {
		handle.Close()
		t.Fatalf("start fakeaws: %v", err)
	}
	t.Cleanup(func() {
		fake.Close()
		if err := handle.Close(); err != nil {
			t.Errorf("close lab backend handle: %v", err)
		}
	})
	if err := lab.SeedWorkshopAWS(fake, e.Kube()); err != nil {
		t.Fatalf("seed fakeaws: %v", err)
	}
	return fake
}

// NewAgent starts a lab pod identity agent on 127.0.0.1 that exchanges
// tokens with fake's EKS Auth under the workshop node role (lab.StartAgent).
// It is closed when the test ends; its credentials URL is Agent.URL().
func (e *Env) NewAgent(t testing.TB, fake *fakeaws.Server, opts agent.Options) *agent.Agent {
	t.Helper()
	a, err := lab.StartAgent(fake, opts, nil)
	if err != nil {
		t.Fatalf("start lab agent: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("close lab agent: %v", err)
		}
	})
	return a
}

// App is a namespace made by Env.Namespace.
type App = lab.App

// NamespaceOption changes what Env.Namespace creates.
type NamespaceOption func(*lab.App)

// Replicas sets the Deployment's replicas (default 2).
func Replicas(n int32) NamespaceOption { return func(a *lab.App) { a.Replicas = n } }

// ServiceAccount names the service account created (default "app"); the
// Deployment uses it unless DeploymentSA says otherwise.
func ServiceAccount(name string) NamespaceOption {
	return func(a *lab.App) {
		if a.DeploymentSA == a.ServiceAccount {
			a.DeploymentSA = name
		}
		a.ServiceAccount = name
	}
}

// DeploymentSA sets the pod template's serviceAccountName ("" = default).
func DeploymentSA(name string) NamespaceOption {
	return func(a *lab.App) { a.DeploymentSA = name }
}

// Paused creates the Deployment paused.
func Paused() NamespaceOption { return func(a *lab.App) { a.Paused = true } }

// IRSA annotates the service account with eks.amazonaws.com/role-arn.
func IRSA(roleARN string) NamespaceOption {
	return func(a *lab.App) {
		a.SAAnnotations = map[string]string{lab.IRSAAnnotation: roleARN}
	}
}

// Namespace creates a fresh namespace <prefix>-<random> with a service account
// and a Deployment that uses it, waits for the rollout and deletes the
// namespace when the test ends.
func (e *Env) Namespace(t testing.TB, prefix string, opts ...NamespaceOption) *App {
	t.Helper()
	name := strings.ToLower(prefix) + "-" + randSuffix()
	a := &lab.App{
		Namespace:      name,
		ServiceAccount: "app",
		DeploymentSA:   "app",
		Deployment:     "app",
		Replicas:       2,
	}
	for _, o := range opts {
		o(a)
	}
	ctx := context.Background()
	t.Cleanup(func() {
		err := e.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
		if err != nil {
			t.Logf("delete namespace %s: %v", name, err)
		}
	})
	if err := lab.CreateApp(ctx, e.Client, *a); err != nil {
		t.Fatal(err)
	}
	if err := lab.WaitDeploymentRolledOut(ctx, e.Client, a.Namespace, a.Deployment, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	return a
}

func randSuffix() string {
	const letters = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 6)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return string(b)
}

// AWSEnv is the environment that points AWS SDKs and the CLI at a fake
// server, with dummy credentials and no shared config.
func AWSEnv(url string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + url,
		"AWS_ACCESS_KEY_ID=AKIDPODIDLAB",
		"AWS_SECRET_ACCESS_KEY=podid-lab-secret",
		"AWS_REGION=" + fakeaws.DefaultRegion,
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// AWSConfig is an SDK configuration for the fake at url: static credentials,
// the fake as base endpoint and a quick retryer without a retry budget.
func AWSConfig(url string) aws.Config {
	return aws.Config{
		Region:       fakeaws.DefaultRegion,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDPODIDLAB", "podid-lab-secret", ""),
		BaseEndpoint: aws.String(url),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.RateLimiter = ratelimit.None
				o.MaxAttempts = 5
				o.Backoff = retry.NewExponentialJitterBackoff(20 * time.Millisecond)
			})
		},
	}
}
