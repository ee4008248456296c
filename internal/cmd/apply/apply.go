// Package apply implements `podid apply -f podid.yaml`: Pod Identity for
// many (namespace, service account) entries in one run.
package apply

import (
	"errors"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/flow"
	"github.com/podid/podid/internal/manifest"
)

// Options are apply's inputs.
type Options struct {
	F            *cmdutil.Factory
	File         string
	Concurrency  int
	DryRun       bool
	AddonVersion string
	EKSRate      float64
	Credentials  string
}

// NewCmd returns the apply command; runF replaces the run in tests.
func NewCmd(f *cmdutil.Factory, runF func(*cobra.Command, *Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "apply -f podid.yaml",
		Short: "Turn on Pod Identity for every entry of a podid.yaml",
		Long: `Turn on EKS Pod Identity for every (namespace, service account) listed in a podid.yaml:
the eks-pod-identity-agent add-on once, then for each entry verify-role, associate,
propagation and restart, exactly as podid enable does, several entries at a time.

The whole file is validated first: any problem (unknown key, wrong type, invalid name or ARN,
duplicate entry, --policy without disableSessionTags) is reported with file:line:col and
nothing is called. Each entry checks before it changes; a failed entry does not stop the others.
A second run reports every entry unchanged.

File format (apiVersion podid/v1, kind PodIdentity):

  apiVersion: podid/v1
  kind: PodIdentity
  cluster: eks-workshop            # optional
  defaults:                        # optional: roleRule, update, createServiceAccount,
    roleRule: discover             #   disableSessionTags, policy, tags, expect, targetRoleArn
  entries:
    - namespace: carts
      serviceAccount: carts
      role: eks-workshop-carts-dynamo      # or roleRule: discover
      workloads: [deployment/carts]        # optional
      expect: [dynamodb:Query]             # optional`,
		Example: `  podid apply -f podid.yaml
  podid apply -f podid.yaml --dry-run
  podid apply -f podid.yaml -o json --concurrency 4`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.File == "" {
				return fail.Usagef("pass -f podid.yaml (see podid apply --help for the format)", "no file given")
			}
			if opts.Concurrency < 1 || opts.Concurrency > 64 {
				return fail.Usagef("pass --concurrency between 1 and 64", "invalid --concurrency %d", opts.Concurrency)
			}
			if opts.EKSRate <= 0 || opts.EKSRate > 1000 {
				return fail.Usagef("pass --eks-rate between 0.1 and 1000 requests per second", "invalid --eks-rate %g", opts.EKSRate)
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return run(cmd, opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&opts.File, "filename", "f", "", "the podid.yaml to apply (- reads stdin)")
	fs.IntVar(&opts.Concurrency, "concurrency", flow.DefaultConcurrency, "entries processed at the same time")
	fs.Float64Var(&opts.EKSRate, "eks-rate", flow.DefaultEKSRate, "EKS requests per second podid allows itself (all entries together)")
	cmdutil.AddCredentialsFlag(cmd, &opts.Credentials)
	fs.StringVar(&opts.AddonVersion, "addon-version", "", "pin the eks-pod-identity-agent add-on version (default: the default version for the cluster's Kubernetes version)")
	cmdutil.AddDryRun(cmd, &opts.DryRun)
	return cmd
}

func run(cmd *cobra.Command, opts *Options) error {
	file, err := load(opts.F, opts.File)
	if err != nil {
		return err
	}
	return cmdutil.Execute(cmd.Context(), opts.F, flow.Apply(flow.ApplyOptions{
		File: file, Concurrency: opts.Concurrency, DryRun: opts.DryRun, EKSRate: opts.EKSRate, AddonVersion: opts.AddonVersion, Credentials: opts.Credentials,
	}))
}

// load reads and validates the file; any problem is a usage error (exit 2).
func load(f *cmdutil.Factory, path string) (*manifest.File, error) {
	var (
		data []byte
		err  error
	)
	if path == "-" {
		data, err = io.ReadAll(f.IO.In)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fail.Usagef("check the path given to -f", "read %s: %w", path, err)
	}
	file, err := manifest.Parse(path, data)
	var me *manifest.Error
	if errors.As(err, &me) {
		return nil, fail.Usagef("fix the problems listed (file:line:col) and run again; nothing was called or changed", "%w", err)
	}
	return file, err
}
