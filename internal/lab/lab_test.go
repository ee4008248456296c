package lab_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// waitFor polls f every 50 ms until it returns true, failing the test with
// what after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := f()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last state: %s", timeout, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAddonDeploysAgentOnEligibleNodes(t *testing.T) {
	env := labtest.Get(t)
	ctx := context.Background()
	fake := env.NewFake(t, fakeaws.Options{AddonDelay: 200 * time.Millisecond})
	client := eks.NewFromConfig(labtest.AWSConfig(fake.URL()))

	// A fourth node that the agent's affinity excludes.
	fargate := "fargate-node-test"
	if err := lab.CreateNode(ctx, env.Client, fargate, map[string]string{"eks.amazonaws.com/compute-type": "fargate"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.CoreV1().Nodes().Delete(context.Background(), fargate, metav1.DeleteOptions{}) })

	_, err := client.CreateAddon(ctx, &eks.CreateAddonInput{
		ClusterName:  aws.String(lab.WorkshopCluster),
		AddonName:    aws.String(lab.AgentName),
		AddonVersion: aws.String("v1.3.10-eksbuild.1"),
	})
	if err != nil {
		t.Fatalf("CreateAddon: %v", err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteAddon(context.Background(), &eks.DeleteAddonInput{ClusterName: aws.String(lab.WorkshopCluster), AddonName: aws.String(lab.AgentName)})
	})

	waitFor(t, 60*time.Second, "add-on ACTIVE", func() (bool, string) {
		out, err := client.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String(lab.WorkshopCluster), AddonName: aws.String(lab.AgentName)})
		if err != nil {
			return false, err.Error()
		}
		return out.Addon.Status == ekstypes.AddonStatusActive, string(out.Addon.Status)
	})

	ds, err := env.Client.AppsV1().DaemonSets(lab.AgentNamespace).Get(ctx, lab.AgentName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("agent DaemonSet after ACTIVE: %v", err)
	}
	if got := ds.Labels["app.kubernetes.io/version"]; got != "v1.3.10-eksbuild.1" {
		t.Errorf("app.kubernetes.io/version = %q, want the add-on version v1.3.10-eksbuild.1", got)
	}
	if got, want := ds.Spec.Template.Spec.Containers[0].Image, "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/eks-pod-identity-agent:v1.3.10"; got != want {
		t.Errorf("image = %q, want %q", got, want)
	}
	eligible := eligibleNodes(t, env.Client)
	if ds.Status.DesiredNumberScheduled != int32(len(eligible)) || ds.Status.NumberReady != ds.Status.DesiredNumberScheduled {
		t.Errorf("DaemonSet desired=%d ready=%d, want both %d (nodes %v)", ds.Status.DesiredNumberScheduled, ds.Status.NumberReady, len(eligible), eligible)
	}
	if len(eligible) < 3 {
		t.Errorf("eligible nodes = %v, want at least the 3 kwok nodes", eligible)
	}
	pods, err := env.Client.CoreV1().Pods(lab.AgentNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + lab.AgentName})
	if err != nil {
		t.Fatal(err)
	}
	var onNodes []string
	for _, p := range pods.Items {
		if p.Spec.NodeName == fargate {
			t.Errorf("agent pod %s landed on the fargate node", p.Name)
		}
		onNodes = append(onNodes, p.Spec.NodeName)
	}
	for _, n := range eligible {
		if !slices.Contains(onNodes, n) {
			t.Errorf("no agent pod on node %s (pods on %v)", n, onNodes)
		}
	}
}

func eligibleNodes(t *testing.T, c kubernetes.Interface) []string {
	t.Helper()
	nodes, err := c.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range nodes.Items {
		if n.Labels["eks.amazonaws.com/compute-type"] == "" {
			names = append(names, n.Name)
		}
	}
	return names
}

func newPod(t *testing.T, c kubernetes.Interface, ns, sa string, dryRun bool) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: ns},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			Containers:         []corev1.Container{{Name: "app", Image: "public.ecr.aws/docker/library/busybox:latest"}},
		},
	}
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	out, err := c.CoreV1().Pods(ns).Create(context.Background(), pod, opts)
	if err != nil {
		t.Fatalf("create pod of %s/%s (dry run %v): %v", ns, sa, dryRun, err)
	}
	return out
}

func hasEnv(p *corev1.Pod, name string) bool {
	for _, e := range p.Spec.Containers[0].Env {
		if e.Name == name {
			return true
		}
	}
	return false
}

func TestAssociationReachesWebhookAfterPropagationDelay(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	ctx := context.Background()
	const delay = time.Second
	fake := env.NewFake(t, fakeaws.Options{PropagationDelay: delay})
	client := eks.NewFromConfig(labtest.AWSConfig(fake.URL()))
	app := env.Namespace(t, "assoc", labtest.Replicas(1))
	other := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: app.Namespace}}
	if _, err := env.Client.CoreV1().ServiceAccounts(app.Namespace).Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	created := time.Now()
	out, err := client.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName:    aws.String(lab.WorkshopCluster),
		Namespace:      aws.String(app.Namespace),
		ServiceAccount: aws.String(app.ServiceAccount),
		RoleArn:        aws.String(lab.RoleARN(lab.CartsRole)),
	})
	if err != nil {
		t.Fatalf("CreatePodIdentityAssociation: %v", err)
	}

	// Too soon: neither a stored pod nor a dry run is injected.
	early := newPod(t, env.Client, app.Namespace, app.ServiceAccount, false)
	earlyDry := newPod(t, env.Client, app.Namespace, app.ServiceAccount, true)
	if time.Since(created) < delay*8/10 {
		if lab.Injected(early) || lab.Injected(earlyDry) {
			t.Errorf("pod created %s after the association was injected before the %s propagation delay", time.Since(created), delay)
		}
	}

	waitFor(t, 10*time.Second, "a dry-run pod to be injected", func() (bool, string) {
		return lab.Injected(newPod(t, env.Client, app.Namespace, app.ServiceAccount, true)), "not injected"
	})
	if took := time.Since(created); took < delay*9/10 {
		t.Errorf("association took effect after %s, before the %s propagation delay", took, delay)
	}

	pod := newPod(t, env.Client, app.Namespace, app.ServiceAccount, false)
	for _, name := range []string{lab.EnvCredentialsURI, lab.EnvTokenFile} {
		if !hasEnv(pod, name) {
			t.Errorf("new pod %s lacks env %s", pod.Name, name)
		}
	}
	if !lab.Injected(pod) {
		t.Errorf("new pod %s lacks the %s projected volume", pod.Name, lab.TokenVolume)
	}
	if p := newPod(t, env.Client, app.Namespace, "other", false); lab.Injected(p) || hasEnv(p, lab.EnvCredentialsURI) {
		t.Errorf("pod %s of service account other was injected", p.Name)
	}
	if got, err := env.Client.CoreV1().Pods(app.Namespace).Get(ctx, early.Name, metav1.GetOptions{}); err != nil || lab.Injected(got) {
		t.Errorf("early pod %s: injected=%v err=%v, want an unchanged pod", early.Name, err == nil && lab.Injected(got), err)
	}

	if _, err := client.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{
		ClusterName:   aws.String(lab.WorkshopCluster),
		AssociationId: out.Association.AssociationId,
	}); err != nil {
		t.Fatalf("DeletePodIdentityAssociation: %v", err)
	}
	if p := newPod(t, env.Client, app.Namespace, app.ServiceAccount, true); !lab.Injected(p) {
		t.Errorf("dry-run pod right after delete was not injected; the delete took effect before the propagation delay")
	}
	waitFor(t, 10*time.Second, "dry-run pods to stop being injected after delete", func() (bool, string) {
		return !lab.Injected(newPod(t, env.Client, app.Namespace, app.ServiceAccount, true)), "still injected"
	})
	if p := newPod(t, env.Client, app.Namespace, app.ServiceAccount, false); lab.Injected(p) {
		t.Errorf("pod %s created after the delete propagated was injected", p.Name)
	}
}

func TestBackendHandlesShareIdentitiesFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "identities.json")
	hub := lab.NewBackend(nil, file) // identities need no cluster
	a, b := hub.Handle(), hub.Handle()
	read := func() string {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if err := a.SetIdentities(ctx, "c", []fakeaws.Identity{{Namespace: "x", ServiceAccount: "a"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetIdentities(ctx, "c", []fakeaws.Identity{{Namespace: "x", ServiceAccount: "b"}, {Namespace: "x", ServiceAccount: "a"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := read(), `{"identities":[{"namespace":"x","serviceAccount":"a"},{"namespace":"x","serviceAccount":"b"}]}`+"\n"; got != want {
		t.Errorf("identities with two handles:\n got %s\nwant %s", got, want)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := read(), `{"identities":[{"namespace":"x","serviceAccount":"a"}]}`+"\n"; got != want {
		t.Errorf("identities after closing b:\n got %s\nwant %s", got, want)
	}
	if err := b.SetIdentities(ctx, "c", nil); err == nil {
		t.Error("SetIdentities on a closed handle succeeded")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := read(), `{"identities":[]}`+"\n"; got != want {
		t.Errorf("identities after closing all:\n got %s\nwant %s", got, want)
	}
}

func TestUpDownUp(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	ctx := context.Background()
	dir := t.TempDir()
	var pids []lab.Process
	for round := 1; round <= 2; round++ {
		t0 := time.Now()
		cp, err := lab.Start(ctx, lab.Options{Dir: dir, BinDir: env.State.BinDir, Nodes: 1})
		t.Logf("round %d: start took %s", round, time.Since(t0))
		if err != nil {
			t.Fatalf("start %d: %v", round, err)
		}
		if _, err := lab.Start(ctx, lab.Options{Dir: dir, BinDir: env.State.BinDir, Nodes: 1}); err == nil {
			t.Errorf("second start in the same folder succeeded; want an 'already running' error")
		}
		pids = append(pids, cp.State.Processes...)
		if len(cp.State.Processes) != 6 {
			t.Errorf("round %d: %d processes recorded, want 6", round, len(cp.State.Processes))
		}
		c, err := cp.State.Client()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			t.Errorf("round %d: default service account: %v", round, err)
		}
		t0 = time.Now()
		if err := lab.StopDir(ctx, dir); err != nil {
			t.Fatalf("stop %d: %v", round, err)
		}
		t.Logf("round %d: stop took %s", round, time.Since(t0))
		if err := lab.StopDir(ctx, dir); err != nil {
			t.Errorf("second stop %d: %v", round, err)
		}
		for _, p := range cp.State.Processes {
			if p.Alive() {
				t.Errorf("round %d: %s (pid %d) still running after stop", round, p.Name, p.PID)
			}
		}
		if _, err := os.Stat(lab.RunDir(dir)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("round %d: run folder still there after stop: %v", round, err)
		}
	}
	for _, p := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p.PID)); err == nil && p.Alive() {
			t.Errorf("%s pid %d alive at the end", p.Name, p.PID)
		}
	}
}

func TestWorkshopClusterEndpointAndCAReachTheLab(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	ctx := context.Background()
	fake := env.NewFake(t, fakeaws.Options{})
	out, err := eks.NewFromConfig(labtest.AWSConfig(fake.URL())).DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(lab.WorkshopCluster)})
	if err != nil {
		t.Fatalf("DescribeCluster: %v", err)
	}
	ca, err := base64.StdEncoding.DecodeString(aws.ToString(out.Cluster.CertificateAuthority.Data))
	if err != nil {
		t.Fatalf("cluster CA data is not base64: %v", err)
	}
	// A client built only from what EKS reports (plus the lab token) reaches the lab.
	rc := &rest.Config{Host: aws.ToString(out.Cluster.Endpoint), BearerToken: env.RESTConfig.BearerToken, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.AppsV1().Deployments("carts").Get(ctx, "carts", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get carts deployment through the DescribeCluster endpoint and CA: %v", err)
	}
	if d.Spec.Template.Spec.ServiceAccountName != "carts" || d.Status.AvailableReplicas != 2 {
		t.Errorf("carts deployment: serviceAccountName=%q available=%d, want carts and 2", d.Spec.Template.Spec.ServiceAccountName, d.Status.AvailableReplicas)
	}
	co, err := c.AppsV1().Deployments("checkout").Get(ctx, "checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if co.Spec.Template.Spec.ServiceAccountName != "" {
		t.Errorf("checkout deployment runs as %q, want the default service account (a seeded mistake)", co.Spec.Template.Spec.ServiceAccountName)
	}
	sa, err := c.CoreV1().ServiceAccounts("orders").Get(ctx, "orders", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sa.Annotations[lab.IRSAAnnotation], lab.RoleARN(lab.OrdersIRSARole); got != want {
		t.Errorf("orders service account IRSA annotation = %q, want %q", got, want)
	}
}

// TestAgentSharedBetweenHandles runs alone (not parallel): it owns the agent DaemonSet.
func TestAgentSharedBetweenHandles(t *testing.T) {
	env := labtest.Get(t)
	ctx := context.Background()
	hub := lab.NewBackend(env.Client, filepath.Join(t.TempDir(), "identities.json"))
	a, b := hub.Handle(), hub.Handle()
	t.Cleanup(func() { a.Close(); b.Close() })
	spec := fakeaws.AgentSpec{Cluster: lab.WorkshopCluster, Version: "v1.3.9-eksbuild.1"}
	for _, h := range []*lab.Handle{a, b} {
		if err := h.ApplyAgent(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "agent healthy", func() (bool, string) {
		h, err := a.AgentHealth(ctx, lab.WorkshopCluster)
		if err != nil {
			return false, err.Error()
		}
		return h.Ready, h.Detail
	})
	if err := a.DeleteAgent(ctx, lab.WorkshopCluster); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client.AppsV1().DaemonSets(lab.AgentNamespace).Get(ctx, lab.AgentName, metav1.GetOptions{}); err != nil {
		t.Fatalf("DaemonSet gone although handle b still has the add-on: %v", err)
	}
	if err := b.DeleteAgent(ctx, lab.WorkshopCluster); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client.AppsV1().DaemonSets(lab.AgentNamespace).Get(ctx, lab.AgentName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("DaemonSet after the last DeleteAgent: err=%v, want NotFound", err)
	}
	h, err := b.AgentHealth(ctx, lab.WorkshopCluster)
	if err != nil || h.Ready || !strings.Contains(h.Detail, "not found") {
		t.Errorf("AgentHealth without DaemonSet = %+v, %v; want not ready, detail naming the missing DaemonSet", h, err)
	}
}
