package lab

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAgentDaemonSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, version, config string
		wantImage             string
		wantTolerations       []corev1.Toleration
		wantErr               bool
	}{
		{name: "default", version: "v1.3.10-eksbuild.1",
			wantImage:       "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/eks-pod-identity-agent:v1.3.10",
			wantTolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
		{name: "custom tolerations", version: "v1.3.9-eksbuild.12", config: `{"tolerations":[{"key":"a","operator":"Equal","value":"b","effect":"NoSchedule"}]}`,
			wantImage:       "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/eks-pod-identity-agent:v1.3.9",
			wantTolerations: []corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpEqual, Value: "b", Effect: corev1.TaintEffectNoSchedule}}},
		{name: "bad configuration", version: "v1.3.10-eksbuild.1", config: `{`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ds, err := AgentDaemonSet("eks-workshop", tt.version, tt.config)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			spec := ds.Spec.Template.Spec
			if got := spec.Containers[0].Image; got != tt.wantImage {
				t.Errorf("image = %q, want %q", got, tt.wantImage)
			}
			if diff := cmp.Diff(tt.wantTolerations, spec.Tolerations); diff != "" {
				t.Errorf("tolerations (-want +got):\n%s", diff)
			}
			if ds.Labels["app.kubernetes.io/version"] != tt.version || !spec.HostNetwork || spec.PriorityClassName != "system-node-critical" ||
				*spec.AutomountServiceAccountToken || len(spec.InitContainers) != 1 || !*spec.InitContainers[0].SecurityContext.Privileged {
				t.Errorf("chart essentials missing: labels %v, pod spec %+v", ds.Labels, spec)
			}
			if diff := cmp.Diff([]string{"--port", "80", "--cluster-name", "eks-workshop", "--probe-port", "2703"}, spec.Containers[0].Args); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAgentEligible(t *testing.T) {
	t.Parallel()
	tests := []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}, true},
		{map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": "arm64"}, true},
		{map[string]string{"kubernetes.io/os": "windows", "kubernetes.io/arch": "amd64"}, false},
		{map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": "s390x"}, false},
		{map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "eks.amazonaws.com/compute-type": "fargate"}, false},
		{map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "eks.amazonaws.com/compute-type": "hybrid"}, false},
		{map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "eks.amazonaws.com/compute-type": "auto"}, false},
		{map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "eks.amazonaws.com/compute-type": "ec2"}, true},
	}
	for _, tt := range tests {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: tt.labels}}
		if got := agentEligible(n); got != tt.want {
			t.Errorf("agentEligible(%v) = %v, want %v", tt.labels, got, tt.want)
		}
	}
}

func TestDaemonSetRolledOut(t *testing.T) {
	t.Parallel()
	rolling := appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}
	tests := []struct {
		name   string
		ds     appsv1.DaemonSet
		wantOK bool
	}{
		{"done", appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: appsv1.DaemonSetSpec{UpdateStrategy: rolling},
			Status: appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3}}, true},
		{"not observed", appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Generation: 3}, Spec: appsv1.DaemonSetSpec{UpdateStrategy: rolling},
			Status: appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3}}, false},
		{"updating", appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: rolling},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 2, NumberAvailable: 3}}, false},
		{"unavailable", appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: rolling},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 2}}, false},
		{"OnDelete", appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}}}, false},
	}
	for _, tt := range tests {
		if ok, why := daemonSetRolledOut(&tt.ds); ok != tt.wantOK {
			t.Errorf("%s: rolled out = %v (%s), want %v", tt.name, ok, why, tt.wantOK)
		}
	}
}
