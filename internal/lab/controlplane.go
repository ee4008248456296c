package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Options configure Start.
type Options struct {
	// Dir holds the lab's state. Start uses Dir/run; Stop removes it.
	Dir string
	// BinDir holds the binaries and the kwok stage file (see Build).
	BinDir string
	// Nodes is the number of kwok nodes (default 3).
	Nodes int
	// Progress receives one line per phase (may be nil).
	Progress io.Writer
}

// State is what a running lab records in Dir/run/state.json.
type State struct {
	Dir            string    `json:"dir"` // the run folder
	BinDir         string    `json:"binDir"`
	Server         string    `json:"server"` // https://127.0.0.1:<port>
	Token          string    `json:"token"`
	Kubeconfig     string    `json:"kubeconfig"`
	CAFile         string    `json:"caFile"` // the apiserver's CA (PEM)
	IdentitiesFile string    `json:"identitiesFile"`
	WebhookURL     string    `json:"webhookURL"`
	Processes      []Process `json:"processes"`
	Started        time.Time `json:"started"`
}

// ControlPlane is a running lab.
type ControlPlane struct {
	State State
}

const stateFile = "state.json"

// RunDir is the folder under dir that a lab's state lives in.
func RunDir(dir string) string { return filepath.Join(dir, "run") }

// Load reads the state of the lab in dir.
func Load(dir string) (*State, error) {
	p := filepath.Join(RunDir(dir), stateFile)
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no lab in %s (no %s): start one with `podid-lab up --dir %s`: %w", dir, p, dir, err)
		}
		return nil, fmt.Errorf("read lab state %s: %w", p, err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse lab state %s: %w (remove %s after stopping its processes)", p, err, RunDir(dir))
	}
	return &s, nil
}

func (s *State) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.Dir, stateFile), b, 0o600)
}

// CAData is the PEM of the CA that the kubeconfig trusts.
func (s *State) CAData() ([]byte, error) {
	b, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read lab CA %s: %w", s.CAFile, err)
	}
	return b, nil
}

// RESTConfig is an admin client configuration for the lab.
func (s *State) RESTConfig() (*rest.Config, error) {
	ca, err := s.CAData()
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host:            s.Server,
		BearerToken:     s.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca},
		QPS:             200,
		Burst:           400,
	}, nil
}

// Client is an admin clientset for the lab.
func (s *State) Client() (kubernetes.Interface, error) {
	cfg, err := s.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// Alive lists the recorded processes that are not running.
func (s *State) Dead() []Process {
	var dead []Process
	for _, p := range s.Processes {
		if !p.Alive() {
			dead = append(dead, p)
		}
	}
	return dead
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func freePorts(n int) ([]int, error) {
	// Hold all listeners until every port is chosen, so they differ.
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Start starts a lab in opts.Dir: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok with its nodes and the pod identity webhook. It returns
// when the nodes are Ready, the default service account exists and the
// webhook mutates pods. On failure it stops what it started.
func Start(ctx context.Context, opts Options) (cp *ControlPlane, err error) {
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	if missing := Missing(opts.BinDir); len(missing) > 0 {
		return nil, fmt.Errorf("lab binaries missing from %s: %v (build them with lab.Build or `podid-lab up`)", opts.BinDir, missing)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	run := RunDir(dir)
	if old, err := Load(dir); err == nil {
		for _, p := range old.Processes {
			if p.Alive() {
				return nil, fmt.Errorf("a lab is already running in %s (%s pid %d); stop it first with `podid-lab down --dir %s`", dir, p.Name, p.PID, dir)
			}
		}
	}
	if err := os.RemoveAll(run); err != nil {
		return nil, fmt.Errorf("clear old lab state %s: %w", run, err)
	}
	pki := filepath.Join(run, "pki")
	logs := filepath.Join(run, "logs")
	for _, d := range []string{filepath.Join(pki, "apiserver"), logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create lab folder %s: %w", d, err)
		}
	}
	if err := os.Mkdir(filepath.Join(run, "etcd"), 0o700); err != nil {
		return nil, fmt.Errorf("create etcd data folder: %w", err)
	}

	s := &State{Dir: run, BinDir: opts.BinDir, Token: randomHex(16), Started: time.Now()}
	cp = &ControlPlane{State: *s}
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
			defer cancel()
			_ = stopProcesses(stopCtx, s.Processes, 10*time.Second)
			cp = nil
		}
	}()
	start := time.Now()
	step := func(format string, args ...any) {
		fmt.Fprintf(progress, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	record := func(p Process) error {
		s.Processes = append(s.Processes, p)
		return s.save()
	}
	bin := func(name string) string { return filepath.Join(opts.BinDir, name) }
	env := cleanEnv()

	saKey, saPub := filepath.Join(pki, "sa.key"), filepath.Join(pki, "sa.pub")
	if err := writeServiceAccountKeys(saKey, saPub); err != nil {
		return nil, err
	}
	tokens := filepath.Join(pki, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(s.Token+",admin,admin-uid,system:masters\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write token file: %w", err)
	}
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	etcdPort, peerPort, apiPort, webhookPort, metricsPort := ports[0], ports[1], ports[2], ports[3], ports[4]

	// etcd
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := spawn("etcd", bin(BinEtcd), []string{
		"--name=lab",
		"--data-dir=" + filepath.Join(run, "etcd"),
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=lab=" + peerURL,
		"--quota-backend-bytes=2147483648",
		"--unsafe-no-fsync",
		"--log-level=warn",
	}, env, filepath.Join(logs, "etcd.log"))
	if err != nil {
		return nil, err
	}
	p.URL = etcdURL
	if err := record(p); err != nil {
		return nil, err
	}

	// kube-apiserver (spawned right away; it retries etcd until it answers)
	certDir := filepath.Join(pki, "apiserver")
	s.Server = "https://127.0.0.1:" + strconv.Itoa(apiPort)
	p, err = spawn("kube-apiserver", bin(BinAPIServer), []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--advertise-address=192.0.2.10",
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + certDir,
		"--token-auth-file=" + tokens,
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saPub,
		"--service-account-signing-key-file=" + saKey,
		"--allow-privileged=true",
		"--profiling=false",
	}, env, filepath.Join(logs, "kube-apiserver.log"))
	if err != nil {
		return nil, err
	}
	p.URL = s.Server
	if err := record(p); err != nil {
		return nil, err
	}
	if err := pollHTTP(ctx, "etcd", s.Processes[0], etcdURL+"/health", nil, 30*time.Second); err != nil {
		return nil, err
	}
	step("etcd healthy at %s", etcdURL)

	// kubeconfig and ca.crt from the apiserver's self-signed bundle
	bundlePath := filepath.Join(certDir, "apiserver.crt")
	var bundle []byte
	err = poll(ctx, 30*time.Second, func() (bool, error) {
		if !s.Processes[1].Alive() {
			return false, processDied(s.Processes[1])
		}
		b, err := os.ReadFile(bundlePath)
		if err != nil || len(b) == 0 {
			return false, nil
		}
		if _, err := secondPEMBlock(b); err != nil {
			return false, nil // still being written
		}
		bundle = b
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("wait for the apiserver serving certificate %s: %w", bundlePath, err)
	}
	caPEM, _ := secondPEMBlock(bundle)
	s.CAFile = filepath.Join(pki, "ca.crt")
	if err := os.WriteFile(s.CAFile, caPEM, 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", s.CAFile, err)
	}
	s.Kubeconfig = filepath.Join(run, "kubeconfig")
	if err := os.WriteFile(s.Kubeconfig, kubeconfig(s.Server, s.CAFile, s.Token), 0o600); err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	if err := s.save(); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	if err := pollHTTP(ctx, "kube-apiserver", s.Processes[1], s.Server+"/readyz", &tls.Config{RootCAs: pool}, 60*time.Second, "Authorization", "Bearer "+s.Token); err != nil {
		return nil, err
	}
	step("kube-apiserver ready at %s", s.Server)

	// controller-manager, scheduler, kwok
	for _, c := range []struct {
		name, bin string
		args      []string
	}{
		{"kube-controller-manager", BinController, []string{
			"--kubeconfig=" + s.Kubeconfig,
			"--secure-port=0",
			"--leader-elect=false",
			"--controllers=*",
			"--use-service-account-credentials=false",
			"--service-account-private-key-file=" + saKey,
			"--root-ca-file=" + s.CAFile,
			"--service-cluster-ip-range=10.96.0.0/16",
			// The default client limits (20 QPS, burst 30) make 50
			// simultaneous rollouts queue in the controller-manager itself;
			// a managed control plane is not throttled that low.
			"--kube-api-qps=100",
			"--kube-api-burst=200",
		}},
		{"kube-scheduler", BinScheduler, []string{
			"--kubeconfig=" + s.Kubeconfig, "--secure-port=0", "--leader-elect=false",
		}},
		{"kwok", BinKwok, []string{
			"--kubeconfig=" + s.Kubeconfig,
			"--config=" + bin(KwokStagesFile),
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
			"--manage-nodes-with-label-selector=",
			"--cidr=10.244.0.0/16",
			"--node-ip=10.0.0.1",
			"--node-lease-duration-seconds=40",
		}},
	} {
		p, err := spawn(c.name, bin(c.bin), c.args, env, filepath.Join(logs, c.name+".log"))
		if err != nil {
			return nil, err
		}
		if err := record(p); err != nil {
			return nil, err
		}
	}

	rc, err := s.RESTConfig()
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("client for lab apiserver %s: %w", s.Server, err)
	}
	for i := range opts.Nodes {
		if err := CreateNode(ctx, client, fmt.Sprintf("kwok-node-%d", i), nil); err != nil {
			return nil, err
		}
	}

	// the webhook
	if err := startWebhook(ctx, s, client, webhookPort, metricsPort, caPEM, env, record); err != nil {
		return nil, err
	}
	step("pod identity webhook mutating at %s", s.WebhookURL)

	if err := waitNodesReady(ctx, s, client, opts.Nodes); err != nil {
		return nil, err
	}
	err = poll(ctx, 60*time.Second, func() (bool, error) {
		if err := s.checkAlive(); err != nil {
			return false, err
		}
		_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("wait for service account default/default (created by kube-controller-manager; see %s): %w", filepath.Join(logs, "kube-controller-manager.log"), err)
	}
	step("%d nodes Ready; lab up", opts.Nodes)
	cp.State = *s
	return cp, nil
}

// Stop stops the lab's processes; see StopDir.
func (cp *ControlPlane) Stop(ctx context.Context) error {
	return StopDir(ctx, filepath.Dir(cp.State.Dir))
}

// StopDir stops the processes recorded for the lab in dir (TERM in reverse
// start order, KILL after 10 s) and removes its run folder. Only processes
// that still run the recorded binary are signalled. Stopping a stopped lab
// does nothing.
func StopDir(ctx context.Context, dir string) error {
	s, err := Load(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	procs := s.Processes
	if fake, err := LoadFake(dir); err == nil {
		procs = append(procs, fake.Process) // the fake started last; stops first
	}
	if err := stopProcesses(ctx, procs, 10*time.Second); err != nil {
		return err
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		return fmt.Errorf("remove lab run folder %s: %w", s.Dir, err)
	}
	return nil
}

func (s *State) checkAlive() error {
	for _, p := range s.Processes {
		if !p.Alive() {
			return processDied(p)
		}
	}
	return nil
}

func processDied(p Process) error {
	return fmt.Errorf("%s (pid %d) exited; its log %s ends with:\n%s", p.Name, p.PID, p.Log, logTail(p.Log))
}

func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return tail(string(b), 2000)
}

// poll calls f every 75 ms until it returns true or an error, or until timeout.
func poll(ctx context.Context, timeout time.Duration, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := f()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s: %w", timeout, ctx.Err())
		case <-time.After(75 * time.Millisecond):
		}
	}
}

// pollHTTP waits until GET url answers 200, failing early if p exits.
func pollHTTP(ctx context.Context, what string, p Process, url string, tlsConfig *tls.Config, timeout time.Duration, header ...string) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer hc.CloseIdleConnections()
	var last string
	err := poll(ctx, timeout, func() (bool, error) {
		if !p.Alive() {
			return false, processDied(p)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := hc.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		last = fmt.Sprintf("%s: %s", resp.Status, body)
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("wait for %s at %s (last answer: %s; log %s): %w", what, url, last, p.Log, err)
	}
	return nil
}

func kubeconfig(server, caFile, token string) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: podid-lab
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: podid-lab
  context:
    cluster: podid-lab
    user: admin
    namespace: default
current-context: podid-lab
`, server, caFile, token)
}

// CreateNode creates a kwok-managed node with the labels the agent
// DaemonSet's affinity looks at, plus extra labels.
func CreateNode(ctx context.Context, client kubernetes.Interface, name string, labels map[string]string) error {
	l := map[string]string{
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
		"kubernetes.io/hostname": name,
		"type":                   "kwok",
	}
	for k, v := range labels {
		l[k] = v
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: l,
			Annotations: map[string]string{
				"kwok.x-k8s.io/node":           "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	_, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create lab node %s: %w", name, err)
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func waitNodesReady(ctx context.Context, s *State, client kubernetes.Interface, want int) error {
	var last string
	err := poll(ctx, 60*time.Second, func() (bool, error) {
		if err := s.checkAlive(); err != nil {
			return false, err
		}
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready := 0
		for i := range nodes.Items {
			if nodeReady(&nodes.Items[i]) {
				ready++
			}
		}
		last = fmt.Sprintf("%d of %d nodes Ready", ready, len(nodes.Items))
		return ready >= want, nil
	})
	if err != nil {
		return fmt.Errorf("wait for %d kwok nodes to be Ready (%s; see %s): %w", want, last, filepath.Join(s.Dir, "logs", "kwok.log"), err)
	}
	return nil
}
