package cmdutil

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/flow"
)

// AddAgentFlags registers install-agent's flags.
func AddAgentFlags(cmd *cobra.Command, o *flow.Options) {
	cmd.Flags().StringVar(&o.AddonVersion, "addon-version", "", "pin the eks-pod-identity-agent add-on version (default: the default version for the cluster's Kubernetes version)")
	cmd.Flags().StringVar(&o.ResolveConflicts, "resolve-conflicts", "", "what EKS does with fields of the agent's resources that another install or an edit changed: "+
		"overwrite (take the add-on's values), preserve (keep them; updates only) or none (fail; the default). "+
		"Given, it also updates an add-on that is UPDATE_FAILED or DEGRADED")
}

// AddRoleFlags registers verify-role's flags.
func AddRoleFlags(cmd *cobra.Command, o *flow.Options) {
	fs := cmd.Flags()
	fs.StringVar(&o.Role, "role", "", "IAM role name or ARN (default: the existing association's role, else the one Pod Identity role named <cluster>-<sa>*)")
	fs.BoolVar(&o.Fix, "fix", false, "add the missing Pod Identity trust statement (scoped to this cluster, namespace and service account), keeping every other statement")
	fs.StringArrayVar(&o.Expect, "expect", nil, "ACTION[=RESOURCE] the role must be allowed, checked with iam:SimulatePrincipalPolicy (repeatable)")
}

// AddAssociateFlags registers associate's flags.
func AddAssociateFlags(cmd *cobra.Command, o *flow.Options, tags *[]string) {
	fs := cmd.Flags()
	fs.BoolVar(&o.Update, "update", false, "change an existing association that points at another role or has other settings")
	fs.StringVar(&o.TargetRoleArn, "target-role-arn", "", "role to chain to after the association's role (cross-account access)")
	fs.BoolVar(&o.DisableSessionTags, "disable-session-tags", false, "do not attach the EKS session tags")
	fs.StringVar(&o.Policy, "policy", "", "session policy JSON that limits the role (requires --disable-session-tags)")
	fs.StringArrayVar(tags, "tags", nil, "KEY=VALUE tags for the association (repeatable, or comma-separated)")
	fs.BoolVar(&o.CreateSA, "create-service-account", false, "create the service account if it does not exist")
}

// AddRestartFlags registers restart's flags.
func AddRestartFlags(cmd *cobra.Command, o *flow.Options) {
	fs := cmd.Flags()
	fs.StringArrayVar(&o.Workloads, "workload", nil, "restart only this workload: KIND/NAME (deployment/carts, sts/db, ds/agent) or NAME of any kind; repeatable")
	fs.BoolVar(&o.Force, "force", false, "restart even when every pod already has Pod Identity credentials")
	AddCredentialsFlag(cmd, &o.Credentials)
}

// AddCredentialsFlag registers --credentials: the proof, after the
// injection, that the pods' credentials work (the agent's EKS Auth call).
func AddCredentialsFlag(cmd *cobra.Command, mode *string) {
	cmd.Flags().StringVar(mode, "credentials", "auto", "prove the pods' credentials with the agent's exchange (EKS Auth AssumeRoleForPodIdentity, then sts:GetCallerIdentity): "+
		"auto (when your identity may; else a warning), require (a proof that cannot be made fails) or off")
}

// AddTargetFlags registers --ns/--namespace and --sa/--service-account.
func AddTargetFlags(cmd *cobra.Command, t *flow.Target) {
	fs := cmd.Flags()
	fs.StringVarP(&t.Namespace, "namespace", "n", "", "Kubernetes namespace of the workload")
	fs.StringVar(&t.Namespace, "ns", "", "alias of --namespace")
	fs.StringVar(&t.ServiceAccount, "service-account", "", "Kubernetes service account the workload runs under")
	fs.StringVar(&t.ServiceAccount, "sa", "", "alias of --service-account")
	_ = fs.MarkHidden("namespace")
	_ = fs.MarkHidden("service-account")
}

// AddDryRun registers --dry-run.
func AddDryRun(cmd *cobra.Command, dry *bool) {
	cmd.Flags().BoolVar(dry, "dry-run", false, "check everything and print the plan; change nothing anywhere")
}

// ParseTags parses --tags KEY=VALUE[,KEY=VALUE].
func ParseTags(in []string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, arg := range in {
		for _, kv := range strings.Split(arg, ",") {
			k, v, ok := strings.Cut(kv, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" || len(k) > 128 || len(v) > 256 || strings.HasPrefix(strings.ToLower(k), "aws:") {
				return nil, fail.Usagef("use --tags KEY=VALUE, e.g. --tags team=carts,env=dev (keys up to 128 characters, values up to 256, no aws: prefix)", "invalid tag %q", kv)
			}
			out[k] = v
		}
	}
	if len(out) > 50 {
		return nil, fail.Usagef("pass at most 50 tags", "%d tags given; EKS allows at most 50", len(out))
	}
	return out, nil
}

// NoArgs rejects positional arguments with a usage error.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fail.Usagef("run "+cmd.CommandPath()+" --help; names go in flags such as --ns and --sa", "unexpected argument %q", args[0])
	}
	return nil
}
