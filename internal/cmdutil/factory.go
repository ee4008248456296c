package cmdutil

import (
	"context"
	"io"
	"log/slog"
	"sync"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/iostreams"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/ui"
)

// Factory hands commands their dependencies, each built on first use: --help
// and --version build no client at all. It builds; it does not run steps,
// render or remember anything of a run.
type Factory struct {
	IO      *iostreams.IOStreams
	Version string
	Commit  string // the source commit, set at build time ("" = unknown)
	Globals Globals

	awsOnce sync.Once
	aws     *awsapi.Clients
	awsErr  error

	kubeOnce sync.Once
	kube     *kube.Cluster
	kubeErr  error

	statusOnce sync.Once
	status     *ui.Status

	logOnce sync.Once
	log     *slog.Logger
}

// NewFactory returns a factory for the given streams.
func NewFactory(ios *iostreams.IOStreams, version string) *Factory {
	return &Factory{IO: ios, Version: version}
}

// Logger is the debug logger: stderr with -v, discarded otherwise.
func (f *Factory) Logger() *slog.Logger {
	f.logOnce.Do(func() {
		if f.Globals.Verbose {
			f.log = slog.New(slog.NewTextHandler(f.IO.ErrOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
		} else {
			f.log = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
	})
	return f.log
}

// Status is the stderr step renderer.
func (f *Factory) Status() *ui.Status {
	f.statusOnce.Do(func() { f.status = ui.NewStatus(f.IO) })
	return f.status
}

// AWS loads the AWS configuration and returns the (lazily built) clients.
func (f *Factory) AWS(ctx context.Context) (*awsapi.Clients, error) {
	f.awsOnce.Do(func() {
		var log *slog.Logger
		if f.Globals.Verbose {
			log = f.Logger()
		}
		f.aws, f.awsErr = awsapi.Load(ctx, awsapi.Options{Region: f.Globals.Region, Profile: f.Globals.Profile, Verbose: log})
	})
	return f.aws, f.awsErr
}

// SetAWS injects clients (tests point them at the fake).
func (f *Factory) SetAWS(c *awsapi.Clients) { f.awsOnce.Do(func() {}); f.aws = c }

// Kube loads the kubeconfig and returns the Kubernetes client.
func (f *Factory) Kube() (*kube.Cluster, error) {
	f.kubeOnce.Do(func() {
		f.kube, f.kubeErr = kube.LoadWithOptions(kube.LoadOptions{Kubeconfig: f.Globals.Kubeconfig, Context: f.Globals.Context, UserAgent: "podid/" + f.Version})
	})
	return f.kube, f.kubeErr
}

// APICalls returns the AWS and Kubernetes API calls made so far, by
// operation.
func (f *Factory) APICalls() map[string]int {
	out := map[string]int{}
	if f.aws != nil && f.aws.Calls != nil {
		for k, v := range f.aws.Calls.Snapshot() {
			out[k] = v
		}
	}
	if f.kube != nil && f.kube.Calls != nil {
		for k, v := range f.kube.Calls.Snapshot() {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
