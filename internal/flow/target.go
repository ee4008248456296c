package flow

import (
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/validate"
)

// Target is the namespace and service account a command works on.
type Target struct {
	Namespace      string
	ServiceAccount string
}

// Validate checks that both are given and are valid Kubernetes names.
func (t Target) Validate() error {
	if t.Namespace == "" {
		return fail.Usagef("pass --ns NAMESPACE, e.g. --ns carts", "no namespace given")
	}
	if t.ServiceAccount == "" {
		return fail.Usagef("pass --sa SERVICE_ACCOUNT, e.g. --sa carts", "no service account given")
	}
	return t.ValidateGiven()
}

// ValidateGiven checks the names that are given (both are optional filters
// for status and migrate).
func (t Target) ValidateGiven() error {
	if t.Namespace != "" {
		if err := validate.Namespace(t.Namespace); err != nil {
			return fail.Usagef("namespaces are DNS-1123 labels: lowercase letters, digits and '-', at most 63 characters", "invalid --ns: %v", err)
		}
	}
	if t.ServiceAccount != "" {
		if err := validate.ServiceAccount(t.ServiceAccount); err != nil {
			return fail.Usagef("service account names are DNS-1123 subdomains: lowercase letters, digits, '-' and '.'", "invalid --sa: %v", err)
		}
	}
	return nil
}
