package lab

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The agent DaemonSet as the EKS add-on installs it.
const (
	AgentNamespace = "kube-system"
	AgentName      = "eks-pod-identity-agent"
	agentImageRepo = "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/eks-pod-identity-agent"
)

var eksbuild = regexp.MustCompile(`-eksbuild\.[0-9]+$`)

// agentConfig is the part of the add-on's configurationValues the lab honours.
type agentConfig struct {
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	Affinity    *corev1.Affinity    `json:"affinity,omitempty"`
}

// AgentDaemonSet renders kube-system/eks-pod-identity-agent with the
// essentials of the aws/eks-pod-identity-agent chart (POD-IDENTITY.md §5).
func AgentDaemonSet(cluster, addonVersion, configuration string) (*appsv1.DaemonSet, error) {
	var cfg agentConfig
	if strings.TrimSpace(configuration) != "" {
		if err := json.Unmarshal([]byte(configuration), &cfg); err != nil {
			return nil, fmt.Errorf("parse configuration values of add-on %s: %w", AgentName, err)
		}
	}
	imageTag := eksbuild.ReplaceAllString(addonVersion, "")
	if imageTag == "" {
		imageTag = "latest"
	}
	selector := map[string]string{
		"app.kubernetes.io/name":     AgentName,
		"app.kubernetes.io/instance": AgentName,
	}
	labels := map[string]string{
		"app.kubernetes.io/name":       AgentName,
		"app.kubernetes.io/instance":   AgentName,
		"app.kubernetes.io/version":    addonVersion,
		"app.kubernetes.io/managed-by": "EKS",
		"helm.sh/chart":                "eks-pod-identity-agent-1.3.10",
		"app":                          AgentName,
	}
	tolerations := []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	if cfg.Tolerations != nil {
		tolerations = cfg.Tolerations
	}
	affinity := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: "kubernetes.io/os", Operator: corev1.NodeSelectorOpIn, Values: []string{"linux"}},
				{Key: "kubernetes.io/arch", Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64", "arm64"}},
				{Key: "eks.amazonaws.com/compute-type", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"fargate", "hybrid", "auto"}},
			}}},
		},
	}}
	if cfg.Affinity != nil {
		affinity = cfg.Affinity
	}
	image := agentImageRepo + ":" + imageTag
	privileged := true
	no := false
	grace := int64(30)
	maxUnavailable := intstr.FromString("10%")
	probe := func(path string, delay, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Host: "localhost", Path: path, Port: intstr.FromString("probes-port"), Scheme: corev1.URISchemeHTTP,
			}},
			InitialDelaySeconds: delay,
			TimeoutSeconds:      10,
			PeriodSeconds:       10,
			SuccessThreshold:    1,
			FailureThreshold:    failures,
		}
	}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:      AgentName,
			Namespace: AgentNamespace,
			Labels:    labels,
		},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type:          appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &maxUnavailable},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels: selector,
					Annotations: map[string]string{
						"prometheus.io/scrape": "true",
						"prometheus.io/port":   "2705",
					},
				},
				Spec: corev1.PodSpec{
					HostNetwork:                   true,
					PriorityClassName:             "system-node-critical",
					Tolerations:                   tolerations,
					Affinity:                      affinity,
					AutomountServiceAccountToken:  &no,
					TerminationGracePeriodSeconds: &grace,
					InitContainers: []corev1.Container{{
						Name:            AgentName + "-init",
						Image:           image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Command:         []string{"/go-runner", "/eks-pod-identity-agent", "initialize"},
						SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
						Resources:       corev1.ResourceRequirements{},
					}},
					Containers: []corev1.Container{{
						Name:            AgentName,
						Image:           image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Command:         []string{"/go-runner", "/eks-pod-identity-agent", "server"},
						Args:            []string{"--port", "80", "--cluster-name", cluster, "--probe-port", "2703"},
						Ports: []corev1.ContainerPort{
							{Name: "proxy", ContainerPort: 80, Protocol: corev1.ProtocolTCP},
							{Name: "probes-port", ContainerPort: 2703, Protocol: corev1.ProtocolTCP},
						},
						Env: []corev1.EnvVar{{Name: "AWS_REGION", Value: "us-west-2"}},
						SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{
							Add: []corev1.Capability{"CAP_NET_BIND_SERVICE"},
						}},
						LivenessProbe:  probe("/healthz", 30, 3),
						ReadinessProbe: probe("/readyz", 1, 30),
					}},
				},
			},
		},
	}, nil
}

// agentEligible reports whether the default agent affinity admits node.
func agentEligible(node *corev1.Node) bool {
	l := node.Labels
	if l["kubernetes.io/os"] != "linux" {
		return false
	}
	if a := l["kubernetes.io/arch"]; a != "amd64" && a != "arm64" {
		return false
	}
	switch l["eks.amazonaws.com/compute-type"] {
	case "fargate", "hybrid", "auto":
		return false
	}
	return true
}

// daemonSetRolledOut applies kubectl's DaemonSet rollout status rules.
func daemonSetRolledOut(ds *appsv1.DaemonSet) (bool, string) {
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		return false, fmt.Sprintf("update strategy %s is not RollingUpdate", ds.Spec.UpdateStrategy.Type)
	}
	st := ds.Status
	switch {
	case ds.Generation > st.ObservedGeneration:
		return false, "waiting for the DaemonSet spec update to be observed"
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		return false, fmt.Sprintf("%d of %d updated pods scheduled", st.UpdatedNumberScheduled, st.DesiredNumberScheduled)
	case st.NumberAvailable < st.DesiredNumberScheduled:
		return false, fmt.Sprintf("%d of %d updated pods available", st.NumberAvailable, st.DesiredNumberScheduled)
	}
	return true, ""
}
