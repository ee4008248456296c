// Package kube is podid's Kubernetes side, a library for the commands: load
// the kubeconfig and check it points at the EKS cluster (Load, SameCluster),
// find the workloads that use a service account (FindWorkloads), restart
// them the kubectl way and wait for the rollout (Restart, WaitRollout),
// pick the rollout's new pods and prove the Pod Identity injection
// (CurrentPods, CheckInjection, ProbeInjection, WaitInjection,
// WaitNoInjection), account for every pod of a service account by its owner
// (Owners, Kept, ServiceAccountPods, FindCronJobs with NextRun), and check
// the eks-pod-identity-agent DaemonSet on every eligible node (EligibleNode,
// GetAgentStatus, WaitAgent, PodsOnIneligibleNodes).
//
// Rollout status is a pure function per kind modelled on kubectl's status
// viewers (see rollout.go for why kubectl's package is not imported). Waits
// are driven by watches; the only poll is WaitInjection, because nothing
// announces that the webhook has learnt about an association.
//
// User-facing errors are *fail.Error values carrying a hint; waits that run
// out wrap the context's error, so fail.KindOf maps them to the timeout exit
// code.
package kube
