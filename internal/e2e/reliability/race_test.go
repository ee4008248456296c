package reliability

import (
	"sync"
	"testing"
	"time"

	"github.com/podid/podid/internal/lab/labtest"
)

// Five podid enable processes at once for the same service account: one
// association, every process exits 0, and the workload is restarted at most
// once per run (the runs that find the pods already injected restart
// nothing).
func TestConcurrentEnable(t *testing.T) {
	t.Parallel()
	const runs = 5
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"))
	env := procEnv(w.Env.Kubeconfig, w.Fake.URL())
	args := append([]string{"enable", "--cluster", "eks-workshop", "--timeout", "4m", "-o", "json"}, w.Target()...)
	before, _ := restarts(t, w)

	results := make([]result, runs)
	var wg sync.WaitGroup
	for i := range runs {
		p := startPodid(t, env, args...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = p.wait(5 * time.Minute)
		}()
	}
	wg.Wait()
	restarted := 0
	for i, r := range results {
		if r.Code != 0 {
			t.Errorf("run %d: exit %d\n%s\n%s", i, r.Code, r.Stdout, r.Stderr)
			continue
		}
		for _, s := range r.Doc(t).Steps {
			if s.Name == "restart" && s.Status == "changed" {
				restarted++
			}
		}
	}
	if as := w.Associations(w.App.Namespace); len(as) != 1 {
		t.Errorf("associations: %+v, want exactly one", as)
	}
	if n := w.Audited("CreatePodIdentityAssociation"); n != 1 {
		t.Errorf("CreatePodIdentityAssociation accepted %d times, want 1", n)
	}
	if n := w.Audited("CreateAddon"); n != 1 {
		t.Errorf("CreateAddon accepted %d times, want 1", n)
	}
	if inj, total := w.InjectedPods(t); total == 0 || inj != total {
		t.Errorf("%d of %d current pods injected", inj, total)
	}
	after, rss := restarts(t, w)
	n := 0
	for v := range after {
		if !before[v] {
			n++
		}
	}
	if n < 1 || n > restarted {
		t.Errorf("%d restarts (restartedAt values %v, %d ReplicaSets) but %d runs reported a restart: want 1 ≤ restarts ≤ runs that restarted", n, after, rss, restarted)
	}
	t.Logf("FIGURE concurrency: %d concurrent runs, all exit 0; %d reported a restart, %d distinct restarts, %d associations", runs, restarted, n, len(w.Associations(w.App.Namespace)))
}
