// Command podid-lab runs the podid lab: a real Kubernetes control plane on
// 127.0.0.1 with kwok nodes and the pod identity webhook, plus the fake
// EKS/IAM/STS API, seeded with the EKS workshop's world.
//
//	podid-lab up        # build what is missing, start, seed
//	eval "$(podid-lab env)"
//	podid-lab status
//	podid-lab down
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/agent"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		if errors.Is(err, context.Canceled) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

type rootOptions struct {
	dir string
}

func newRoot(out, errOut io.Writer) *cobra.Command {
	opts := &rootOptions{}
	root := &cobra.Command{
		Use:           "podid-lab",
		Short:         "Run a local Kubernetes control plane and a fake EKS/IAM/STS for podid",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.PersistentFlags().StringVar(&opts.dir, "dir", "", "lab folder (default: .lab in the podid checkout, else in the working directory)")
	root.AddCommand(newUp(opts), newDown(opts), newEnv(opts), newStatus(opts), newServe(opts), newBuild(), newAWS(opts), newExec(opts))
	return root
}

func (o *rootOptions) labDir() (string, error) {
	if o.dir != "" {
		return filepath.Abs(o.dir)
	}
	if root, err := lab.RepoRoot(); err == nil {
		return filepath.Join(root, ".lab"), nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return filepath.Join(wd, ".lab"), nil
}

// fakeConfig holds the fake's knobs (podid-lab up --config file.json).
type fakeConfig struct {
	AddonDelay        duration `json:"addonDelay"`
	AddonReadyTimeout duration `json:"addonReadyTimeout"`
	PropagationDelay  duration `json:"propagationDelay"`
	// AssociationDeleteLag: a deleted association's key stays taken (409
	// on create) this long.
	AssociationDeleteLag duration `json:"associationDeleteLag"`
	Faults               faults   `json:"faults"`
	// EKSAuth tunes the fake's EKS Auth, e.g. {"requireLivePod":true}
	// (durations in nanoseconds).
	EKSAuth fakeaws.EKSAuthOptions `json:"eksAuth"`
}

// faults is fakeaws.Faults with a readable latency ("250ms").
type faults struct {
	ThrottleRate     float64  `json:"throttleRate"`
	ServerErrorRate  float64  `json:"serverErrorRate"`
	Latency          duration `json:"latency"`
	EKSRateLimit     float64  `json:"eksRateLimit"`
	EKSAuthRateLimit float64  `json:"eksAuthRateLimit"`
	Down             []string `json:"down"`
	Seed             int64    `json:"seed"`
	// IAMPropagationDelay hides new roles and changed trust policies from
	// EKS and EKS Auth for this long ("5s").
	IAMPropagationDelay duration `json:"iamPropagationDelay"`
}

func (f faults) toFake() fakeaws.Faults {
	return fakeaws.Faults{
		ThrottleRate: f.ThrottleRate, ServerErrorRate: f.ServerErrorRate, Latency: time.Duration(f.Latency),
		EKSRateLimit: f.EKSRateLimit, EKSAuthRateLimit: f.EKSAuthRateLimit, Down: f.Down, Seed: f.Seed, IAMPropagationDelay: time.Duration(f.IAMPropagationDelay),
	}
}

// duration reads "5s" or a number of nanoseconds.
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w (write e.g. \"5s\" or \"250ms\")", s, err)
		}
		*d = duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration %s: want a string like \"5s\" or nanoseconds", b)
	}
	*d = duration(n)
	return nil
}

const fakeConfigFile = "fake-config.json"

func newUp(root *rootOptions) *cobra.Command {
	var (
		configFile                  string
		addonDelay, propagation     time.Duration
		deleteLag, iamDelay         time.Duration
		throttle, serverErr, eksRPS float64
		latency                     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Build what is missing, start the lab and the fake AWS, seed the workshop",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := fakeConfig{AddonDelay: duration(addonDelay), PropagationDelay: duration(propagation), AssociationDeleteLag: duration(deleteLag)}
			if configFile != "" {
				b, err := os.ReadFile(configFile)
				if err != nil {
					return fmt.Errorf("read --config %s: %w", configFile, err)
				}
				if err := json.Unmarshal(b, &cfg); err != nil {
					return fmt.Errorf("parse --config %s: %w", configFile, err)
				}
			}
			f := cmd.Flags()
			if f.Changed("addon-delay") || configFile == "" {
				cfg.AddonDelay = duration(addonDelay)
			}
			if f.Changed("propagation-delay") || configFile == "" {
				cfg.PropagationDelay = duration(propagation)
			}
			if f.Changed("association-delete-lag") || configFile == "" {
				cfg.AssociationDeleteLag = duration(deleteLag)
			}
			if f.Changed("iam-propagation-delay") {
				cfg.Faults.IAMPropagationDelay = duration(iamDelay)
			}
			if f.Changed("throttle-rate") {
				cfg.Faults.ThrottleRate = throttle
			}
			if f.Changed("server-error-rate") {
				cfg.Faults.ServerErrorRate = serverErr
			}
			if f.Changed("latency") {
				cfg.Faults.Latency = duration(latency)
			}
			if f.Changed("eks-rate-limit") {
				cfg.Faults.EKSRateLimit = eksRPS
			}
			dir, err := root.labDir()
			if err != nil {
				return err
			}
			return runUp(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), dir, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "JSON file with the fake's knobs: addonDelay, addonReadyTimeout, propagationDelay, associationDeleteLag, faults{throttleRate, serverErrorRate, latency, eksRateLimit, eksAuthRateLimit, down, seed, iamPropagationDelay}, eksAuth{requireLivePod, sourceArn, sourceOrgId}")
	f.DurationVar(&addonDelay, "addon-delay", 5*time.Second, "how long a new add-on stays CREATING before the agent DaemonSet is applied")
	f.DurationVar(&propagation, "propagation-delay", 5*time.Second, "how long a pod identity association change takes to reach the webhook")
	f.DurationVar(&deleteLag, "association-delete-lag", 3*time.Second, "how long a deleted pod identity association keeps its service account (EKS answers 409 to a create until then)")
	f.DurationVar(&iamDelay, "iam-propagation-delay", 0, "how long a new role or a changed trust policy stays invisible to EKS")
	f.Float64Var(&throttle, "throttle-rate", 0, "fraction of AWS calls answered with a throttling error")
	f.Float64Var(&serverErr, "server-error-rate", 0, "fraction of AWS calls answered with a 5xx")
	f.DurationVar(&latency, "latency", 0, "latency added to every AWS answer")
	f.Float64Var(&eksRPS, "eks-rate-limit", 0, "EKS requests per second before throttling (0 = unlimited)")
	return cmd
}

func runUp(ctx context.Context, out, errOut io.Writer, dir string, cfg fakeConfig) error {
	t0 := time.Now()
	if s, err := lab.Load(dir); err == nil {
		fake, ferr := lab.LoadFake(dir)
		dead := s.Dead()
		if ferr != nil || !fake.Alive() {
			dead = append(dead, lab.Process{Name: "fakeaws"})
		}
		if ag, aerr := lab.LoadAgent(dir); aerr != nil || !ag.Alive() {
			dead = append(dead, lab.Process{Name: lab.AgentProcessName})
		}
		if len(dead) == 0 {
			fmt.Fprintf(out, "The lab in %s is already up (apiserver %s, fake AWS %s).\n", dir, s.Server, fake.URL)
			return nil
		}
		var names []string
		for _, p := range dead {
			names = append(names, p.Name)
		}
		fmt.Fprintf(errOut, "lab in %s is partly down (%s not running); restarting it\n", dir, strings.Join(names, ", "))
		if err := lab.StopDir(ctx, dir); err != nil {
			return err
		}
	}
	repo, err := lab.RepoRoot()
	if err != nil {
		return err
	}
	binDir, err := lab.Build(ctx, errOut, repo)
	if err != nil {
		return err
	}
	cp, err := lab.Start(ctx, lab.Options{Dir: dir, BinDir: binDir, Progress: errOut})
	if err != nil {
		return err
	}
	fail := func(err error) error {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return errors.Join(err, lab.StopDir(stopCtx, dir))
	}
	client, err := cp.State.Client()
	if err != nil {
		return fail(err)
	}
	if err := lab.SeedWorkshopKube(ctx, client); err != nil {
		return fail(fmt.Errorf("seed the workshop's Kubernetes objects: %w", err))
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(filepath.Join(lab.RunDir(dir), fakeConfigFile), b, 0o600); err != nil {
		return fail(fmt.Errorf("write fake config: %w", err))
	}
	self, err := os.Executable()
	if err != nil {
		return fail(fmt.Errorf("find the podid-lab binary to start the fake AWS: %w", err))
	}
	p, err := lab.SpawnDetached("fakeaws", self, []string{"serve", "--dir", dir}, filepath.Join(lab.RunDir(dir), "logs", "fakeaws.log"))
	if err != nil {
		return fail(err)
	}
	var (
		fake *lab.FakeState
		ag   *lab.AgentState
	)
	deadline := time.Now().Add(30 * time.Second)
	for {
		f, ferr := lab.LoadFake(dir)
		a, aerr := lab.LoadAgent(dir)
		if ferr == nil && f.PID == p.PID && aerr == nil && a.PID == p.PID {
			fake, ag = f, a
			break
		}
		if !p.Alive() || time.Now().After(deadline) {
			return fail(fmt.Errorf("the fake AWS (pid %d) did not come up; its log %s says:\n%s", p.PID, p.Log, readTail(p.Log)))
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(75 * time.Millisecond):
		}
	}
	fmt.Fprintf(errOut, "[%5.1fs] fake AWS serving at %s (add-on delay %s, propagation delay %s)\n",
		time.Since(t0).Seconds(), fake.URL, time.Duration(cfg.AddonDelay), time.Duration(cfg.PropagationDelay))
	fmt.Fprintf(errOut, "[%5.1fs] pod identity agent serving at %s (node role %s)\n", time.Since(t0).Seconds(), ag.URL, lab.WorkshopNodeRole)
	dirFlag := ""
	if repo, err := lab.RepoRoot(); err != nil || filepath.Join(repo, ".lab") != dir {
		dirFlag = " --dir " + dir
	}
	fmt.Fprintf(out, `The lab is up in %s (%s).

Use it from this shell (KUBECONFIG, AWS_ENDPOINT_URL, dummy credentials, region):
  eval "$(podid-lab env%[3]s)"
  kubectl get nodes
  podid enable --cluster eks-workshop --ns carts --sa carts

Run a command as a pod would, with the pod's AWS identity (through the lab's agent):
  podid-lab exec%[3]s --ns carts POD -- aws sts get-caller-identity

Inspect and stop:
  podid-lab status%[3]s
  podid-lab down%[3]s
`, dir, time.Since(t0).Round(100*time.Millisecond), dirFlag)
	return nil
}

func readTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func newDown(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Stop the lab's recorded processes and remove its run folder",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := root.labDir()
			if err != nil {
				return err
			}
			if _, err := lab.Load(dir); err != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "No lab is running in %s.\n", dir)
				return nil
			}
			if err := lab.StopDir(cmd.Context(), dir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "The lab in %s is stopped.\n", dir)
			return nil
		},
	}
}

// runningLab loads the lab's state and its fake AWS process (env, exec).
func (root *rootOptions) runningLab() (string, *lab.State, *lab.FakeState, error) {
	dir, err := root.labDir()
	if err != nil {
		return "", nil, nil, err
	}
	s, err := lab.Load(dir)
	if err != nil {
		return "", nil, nil, err
	}
	fake, err := lab.LoadFake(dir)
	if err != nil {
		return "", nil, nil, fmt.Errorf("the lab in %s has no fake AWS running (%w); run `podid-lab up` again", dir, err)
	}
	return dir, s, fake, nil
}

func newEnv(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "env",
		Short: `Print shell exports for the lab: eval "$(podid-lab env)"`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, s, fake, err := root.runningLab()
			if err != nil {
				return err
			}
			for _, kv := range envVars(s.Kubeconfig, fake.URL) {
				k, v, _ := strings.Cut(kv, "=")
				fmt.Fprintf(cmd.OutOrStdout(), "export %s=%s\n", k, shellQuote(v))
			}
			return nil
		},
	}
}

func envVars(kubeconfig, url string) []string {
	return []string{
		"KUBECONFIG=" + kubeconfig,
		"AWS_ENDPOINT_URL=" + url,
		"AWS_ENDPOINT_URL_EKS=" + url,
		"AWS_ENDPOINT_URL_IAM=" + url,
		"AWS_ENDPOINT_URL_STS=" + url,
		"AWS_ENDPOINT_URL_EKS_AUTH=" + url,
		"AWS_REGION=" + lab.WorkshopRegion,
		"AWS_DEFAULT_REGION=" + lab.WorkshopRegion,
		"AWS_ACCESS_KEY_ID=" + labAccessKey,
		"AWS_SECRET_ACCESS_KEY=podid-lab-secret",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
		"EKS_CLUSTER_NAME=" + lab.WorkshopCluster,
		"AWS_ACCOUNT_ID=" + lab.WorkshopAccount,
	}
}

// labAccessKey is the lab admin's access key (any secret is accepted).
const labAccessKey = "AKIDPODIDLAB"

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func newStatus(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "List the lab's processes with PID, liveness, URL and memory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := root.labDir()
			if err != nil {
				return err
			}
			s, err := lab.Load(dir)
			if err != nil {
				return err
			}
			procs := s.Processes
			if fake, err := lab.LoadFake(dir); err == nil {
				procs = append(procs, fake.Process)
			}
			ag, agErr := lab.LoadAgent(dir)
			if agErr == nil {
				procs = append(procs, ag.Process)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PROCESS\tPID\tALIVE\tURL\tRSS")
			var total int64
			counted := map[int]bool{}
			for _, p := range procs {
				alive, rss := "no", "-"
				if p.Alive() {
					alive = "yes"
					rss = fmt.Sprintf("%d MiB", p.RSS()>>20)
					if counted[p.PID] {
						rss = "(in fakeaws)" // the agent runs inside the fake's process
					} else {
						total += p.RSS()
					}
					counted[p.PID] = true
				}
				url := p.URL
				if url == "" {
					url = "-"
				}
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", p.Name, p.PID, alive, url, rss)
			}
			fmt.Fprintf(w, "total\t\t\t\t%d MiB\n", total>>20)
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nkubeconfig: %s\nlogs:       %s\n", s.Kubeconfig, filepath.Join(s.Dir, "logs"))
			if fake, err := lab.LoadFake(dir); err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "fake AWS:   %s\n", fake.URL)
			}
			if agErr == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "agent:      %s (Host check admits %s, %s, %s; node role %s)\n",
					ag.URL, agent.HostIPv4, agent.HostIPv6, lab.AgentHost, lab.WorkshopNodeRole)
			}
			return nil
		},
	}
}

// newServe runs the fake AWS next to a started lab; `up` starts it detached.
func newServe(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:    "serve",
		Short:  "Serve the fake EKS/IAM/STS for a running lab (started by up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := root.labDir()
			if err != nil {
				return err
			}
			return runServe(cmd.Context(), dir)
		},
	}
}

func runServe(ctx context.Context, dir string) error {
	s, err := lab.Load(dir)
	if err != nil {
		return err
	}
	var cfg fakeConfig
	cfgPath := filepath.Join(lab.RunDir(dir), fakeConfigFile)
	if b, err := os.ReadFile(cfgPath); err == nil {
		if err := json.Unmarshal(b, &cfg); err != nil {
			return fmt.Errorf("parse %s: %w", cfgPath, err)
		}
	}
	client, err := s.Client()
	if err != nil {
		return err
	}
	ca, err := s.CAData()
	if err != nil {
		return err
	}
	hub := lab.NewBackend(client, s.IdentitiesFile)
	handle := hub.Handle()
	defer handle.Close()
	opts := fakeaws.Options{
		Backend:              handle,
		AddonDelay:           time.Duration(cfg.AddonDelay),
		AddonReadyTimeout:    time.Duration(cfg.AddonReadyTimeout),
		PropagationDelay:     time.Duration(cfg.PropagationDelay),
		AssociationDeleteLag: time.Duration(cfg.AssociationDeleteLag),
		Faults:               cfg.Faults.toFake(),
		EKSAuth:              cfg.EKSAuth,
		// Only the key `podid-lab env` exports is the admin; unknown
		// long-term keys are refused as AWS would.
		AdminAccessKeys: []string{labAccessKey},
	}
	lab.WireEKSAuth(&opts, client)
	fake := fakeaws.New(opts)
	url, err := fake.Start("127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start fake AWS: %w", err)
	}
	defer fake.Close()
	if err := lab.SeedWorkshopAWS(fake, lab.Kube{Client: client, Server: s.Server, CAData: ca}); err != nil {
		return err
	}
	node, err := lab.NodeRoleCredentials(fake)
	if err != nil {
		return err
	}
	if err := lab.SaveNodeCredentials(dir, lab.NodeCredentials{Credentials: node, Endpoint: url, Region: lab.WorkshopRegion, Cluster: lab.WorkshopCluster}); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := lab.SaveFake(dir, lab.FakeState{Process: lab.Process{
		Name: "fakeaws", PID: os.Getpid(), Exe: self, URL: url,
		Log: filepath.Join(lab.RunDir(dir), "logs", "fakeaws.log"),
	}}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "fake AWS serving at %s for lab %s\n", url, dir)
	ag, err := lab.StartAgent(fake, agent.Options{}, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		return fmt.Errorf("start the pod identity agent: %w", err)
	}
	defer ag.Close()
	if err := lab.SaveAgent(dir, lab.AgentState{Process: lab.Process{
		Name: lab.AgentProcessName, PID: os.Getpid(), Exe: self, URL: ag.URL(),
		Log: filepath.Join(lab.RunDir(dir), "logs", "fakeaws.log"),
	}}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pod identity agent serving at %s for cluster %s\n", ag.URL(), lab.WorkshopCluster)
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "fake AWS and agent stopping")
	return nil
}
