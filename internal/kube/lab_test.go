package kube_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

func TestMain(m *testing.M) { labtest.Main(m) }

func timeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestLabLoadAndSameCluster(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	c, err := kube.Load(env.Kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := kube.SameCluster(c.Server, c.CAData, env.Server, b64(env.CAData)); err != nil {
		t.Errorf("the lab kubeconfig against the lab endpoint: %v", err)
	}
	if _, err := c.Client.CoreV1().Namespaces().Get(timeout(t, 10*time.Second), "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("client from Load: %v", err)
	}
	if c.Calls.Snapshot()["kube:GET namespaces"] != 1 {
		t.Errorf("call counter = %v", c.Calls.Snapshot())
	}
}

func TestLabFindWorkloads(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	app := env.Namespace(t, "find")
	ctx := timeout(t, 30*time.Second)

	m, o, err := kube.FindWorkloads(ctx, env.Client, app.Namespace, app.ServiceAccount, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || m[0].Ref() != "deployment/"+app.Deployment || m[0].Replicas != 2 || len(o) != 0 {
		t.Fatalf("matches %v others %v", m, o)
	}

	m, o, err = kube.FindWorkloads(ctx, env.Client, app.Namespace, "other", nil)
	if err != nil || len(m) != 0 || len(o) != 1 {
		t.Fatalf("FindWorkloads(other) = %v, %v, %v", m, o, err)
	}
	nerr := kube.NoWorkloadsError(app.Namespace, "other", o)
	if want := "deployment/" + app.Deployment + " uses " + app.ServiceAccount; !strings.Contains(nerr.Error(), want) {
		t.Errorf("none-found error %q lacks %q", nerr, want)
	}

	_, _, err = kube.FindWorkloads(ctx, env.Client, "nope-ns-podid", "x", nil)
	if err == nil || err.Error() != `namespace "nope-ns-podid" not found; create it or check --ns` {
		t.Errorf("missing namespace: %v", err)
	}

	_, _, err = kube.FindWorkloads(ctx, env.Client, app.Namespace, app.ServiceAccount, []kube.WorkloadRef{{Kind: kube.KindStatefulSet, Name: "db"}})
	if err == nil || !strings.Contains(err.Error(), "statefulset/db not found") {
		t.Errorf("missing ref: %v", err)
	}
}

func TestLabRestartAndWaitRollout(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	app := env.Namespace(t, "restart")
	ctx := timeout(t, 60*time.Second)
	ws, _, err := kube.FindWorkloads(ctx, env.Client, app.Namespace, app.ServiceAccount, nil)
	if err != nil || len(ws) != 1 {
		t.Fatalf("FindWorkloads: %v %v", ws, err)
	}
	w := ws[0]
	before, _, err := kube.CurrentPods(ctx, env.Client, w)
	if err != nil || len(before) != 2 {
		t.Fatalf("CurrentPods before: %d pods, %v", len(before), err)
	}

	now := time.Now()
	if err := kube.Restart(ctx, env.Client, w, now); err != nil {
		t.Fatal(err)
	}
	var progress []string
	res, err := kube.WaitRollout(ctx, env.Client, w, func(s string) { progress = append(progress, s) })
	if err != nil {
		t.Fatalf("WaitRollout: %v (progress %q)", err, progress)
	}
	if want := `deployment "` + app.Deployment + `" successfully rolled out`; res.Message != want {
		t.Errorf("result %q, want %q", res.Message, want)
	}
	if len(progress) == 0 || progress[len(progress)-1] != res.Message {
		t.Errorf("progress %q should end with the result", progress)
	}

	after, old, err := kube.CurrentPods(ctx, env.Client, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 2 {
		t.Fatalf("CurrentPods after: %d pods (old %d)", len(after), old)
	}
	for _, p := range after {
		if !kube.PodReady(&p) {
			t.Errorf("new pod %s is not ready", p.Name)
		}
		if got := p.Annotations[kube.RestartedAtAnnotation]; got != now.Format(time.RFC3339) {
			t.Errorf("new pod %s restartedAt = %q", p.Name, got)
		}
		for _, b := range before {
			if b.Name == p.Name {
				t.Errorf("pod %s of the old revision is reported as current", p.Name)
			}
		}
	}

	// A second restart within the same second still changes the template.
	if err := kube.Restart(ctx, env.Client, w, now); err != nil {
		t.Fatalf("second restart in the same second: %v", err)
	}
	if _, err := kube.WaitRollout(ctx, env.Client, w, nil); err != nil {
		t.Fatal(err)
	}
	d, err := env.Client.AppsV1().Deployments(app.Namespace).Get(ctx, app.Deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Annotations[kube.RestartedAtAnnotation]; got == now.Format(time.RFC3339) {
		t.Errorf("second restart left restartedAt at %q", got)
	}
	for _, mf := range d.ManagedFields {
		if mf.Manager == kube.FieldManager {
			return
		}
	}
	t.Errorf("no managed fields entry for %q", kube.FieldManager)
}

func TestLabRestartPausedRefused(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	app := env.Namespace(t, "paused", labtest.Paused())
	ctx := timeout(t, 30*time.Second)
	w, err := kube.GetWorkload(ctx, env.Client, app.Namespace, kube.KindDeployment, app.Deployment)
	if err != nil {
		t.Fatal(err)
	}
	err = kube.Restart(ctx, env.Client, w, time.Now())
	want := `deployment "` + app.Deployment + `" is paused; run kubectl -n ` + app.Namespace + ` rollout resume deployment/` + app.Deployment + ` first`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	d, err := env.Client.AppsV1().Deployments(app.Namespace).Get(ctx, app.Deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Spec.Template.Annotations[kube.RestartedAtAnnotation]; ok {
		t.Error("a refused restart must not patch the template")
	}
}

func TestLabProgressDeadlineExceeded(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	app := env.Namespace(t, "deadline")
	ctx := timeout(t, 60*time.Second)
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{
		"progressDeadlineSeconds": 1,
		"template": map[string]any{"spec": map[string]any{
			"nodeSelector": map[string]string{"podid.test/no-such-node": "true"}}},
	}})
	if _, err := env.Client.AppsV1().Deployments(app.Namespace).Patch(ctx, app.Deployment, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := kube.GetWorkload(ctx, env.Client, app.Namespace, kube.KindDeployment, app.Deployment)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = kube.WaitRollout(ctx, env.Client, w, nil)
	if err == nil || !strings.Contains(err.Error(), "exceeded its progress deadline") {
		t.Fatalf("err = %v, want a progress deadline error", err)
	}
	if fail.KindOf(err) != fail.KindVerification || fail.HintOf(err) == "" {
		t.Errorf("kind %v hint %q", fail.KindOf(err), fail.HintOf(err))
	}
	t.Logf("deadline error after %s", time.Since(start).Round(time.Millisecond))
}

func TestLabWaitRolloutTimeoutNamesLastStatus(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	app := env.Namespace(t, "stuck")
	ctx := timeout(t, 30*time.Second)
	patch := []byte(`{"spec":{"template":{"spec":{"nodeSelector":{"podid.test/no-such-node":"true"}}}}}`)
	if _, err := env.Client.AppsV1().Deployments(app.Namespace).Patch(ctx, app.Deployment, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := kube.GetWorkload(ctx, env.Client, app.Namespace, kube.KindDeployment, app.Deployment)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	_, err = kube.WaitRollout(short, env.Client, w, nil)
	if err == nil || !strings.Contains(err.Error(), "last status: Waiting for deployment") {
		t.Fatalf("err = %v", err)
	}
	if fail.KindOf(err) != fail.KindTimeout {
		t.Errorf("kind = %v, want timeout", fail.KindOf(err))
	}
}

func TestLabProbeInjection(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	app := env.Namespace(t, "probe")
	ctx := timeout(t, 60*time.Second)
	fake := env.NewFake(t, fakeaws.Options{PropagationDelay: 700 * time.Millisecond})

	in, err := kube.ProbeInjection(ctx, env.Client, app.Namespace, app.ServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	if in.Injected() {
		t.Fatal("probe injected before any association")
	}

	_, err = kube.ProbeInjection(ctx, env.Client, app.Namespace, "no-such-sa")
	if err == nil || !strings.Contains(err.Error(), "service account "+app.Namespace+"/no-such-sa not found") {
		t.Errorf("missing SA: %v", err)
	}

	client := eks.NewFromConfig(labtest.AWSConfig(fake.URL()))
	_, err = client.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName:    aws.String(lab.WorkshopCluster),
		Namespace:      aws.String(app.Namespace),
		ServiceAccount: aws.String(app.ServiceAccount),
		RoleArn:        aws.String("arn:aws:iam::" + lab.WorkshopAccount + ":role/" + lab.CartsRole),
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	attempts := 0
	in, err = kube.WaitInjection(ctx, env.Client, app.Namespace, app.ServiceAccount, func(n int, _ kube.Injection) { attempts = n })
	if err != nil {
		t.Fatal(err)
	}
	if !in.Injected() || attempts < 2 {
		t.Errorf("injected %v after %d attempts (%s)", in.Injected(), attempts, time.Since(start))
	}

	// Pods created before the association are untouched; the restart's are injected.
	w, err := kube.GetWorkload(ctx, env.Client, app.Namespace, kube.KindDeployment, app.Deployment)
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := kube.CurrentPods(ctx, env.Client, w)
	if err != nil || len(old) == 0 {
		t.Fatalf("CurrentPods: %v", err)
	}
	if got := kube.CheckInjection(&old[0]); got.Injected() {
		t.Error("a pod created before the association reports the injection")
	}
	if err := kube.Restart(ctx, env.Client, w, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.WaitRollout(ctx, env.Client, w, nil); err != nil {
		t.Fatal(err)
	}
	pods, _, err := kube.CurrentPods(ctx, env.Client, w)
	if err != nil || len(pods) != 2 {
		t.Fatalf("CurrentPods after restart: %d, %v", len(pods), err)
	}
	for _, p := range pods {
		if got := kube.CheckInjection(&p); !got.Injected() {
			t.Errorf("new pod %s lacks %v", p.Name, got.Missing)
		}
	}
}

func TestLabWaitInjectionTimeout(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	app := env.Namespace(t, "noassoc")
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	_, err := kube.WaitInjection(ctx, env.Client, app.Namespace, app.ServiceAccount, nil)
	if err == nil || fail.KindOf(err) != fail.KindTimeout || !strings.Contains(err.Error(), "lacked label eks.amazonaws.com/pod-identity=enabled") {
		t.Fatalf("err = %v (kind %v)", err, fail.KindOf(err))
	}
}

func TestLabServiceAccounts(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	app := env.Namespace(t, "sa", labtest.IRSA("arn:aws:iam::111122223333:role/x"))
	ctx := timeout(t, 30*time.Second)
	sa, err := kube.GetServiceAccount(ctx, env.Client, app.Namespace, app.ServiceAccount)
	if err != nil || !sa.Exists || sa.IRSARoleARN != "arn:aws:iam::111122223333:role/x" {
		t.Fatalf("GetServiceAccount = %+v, %v", sa, err)
	}
	created, err := kube.EnsureServiceAccount(ctx, env.Client, app.Namespace, "fresh", true)
	if err != nil || !created {
		t.Fatalf("dry run: %v %v", created, err)
	}
	if sa, _ := kube.GetServiceAccount(ctx, env.Client, app.Namespace, "fresh"); sa.Exists {
		t.Fatal("dry run created the service account")
	}
	if created, err := kube.EnsureServiceAccount(ctx, env.Client, app.Namespace, "fresh", false); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if created, err := kube.EnsureServiceAccount(ctx, env.Client, app.Namespace, "fresh", false); err != nil || created {
		t.Fatalf("second ensure: %v %v", created, err)
	}
	if _, err := kube.GetServiceAccount(ctx, env.Client, "nope-ns-podid", "x"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing namespace: %v", err)
	}
}

// TestLabAgent is the only test that touches kube-system's agent DaemonSet
// and adds nodes; it is not parallel.
func TestLabAgent(t *testing.T) {
	env := labtest.Get(t)
	ctx := timeout(t, 90*time.Second)
	dsClient := env.Client.AppsV1().DaemonSets(kube.AgentNamespace)

	st, err := kube.GetAgentStatus(ctx, env.Client)
	if err != nil {
		t.Fatal(err)
	}
	if st.Found {
		t.Fatal("the lab already runs an agent DaemonSet; this test expects to own it")
	}

	addNode(t, env, "podid-kube-fargate", map[string]string{"eks.amazonaws.com/compute-type": "fargate"})
	apply := func(config string) {
		t.Helper()
		ds, err := lab.AgentDaemonSet(lab.WorkshopCluster, "v0.1.29-eksbuild.1", config)
		if err != nil {
			t.Fatal(err)
		}
		cur, err := dsClient.Get(ctx, ds.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = dsClient.Create(ctx, ds, metav1.CreateOptions{})
		case err == nil:
			ds.ResourceVersion = cur.ResourceVersion
			_, err = dsClient.Update(ctx, ds, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = dsClient.Delete(context.Background(), kube.AgentName, metav1.DeleteOptions{}) })

	// Started before the DaemonSet exists: the watches must see it appear.
	done := make(chan error, 1)
	var got kube.AgentStatus
	var progress []string
	go func() {
		var err error
		got, err = kube.WaitAgent(ctx, env.Client, func(s string) { progress = append(progress, s) })
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // let WaitAgent see "not found" first
	apply("")
	if err := <-done; err != nil {
		t.Fatalf("WaitAgent: %v (progress %q)", err, progress)
	}
	if !got.OK() || len(got.Eligible) == 0 || int(got.DesiredScheduled) != len(got.Eligible) {
		t.Fatalf("status %+v", got)
	}
	for _, n := range got.Eligible {
		if n == "podid-kube-fargate" {
			t.Error("the fargate node is listed as eligible")
		}
	}
	if len(progress) < 2 || !strings.Contains(progress[0], "not found") {
		t.Errorf("progress %q should start with the DaemonSet missing", progress)
	}

	// Pods on the fargate node are reported.
	app := env.Namespace(t, "placement")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "on-fargate", Namespace: app.Namespace},
		Spec: corev1.PodSpec{NodeName: "podid-kube-fargate", ServiceAccountName: app.ServiceAccount,
			Containers: []corev1.Container{{Name: "c", Image: kube.ProbeImage}}},
	}
	if _, err := env.Client.CoreV1().Pods(app.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	placed, err := kube.PodsOnIneligibleNodes(ctx, env.Client, app.Namespace, []corev1.Pod{*pod})
	if err != nil || len(placed) != 1 || !strings.Contains(placed[0].Reason, "Fargate") {
		t.Errorf("PodsOnIneligibleNodes = %+v, %v", placed, err)
	}

	// A tainted node that the add-on's tolerations do not cover gets no
	// agent: the wait runs out and names it.
	apply(`{"tolerations":[]}`)
	addNode(t, env, "podid-kube-tainted", nil, corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule})
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = kube.WaitAgent(short, env.Client, nil)
	if err == nil || fail.KindOf(err) != fail.KindTimeout || !strings.Contains(err.Error(), "node podid-kube-tainted: no agent pod: taint dedicated=gpu:NoSchedule is not tolerated") {
		t.Fatalf("err = %v", err)
	}
}

func addNode(t *testing.T, env *labtest.Env, name string, labels map[string]string, taints ...corev1.Taint) {
	t.Helper()
	ctx := timeout(t, 30*time.Second)
	t.Cleanup(func() { _ = env.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	if len(taints) == 0 {
		if err := lab.CreateNode(ctx, env.Client, name, labels); err != nil {
			t.Fatal(err)
		}
		return
	}
	// Tainted from birth, so that no DaemonSet pod lands before the taint.
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels:      map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}},
		Spec: corev1.NodeSpec{Taints: taints},
	}
	if _, err := env.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
