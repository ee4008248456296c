// Package workload holds podid's Kubernetes-side steps: waiting for the
// agent DaemonSet, proving that the webhook injects a service account, and
// restarting the workloads that use it.
package workload

import (
	"context"

	"k8s.io/client-go/kubernetes"

	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/step"
)

// Agent waits for the eks-pod-identity-agent DaemonSet (podidentity.AgentWaiter).
type Agent struct {
	Client kubernetes.Interface
	// Last is the last status seen (for reports).
	Last kube.AgentStatus
}

// WaitAgent returns when the agent is ready on every eligible node.
func (a *Agent) WaitAgent(ctx context.Context, progress step.Progress) error {
	st, err := kube.WaitAgent(ctx, a.Client, func(msg string) {
		if progress != nil {
			progress.Waiting("agent daemonset: " + msg)
		}
	})
	a.Last = st
	return err
}

// NodesNeedingAgent names the nodes the agent DaemonSet must serve: every
// eligible node that is not an EKS Auto Mode node (those have the agent
// built in).
func (a *Agent) NodesNeedingAgent(ctx context.Context) ([]string, error) {
	st, err := kube.GetAgentStatus(ctx, a.Client)
	if err != nil {
		return nil, err
	}
	return st.Eligible, nil
}
