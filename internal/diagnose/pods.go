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

func checkWorkloads(ctx context.Context, r *Report, d Deps, o Options, assoc *podidentity.AssociationInfo, agent *kube.AgentStatus) error {
	matches, others, err := kube.FindWorkloads(ctx, d.Kube, o.Namespace, o.ServiceAccount, nil)
	if err != nil {
		if h := fail.HintOf(err); h != "" {
			r.add(AreaWorkload, Error, h, "%v", err)
			return nil
		}
		return err
	}
	if len(matches) == 0 {
		err := kube.NoWorkloadsError(o.Namespace, o.ServiceAccount, others)
		r.add(AreaWorkload, Warn, fail.HintOf(err), "%v", err)
		return nil
	}
	gapOf := nodeGaps(agent)
	since := effectiveAt(assoc)
	restartFix := fmt.Sprintf("podid restart %s", o.flags())
	if assoc == nil {
		restartFix = fmt.Sprintf("create the association first, then restart: podid enable %s", o.flags())
	}
	for _, w := range matches {
		pods, _, err := kube.CurrentPods(ctx, d.Kube, w)
		if err != nil {
			r.add(AreaWorkload, Warn, fmt.Sprintf("kubectl -n %s rollout status %s", o.Namespace, w.Ref()), "%s: %v", w.Ref(), err)
			continue
		}
		var notInjected, offNode, pending []string
		var nodeFix string
		for i := range pods {
			p := &pods[i]
			in := kube.CheckInjection(p)
			pi := PodInfo{Workload: w.Ref(), Name: p.Name, Node: p.Spec.NodeName, Created: p.CreationTimestamp.UTC(), Injected: in.Injected()}
			// creationTimestamp has one-second resolution: a pod created in
			// the same second as the association is not "before" it.
			pi.CreatedBeforeAssociation = !since.IsZero() && p.CreationTimestamp.Time.Before(since.Truncate(time.Second))
			if !pi.Injected {
				pi.Problems = append(pi.Problems, "no Pod Identity injection: "+strings.Join(in.Missing, ", "))
				name := p.Name
				if pi.CreatedBeforeAssociation {
					name += " (created before the association changed at " + since.UTC().Format(time.RFC3339) + ")"
				}
				notInjected = append(notInjected, name)
			}
			for _, wmsg := range in.Warnings {
				r.add(AreaWorkload, Warn, restartFix, "%s: pod %s: %s", w.Ref(), p.Name, wmsg)
			}
			switch g, ok := gapOf[p.Spec.NodeName]; {
			case p.Spec.NodeName == "":
				pending = append(pending, p.Name)
				pi.Problems = append(pi.Problems, "not scheduled on a node yet")
			case ok:
				offNode = append(offNode, fmt.Sprintf("pod %s on node %s: %s", p.Name, p.Spec.NodeName, g.reason))
				pi.Problems = append(pi.Problems, fmt.Sprintf("node %s: %s", p.Spec.NodeName, g.reason))
				if nodeFix == "" || g.ineligible {
					nodeFix = g.fix
				}
			}
			r.Pods = append(r.Pods, pi)
		}
		if len(notInjected) > 0 {
			msg := fmt.Sprintf("%s: %d of %d pods lack the Pod Identity injection: %s", w.Ref(), len(notInjected), len(pods), strings.Join(notInjected, ", "))
			if assoc == nil {
				msg += " (there is no association)"
			}
			r.add(AreaWorkload, Error, restartFix, "%s", msg)
		}
		if len(offNode) > 0 {
			r.add(AreaWorkload, Error, nodeFix, "%s: %s", w.Ref(), strings.Join(offNode, "; "))
		}
		if len(pending) > 0 {
			r.add(AreaWorkload, Warn, fmt.Sprintf("kubectl -n %s describe pod %s", o.Namespace, pending[0]), "%s: pods not scheduled yet: %s", w.Ref(), strings.Join(pending, ", "))
		}
		if len(notInjected) == 0 && len(offNode) == 0 && len(pending) == 0 {
			if len(pods) == 0 {
				r.add(AreaWorkload, Warn, fmt.Sprintf("kubectl -n %s get %s", o.Namespace, w.Ref()), "%s has no running pods", w.Ref())
			} else {
				r.add(AreaWorkload, OK, "", "%s: all %d pods have the Pod Identity injection and a ready agent on their node", w.Ref(), len(pods))
			}
		}
	}
	sort.SliceStable(r.Pods, func(i, j int) bool {
		return r.Pods[i].Workload+"/"+r.Pods[i].Name < r.Pods[j].Workload+"/"+r.Pods[j].Name
	})
	return nil
}

type nodeGap struct {
	reason     string
	fix        string
	ineligible bool
}

// nodeGaps maps each node that cannot serve Pod Identity to why and what to
// do. agent is nil in Auto Mode (every node serves it).
func nodeGaps(agent *kube.AgentStatus) map[string]nodeGap {
	out := map[string]nodeGap{}
	if agent == nil {
		return out
	}
	for _, g := range agent.Missing {
		out[g.Node] = nodeGap{reason: "no ready agent pod (" + g.Reason + ")",
			fix: fmt.Sprintf("inspect the agent: kubectl -n %s get pods -l %s -o wide --field-selector spec.nodeName=%s", kube.AgentNamespace, kube.AgentPodLabel, g.Node)}
	}
	for _, g := range agent.Ineligible {
		out[g.Node] = nodeGap{reason: "not served by the Pod Identity Agent: " + g.Reason, ineligible: true,
			fix: "run the workload on EC2 Linux nodes (a nodeSelector or node affinity that excludes eks.amazonaws.com/compute-type fargate/hybrid and non-linux nodes), or keep IRSA for these pods"}
	}
	return out
}
