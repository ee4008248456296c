package kube

import (
	"strings"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/validate"
)

// WorkloadRef names a workload on the command line: "deployment/carts",
// "sts/db", or a bare name (any kind).
type WorkloadRef struct {
	Kind string // KindDeployment, KindStatefulSet, KindDaemonSet, or "" for any
	Name string
}

func (r WorkloadRef) String() string {
	if r.Kind == "" {
		return r.Name
	}
	return strings.ToLower(r.Kind) + "/" + r.Name
}

// Matches reports whether w is the workload r names.
func (r WorkloadRef) Matches(w Workload) bool {
	return r.Name == w.Name && (r.Kind == "" || r.Kind == w.Kind)
}

// ParseWorkloadRef parses a workload reference with validate.Workload, the
// one parser behind --workload and podid.yaml's workloads: KIND/NAME with
// kubectl's kind spellings, or a bare NAME (any kind). Errors are usage
// errors.
func ParseWorkloadRef(s string) (WorkloadRef, error) {
	kind, name, err := validate.Workload(s)
	if err != nil {
		return WorkloadRef{}, fail.WithKind(fail.WithHint(err, "write it as NAME, deployment/NAME, statefulset/NAME or daemonset/NAME"), fail.KindUsage)
	}
	return WorkloadRef{Kind: refKinds[kind], Name: name}, nil
}

var refKinds = map[string]string{
	"":                       "",
	validate.KindDeployment:  KindDeployment,
	validate.KindStatefulSet: KindStatefulSet,
	validate.KindDaemonSet:   KindDaemonSet,
}
