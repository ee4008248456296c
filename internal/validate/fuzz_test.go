package validate

import (
	"strings"
	"testing"
)

// FuzzValidateRoleArn: no panic; an accepted ARN round-trips through
// RoleARN.String, and RoleRef agrees with RoleArn.
func FuzzValidateRoleArn(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		r, err := RoleArn(s)
		if err != nil {
			if !strings.Contains(err.Error(), "for example") {
				t.Fatalf("error without example: %v", err)
			}
			return
		}
		if r.String() != s {
			t.Fatalf("RoleArn(%q).String() = %q", s, r.String())
		}
		if RoleName(r.Name) != nil {
			t.Fatalf("accepted ARN %q has invalid name %q", s, r.Name)
		}
		name, arn, err := RoleRef(s)
		if err != nil || name != r.Name || arn != s {
			t.Fatalf("RoleRef(%q) = %q, %q, %v; want %q, %q, nil", s, name, arn, err, r.Name, s)
		}
	})
}

// FuzzValidateNames: no panic; accepted values meet the documented
// character and length rules.
func FuzzValidateNames(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		if ClusterName(s) == nil && (len(s) == 0 || len(s) > 100 || strings.ContainsAny(s, " ./:")) {
			t.Fatalf("ClusterName accepted %q", s)
		}
		if Namespace(s) == nil {
			if len(s) > 63 || strings.ToLower(s) != s || strings.Contains(s, ".") {
				t.Fatalf("Namespace accepted %q", s)
			}
			if ServiceAccount(s) != nil {
				t.Fatalf("a valid namespace %q is a valid service account name", s)
			}
		}
		if RoleName(s) == nil && (len(s) == 0 || len(s) > 64 || strings.ContainsAny(s, "/: ")) {
			t.Fatalf("RoleName accepted %q", s)
		}
		_ = Region(s)
		_ = PolicyArn(s)
	})
}

// FuzzValidateWorkload: no panic; an accepted workload has a known kind (or
// none, for a bare name) and a name without a slash.
func FuzzValidateWorkload(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		kind, name, err := Workload(s)
		if err != nil {
			return
		}
		switch kind {
		case KindDeployment, KindStatefulSet, KindDaemonSet, "":
		default:
			t.Fatalf("Workload(%q) kind = %q", s, kind)
		}
		if name == "" || strings.Contains(name, "/") {
			t.Fatalf("Workload(%q) name = %q", s, name)
		}
	})
}
