package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/podid/podid/internal/fail"
)

// FindWorkloads lists the Deployments, StatefulSets and DaemonSets of
// namespace ns and splits them into those whose pod template uses service
// account sa (matches) and the rest (others, each with the service account it
// uses, for NoWorkloadsError). With only non-empty, matches and others are
// limited to the named workloads, and a name that matches nothing is an
// error. A missing namespace is an error.
func FindWorkloads(ctx context.Context, client kubernetes.Interface, ns, sa string, only []WorkloadRef) (matches, others []Workload, err error) {
	if err := checkNamespace(ctx, client, ns); err != nil {
		return nil, nil, err
	}
	var all []Workload
	deps, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list deployments in namespace %s: %w", ns, err)
	}
	for i := range deps.Items {
		all = append(all, fromDeployment(&deps.Items[i]))
	}
	stss, err := client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list statefulsets in namespace %s: %w", ns, err)
	}
	for i := range stss.Items {
		all = append(all, fromStatefulSet(&stss.Items[i]))
	}
	dss, err := client.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list daemonsets in namespace %s: %w", ns, err)
	}
	for i := range dss.Items {
		all = append(all, fromDaemonSet(&dss.Items[i]))
	}
	matches, others, err = SplitWorkloads(all, sa, only)
	if err != nil {
		return nil, nil, fmt.Errorf("namespace %s: %w", ns, err)
	}
	return matches, others, nil
}

// SplitWorkloads is FindWorkloads' pure part: it filters all by only (when
// non-empty) and splits by service account. Both results are sorted by kind
// then name.
func SplitWorkloads(all []Workload, sa string, only []WorkloadRef) (matches, others []Workload, err error) {
	var missing []string
	for _, r := range only {
		if !slices.ContainsFunc(all, r.Matches) {
			missing = append(missing, r.String())
		}
	}
	if len(missing) > 0 {
		var have []string
		for _, w := range all {
			have = append(have, w.Ref())
		}
		hint := "the namespace has no deployment, statefulset or daemonset"
		if len(have) > 0 {
			hint = "workloads there: " + strings.Join(have, ", ")
		}
		return nil, nil, fail.Errorf(hint, "workload %s not found", strings.Join(missing, ", "))
	}
	for _, w := range all {
		if len(only) > 0 && !slices.ContainsFunc(only, func(r WorkloadRef) bool { return r.Matches(w) }) {
			continue
		}
		if w.ServiceAccount == sa {
			matches = append(matches, w)
		} else {
			others = append(others, w)
		}
	}
	sortWorkloads(matches)
	sortWorkloads(others)
	return matches, others, nil
}

var kindOrder = map[string]int{KindDeployment: 0, KindStatefulSet: 1, KindDaemonSet: 2}

func sortWorkloads(ws []Workload) {
	slices.SortFunc(ws, func(a, b Workload) int {
		if a.Kind != b.Kind {
			return kindOrder[a.Kind] - kindOrder[b.Kind]
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// NoWorkloadsError is the error for "no workload uses the service account";
// it lists what the other workloads use.
func NoWorkloadsError(ns, sa string, others []Workload) error {
	if len(others) == 0 {
		return fail.Verifyf("deploy the workload with serviceAccountName: "+sa+", then run podid again",
			"no deployment, statefulset or daemonset in namespace %s uses service account %s (the namespace has none)", ns, sa)
	}
	var uses []string
	for _, w := range others {
		uses = append(uses, fmt.Sprintf("%s uses %s", w.Ref(), w.ServiceAccount))
	}
	return fail.Verifyf("set spec.template.spec.serviceAccountName: "+sa+" in the workload, or pass --sa with the service account it uses",
		"no deployment, statefulset or daemonset in namespace %s uses service account %s: %s", ns, sa, strings.Join(uses, "; "))
}

func checkNamespace(ctx context.Context, client kubernetes.Interface, ns string) error {
	_, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return NamespaceNotFound(ns)
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", ns, err)
	}
	return nil
}

// NamespaceNotFound is the error for a missing namespace.
func NamespaceNotFound(ns string) error {
	return fail.Verifyf("create it with `kubectl create namespace "+ns+"` or check --ns",
		"namespace %q not found; create it or check --ns", ns)
}
