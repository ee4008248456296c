package lab

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// A self-managed agent DaemonSet (the Helm chart's, with other tolerations
// and args) conflicts with the add-on's on exactly the changed fields; one
// EKS installed does not; PRESERVE keeps the self-managed values.
func TestDaemonSetConflicts(t *testing.T) {
	t.Parallel()
	desired, err := AgentDaemonSet(WorkshopCluster, "v1.3.10-eksbuild.1", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := DaemonSetConflicts(desired.DeepCopy(), desired); got != nil {
		t.Errorf("an EKS-installed DaemonSet conflicts: %v", got)
	}
	helm := desired.DeepCopy()
	helm.Labels[managedByLabel] = "Helm"
	if got := DaemonSetConflicts(helm, desired); len(got) != 0 {
		t.Errorf("a self-managed DaemonSet with the add-on's values conflicts: %v", got)
	}
	helm.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "agents", Effect: corev1.TaintEffectNoSchedule}}
	agentContainer(helm).Args = append(agentContainer(helm).Args, "-b", "169.254.170.23")
	want := []string{
		"DaemonSet.apps eks-pod-identity-agent - .spec.template.spec.tolerations",
		`DaemonSet.apps eks-pod-identity-agent - .spec.template.spec.containers[name="eks-pod-identity-agent"].args`,
	}
	got := DaemonSetConflicts(helm, desired)
	if !slices.Equal(got, want) {
		t.Errorf("conflicts = %q, want %q", got, want)
	}

	kept := desired.DeepCopy()
	preserveFields(kept, helm, got[:1])
	if kept.Spec.Template.Spec.Tolerations[0].Key != "dedicated" {
		t.Errorf("PRESERVE did not keep the tolerations: %+v", kept.Spec.Template.Spec.Tolerations)
	}
	if slices.Contains(agentContainer(kept).Args, "-b") {
		t.Errorf("PRESERVE kept args it was not asked to: %v", agentContainer(kept).Args)
	}
}
