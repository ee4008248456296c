// Package role implements `podid role` and its subcommand `create`, which
// creates an IAM role for EKS Pod Identity with a trust policy scoped to one
// cluster, namespace and service account.
package role

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/flow"
	"github.com/podid/podid/internal/validate"
)

// NewCmd returns the role command group.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "role",
		Short: "Manage IAM roles for Pod Identity",
		Args:  cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return fail.Usagef("run podid role create --help", "podid role needs a subcommand: create")
		},
	}
	cmd.AddCommand(NewCreateCmd(f, nil))
	return cmd
}

// CreateOptions are role create's inputs.
type CreateOptions struct {
	F      *cmdutil.Factory
	Target flow.Target
	DryRun bool

	Name        string
	Path        string
	Description string
	Boundary    string
	PolicyArns  []string
	InlineFile  string
	TagArgs     []string
	Unscoped    bool

	// filled by Complete
	inlineName, inlineDoc string
	tags                  map[string]string
}

var iamPathRE = regexp.MustCompile(`^/([\x21-\x7e]*/)?$`)

// DefaultName is the role name used without --name.
func DefaultName(cluster, sa string) string { return cluster + "-" + sa + "-pod-identity" }

// Complete validates every flag (no API call) and reads the inline policy.
func (o *CreateOptions) Complete() error {
	if err := o.F.Globals.Validate(true); err != nil {
		return err
	}
	if err := o.Target.Validate(); err != nil {
		return err
	}
	if o.Name == "" {
		o.Name = DefaultName(o.F.Globals.Cluster, o.Target.ServiceAccount)
		if err := validate.RoleName(o.Name); err != nil {
			return fail.Usagef("pass a shorter --name (IAM role names have at most 64 characters)", "the default role name %q is not a valid IAM role name: %v", o.Name, err)
		}
	} else if err := validate.RoleName(o.Name); err != nil {
		return fail.Usagef("pass --name with 1–64 letters, digits or +=,.@_- characters, e.g. --name carts-dynamo", "invalid --name: %v", err)
	}
	if o.Path == "" {
		o.Path = "/"
	}
	if len(o.Path) > 512 || !iamPathRE.MatchString(o.Path) {
		return fail.Usagef("pass --path like / or /pod-identity/ (printable ASCII between slashes)", "invalid --path %q", o.Path)
	}
	if len(o.Description) > 1000 {
		return fail.Usagef("shorten --description to at most 1000 characters", "--description has %d characters; IAM allows 1000", len(o.Description))
	}
	seen := map[string]bool{}
	var arns []string
	for _, a := range o.PolicyArns {
		if err := validate.PolicyArn(a); err != nil {
			return fail.Usagef("pass --policy-arn arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess or a customer policy ARN", "invalid --policy-arn: %v", err)
		}
		if !seen[a] {
			seen[a] = true
			arns = append(arns, a)
		}
	}
	if len(arns) > 20 {
		return fail.Usagef("attach at most 20 managed policies", "%d --policy-arn given; IAM attaches at most 20 managed policies to a role", len(arns))
	}
	o.PolicyArns = arns
	if o.Boundary != "" {
		if err := validate.PolicyArn(o.Boundary); err != nil {
			return fail.Usagef("pass --permissions-boundary with a managed policy ARN", "invalid --permissions-boundary: %v", err)
		}
	}
	if o.InlineFile != "" {
		b, err := os.ReadFile(o.InlineFile)
		if err != nil {
			return fail.Usagef("pass --inline-policy with the path of a readable JSON file", "read --inline-policy: %v", err)
		}
		if err := checkPolicyJSON(b); err != nil {
			return fail.Usagef("the file must hold an IAM policy document: {\"Version\":\"2012-10-17\",\"Statement\":[…]}", "--inline-policy %s: %v", o.InlineFile, err)
		}
		o.inlineDoc = string(b)
		base := filepath.Base(o.InlineFile)
		o.inlineName = strings.TrimSuffix(base, filepath.Ext(base))
		if len(o.inlineName) > 128 || validate.RoleName(trim64(o.inlineName)) != nil {
			return fail.Usagef("rename the file: the inline policy is named after it (letters, digits and +=,.@_-)", "--inline-policy %s: %q is not a valid IAM policy name", o.InlineFile, o.inlineName)
		}
	}
	tags, err := cmdutil.ParseTags(o.TagArgs)
	if err != nil {
		return fail.WithHint(err, "use --tag KEY=VALUE, e.g. --tag team=carts (repeatable; keys up to 128 characters, values up to 256, no aws: prefix)")
	}
	o.tags = tags
	return nil
}

func trim64(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// checkPolicyJSON checks that b is an IAM policy document: a JSON object
// with a Statement.
func checkPolicyJSON(b []byte) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	st, ok := doc["Statement"]
	if !ok {
		return fmt.Errorf("no Statement")
	}
	var one map[string]any
	var many []map[string]any
	if json.Unmarshal(st, &many) != nil && json.Unmarshal(st, &one) != nil {
		return fmt.Errorf("Statement is neither an object nor a list of objects")
	}
	if len(b) > 10240 {
		return fmt.Errorf("%d bytes; IAM inline role policies are at most 10,240 characters", len(b))
	}
	return nil
}

// NewCreateCmd returns `role create`; runF replaces the run in tests.
func NewCreateCmd(f *cmdutil.Factory, runF func(*cobra.Command, *CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{F: f}
	cmd := &cobra.Command{
		Use:   "create --cluster NAME --ns NAMESPACE --sa SERVICE_ACCOUNT [--name ROLE]",
		Short: "Create an IAM role that trusts EKS Pod Identity for one service account",
		Long: `Create an IAM role for EKS Pod Identity. Its trust policy lets pods.eks.amazonaws.com assume it
(sts:AssumeRole, sts:TagSession), scoped by session tags to this cluster, namespace and service account
and by aws:SourceAccount to the cluster's account. --unscoped drops the conditions: any pod of any
cluster in the account could then use the role through an association.

The default name is <cluster>-<sa>-pod-identity. An existing role with the same trust is reused (missing
policies are attached, the inline policy put, missing tags added); an existing role with another trust is
refused with the difference. The role ARN is printed on stdout, ready for podid enable --role.`,
		Example: `  podid role create --cluster eks-workshop --ns carts --sa carts \
    --policy-arn arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess
  podid role create --ns carts --sa carts --name carts-dynamo --inline-policy carts-dynamo.json --tag team=carts
  podid enable --ns carts --sa carts --role "$(podid role create --ns carts --sa carts)"`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Complete(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd, opts)
			}
			return runCreate(cmd, opts)
		},
	}
	cmdutil.AddTargetFlags(cmd, &opts.Target)
	fs := cmd.Flags()
	fs.StringVar(&opts.Name, "name", "", "role name (default <cluster>-<sa>-pod-identity)")
	fs.StringVar(&opts.Path, "path", "/", "IAM path of the role, e.g. /pod-identity/")
	fs.StringVar(&opts.Description, "description", "", "role description")
	fs.StringVar(&opts.Boundary, "permissions-boundary", "", "managed policy ARN to set as the role's permissions boundary")
	fs.StringArrayVar(&opts.PolicyArns, "policy-arn", nil, "managed policy ARN to attach (repeatable)")
	fs.StringVar(&opts.InlineFile, "inline-policy", "", "JSON file with an inline policy (named after the file)")
	fs.StringArrayVar(&opts.TagArgs, "tag", nil, "KEY=VALUE tag for the role (repeatable)")
	fs.BoolVar(&opts.Unscoped, "unscoped", false, "trust Pod Identity without conditions: any pod of any cluster in the account (not recommended)")
	cmdutil.AddDryRun(cmd, &opts.DryRun)
	return cmd
}

func runCreate(cmd *cobra.Command, opts *CreateOptions) error {
	return cmdutil.Execute(cmd.Context(), opts.F, flow.RoleCreate(flow.RoleCreateOptions{
		Target: opts.Target, Name: opts.Name, Path: opts.Path, Description: opts.Description, PermissionsBoundary: opts.Boundary,
		PolicyArns: opts.PolicyArns, InlineName: opts.inlineName, InlineDocument: opts.inlineDoc, Tags: opts.tags, Unscoped: opts.Unscoped,
	}, opts.DryRun))
}
