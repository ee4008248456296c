package diagnose

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/podidentity"
	"k8s.io/apimachinery/pkg/types"
)

// PodInfo is one current pod of a workload that uses the service account.
type PodInfo struct {
	Workload                 string    `json:"workload"` // kind/name
	Name                     string    `json:"name"`
	Node                     string    `json:"node,omitempty"`
	Created                  time.Time `json:"created"`
	Injected                 bool      `json:"injected"`
	CreatedBeforeAssociation bool      `json:"createdBeforeAssociation"`
	Problems                 []string  `json:"problems,omitempty"`
	UID                      types.UID `json:"-"` // for the credentials check's bound token
}

func checkServiceAccount(ctx context.Context, r *Report, d Deps, o Options) error {
	sa, err := kube.GetServiceAccount(ctx, d.Kube, o.Namespace, o.ServiceAccount)
	if err != nil {
		if h := fail.HintOf(err); h != "" {
			r.add(AreaServiceAccount, Error, h, "%v", err)
			return nil
		}
		return err
	}
	switch {
	case !sa.Exists:
		r.add(AreaServiceAccount, Error, fmt.Sprintf("kubectl -n %s create serviceaccount %s, or check --sa", o.Namespace, o.ServiceAccount),
			"service account %s does not exist", o.subject())
	case sa.IRSARoleARN != "":
		r.add(AreaServiceAccount, Warn,
			fmt.Sprintf("once Pod Identity works for every pod (podid verify %s), remove it: kubectl -n %s annotate serviceaccount %s %s-", o.flags(), o.Namespace, o.ServiceAccount, kube.IRSARoleAnnotation),
			"service account %s carries the IRSA annotation %s=%s: pods created before the association took effect use IRSA", o.subject(), kube.IRSARoleAnnotation, sa.IRSARoleARN)
	default:
		r.add(AreaServiceAccount, OK, "", "service account %s exists (no IRSA annotation)", o.subject())
	}
	return nil
}

// effectiveAt is when the association last changed.
func effectiveAt(a *podidentity.AssociationInfo) time.Time {
	if a == nil {
		return time.Time{}
	}
	if !a.ModifiedAt.IsZero() {
		return a.ModifiedAt
	}
	return a.CreatedAt
}

// checkWorkloads reports the verdict `podid verify` gives (Verify), as
// findings: one error per cause with its fix, a warning per distinct IRSA
// or static-key warning, an ok line per CronJob with its next run, and an
// ok line when every running pod passes. status and verify therefore agree
// on the same state.
func checkWorkloads(ctx context.Context, r *Report, d Deps, o Options, assoc *podidentity.AssociationInfo) error {
	v, err := Verify(ctx, d.Kube, o.Namespace, o.ServiceAccount)
	if err != nil {
		if h := fail.HintOf(err); h != "" {
			r.add(AreaWorkload, Error, h, "%v", err)
			return nil
		}
		return err
	}
	v.group(o.flags())
	since := effectiveAt(assoc)
	warned := map[string][]string{}
	var warnings []string
	for _, p := range v.Pods {
		pi := PodInfo{Workload: p.Owner, Name: p.Name, Node: p.Node, Created: p.created, Injected: len(p.missing) == 0, Problems: p.Problems, UID: p.UID}
		// creationTimestamp has one-second resolution: a pod created in
		// the same second as the association is not "before" it.
		pi.CreatedBeforeAssociation = !since.IsZero() && p.created.Before(since.Truncate(time.Second))
		r.Pods = append(r.Pods, pi)
		for _, w := range p.warnings {
			if warned[w] == nil {
				warnings = append(warnings, w)
			}
			warned[w] = append(warned[w], p.Name)
		}
	}
	if len(v.Pods) == 0 && len(v.CronJobs) == 0 {
		_, others, err := kube.FindWorkloads(ctx, d.Kube, o.Namespace, o.ServiceAccount, nil)
		if err != nil {
			return err
		}
		r.add(AreaWorkload, Error, fail.HintOf(kube.NoWorkloadsError(o.Namespace, o.ServiceAccount, others)), "%s", v.Summary())
	}
	for _, c := range v.Causes {
		fix := c.Fix
		if assoc == nil && strings.HasPrefix(fix, "podid restart") {
			fix = fmt.Sprintf("create the association first, then restart: podid enable %s", o.flags())
		}
		c.Fix = fix
		r.add(AreaWorkload, Error, fix, "%s", strings.TrimSuffix(c.Line(), "; fix: "+fix))
	}
	for _, w := range warnings {
		r.add(AreaWorkload, Warn, fmt.Sprintf("podid restart %s", o.flags()), "%s: %s", podList(warned[w]), w)
	}
	for _, c := range v.CronJobs {
		r.add(AreaWorkload, OK, "", "%s", c.Note)
	}
	// An ok line per owner whose pods all pass.
	var owners []string
	count := map[string]int{}
	bad := map[string]bool{}
	for _, p := range v.Pods {
		o := p.ownerLabel()
		if count[o] == 0 {
			owners = append(owners, o)
		}
		count[o]++
		bad[o] = bad[o] || !p.OK
	}
	for _, o := range owners {
		switch {
		case bad[o]:
		case count[o] == 1:
			r.add(AreaWorkload, OK, "", "%s: its pod has the Pod Identity injection and a ready agent on its node", o)
		default:
			r.add(AreaWorkload, OK, "", "%s: all %d pods have the Pod Identity injection and a ready agent on their node", o, count[o])
		}
	}
	sort.SliceStable(r.Pods, func(i, j int) bool {
		return r.Pods[i].Workload+"/"+r.Pods[i].Name < r.Pods[j].Workload+"/"+r.Pods[j].Name
	})
	return nil
}
