// Package cmdutil holds what every podid command shares: the global flags,
// running steps and rendering their outcome as text or as one JSON document.
package cmdutil

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/validate"
)

// Globals are the flags every command accepts.
type Globals struct {
	Cluster    string
	Region     string
	Profile    string
	Kubeconfig string
	Context    string
	Output     string
	Timeout    time.Duration
	Verbose    bool
}

// DefaultTimeout bounds every command unless --timeout says otherwise.
const DefaultTimeout = 10 * time.Minute

// AddGlobalFlags registers the global flags on cmd's persistent flag set.
func AddGlobalFlags(cmd *cobra.Command, g *Globals) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&g.Cluster, "cluster", "", "EKS cluster name (default $EKS_CLUSTER_NAME)")
	fs.StringVar(&g.Region, "region", "", "AWS region (default from AWS_REGION or the profile)")
	fs.StringVar(&g.Profile, "profile", "", "AWS shared-config profile (default $AWS_PROFILE)")
	fs.StringVar(&g.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&g.Context, "context", "", "kubeconfig context to use (default: the current context)")
	fs.StringVarP(&g.Output, "output", "o", "text", "output format: text or json")
	fs.DurationVar(&g.Timeout, "timeout", DefaultTimeout, "give up after this long (e.g. 90s, 5m); 0 is not allowed")
	fs.BoolVarP(&g.Verbose, "verbose", "v", false, "print debug logs and API call counts on stderr")
}

// Validate checks the global flags and fills defaults from the environment.
// needCluster is false for commands that do not talk to a cluster.
func (g *Globals) Validate(needCluster bool) error {
	switch g.Output {
	case "text", "json":
	default:
		return fail.Usagef("use -o text or -o json", "invalid --output %q", g.Output)
	}
	if g.Timeout <= 0 {
		return fail.Usagef("pass a positive duration such as --timeout 5m", "invalid --timeout %s: it must be greater than zero", g.Timeout)
	}
	if g.Region != "" {
		if err := validate.Region(g.Region); err != nil {
			return fail.Usagef("pass a region such as --region us-west-2", "invalid --region: %v", err)
		}
	}
	if !needCluster {
		return nil
	}
	if g.Cluster == "" {
		g.Cluster = os.Getenv("EKS_CLUSTER_NAME")
	}
	if g.Cluster == "" {
		return fail.Usagef("pass --cluster NAME or export EKS_CLUSTER_NAME (aws eks list-clusters lists them)", "no cluster given")
	}
	if err := validate.ClusterName(g.Cluster); err != nil {
		return fail.Usagef("EKS cluster names are 1-100 letters, digits, hyphens and underscores, starting with a letter or digit", "invalid --cluster: %v", err)
	}
	return nil
}

// JSON reports whether -o json was asked for.
func (g *Globals) JSON() bool { return g.Output == "json" }
