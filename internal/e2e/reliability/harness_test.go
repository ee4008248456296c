// Package reliability tests podid's reliability and security on the lab:
// API faults, crashes and reruns, concurrent runs, bad input that must change
// nothing, secrets that must never be printed, the README's least-privilege
// policy and trust hygiene. The AWS clients use podid's own retryer
// (awsapi.Retryer), so what is tested is what ships.
package reliability

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/e2e/e2etest"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// result is one podid run.
type result = e2etest.Result

func all(r result) string { return r.Stdout + "\n" + r.Stderr }

// world is one test's fake AWS and (optionally) lab namespace; its podid
// runs use podid's real retryer.
type world = e2etest.World

func newWorld(t *testing.T, opts fakeaws.Options, nsOpts ...labtest.NamespaceOption) *world {
	t.Helper()
	w := e2etest.New(t, opts, "rel", nsOpts...)
	w.Config, w.Timeout = awsConfig, "10m"
	return w
}

var fastOpts = e2etest.FastOpts

// awsConfig is the lab's SDK configuration for the fake with podid's real
// retryer instead of labtest's quick one.
func awsConfig(url string) aws.Config {
	cfg := labtest.AWSConfig(url)
	cfg.Retryer = func() aws.Retryer { return awsapi.Retryer(0, 0) }
	return cfg
}

// addonStatus is the agent add-on's status in the fake ("" = none).
func addonStatus(w *world) string {
	for _, c := range w.Fake.State().Clusters {
		if c.Name != lab.WorkshopCluster {
			continue
		}
		for _, a := range c.Addons {
			if a.Name == fakeaws.AgentAddonName {
				return a.Status
			}
		}
	}
	return ""
}

// restarts is the set of distinct restartedAt values over the Deployment's
// ReplicaSets (and its current template): each value is one restart.
func restarts(t *testing.T, w *world) (values map[string]bool, replicaSets int) {
	t.Helper()
	ctx := context.Background()
	rss, err := w.Env.Client.AppsV1().ReplicaSets(w.App.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	values = map[string]bool{}
	for _, rs := range rss.Items {
		if v := rs.Spec.Template.Annotations[kube.RestartedAtAnnotation]; v != "" {
			values[v] = true
		}
	}
	d, err := w.Env.Client.AppsV1().Deployments(w.App.Namespace).Get(ctx, w.App.Deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := d.Spec.Template.Annotations[kube.RestartedAtAnnotation]; v != "" {
		values[v] = true
	}
	return values, len(rss.Items)
}

var mustContain = e2etest.MustContain

// ---- the podid binary as a subprocess ----

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// podidBinary builds ./cmd/podid once per test binary into the lab's folder
// (removed with the lab).
func podidBinary(t *testing.T) string {
	t.Helper()
	env := labtest.Get(t)
	buildOnce.Do(func() {
		root, err := lab.RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp(filepath.Dir(env.Kubeconfig), "podid-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "podid")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/podid")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("go build ./cmd/podid: %v\n%s", buildErr, binPath)
	}
	return binPath
}

// procEnv is the environment of a podid subprocess: the machine's, less
// anything AWS or kube, plus the fake's and the lab's.
func procEnv(kubeconfig, url string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "EKS_CLUSTER_NAME=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, labtest.AWSEnv(url)...)
	env = append(env, "KUBECONFIG="+kubeconfig)
	return append(env, extra...)
}

// proc is a running podid subprocess whose stderr is watched line by line.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout strings.Builder
	stderr strings.Builder
	lines  chan string
	done   chan struct{}
	code   int
}

func startPodid(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{lines: make(chan string, 1024), done: make(chan struct{})}
	p.cmd = exec.Command(podidBinary(t), args...)
	p.cmd.Env = env
	p.cmd.Stdout = &lockedWriter{mu: &p.mu, b: &p.stdout}
	pr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			l := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(l + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- l:
			default:
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		<-scanned
		err := p.cmd.Wait()
		p.code = exitCode(err)
		close(p.lines)
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitLine waits for a stderr line that matches; false when the process
// ended first or the deadline passed.
func (p *proc) waitLine(match func(string) bool, timeout time.Duration) (string, bool) {
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return "", false
			}
			if match(l) {
				return l, true
			}
		case <-deadline:
			return "", false
		}
	}
}

func (p *proc) signal(s syscall.Signal) { _ = p.cmd.Process.Signal(s) }

// wait drains the lines and waits for exit.
func (p *proc) wait(timeout time.Duration) (result, bool) {
	go func() {
		for range p.lines {
		}
	}()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return p.result(), false
	}
	return p.result(), true
}

func (p *proc) result() result {
	p.mu.Lock()
	defer p.mu.Unlock()
	return result{Code: p.code, Stdout: p.stdout.String(), Stderr: p.stderr.String()}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// runPodid runs the binary to the end.
func runPodid(t *testing.T, env []string, timeout time.Duration, args ...string) result {
	t.Helper()
	p := startPodid(t, env, args...)
	r, ok := p.wait(timeout)
	if !ok {
		t.Fatalf("podid %s did not end within %s\n%s", strings.Join(args, " "), timeout, r.Stderr)
	}
	if testing.Verbose() {
		t.Logf("podid %s → exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}
