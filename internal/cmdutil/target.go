package cmdutil

import (
	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/validate"
)

// Target is the namespace and service account a command works on.
type Target struct {
	Namespace      string
	ServiceAccount string
}

// AddTargetFlags registers --ns/--namespace and --sa/--service-account.
func AddTargetFlags(cmd *cobra.Command, t *Target) {
	fs := cmd.Flags()
	fs.StringVarP(&t.Namespace, "namespace", "n", "", "Kubernetes namespace of the workload")
	fs.StringVar(&t.Namespace, "ns", "", "alias of --namespace")
	fs.StringVar(&t.ServiceAccount, "service-account", "", "Kubernetes service account the workload runs under")
	fs.StringVar(&t.ServiceAccount, "sa", "", "alias of --service-account")
	_ = fs.MarkHidden("namespace")
	_ = fs.MarkHidden("service-account")
}

// Validate checks that both are given and are valid Kubernetes names.
func (t Target) Validate() error {
	if t.Namespace == "" {
		return fail.Usagef("pass --ns NAMESPACE, e.g. --ns carts", "no namespace given")
	}
	if t.ServiceAccount == "" {
		return fail.Usagef("pass --sa SERVICE_ACCOUNT, e.g. --sa carts", "no service account given")
	}
	if err := validate.Namespace(t.Namespace); err != nil {
		return fail.Usagef("namespaces are DNS-1123 labels: lowercase letters, digits and '-', at most 63 characters", "invalid --ns: %v", err)
	}
	if err := validate.ServiceAccount(t.ServiceAccount); err != nil {
		return fail.Usagef("service account names are DNS-1123 subdomains: lowercase letters, digits, '-' and '.'", "invalid --sa: %v", err)
	}
	return nil
}
