package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/podid/podid/internal/app"
	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/iostreams"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// rig is the lab of this test binary plus a backend hub of our own, so
// that every fake's SetIdentities can be timed (labtest's hub is not used
// in this binary, so the two never write the identities file in turn).
type rig struct {
	env *labtest.Env
	hub *lab.Hub
}

var (
	rigOnce sync.Once
	theRig  *rig
)

func getRig(tb testing.TB) *rig {
	tb.Helper()
	env := labtest.Get(tb)
	rigOnce.Do(func() {
		theRig = &rig{env: env, hub: lab.NewBackend(env.Client, env.State.IdentitiesFile)}
	})
	return theRig
}

// timedBackend is the lab backend of one fake that records when each
// identities snapshot took effect: when the webhook's identities file was
// renamed into place (the webhook reloads it within a millisecond; see
// LAB.md §3.8).
type timedBackend struct {
	*lab.Handle

	mu      sync.Mutex
	applied []appliedSnapshot
	changed chan struct{} // closed and replaced on every snapshot
}

type appliedSnapshot struct {
	at  time.Time
	ids []fakeaws.Identity
}

func (b *timedBackend) SetIdentities(ctx context.Context, cluster string, ids []fakeaws.Identity) error {
	if err := b.Handle.SetIdentities(ctx, cluster, ids); err != nil {
		return err
	}
	at := time.Now()
	b.mu.Lock()
	b.applied = append(b.applied, appliedSnapshot{at: at, ids: append([]fakeaws.Identity(nil), ids...)})
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
	return nil
}

// appliedAt returns when (ns, sa) first took effect, or the zero time.
func (b *timedBackend) appliedAt(ns, sa string) (time.Time, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.applied {
		for _, id := range s.ids {
			if id.Namespace == ns && id.ServiceAccount == sa {
				return s.at, b.changed
			}
		}
	}
	return time.Time{}, b.changed
}

// waitApplied waits until (ns, sa) has taken effect and returns when it did.
func (b *timedBackend) waitApplied(ctx context.Context, ns, sa string) (time.Time, error) {
	for {
		at, changed := b.appliedAt(ns, sa)
		if !at.IsZero() {
			return at, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("association %s/%s never took effect in the lab's webhook: %w", ns, sa, ctx.Err())
		case <-changed:
		}
	}
}

// world is one fake AWS wired to the lab through a timed backend.
type world struct {
	r       *rig
	fake    *fakeaws.Server
	backend *timedBackend
	eks     *eks.Client
}

// newWorld starts a fresh fake seeded with the workshop world; it is closed
// when tb ends (or by close, for a per-repetition world).
func (r *rig) newWorld(tb testing.TB, opts fakeaws.Options) *world {
	tb.Helper()
	b := &timedBackend{Handle: r.hub.Handle(), changed: make(chan struct{})}
	opts.Backend = b
	lab.WireEKSAuth(&opts, r.env.Client) // EKS Auth checks pod tokens against the lab's issuer
	fake := fakeaws.New(opts)
	if _, err := fake.Start("127.0.0.1:0"); err != nil {
		_ = b.Close()
		tb.Fatalf("start fakeaws: %v", err)
	}
	w := &world{r: r, fake: fake, backend: b, eks: eks.NewFromConfig(labtest.AWSConfig(fake.URL()))}
	tb.Cleanup(func() { w.close(tb) })
	if err := lab.SeedWorkshopAWS(fake, r.env.Kube()); err != nil {
		tb.Fatalf("seed fakeaws: %v", err)
	}
	return w
}

func (w *world) close(tb testing.TB) {
	if w.fake == nil {
		return
	}
	_ = w.fake.Close()
	if err := w.backend.Close(); err != nil {
		tb.Errorf("close lab backend handle: %v", err)
	}
	w.fake = nil
}

// associate creates the association of ns/sa to the carts role.
func (w *world) associate(ctx context.Context, ns, sa string) error {
	_, err := w.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName:    aws.String(lab.WorkshopCluster),
		Namespace:      aws.String(ns),
		ServiceAccount: aws.String(sa),
		RoleArn:        aws.String(lab.RoleARN(lab.CartsRole)),
	})
	if err != nil {
		return fmt.Errorf("create pod identity association %s/%s on the fake: %w", ns, sa, err)
	}
	return nil
}

// calls is the fake's call counts since the last ResetCounts, total and
// per operation.
func (w *world) calls() (int, map[string]int) {
	c := w.fake.CallCounts()
	n := 0
	for _, v := range c {
		n += v
	}
	return n, c
}

// resetAgent deletes the agent DaemonSet and waits until it and its pods
// are gone, so that the next add-on starts from nothing.
func (r *rig) resetAgent(ctx context.Context) error {
	c := r.env.Client
	fg := metav1.DeletePropagationForeground
	err := c.AppsV1().DaemonSets(lab.AgentNamespace).Delete(ctx, lab.AgentName, metav1.DeleteOptions{PropagationPolicy: &fg})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete DaemonSet %s/%s: %w", lab.AgentNamespace, lab.AgentName, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		_, err := c.AppsV1().DaemonSets(lab.AgentNamespace).Get(ctx, lab.AgentName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			pods, perr := c.CoreV1().Pods(lab.AgentNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + lab.AgentName})
			if perr == nil && len(pods.Items) == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("DaemonSet %s/%s or its pods still exist after 2m: %w", lab.AgentNamespace, lab.AgentName, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// genWatch notices the first change of a Deployment's generation (a
// restart patches the pod template, which bumps it) and records when the
// watch event arrived.
type genWatch struct {
	gen0 int64
	done chan struct{}
	stop func()

	mu          sync.Mutex
	at          time.Time
	restartedAt string
	err         error
}

func (r *rig) watchGeneration(ctx context.Context, ns, name string) (*genWatch, error) {
	api := r.env.Client.AppsV1().Deployments(ns)
	d, err := api.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get deployment %s/%s: %w", ns, name, err)
	}
	w, err := api.Watch(ctx, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
		ResourceVersion: d.ResourceVersion,
	})
	if err != nil {
		return nil, fmt.Errorf("watch deployment %s/%s: %w", ns, name, err)
	}
	g := &genWatch{gen0: d.Generation, done: make(chan struct{}), stop: w.Stop}
	go func() {
		defer close(g.done)
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				g.mu.Lock()
				g.err = apierrors.FromObject(ev.Object)
				g.mu.Unlock()
				return
			}
			nd, ok := ev.Object.(*appsv1.Deployment)
			if !ok || nd.Generation <= g.gen0 {
				continue
			}
			now := time.Now()
			g.mu.Lock()
			g.at = now
			g.restartedAt = nd.Spec.Template.Annotations[kube.RestartedAtAnnotation]
			g.mu.Unlock()
			return
		}
		g.mu.Lock()
		g.err = errors.New("watch ended before the generation changed")
		g.mu.Unlock()
	}()
	return g, nil
}

// wait returns when the generation changed.
func (g *genWatch) wait(ctx context.Context) (time.Time, error) {
	select {
	case <-g.done:
	case <-ctx.Done():
		g.stop()
		return time.Time{}, fmt.Errorf("the Deployment's generation did not change: %w", ctx.Err())
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.at.IsZero() {
		return time.Time{}, fmt.Errorf("the Deployment's generation did not change: %v", g.err)
	}
	return g.at, nil
}

// run is one process (or in-process) run of a command.
type run struct {
	Code           int
	Stdout, Stderr string
	Start, End     time.Time
}

func (r run) Wall() time.Duration { return r.End.Sub(r.Start) }

func (r run) String() string {
	return fmt.Sprintf("exit %d after %s\nstdout:\n%s\nstderr:\n%s", r.Code, r.Wall().Round(time.Millisecond), r.Stdout, r.Stderr)
}

// podidBinary is $PODID_BIN or bin/podid of the checkout (make bench builds it).
func podidBinary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("PODID_BIN"); p != "" {
		return p
	}
	root, err := lab.RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(root, "bin", "podid")
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("podid binary %s: %v; build it with `make build` (make bench does), or set PODID_BIN", p, err)
	}
	return p
}

// kubectlBinary is kubectl from PATH or /usr/local/bin.
func kubectlBinary(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/local/bin/kubectl"); err == nil {
		return "/usr/local/bin/kubectl"
	}
	tb.Fatal("kubectl not found on PATH or in /usr/local/bin; install it to run the kubectl anchors")
	return ""
}

// execute runs bin with args and env (added to a minimal PATH/HOME).
func execute(ctx context.Context, env []string, bin string, args ...string) run {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	r := run{Start: time.Now()}
	err := cmd.Run()
	r.End = time.Now()
	r.Stdout, r.Stderr = out.String(), errOut.String()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		r.Code = -1
		r.Stderr += "\nexec: " + err.Error()
	}
	return r
}

// podidExec runs the podid binary against w's fake and the lab.
func (w *world) podidExec(ctx context.Context, tb testing.TB, args ...string) run {
	env := append(labtest.AWSEnv(w.fake.URL()), "KUBECONFIG="+w.r.env.Kubeconfig)
	full := append([]string{"--cluster", lab.WorkshopCluster, "--timeout", "5m"}, args...)
	return execute(ctx, env, podidBinary(tb), full...)
}

// podidInProcess runs podid in this process (for make test, where
// bin/podid may not be built).
func (w *world) podidInProcess(ctx context.Context, args ...string) run {
	ios, _, out, errOut := iostreams.Test()
	f := cmdutil.NewFactory(ios, "bench")
	f.SetAWS(awsapi.New(labtest.AWSConfig(w.fake.URL()), nil))
	full := append([]string{"--kubeconfig", w.r.env.Kubeconfig, "--cluster", lab.WorkshopCluster, "--timeout", "5m"}, args...)
	r := run{Start: time.Now()}
	r.Code = app.RunWith(ctx, f, full)
	r.End = time.Now()
	r.Stdout, r.Stderr = out.String(), errOut.String()
	return r
}

// kubectl runs kubectl with the lab's kubeconfig.
func (r *rig) kubectl(ctx context.Context, tb testing.TB, args ...string) run {
	return execute(ctx, []string{"KUBECONFIG=" + r.env.Kubeconfig}, kubectlBinary(tb), args...)
}

// assertInjected checks that every current pod of the Deployment has the
// Pod Identity injection.
func (r *rig) assertInjected(ctx context.Context, ns, name string) error {
	wl, err := kube.GetWorkload(ctx, r.env.Client, ns, kube.KindDeployment, name)
	if err != nil {
		return err
	}
	pods, _, err := kube.CurrentPods(ctx, r.env.Client, wl)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		return fmt.Errorf("deployment %s/%s has no current pods", ns, name)
	}
	var missing []string
	for i := range pods {
		if in := kube.CheckInjection(&pods[i]); !in.Injected() {
			missing = append(missing, pods[i].Name+" lacks "+strings.Join(in.Missing, ", "))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("deployment %s/%s: %s", ns, name, strings.Join(missing, "; "))
	}
	return nil
}
