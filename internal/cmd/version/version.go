// Package version implements `podid version`: podid's version and commit,
// and the Go toolchain and AWS SDK and client-go versions it was built with
// (for bug reports: EKS and Kubernetes behaviour depends on them).
package version

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/flow"
)

// Modules whose versions podid reports.
const (
	ModuleAWSSDK   = "github.com/aws/aws-sdk-go-v2"
	ModuleEKS      = "github.com/aws/aws-sdk-go-v2/service/eks"
	ModuleClientGo = "k8s.io/client-go"
)

// Info is what `podid version` reports; with -o json it is the document's
// result.
type Info struct {
	Version          string `json:"version"`
	Commit           string `json:"commit"`
	GoVersion        string `json:"goVersion"`
	Platform         string `json:"platform"`
	AWSSDKVersion    string `json:"awsSdkVersion"`
	EKSClientVersion string `json:"eksClientVersion"`
	ClientGoVersion  string `json:"clientGoVersion"`
}

// Collect builds Info from podid's version and commit (set at build time)
// and the binary's build information (nil when it has none). A commit left
// unset at build time is taken from the build's VCS stamp if there is one.
func Collect(version, commit string, bi *debug.BuildInfo) Info {
	in := Info{Version: version, Commit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	const unknown = "unknown"
	in.AWSSDKVersion, in.EKSClientVersion, in.ClientGoVersion = unknown, unknown, unknown
	if bi == nil {
		if in.Commit == "" {
			in.Commit = unknown
		}
		return in
	}
	if bi.GoVersion != "" {
		in.GoVersion = bi.GoVersion
	}
	for _, d := range bi.Deps {
		v := d.Version
		if d.Replace != nil {
			v = d.Replace.Version + " (replaces " + d.Version + ")"
		}
		switch d.Path {
		case ModuleAWSSDK:
			in.AWSSDKVersion = v
		case ModuleEKS:
			in.EKSClientVersion = v
		case ModuleClientGo:
			in.ClientGoVersion = v
		}
	}
	if in.Commit == "" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				in.Commit = s.Value
			}
		}
	}
	if in.Commit == "" {
		in.Commit = unknown
	}
	return in
}

// WriteText prints Info as aligned lines.
func (in Info) WriteText(w io.Writer) {
	fmt.Fprintf(w, "podid %s (commit %s)\n", in.Version, in.Commit)
	fmt.Fprintf(w, "  go             %s %s\n", in.GoVersion, in.Platform)
	fmt.Fprintf(w, "  aws-sdk-go-v2  %s (service/eks %s)\n", in.AWSSDKVersion, in.EKSClientVersion)
	fmt.Fprintf(w, "  client-go      %s\n", in.ClientGoVersion)
}

// NewCmd returns the version command.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print podid's version and the Go, AWS SDK and client-go versions it was built with",
		Long: `Print podid's version and commit, and the Go, AWS SDK for Go v2 (and its EKS client) and
client-go versions it was built with. -o json prints them as the result of one JSON document.
podid --version prints the version alone.`,
		Example: `  podid version
  podid version -o json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.Context(), f)
		},
	}
}

func run(ctx context.Context, f *cmdutil.Factory) error {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	in := Collect(f.Version, f.Commit, bi)
	return cmdutil.Execute(ctx, f, flow.Local("version", in))
}
