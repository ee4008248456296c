package diagnose

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/kube"
)

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{
		{"v1.3.10-eksbuild.1", "v1.3.10-eksbuild.1", 0},
		{"v1.3.10-eksbuild.1", "v1.3.9-eksbuild.3", 1},
		{"v1.3.4-eksbuild.1", "v1.3.10-eksbuild.1", -1},
		{"v1.3.10-eksbuild.2", "v1.3.10-eksbuild.1", 1},
		{"v1.3.10", "v1.3.10-eksbuild.1", -1},
		{"", "v1.0.0", -1},
	}
	for _, tt := range tests {
		if got := compareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func node(name string, labels map[string]string) corev1.Node {
	l := map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
	for k, v := range labels {
		l[k] = v
	}
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

func agentPod(nodeName string, ready bool) corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-" + nodeName, Namespace: kube.AgentNamespace, Labels: map[string]string{"app.kubernetes.io/name": kube.AgentName}},
		Spec:       corev1.PodSpec{NodeName: nodeName},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

// injected is a pod as the webhook leaves it.
func injected(name, sa, nodeName string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{kube.PodIdentityLabel: "enabled"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa, NodeName: nodeName,
			Volumes: []corev1.Volume{{Name: kube.TokenVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: kube.TokenAudience, Path: "eks-pod-identity-token"}}}}}}},
			Containers: []corev1.Container{{Name: "app",
				Env:          []corev1.EnvVar{{Name: kube.EnvFullURI, Value: kube.FullURIv4}, {Name: kube.EnvTokenFile, Value: kube.TokenFile}},
				VolumeMounts: []corev1.VolumeMount{{Name: kube.TokenVolume, MountPath: kube.TokenMountPath, ReadOnly: true}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func bare(name, sa, nodeName string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec:       corev1.PodSpec{ServiceAccountName: sa, NodeName: nodeName, Containers: []corev1.Container{{Name: "app"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	nodes := []corev1.Node{
		node("ec2-a", nil), node("ec2-b", nil), node("ec2-c", nil),
		node("fargate-1", map[string]string{"eks.amazonaws.com/compute-type": "fargate"}),
		node("win-1", map[string]string{"kubernetes.io/os": "windows"}),
		node("auto-1", map[string]string{"eks.amazonaws.com/compute-type": "auto"}),
	}
	agents := []corev1.Pod{agentPod("ec2-a", true), agentPod("ec2-b", false)}
	done := func(p corev1.Pod) corev1.Pod { p.Status.Phase = corev1.PodSucceeded; return p }
	terminating := func(p corev1.Pod) corev1.Pod { now := metav1.Now(); p.DeletionTimestamp = &now; return p }

	type verdict struct {
		OK   bool
		Pods map[string][]string
	}
	tests := []struct {
		name string
		pods []corev1.Pod
		want verdict
	}{
		{"all good", []corev1.Pod{injected("p1", "sa", "ec2-a"), injected("p2", "sa", "auto-1")},
			verdict{true, map[string][]string{"p1": nil, "p2": nil}}},
		{"no pods is not ok", nil, verdict{false, map[string][]string{}}},
		{"other service accounts, finished and terminating pods are ignored",
			[]corev1.Pod{injected("p1", "sa", "ec2-a"), bare("other", "default", "ec2-a"), done(bare("job", "sa", "ec2-a")), terminating(bare("old", "sa", "ec2-a"))},
			verdict{true, map[string][]string{"p1": nil}}},
		{"empty serviceAccountName is default", []corev1.Pod{bare("d", "", "ec2-a")},
			verdict{false, map[string][]string{}}},
		{"not injected", []corev1.Pod{bare("p1", "sa", "ec2-a")},
			verdict{false, map[string][]string{"p1": {"no Pod Identity injection (label eks.amazonaws.com/pod-identity=enabled, projected volume eks-pod-identity-token (service account token for audience pods.eks.amazonaws.com), container app: env AWS_CONTAINER_CREDENTIALS_FULL_URI, container app: env AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, container app: mount of volume eks-pod-identity-token at /var/run/secrets/pods.eks.amazonaws.com/serviceaccount)"}}}},
		{"agent not ready, agent missing", []corev1.Pod{injected("p1", "sa", "ec2-b"), injected("p2", "sa", "ec2-c")},
			verdict{false, map[string][]string{"p1": {"the agent pod on node ec2-b is not ready"}, "p2": {"no agent pod on node ec2-c"}}}},
		{"ineligible nodes", []corev1.Pod{injected("p1", "sa", "fargate-1"), injected("p2", "sa", "win-1")},
			verdict{false, map[string][]string{
				"p1": {"node fargate-1 is not served by the agent: Fargate node: Pod Identity is not supported on Fargate"},
				"p2": {"node win-1 is not served by the agent: kubernetes.io/os is windows (Pod Identity supports linux only)"}}}},
		{"unscheduled and unknown node", []corev1.Pod{injected("p1", "sa", ""), injected("p2", "sa", "gone")},
			verdict{false, map[string][]string{"p1": {"not scheduled on a node yet"}, "p2": {"node gone not found"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := Evaluate("ns", "sa", tt.pods, nodes, agents)
			got := verdict{OK: v.OK(), Pods: map[string][]string{}}
			for _, p := range v.Pods {
				got.Pods[p.Name] = p.Problems
				if p.OK != (len(p.Problems) == 0) {
					t.Errorf("pod %s: OK %v with problems %v", p.Name, p.OK, p.Problems)
				}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Evaluate (-want +got):\n%s", d)
			}
		})
	}
	v := Evaluate("ns", "default", []corev1.Pod{bare("d", "", "ec2-a")}, nodes, agents)
	if len(v.Pods) != 1 {
		t.Errorf("a pod without serviceAccountName runs as default: %+v", v)
	}
}

func TestVerdictError(t *testing.T) {
	t.Parallel()
	nodes := []corev1.Node{node("ec2-a", nil), node("ec2-c", nil)}
	agents := []corev1.Pod{agentPod("ec2-a", true)}
	v := Evaluate("ns", "sa", []corev1.Pod{injected("p1", "sa", "ec2-c"), injected("p2", "sa", "ec2-a")}, nodes, agents)
	err := VerdictError("c", v, nil)
	want := "1 of 2 running pods of ns/sa is not ready for Pod Identity:\n" +
		"  no controller: pod p1 runs on node ec2-c, which has no agent pod; fix: inspect the agent: kubectl -n kube-system get pods -l app.kubernetes.io/name=eks-pod-identity-agent -o wide --field-selector spec.nodeName=ec2-c"
	if got := err.Error(); got != want {
		t.Errorf("error:\n%s\nwant:\n%s", got, want)
	}
	if h := fail.HintOf(err); strings.Contains(h, "podid restart") {
		t.Errorf("hint %q offers a restart, which does not help a missing agent", h)
	}
	if code := fail.ExitCode(err); code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
	if code := fail.ExitCode(VerdictError("c", v, fmt.Errorf("wait: %w", context.DeadlineExceeded))); code != 4 {
		t.Errorf("timed out: exit code %d, want 4", code)
	}
	if code := fail.ExitCode(VerdictError("c", v, fmt.Errorf("wait: %w", context.Canceled))); code != 130 {
		t.Errorf("interrupted: exit code %d, want 130", code)
	}
}

// Bad pods are grouped by cause, one line each with the fix that works for
// them: a restart for a Deployment's pods, delete-and-recreate for a pod
// without a controller (and then the hint does not offer a restart).
func TestVerdictGroupsByOwner(t *testing.T) {
	t.Parallel()
	nodes := []corev1.Node{node("ec2-a", nil)}
	agents := []corev1.Pod{agentPod("ec2-a", true)}
	v := Evaluate("ns", "sa", []corev1.Pod{bare("app-1", "sa", "ec2-a"), bare("app-2", "sa", "ec2-a"), bare("debug", "sa", "ec2-a")}, nodes, agents)
	v.owners = map[string]kube.Owner{
		"app-1": {Kind: kube.KindDeployment, Name: "app", Restartable: true},
		"app-2": {Kind: kube.KindDeployment, Name: "app", Restartable: true},
		"debug": {Cause: "no controller", Fix: "delete and create it again from its manifest", DeletePods: true},
	}
	for i := range v.Pods {
		v.Pods[i].Owner = v.owners[v.Pods[i].Name].Ref()
	}
	err := VerdictError("c", v, nil)
	want := "3 of 3 running pods of ns/sa are not ready for Pod Identity:\n" +
		"  deployment/app: pods app-1, app-2 lack the Pod Identity injection; fix: podid restart --cluster c --ns ns --sa sa\n" +
		"  no controller: pod debug lacks the Pod Identity injection; fix: delete and create it again from its manifest: kubectl -n ns delete pod debug"
	if got := err.Error(); got != want {
		t.Errorf("error:\n%s\nwant:\n%s", got, want)
	}
	if h := fail.HintOf(err); !strings.Contains(h, "podid restart --cluster c") {
		t.Errorf("hint %q: want the restart for deployment/app", h)
	}

	only := Evaluate("ns", "sa", []corev1.Pod{bare("debug", "sa", "ec2-a")}, nodes, agents)
	only.owners = map[string]kube.Owner{"debug": v.owners["debug"]}
	err = VerdictError("c", only, nil)
	if h := fail.HintOf(err); strings.Contains(h, "restart") {
		t.Errorf("hint %q offers a restart for a pod without a controller", h)
	}
	if fail.ExitCode(err) != 3 {
		t.Errorf("exit %d, want 3", fail.ExitCode(err))
	}
}

// A service account used only by a CronJob with no running pod passes, and
// says when the next run is.
func TestVerdictCronJobOnly(t *testing.T) {
	t.Parallel()
	v := Verdict{Namespace: "ns", ServiceAccount: "sa", Pods: []PodVerdict{},
		CronJobs: []CronJobRun{{Name: "nightly", Note: "cronjob/nightly: its next run (at 2026-12-03T03:00:00Z) gets Pod Identity credentials"}}}
	if !v.OK() {
		t.Errorf("a CronJob-only service account fails the verdict: %s", v.Summary())
	}
	if s := v.Summary(); !strings.Contains(s, "at 2026-12-03T03:00:00Z") {
		t.Errorf("summary %q lacks the next run", s)
	}
	if (Verdict{Namespace: "ns", ServiceAccount: "sa"}).OK() {
		t.Errorf("no pod and no CronJob passes")
	}
}
