package workload

import (
	"context"
	"fmt"
	"k8s.io/apimachinery/pkg/types"
	"slices"
	"strings"

	"github.com/podid/podid/internal/kube"
)

// accounting is what Check found beyond the workloads it restarts.
type accounting struct {
	lines []string       // one per cause, with its fix
	pods  []NotRestarted // every pod not restarted, good or not
}

// account looks at every running pod of the service account and at its
// CronJobs: pods a restart of matches replaces are the restart's business;
// the others (kept by OnDelete or a partition, of a CronJob, a Job, no
// controller or another controller) are listed, and those that are not
// good give one line per cause with the fix. Each CronJob gets a line with
// its next run, unless a line about its running job says it already. With
// --workload, only the named workloads are looked at. known holds the
// owners of the pods of matches, read already.
func (r *Restart) account(ctx context.Context, matches []kube.Workload, known map[types.UID]kube.Owner) (accounting, error) {
	acct := accounting{pods: []NotRestarted{}}
	if len(r.Only) > 0 {
		return acct, nil
	}
	now := r.now()
	pods, err := kube.ServiceAccountPods(ctx, r.Client, r.Namespace, r.ServiceAccount)
	if err != nil {
		return acct, err
	}
	owners := &kube.Owners{Client: r.Client, Now: now, Known: known}
	type group struct {
		owner kube.Owner
		pods  []string
	}
	var groups []*group
	mentioned := map[string]bool{}
	for i := range pods {
		p := &pods[i]
		o, err := owners.OwnerOf(ctx, p)
		if err != nil {
			return acct, err
		}
		if o.Restartable && slices.ContainsFunc(matches, func(w kube.Workload) bool { return w.Kind == o.Kind && w.Name == o.Name }) {
			continue
		}
		probs := r.problems(p, kube.CheckInjection(p))
		acct.pods = append(acct.pods, NotRestarted{Pod: p.Name, Owner: o.Ref(), OK: len(probs) == 0, Problems: probs, Cause: o.Cause, Fix: o.Fix})
		if len(probs) == 0 {
			continue
		}
		if o.CronJob != nil {
			mentioned[o.CronJob.Name] = true
		}
		i := slices.IndexFunc(groups, func(g *group) bool { return g.owner.Cause == o.Cause })
		if i < 0 {
			groups = append(groups, &group{owner: o})
			i = len(groups) - 1
		}
		groups[i].pods = append(groups[i].pods, p.Name)
	}
	for _, g := range groups {
		acct.lines = append(acct.lines, fmt.Sprintf("%s: %s should %s; %s",
			g.owner.Cause, podList(g.pods), r.want(), kube.FixLine(g.owner, r.Namespace, g.pods)))
	}
	cjs, err := kube.FindCronJobs(ctx, r.Client, r.Namespace, r.ServiceAccount, now)
	if err != nil {
		return acct, err
	}
	for _, cj := range cjs {
		if !mentioned[cj.Name] {
			acct.lines = append(acct.lines, fmt.Sprintf("%s is not restarted: its next run (%s) gets the change", cj.Ref(), cj.NextRunText()))
		}
	}
	return acct, nil
}

// podList is "pod a" or "pods a, b".
func podList(names []string) string {
	if len(names) == 1 {
		return "pod " + names[0]
	}
	return "pods " + strings.Join(names, ", ")
}
