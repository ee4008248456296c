package kube

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/podid/podid/internal/fail"
)

func TestParseWorkloadRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    WorkloadRef
		wantErr string
	}{
		{"carts", WorkloadRef{Name: "carts"}, ""},
		{"deployment/carts", WorkloadRef{Kind: KindDeployment, Name: "carts"}, ""},
		{"deploy/carts", WorkloadRef{Kind: KindDeployment, Name: "carts"}, ""},
		{"Deployments.apps/carts", WorkloadRef{Kind: KindDeployment, Name: "carts"}, ""},
		{"sts/db", WorkloadRef{Kind: KindStatefulSet, Name: "db"}, ""},
		{"statefulset/db", WorkloadRef{Kind: KindStatefulSet, Name: "db"}, ""},
		{"ds/agent", WorkloadRef{Kind: KindDaemonSet, Name: "agent"}, ""},
		{"daemonsets/agent", WorkloadRef{Kind: KindDaemonSet, Name: "agent"}, ""},
		{" carts ", WorkloadRef{Name: "carts"}, ""},
		{"job/x", WorkloadRef{}, `kind "job" is not one of deployment`},
		{"deployment/", WorkloadRef{}, "a workload is NAME or KIND/NAME"},
		{"a/b/c", WorkloadRef{}, "a workload is NAME or KIND/NAME"},
		{"", WorkloadRef{}, "a workload is NAME or KIND/NAME"},
		{"deployment/Carts", WorkloadRef{}, "lowercase RFC 1123"},
	}
	for _, tt := range tests {
		got, err := ParseWorkloadRef(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseWorkloadRef(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			if fail.KindOf(err) != fail.KindUsage {
				t.Errorf("ParseWorkloadRef(%q): kind %v, want usage", tt.in, fail.KindOf(err))
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseWorkloadRef(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func wl(kind, name, sa string) Workload {
	return Workload{Kind: kind, Name: name, Namespace: "carts", ServiceAccount: sa}
}

func refs(ws []Workload) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Ref()+"@"+w.ServiceAccount)
	}
	return out
}

func TestSplitWorkloads(t *testing.T) {
	t.Parallel()
	all := []Workload{
		wl(KindDaemonSet, "logs", "default"),
		wl(KindDeployment, "carts", "carts"),
		wl(KindStatefulSet, "carts", "carts"),
		wl(KindDeployment, "carts-db", "default"),
		wl(KindDeployment, "api", "carts"),
	}
	tests := []struct {
		name        string
		only        []WorkloadRef
		wantMatches []string
		wantOthers  []string
		wantErr     string
	}{
		{"all", nil,
			[]string{"deployment/api@carts", "deployment/carts@carts", "statefulset/carts@carts"},
			[]string{"deployment/carts-db@default", "daemonset/logs@default"}, ""},
		{"bare name matches every kind", []WorkloadRef{{Name: "carts"}},
			[]string{"deployment/carts@carts", "statefulset/carts@carts"}, nil, ""},
		{"kind narrows", []WorkloadRef{{Kind: KindStatefulSet, Name: "carts"}},
			[]string{"statefulset/carts@carts"}, nil, ""},
		{"named workload with another SA goes to others", []WorkloadRef{{Kind: KindDeployment, Name: "carts-db"}},
			nil, []string{"deployment/carts-db@default"}, ""},
		{"missing ref lists what exists", []WorkloadRef{{Kind: KindDeployment, Name: "nope"}}, nil, nil, "workload deployment/nope not found"},
		{"kind mismatch is missing", []WorkloadRef{{Kind: KindDaemonSet, Name: "carts"}}, nil, nil, "daemonset/carts not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, o, err := SplitWorkloads(all, "carts", tt.only)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if h := fail.HintOf(err); !strings.Contains(h, "deployment/carts-db") {
					t.Errorf("hint %q does not list the workloads", h)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantMatches, refs(m)); diff != "" {
				t.Errorf("matches (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantOthers, refs(o)); diff != "" {
				t.Errorf("others (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNoWorkloadsError(t *testing.T) {
	t.Parallel()
	err := NoWorkloadsError("carts", "carts", []Workload{wl(KindDeployment, "carts", "default"), wl(KindStatefulSet, "db", "db")})
	want := "no deployment, statefulset or daemonset in namespace carts uses service account carts: deployment/carts uses default; statefulset/db uses db"
	if err.Error() != want {
		t.Errorf("got %q\nwant %q", err, want)
	}
	if !strings.Contains(fail.HintOf(err), "serviceAccountName: carts") {
		t.Errorf("hint = %q", fail.HintOf(err))
	}
	if err := NoWorkloadsError("x", "y", nil); !strings.Contains(err.Error(), "has none") {
		t.Errorf("empty namespace: %v", err)
	}
}

func TestTemplateSA(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		spec corev1.PodSpec
		want string
	}{
		{corev1.PodSpec{}, "default"},
		{corev1.PodSpec{ServiceAccountName: "carts"}, "carts"},
		{corev1.PodSpec{DeprecatedServiceAccount: "old"}, "old"},
	} {
		if got := templateSA(&tt.spec); got != tt.want {
			t.Errorf("templateSA(%+v) = %q, want %q", tt.spec, got, tt.want)
		}
	}
}

func TestCheckRestartable(t *testing.T) {
	t.Parallel()
	w := wl(KindDeployment, "carts", "carts")
	if err := CheckRestartable(w); err != nil {
		t.Errorf("plain deployment: %v", err)
	}
	w.Paused = true
	err := CheckRestartable(w)
	if err == nil || err.Error() != `deployment "carts" is paused; run kubectl -n carts rollout resume deployment/carts first` {
		t.Errorf("paused: %v", err)
	}
	// OnDelete is not refused: kubectl restarts such workloads too, and
	// the pods the controller keeps are accounted for by Kept.
	s := wl(KindStatefulSet, "db", "carts")
	s.UpdateStrategy = string(appsv1.OnDeleteStatefulSetStrategyType)
	if err := CheckRestartable(s); err != nil {
		t.Errorf("OnDelete: %v", err)
	}
}

func TestRestartValueAndPatch(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 10, 0, 0, 123000000, time.UTC)
	if got := RestartValue(now, ""); got != "2026-05-01T10:00:00Z" {
		t.Errorf("first restart = %q", got)
	}
	if got := RestartValue(now, "2026-05-01T10:00:00Z"); got != "2026-05-01T10:00:00.123Z" {
		t.Errorf("restart in the same second = %q", got)
	}
	want := `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-05-01T10:00:00Z"}}}}}`
	if got := string(restartPatch("2026-05-01T10:00:00Z")); got != want {
		t.Errorf("patch = %s", got)
	}
}

func rs(name string, created time.Time, rev string, tmpl corev1.PodTemplateSpec) appsv1.ReplicaSet {
	return appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created),
			Annotations: map[string]string{deploymentRevisionAnn: rev}},
		Spec: appsv1.ReplicaSetSpec{Template: tmpl},
	}
}

func TestNewReplicaSet(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tmpl := func(restart string, hash string) corev1.PodTemplateSpec {
		l := map[string]string{"app": "carts"}
		if hash != "" {
			l[appsv1.DefaultDeploymentUniqueLabelKey] = hash
		}
		return corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: l, Annotations: map[string]string{RestartedAtAnnotation: restart}},
			Spec:       corev1.PodSpec{ServiceAccountName: "carts", Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		}
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "carts", Annotations: map[string]string{deploymentRevisionAnn: "2"}},
		Spec:       appsv1.DeploymentSpec{Template: tmpl("t2", "")},
	}
	old := rs("carts-a", t0, "1", tmpl("t1", "a"))
	cur := rs("carts-b", t0.Add(time.Minute), "2", tmpl("t2", "b"))
	if got := NewReplicaSet(d, []appsv1.ReplicaSet{cur, old}); got == nil || got.Name != "carts-b" {
		t.Errorf("template match: got %v", got)
	}
	// Template differs (e.g. defaults not yet visible) → revision fallback.
	odd := rs("carts-c", t0.Add(2*time.Minute), "2", tmpl("other", "c"))
	if got := NewReplicaSet(d, []appsv1.ReplicaSet{old, odd}); got == nil || got.Name != "carts-c" {
		t.Errorf("revision fallback: got %v", got)
	}
	if got := NewReplicaSet(d, []appsv1.ReplicaSet{old}); got != nil {
		t.Errorf("no current RS: got %s", got.Name)
	}
}

func injectedPod() *corev1.Pod {
	env := []corev1.EnvVar{
		{Name: "AWS_STS_REGIONAL_ENDPOINTS", Value: "regional"},
		{Name: EnvFullURI, Value: FullURIv4},
		{Name: EnvTokenFile, Value: TokenFile},
	}
	mount := []corev1.VolumeMount{{Name: TokenVolume, MountPath: TokenMountPath, ReadOnly: true}}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "carts-1", Labels: map[string]string{PodIdentityLabel: "enabled"}},
		Spec: corev1.PodSpec{
			NodeName:       "node-1",
			InitContainers: []corev1.Container{{Name: "init", Env: slices.Clone(env), VolumeMounts: slices.Clone(mount)}},
			Containers: []corev1.Container{{Name: "app", Env: slices.Clone(env), VolumeMounts: slices.Clone(mount)},
				{Name: "sidecar", Env: slices.Clone(env), VolumeMounts: slices.Clone(mount)}},
			Volumes: []corev1.Volume{{Name: TokenVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Audience: TokenAudience, ExpirationSeconds: ptr.To[int64](86400), Path: "eks-pod-identity-token"}}},
			}}}},
		},
	}
}

func TestCheckInjection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		mod          func(p *corev1.Pod)
		wantMissing  []string
		wantWarnings int
		wantSkipped  []string
	}{
		{"fully injected", func(*corev1.Pod) {}, nil, 0, nil},
		{"IPv6 agent URL", func(p *corev1.Pod) {
			for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
				for i := range cs {
					cs[i].Env[1].Value = FullURIv6
				}
			}
		}, nil, 0, nil},
		{"plain pod", func(p *corev1.Pod) {
			p.Labels = nil
			p.Spec.Volumes = nil
			p.Spec.InitContainers = nil
			p.Spec.Containers = []corev1.Container{{Name: "app"}}
		}, []string{
			"label eks.amazonaws.com/pod-identity=enabled",
			"projected volume eks-pod-identity-token (service account token for audience pods.eks.amazonaws.com)",
			"container app: env AWS_CONTAINER_CREDENTIALS_FULL_URI",
			"container app: env AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
			"container app: mount of volume eks-pod-identity-token at /var/run/secrets/pods.eks.amazonaws.com/serviceaccount",
		}, 0, nil},
		{"wrong audience", func(p *corev1.Pod) {
			p.Spec.Volumes[0].Projected.Sources[0].ServiceAccountToken.Audience = "sts.amazonaws.com"
		}, []string{"projected volume eks-pod-identity-token (service account token for audience pods.eks.amazonaws.com)"}, 0, nil},
		{"one container lacks it", func(p *corev1.Pod) {
			p.Spec.Containers[1].Env = nil
			p.Spec.Containers[1].VolumeMounts = nil
		}, []string{
			"container sidecar: env AWS_CONTAINER_CREDENTIALS_FULL_URI",
			"container sidecar: env AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
			"container sidecar: mount of volume eks-pod-identity-token at /var/run/secrets/pods.eks.amazonaws.com/serviceaccount",
		}, 0, nil},
		{"skipped containers are not checked", func(p *corev1.Pod) {
			p.Annotations = map[string]string{SkipContainersAnnot: "sidecar, init"}
			p.Spec.Containers[1].Env = nil
			p.Spec.Containers[1].VolumeMounts = nil
			p.Spec.InitContainers[0].Env = nil
		}, nil, 0, []string{"init", "sidecar"}},
		{"user-set URI is reported", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[1].Value = "http://localhost:8080/creds"
		}, []string{`container app: env AWS_CONTAINER_CREDENTIALS_FULL_URI is "http://localhost:8080/creds", not the agent's http://169.254.170.23/v1/credentials`}, 0, nil},
		{"IRSA and static keys warn", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "AWS_ROLE_ARN", Value: "arn"}, corev1.EnvVar{Name: "AWS_WEB_IDENTITY_TOKEN_FILE", Value: "/t"})
			p.Spec.Containers[1].Env = append(p.Spec.Containers[1].Env, corev1.EnvVar{Name: "AWS_ACCESS_KEY_ID", Value: "AKID"})
		}, nil, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := injectedPod()
			tt.mod(p)
			in := CheckInjection(p)
			if diff := cmp.Diff(tt.wantMissing, in.Missing); diff != "" {
				t.Errorf("missing (-want +got):\n%s", diff)
			}
			if in.Injected() != (len(tt.wantMissing) == 0) {
				t.Errorf("Injected() = %v", in.Injected())
			}
			if len(in.Warnings) != tt.wantWarnings {
				t.Errorf("warnings = %q, want %d", in.Warnings, tt.wantWarnings)
			}
			if diff := cmp.Diff(tt.wantSkipped, in.Skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
			if in.Pod != "carts-1" || in.Node != "node-1" && p.Spec.NodeName != "" {
				t.Errorf("pod/node = %s/%s", in.Pod, in.Node)
			}
		})
	}
}

func node(name string, l map[string]string, taints ...corev1.Taint) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}, Spec: corev1.NodeSpec{Taints: taints}}
}

func TestEligibleNode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		labels map[string]string
		want   bool
		reason string
	}{
		{"linux amd64", map[string]string{labelOS: "linux", labelArch: "amd64"}, true, ""},
		{"linux arm64", map[string]string{labelOS: "linux", labelArch: "arm64"}, true, ""},
		{"ec2 compute type", map[string]string{labelOS: "linux", labelArch: "amd64", labelComputeType: "ec2"}, true, ""},
		{"windows", map[string]string{labelOS: "windows", labelArch: "amd64"}, false, "kubernetes.io/os is windows"},
		{"no os label", map[string]string{labelArch: "amd64"}, false, "no kubernetes.io/os label"},
		{"s390x", map[string]string{labelOS: "linux", labelArch: "s390x"}, false, "kubernetes.io/arch is s390x"},
		{"no arch label", map[string]string{labelOS: "linux"}, false, "no kubernetes.io/arch label"},
		{"fargate", map[string]string{labelOS: "linux", labelArch: "amd64", labelComputeType: "fargate"}, false, "Fargate"},
		{"hybrid", map[string]string{labelOS: "linux", labelArch: "amd64", labelComputeType: "hybrid"}, false, "hybrid"},
		{"auto", map[string]string{labelOS: "linux", labelArch: "amd64", labelComputeType: "auto"}, false, "Auto Mode"},
	}
	for _, tt := range tests {
		n := node("n", tt.labels)
		got, why := EligibleNode(&n)
		if got != tt.want || !strings.Contains(why, tt.reason) || (tt.want && why != "") {
			t.Errorf("%s: EligibleNode = %v, %q; want %v, %q", tt.name, got, why, tt.want, tt.reason)
		}
	}
	cordoned := node("c", map[string]string{labelOS: "linux", labelArch: "amd64"})
	cordoned.Spec.Unschedulable = true
	if ok, _ := EligibleNode(&cordoned); !ok {
		t.Error("a cordoned node must stay eligible (DaemonSets tolerate unschedulable)")
	}
}

func TestComputeAgentStatus(t *testing.T) {
	t.Parallel()
	linux := map[string]string{labelOS: "linux", labelArch: "amd64"}
	fargate := map[string]string{labelOS: "linux", labelArch: "amd64", labelComputeType: "fargate"}
	sel := map[string]string{"app.kubernetes.io/name": AgentName, "app.kubernetes.io/instance": AgentName}
	const uid = types.UID("ds-uid")
	daemon := func(desired, updated, avail int32, tols ...corev1.Toleration) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: AgentName, Namespace: AgentNamespace, UID: uid, Generation: 1},
			Spec: appsv1.DaemonSetSpec{
				Selector:       &metav1.LabelSelector{MatchLabels: sel},
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
				Template:       corev1.PodTemplateSpec{Spec: corev1.PodSpec{Tolerations: tols}},
			},
			Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: desired, UpdatedNumberScheduled: updated, NumberAvailable: avail, NumberReady: avail},
		}
	}
	pod := func(name, nodeName string, ready bool, owner types.UID) corev1.Pod {
		p := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: sel,
				OwnerReferences: []metav1.OwnerReference{{UID: owner, Controller: ptr.To(true), Kind: "DaemonSet", Name: AgentName}}},
			Spec:   corev1.PodSpec{NodeName: nodeName},
			Status: corev1.PodStatus{Phase: corev1.PodRunning},
		}
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
		return p
	}
	nodes := []corev1.Node{node("n2", linux), node("n1", linux), node("f1", fargate)}
	taint := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name        string
		ds          *appsv1.DaemonSet
		nodes       []corev1.Node
		pods        []corev1.Pod
		wantOK      bool
		wantMissing []NodeGap
		wantSummary string
	}{
		{"not found", nil, nodes, nil, false,
			[]NodeGap{{"n1", "no agent: the DaemonSet does not exist"}, {"n2", "no agent: the DaemonSet does not exist"}},
			"daemonset kube-system/eks-pod-identity-agent not found"},
		{"all ready", daemon(2, 2, 2), nodes, []corev1.Pod{pod("a", "n1", true, uid), pod("b", "n2", true, uid)}, true, nil,
			"agent ready on 2 of 2 eligible nodes"},
		{"one pod not ready", daemon(2, 2, 1), nodes, []corev1.Pod{pod("a", "n1", true, uid), pod("b", "n2", false, uid)}, false,
			[]NodeGap{{"n2", "agent pod b is running but not ready"}},
			`Waiting for daemon set "eks-pod-identity-agent" rollout to finish: 1 of 2 updated pods are available; node n2: agent pod b is running but not ready`},
		{"foreign pod does not count", daemon(2, 2, 2), nodes, []corev1.Pod{pod("a", "n1", true, uid), pod("b", "n2", true, "other")}, false,
			[]NodeGap{{"n2", "no agent pod scheduled on the node"}}, "node n2: no agent pod scheduled on the node"},
		{"desired below eligible", daemon(1, 1, 1, corev1.Toleration{Key: "x", Operator: corev1.TolerationOpExists}),
			[]corev1.Node{node("n1", linux), node("n2", linux, taint)}, []corev1.Pod{pod("a", "n1", true, uid)}, false,
			[]NodeGap{{"n2", "no agent pod: taint dedicated=gpu:NoSchedule is not tolerated by the add-on's tolerations"}},
			"daemonset wants 1 pods for 2 eligible nodes; node n2: no agent pod: taint dedicated=gpu:NoSchedule is not tolerated by the add-on's tolerations"},
		{"tolerate everything", daemon(1, 1, 1, corev1.Toleration{Operator: corev1.TolerationOpExists}),
			[]corev1.Node{node("n1", linux, taint)}, []corev1.Pod{pod("a", "n1", true, uid)}, true, nil, "agent ready on 1 of 1 eligible nodes"},
	}
	t.Run("Auto Mode nodes have the agent built in", func(t *testing.T) {
		auto := map[string]string{labelOS: "linux", labelArch: "amd64", labelComputeType: "auto"}
		mixed := []corev1.Node{node("a2", auto), node("n1", linux), node("a1", auto), node("f1", fargate)}
		st := ComputeAgentStatus(daemon(1, 1, 1), mixed, []corev1.Pod{pod("x", "n1", true, uid)})
		if !st.OK() || !slices.Equal(st.Eligible, []string{"n1"}) || !slices.Equal(st.BuiltIn, []string{"a1", "a2"}) ||
			len(st.Ineligible) != 1 || st.Ineligible[0].Node != "f1" {
			t.Errorf("status %+v: want n1 served by the DaemonSet, a1 and a2 built in, only f1 not served", st)
		}
		// Without the DaemonSet, only the managed node lacks an agent.
		st = ComputeAgentStatus(nil, mixed, nil)
		if len(st.Missing) != 1 || st.Missing[0].Node != "n1" {
			t.Errorf("missing %+v, want only n1", st.Missing)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := ComputeAgentStatus(tt.ds, tt.nodes, tt.pods)
			if st.OK() != tt.wantOK {
				t.Errorf("OK() = %v, want %v (%+v)", st.OK(), tt.wantOK, st)
			}
			if diff := cmp.Diff(tt.wantMissing, st.Missing); diff != "" {
				t.Errorf("missing (-want +got):\n%s", diff)
			}
			if got := st.Summary(); got != tt.wantSummary {
				t.Errorf("summary = %q\nwant      %q", got, tt.wantSummary)
			}
		})
	}
	st := ComputeAgentStatus(daemon(2, 2, 2), nodes, nil)
	if diff := cmp.Diff([]NodeGap{{"f1", "Fargate node: Pod Identity is not supported on Fargate"}}, st.Ineligible); diff != "" {
		t.Errorf("ineligible (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"n1", "n2"}, st.Eligible); diff != "" {
		t.Errorf("eligible (-want +got):\n%s", diff)
	}
}

func TestProbeDelays(t *testing.T) {
	t.Parallel()
	want := []time.Duration{100 * time.Millisecond, 150 * time.Millisecond, 225 * time.Millisecond, 337500 * time.Microsecond,
		506250 * time.Microsecond, 759375 * time.Microsecond, time.Second, time.Second}
	if diff := cmp.Diff(want, ProbeDelays(8)); diff != "" {
		t.Errorf("delays (-want +got):\n%s", diff)
	}
}
