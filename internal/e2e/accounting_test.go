package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/podid/podid/internal/e2e/e2etest"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/lab/labtest"
	"github.com/podid/podid/internal/step"
)

// Issue 12 A: every pod of the service account is accounted for, by its
// owner. These tests run enable against the lab with extra owners under the
// service account "carts" beside the usual deployment/app.

const cartsRole = "eks-workshop-carts-dynamo"

func podSpec(sa string) corev1.PodSpec {
	return corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "app", Image: "public.ecr.aws/docker/library/busybox:stable"}}}
}

func labels(name string) map[string]string { return map[string]string{"app.kubernetes.io/name": name} }

// waitRunning waits until n pods matching app.kubernetes.io/name=name run
// and are ready (kwok marks scheduled pods running).
func waitRunning(t *testing.T, w *world, name string, n int) []corev1.Pod {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	for {
		list, err := w.Env.Client.CoreV1().Pods(w.App.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + name})
		if err != nil {
			t.Fatal(err)
		}
		var ready []corev1.Pod
		for i := range list.Items {
			if kube.PodReady(&list.Items[i]) {
				ready = append(ready, list.Items[i])
			}
		}
		if len(ready) == n {
			return ready
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pods of %s ready after 90s", len(ready), n, name)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// restartStep returns enable's restart step report from -o json.
func restartStep(t *testing.T, r e2etest.Result) step.Report {
	t.Helper()
	for _, s := range r.Doc(t).Steps {
		if s.Name == "restart" {
			return s
		}
	}
	t.Fatalf("no restart step in the document")
	return step.Report{}
}

// warningWith returns the one warning containing every want, failing the
// test if there is none or several.
func warningWith(t *testing.T, warnings []string, wants ...string) string {
	t.Helper()
	var hits []string
	for _, w := range warnings {
		all := true
		for _, want := range wants {
			all = all && strings.Contains(w, want)
		}
		if all {
			hits = append(hits, w)
		}
	}
	if len(hits) != 1 {
		t.Fatalf("%d warnings contain %q, want exactly 1:\n%s", len(hits), wants, strings.Join(warnings, "\n"))
	}
	return hits[0]
}

func enable(t *testing.T, w *world) (step.Report, string) {
	t.Helper()
	r := w.Podid(t, append([]string{"enable", "--role", cartsRole, "-o", "json"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("enable: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	return restartStep(t, r), r.Stderr
}

// DaemonSets under the service account: one with the RollingUpdate
// strategy is restarted the kubectl way and its new pods get credentials;
// one with OnDelete is not waited on (its controller would never replace
// the pods) but named with the pods to delete.
func TestEnableRestartsDaemonSet(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"), labtest.Replicas(1))
	ctx := context.Background()
	for _, d := range []struct {
		name     string
		strategy appsv1.DaemonSetUpdateStrategyType
	}{{"logs", appsv1.RollingUpdateDaemonSetStrategyType}, {"metrics", appsv1.OnDeleteDaemonSetStrategyType}} {
		ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: d.name, Namespace: w.App.Namespace},
			Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels(d.name)},
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: d.strategy},
				Template:       corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels(d.name)}, Spec: podSpec("carts")}}}
		if _, err := w.Env.Client.AppsV1().DaemonSets(w.App.Namespace).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	wl, err := kube.GetWorkload(ctx, w.Env.Client, w.App.Namespace, kube.KindDaemonSet, "logs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.WaitRollout(ctx, w.Env.Client, wl, nil); err != nil {
		t.Fatal(err)
	}
	before, _, err := kube.CurrentPods(ctx, w.Env.Client, wl)
	if err != nil || len(before) == 0 {
		t.Fatalf("daemonset/logs has %d pods: %v", len(before), err)
	}
	kept := waitRunning(t, w, "metrics", len(before))
	rs, _ := enable(t, w)
	if !strings.Contains(strings.Join(rs.Changes, "\n"), "restarted daemonset/logs") {
		t.Errorf("restart changes %q lack daemonset/logs", rs.Changes)
	}
	after, _, err := kube.CurrentPods(ctx, w.Env.Client, wl)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("daemonset/logs: %d pods before, %d after", len(before), len(after))
	}
	for i := range after {
		if in := kube.CheckInjection(&after[i]); !in.Injected() {
			t.Errorf("daemonset pod %s lacks %v", after[i].Name, in.Missing)
		}
	}
	line := warningWith(t, rs.Warnings, "daemonset/metrics uses the OnDelete update strategy")
	for i := range kept {
		if !strings.Contains(line, kept[i].Name) {
			t.Errorf("OnDelete warning %q does not name pod %s", line, kept[i].Name)
		}
	}
	if !strings.Contains(line, "kubectl -n "+w.App.Namespace+" delete pod ") {
		t.Errorf("OnDelete warning %q lacks the command that replaces the pods", line)
	}
}

// A StatefulSet with the OnDelete strategy is not waited on (its controller
// would never roll it): enable restarts the rest, and names the pods to
// delete.
func TestEnableReportsOnDelete(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"), labtest.Replicas(1))
	ctx := context.Background()
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: w.App.Namespace},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels("db")},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			Template:       corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("db")}, Spec: podSpec("carts")}}}
	if _, err := w.Env.Client.AppsV1().StatefulSets(w.App.Namespace).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, w, "db", 2)
	gen := w.Generation(t)
	rs, _ := enable(t, w)
	line := warningWith(t, rs.Warnings, "statefulset/db uses the OnDelete update strategy")
	for _, want := range []string{"pods db-0, db-1", "kubectl -n " + w.App.Namespace + " delete pod db-0 db-1"} {
		if !strings.Contains(line, want) {
			t.Errorf("warning %q lacks %q", line, want)
		}
	}
	if w.Generation(t) == gen {
		t.Errorf("deployment/app was not restarted")
	}
	if inj, total := w.InjectedPods(t); inj != total || total == 0 {
		t.Errorf("deployment/app: %d of %d pods injected", inj, total)
	}
}

// A StatefulSet with a partition: the pods at or above it are restarted and
// awaited with kubectl's partitioned rollout rule; the pod below it is
// named with its fix, not waited on.
func TestEnableReportsPartition(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"), labtest.Replicas(1))
	ctx := context.Background()
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: w.App.Namespace},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels("db")},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](1)}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("db")}, Spec: podSpec("carts")}}}
	if _, err := w.Env.Client.AppsV1().StatefulSets(w.App.Namespace).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, w, "db", 2)
	rs, _ := enable(t, w)
	line := warningWith(t, rs.Warnings, "statefulset/db's partition 1")
	if !strings.Contains(line, "pod db-0 ") || strings.Contains(line, "db-1") || !strings.Contains(line, "delete pod db-0") {
		t.Errorf("partition warning %q should name db-0 (and only it) with its fix", line)
	}
	pods := waitRunning(t, w, "db", 2)
	for i := range pods {
		injected := kube.CheckInjection(&pods[i]).Injected()
		if want := pods[i].Name == "db-1"; injected != want {
			t.Errorf("pod %s injected %v, want %v (only the pod at or above the partition is replaced)", pods[i].Name, injected, want)
		}
	}
}

// A CronJob is not restarted; enable says when its next run, which gets
// credentials, is due, in the CronJob's time zone.
func TestEnableNamesCronJobNextRun(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"), labtest.Replicas(1))
	ctx := context.Background()
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: w.App.Namespace},
		Spec: batchv1.CronJobSpec{Schedule: "0 0 1 1 *", TimeZone: ptr.To("Europe/Paris"),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: func() corev1.PodSpec {
				s := podSpec("carts")
				s.RestartPolicy = corev1.RestartPolicyNever
				return s
			}()}}}}}
	if _, err := w.Env.Client.BatchV1().CronJobs(w.App.Namespace).Create(ctx, cj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	next := time.Date(time.Now().In(paris).Year()+1, 1, 1, 0, 0, 0, 0, paris).Format(time.RFC3339)
	rs, stderr := enable(t, w)
	line := warningWith(t, rs.Warnings, "cronjob/nightly")
	if want := "at " + next + " (Europe/Paris)"; !strings.Contains(line, want) {
		t.Errorf("cronjob line %q lacks its next run %q", line, want)
	}
	if !strings.Contains(stderr, "cronjob/nightly") {
		t.Errorf("text output does not mention the CronJob:\n%s", stderr)
	}
	// A service account used only by the CronJob passes verify: its next
	// run gets credentials.
	if err := w.Env.Client.AppsV1().Deployments(w.App.Namespace).Delete(ctx, w.App.Deployment, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := w.Podid(t, append([]string{"verify"}, w.Target()...)...)
		if r.Code == 0 && !strings.Contains(r.Stdout, "app-") {
			mustContain(t, "stdout", r.Stdout, "no running pod uses service account", "cronjob/nightly", next)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verify of a CronJob-only service account: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
		}
		time.Sleep(500 * time.Millisecond) // the deployment's pods are still terminating
	}
}

// A Job, a pod without a controller and a pod of a controller podid does
// not know cannot be restarted by podid: each is named, once, with the fix
// that works for it, and enable still does the rest.
func TestEnableNamesPodsItCannotRestart(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"), labtest.Replicas(1))
	ctx := context.Background()
	ns := w.App.Namespace
	c := w.Env.Client
	// The Job's pod stays pending (no node matches), as a long Job's pod
	// would stay running: kwok completes running Job pods at once.
	jobPod := podSpec("carts")
	jobPod.RestartPolicy = corev1.RestartPolicyNever
	jobPod.NodeSelector = map[string]string{"podid.test/none": "true"}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "migrate", Namespace: ns},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: jobPod}}}
	if _, err := c.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug", Namespace: ns, Labels: labels("debug")}, Spec: podSpec("carts")}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, bare, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	owner, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "operator-state", Namespace: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	odd := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "managed", Namespace: ns, Labels: labels("managed"),
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: ptr.To(true)}}},
		Spec: podSpec("carts")}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, odd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, w, "debug", 1)
	waitRunning(t, w, "managed", 1)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=migrate"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("job/migrate has no pod after 60s")
		}
	}

	rs, stderr := enable(t, w)
	jobLine := warningWith(t, rs.Warnings, "job/migrate")
	for _, want := range []string{"podid does not restart Jobs", "delete the Job and create it again", "kubectl -n " + ns + " delete job migrate"} {
		if !strings.Contains(jobLine, want) {
			t.Errorf("job line %q lacks %q", jobLine, want)
		}
	}
	bareLine := warningWith(t, rs.Warnings, "no controller")
	if !strings.Contains(bareLine, "pod debug ") || !strings.Contains(bareLine, "kubectl -n "+ns+" delete pod debug") {
		t.Errorf("bare pod line %q lacks the pod or its fix", bareLine)
	}
	oddLine := warningWith(t, rs.Warnings, "configmap/operator-state")
	if !strings.Contains(oddLine, "pod managed ") || !strings.Contains(oddLine, "which podid does not restart") {
		t.Errorf("unknown controller line %q", oddLine)
	}
	for _, l := range []string{jobLine, bareLine, oddLine} {
		if n := strings.Count(stderr, l); n != 1 {
			t.Errorf("the text output shows %q %d times, want once:\n%s", l, n, stderr)
		}
	}
	if inj, total := w.InjectedPods(t); inj != total || total == 0 {
		t.Errorf("deployment/app: %d of %d pods injected", inj, total)
	}
}

// status and verify give one verdict on the same state: a pod without a
// controller and no injection is an error for both (exit 3), both name it
// with the fix that works for it, and neither offers a restart for it.
func TestStatusAndVerifyAgreeOnBarePod(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"), labtest.Replicas(1))
	ctx := context.Background()
	ns := w.App.Namespace
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug", Namespace: ns, Labels: labels("debug")}, Spec: podSpec("carts")}
	if _, err := w.Env.Client.CoreV1().Pods(ns).Create(ctx, bare, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, w, "debug", 1)
	enable(t, w)

	fix := "kubectl -n " + ns + " delete pod debug"
	st := w.Podid(t, append([]string{"status"}, w.Target()...)...)
	vr := w.Podid(t, append([]string{"verify"}, w.Target()...)...)
	if st.Code != 3 || vr.Code != 3 {
		t.Fatalf("status exit %d, verify exit %d; want 3 and 3\nstatus:\n%s\n%s\nverify:\n%s\n%s", st.Code, vr.Code, st.Stdout, st.Stderr, vr.Stdout, vr.Stderr)
	}
	mustContain(t, "status stdout", st.Stdout, "no controller: pod debug lacks the Pod Identity injection", fix)
	mustContain(t, "verify stderr", vr.Stderr, "no controller: pod debug lacks the Pod Identity injection", fix)
	for name, out := range map[string]string{"status": st.Stdout + st.Stderr, "verify": vr.Stdout + vr.Stderr} {
		if strings.Contains(out, "podid restart") {
			t.Errorf("%s offers podid restart, which cannot help a pod without a controller:\n%s", name, out)
		}
	}
	sj := w.Podid(t, append([]string{"status", "-o", "json"}, w.Target()...)...).Doc(t)
	vj := w.Podid(t, append([]string{"verify", "-o", "json"}, w.Target()...)...).Doc(t)
	if sj.ExitCode != 3 || vj.ExitCode != 3 {
		t.Errorf("JSON documents: status exitCode %d, verify exitCode %d; want 3 and 3", sj.ExitCode, vj.ExitCode)
	}
}
