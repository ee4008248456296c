package kube

import (
	"strings"

	"github.com/podid/podid/internal/fail"
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

// ParseWorkloadRef parses "kind/name" with kubectl's kind spellings
// (deployment, deployments, deploy, statefulset, statefulsets, sts,
// daemonset, daemonsets, ds; any case, optional ".apps" group) or a bare name.
func ParseWorkloadRef(s string) (WorkloadRef, error) {
	kind, name, found := strings.Cut(strings.TrimSpace(s), "/")
	if !found {
		name, kind = kind, ""
	}
	if name == "" || strings.Contains(name, "/") {
		return WorkloadRef{}, fail.Usagef("write it as deployment/NAME, statefulset/NAME or daemonset/NAME",
			"workload %q: want KIND/NAME or NAME", s)
	}
	if !found {
		return WorkloadRef{Name: name}, nil
	}
	k := strings.TrimSuffix(strings.ToLower(kind), ".apps")
	switch k {
	case "deployment", "deployments", "deploy":
		return WorkloadRef{Kind: KindDeployment, Name: name}, nil
	case "statefulset", "statefulsets", "sts":
		return WorkloadRef{Kind: KindStatefulSet, Name: name}, nil
	case "daemonset", "daemonsets", "ds":
		return WorkloadRef{Kind: KindDaemonSet, Name: name}, nil
	}
	return WorkloadRef{}, fail.Usagef("podid restarts deployments, statefulsets and daemonsets",
		"workload %q: unsupported kind %q", s, kind)
}
