package reliability

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

const (
	noTagSessionTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	denyTrust         = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]},
 {"Sid":"NoPods","Effect":"Deny","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
)

// badCase is one bad input: what podid must say, its exit code, and that
// nothing changed anywhere.
type badCase struct {
	name  string
	args  []string // after "enable"; the target flags are the good namespace's unless the case sets --ns
	code  int
	wants []string
	// setup prepares the fake (roles, add-on states, caller policy); its own
	// changes through the API are the baseline, not counted.
	setup func(t *testing.T, w *world)
	// creds replaces the static credentials (in process).
	creds aws.CredentialsProvider
	// proc runs the podid binary with this environment change instead.
	proc func(env []string) []string
	// ok: exit 0 with a warning (dry run, so still nothing changes).
	ok bool
}

// fixtures are the namespaces the bad inputs point at.
type fixtures struct {
	good, fargate, irsa *labtest.App
}

// TestBadInputChangesNothing is deliberately not parallel with the other
// top-level tests: while it runs, nothing else in this test binary touches
// the agent DaemonSet, so its resourceVersion must stay as it is.
func TestBadInputChangesNothing(t *testing.T) {
	env := labtest.Get(t)
	ctx := context.Background()
	fx := fixtures{
		good:    env.Namespace(t, "bad-good", labtest.ServiceAccount("carts")),
		fargate: fargateApp(t, env),
		irsa:    env.Namespace(t, "bad-irsa", labtest.ServiceAccount("carts"), labtest.IRSA(lab.RoleARN(lab.CartsIRSARole))),
	}
	lonely := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "lonely", Namespace: fx.good.Namespace}}
	if _, err := env.Client.CoreV1().ServiceAccounts(fx.good.Namespace).Create(ctx, lonely, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A kubeconfig that the apiserver does not accept is still the lab's.
	otherKubeconfig := filepath.Join(t.TempDir(), "missing-kubeconfig")
	good := []string{"--ns", fx.good.Namespace, "--sa", "carts"}
	roleFlag := func(r string) []string { return append(append([]string{}, good...), "--role", r) }
	denied := func(action string) func(t *testing.T, w *world) {
		return func(t *testing.T, w *world) { w.Fake.SetCallerPolicy(withoutAction(t, action)) }
	}
	cases := []badCase{
		// usage: malformed values (exit 2)
		{name: "cluster with a space", args: append([]string{"--cluster", "eks workshop"}, good...), code: 2, wants: []string{"invalid --cluster"}},
		{name: "cluster name too long", args: append([]string{"--cluster", strings.Repeat("c", 101)}, good...), code: 2, wants: []string{"invalid --cluster"}},
		{name: "namespace too long", args: []string{"--ns", strings.Repeat("n", 64), "--sa", "carts"}, code: 2, wants: []string{"invalid --ns"}},
		{name: "namespace with a dot", args: []string{"--ns", "carts.prod", "--sa", "carts"}, code: 2, wants: []string{"invalid --ns"}},
		{name: "service account uppercase", args: []string{"--ns", fx.good.Namespace, "--sa", "Carts"}, code: 2, wants: []string{"invalid --sa"}},
		{name: "service account empty", args: []string{"--ns", fx.good.Namespace, "--sa", ""}, code: 2, wants: []string{"--sa"}},
		{name: "role ARN of a user", args: roleFlag("arn:aws:iam::1234567890:user/bob"), code: 2, wants: []string{"--role"}},
		{name: "role name with a space", args: roleFlag("carts role"), code: 2, wants: []string{"--role"}},
		{name: "role ARN in another partition format", args: roleFlag("arn:aws:iam:us-west-2:1234567890:role/x"), code: 2, wants: []string{"--role"}},
		{name: "target role ARN malformed", args: append(append([]string{}, good...), "--target-role-arn", "arn:aws:s3:::bucket"), code: 2, wants: []string{"invalid --target-role-arn", "arn:aws:s3:::bucket"}},
		{name: "timeout zero", args: append(append([]string{}, good...), "--timeout", "0"), code: 2, wants: []string{"--timeout"}},
		{name: "timeout negative", args: append(append([]string{}, good...), "--timeout", "-5s"), code: 2, wants: []string{"--timeout"}},
		{name: "cluster in another region", args: append([]string{"--cluster", "eks-workshop", "--region", "eu-west-1"}, good...), code: 1, wants: []string{"not found in eu-west-1", "--region"},
			proc: func(env []string) []string { return env }},
		{name: "region malformed", args: append(append([]string{}, good...), "--region", "us_west_2"), code: 2, wants: []string{"--region"}},
		{name: "misspelt flag", args: append(append([]string{}, good...), "--namespce", "carts"), code: 2, wants: []string{"unknown flag"}},
		{name: "workload without a name", args: append(append([]string{}, good...), "--workload", "deployment/"), code: 2, wants: []string{`"deployment/"`, "deployment/NAME"}},
		{name: "tag with reserved prefix", args: append(append([]string{}, good...), "--tags", "aws:owner=me"), code: 2, wants: []string{"aws:"}},

		// the world does not match (exit 1 or 3)
		{name: "missing service account", args: []string{"--ns", fx.good.Namespace, "--sa", "nosuch", "--role", lab.CartsRole}, code: 3, wants: []string{"nosuch", "--create-service-account"}},
		{name: "no workload uses the service account", args: []string{"--ns", fx.good.Namespace, "--sa", "lonely", "--role", lab.CartsRole}, code: 3, wants: []string{"lonely"}},
		{name: "missing workload named", args: append(append([]string{}, good...), "--workload", "deployment/nosuch"), code: 1, wants: []string{"deployment/nosuch", "not found", "workloads there: deployment/app"}},
		{name: "trust without sts:TagSession", args: roleFlag("no-tag-session"),
			setup: func(t *testing.T, w *world) {
				w.Fake.PutRole(fakeaws.Role{Name: "no-tag-session", TrustPolicy: noTagSessionTrust})
			},
			code: 3, wants: []string{"sts:TagSession", "--fix"}},
		{name: "trust with a Deny", args: roleFlag("denied-pods"),
			setup: func(t *testing.T, w *world) {
				w.Fake.PutRole(fakeaws.Role{Name: "denied-pods", TrustPolicy: denyTrust})
			},
			code: 3, wants: []string{"Deny", "NoPods"}},
		{name: "role in another account without a target role", args: roleFlag("arn:aws:iam::999999999999:role/remote"), code: 3, wants: []string{"999999999999", "--target-role-arn"}},
		{name: "association exists to another role", args: roleFlag(lab.CartsRole),
			setup: func(t *testing.T, w *world) {
				arn := w.Fake.PutRole(fakeaws.Role{Name: "carts-previous", TrustPolicy: lab.PodIdentityTrust})
				createAssociation(t, w, fx.good.Namespace, "carts", arn)
			},
			code: 1, wants: []string{"carts-previous", "--update"}},
		{name: "add-on CREATE_FAILED", args: good,
			setup: func(t *testing.T, w *world) {
				w.Fake.ForceAddonStatus(lab.WorkshopCluster, fakeaws.AgentAddonName, "CREATE_FAILED", fakeaws.HealthIssue{Code: "ConfigurationConflict", Message: "conflicts with existing DaemonSet"})
			},
			code: 1, wants: []string{"CREATE_FAILED", "ConfigurationConflict"}},
		{name: "add-on DEGRADED", args: good,
			setup: func(t *testing.T, w *world) {
				w.Fake.ForceAddonStatus(lab.WorkshopCluster, fakeaws.AgentAddonName, "DEGRADED", fakeaws.HealthIssue{Code: "InsufficientNumberOfReplicas", Message: "1 of 3 pods ready"})
			},
			code: 1, wants: []string{"DEGRADED", "InsufficientNumberOfReplicas"}},
		{name: "kubeconfig points at another cluster", args: append([]string{"--cluster", "other-cluster"}, good...),
			setup: func(t *testing.T, w *world) {
				w.Fake.AddCluster(fakeaws.Cluster{Name: "other-cluster", Version: "1.35", PlatformVersion: "eks.5",
					Endpoint: "https://0123456789ABCDEF.gr7.us-west-2.eks.amazonaws.com", CAData: "TUlTTUFUQ0g="})
			},
			code: 3, wants: []string{"0123456789ABCDEF.gr7", "update-kubeconfig"}},
		{name: "kubeconfig file missing", args: append([]string{"--kubeconfig", otherKubeconfig}, good...), code: 1, wants: []string{otherKubeconfig}},
		{name: "expired credentials", args: good, creds: credentials.NewStaticCredentialsProvider("EXPIREDKEY0001", "secret", "token"), code: 1, wants: []string{"expired"}},
		{name: "invalid credentials", args: good, creds: credentials.NewStaticCredentialsProvider("INVALIDKEY0001", "secret", ""), code: 1, wants: []string{"credentials"}},
		{name: "no credentials at all", args: append([]string{"--cluster", "eks-workshop"}, good...), code: 1, wants: []string{"credentials"},
			proc: func(env []string) []string {
				var out []string
				for _, kv := range env {
					if !strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") && !strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") {
						out = append(out, kv)
					}
				}
				return out
			}},
		{name: "no region at all", args: append([]string{"--cluster", "eks-workshop"}, good...), code: 2, wants: []string{"--region"},
			proc: func(env []string) []string {
				var out []string
				for _, kv := range env {
					if !strings.HasPrefix(kv, "AWS_REGION=") && !strings.HasPrefix(kv, "AWS_DEFAULT_REGION=") {
						out = append(out, kv)
					}
				}
				return out
			}},
		{name: "a timeout", args: append(append([]string{}, good...), "--timeout", "3s"),
			setup: func(t *testing.T, w *world) {
				w.Fake.SetFaults(fakeaws.Faults{Latency: 5 * time.Second})
			},
			code: 4, wants: []string{"timed out", "--timeout"}},

		// warnings that are not failures (dry run: still nothing changes)
		{name: "IRSA annotation (warning)", args: []string{"--ns", fx.irsa.Namespace, "--sa", "carts", "--dry-run"}, ok: true, wants: []string{"eks.amazonaws.com/role-arn"}},
		{name: "workload on a Fargate node (warning)", args: []string{"--ns", fx.fargate.Namespace, "--sa", "carts", "--dry-run"}, ok: true, wants: []string{"Fargate"}},
	}
	// AccessDenied on each API that enable calls before it changes anything.
	for _, action := range []string{"eks:DescribeCluster", "eks:DescribeAddon", "eks:DescribeAddonVersions", "eks:CreateAddon",
		"eks:ListPodIdentityAssociations", "iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:GetPolicy", "iam:GetPolicyVersion"} {
		cases = append(cases, badCase{name: "AccessDenied on " + action, args: roleFlag(lab.CartsRole), setup: denied(action),
			code: 1, wants: []string{action}})
	}

	rvs := snapshotRVs(t, env, fx.good, fx.fargate, fx.irsa)
	t.Run("cases", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				runBadCase(t, env, tc)
			})
		}
	})
	if got := snapshotRVs(t, env, fx.good, fx.fargate, fx.irsa); !equalRVs(got, rvs) {
		t.Errorf("bad input changed Kubernetes objects:\nbefore %v\nafter  %v", rvs, got)
	}
	t.Run("agent not ready on one node", func(t *testing.T) { agentNotReady(t, env, fx.good) })
	t.Logf("FIGURE bad inputs: %d cases in the table, plus 1 agent-not-ready case", len(cases))
}

func runBadCase(t *testing.T, env *labtest.Env, tc badCase) {
	w := &world{Env: env, Fake: env.NewFake(t, fastOpts()), Config: awsConfig, Timeout: "10m"}
	if tc.setup != nil {
		tc.setup(t, w)
	}
	base := len(w.Fake.Audit())
	var r result
	switch {
	case tc.proc != nil:
		e := tc.proc(procEnv(env.Kubeconfig, w.Fake.URL()))
		r = runPodid(t, e, 2*time.Minute, append([]string{"enable"}, tc.args...)...)
	default:
		cfg := awsConfig(w.Fake.URL())
		if tc.creds != nil {
			cfg.Credentials = tc.creds
		}
		r = w.PodidCfg(t, cfg, append([]string{"enable"}, tc.args...)...)
	}
	want := tc.code
	if tc.ok {
		want = 0
	}
	if r.Code != want {
		t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.Code, want, r.Stdout, r.Stderr)
	}
	mustContain(t, "output", all(r), tc.wants...)
	if !tc.ok {
		mustContain(t, "stderr", r.Stderr, "hint:")
	}
	if a := w.Fake.Audit(); len(a) != base {
		t.Errorf("AWS changed: %+v", a[base:])
	}
}

// createAssociation creates an association through the API (a setup step).
func createAssociation(t *testing.T, w *world, ns, sa, roleArn string) {
	t.Helper()
	client := eks.NewFromConfig(awsConfig(w.Fake.URL()))
	_, err := client.CreatePodIdentityAssociation(context.Background(), &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String(lab.WorkshopCluster), Namespace: aws.String(ns), ServiceAccount: aws.String(sa), RoleArn: aws.String(roleArn),
	})
	if err != nil {
		t.Fatalf("setup: create association: %v", err)
	}
}

// snapshotRVs records the resourceVersions of the apps' Deployments and
// service accounts and of the agent DaemonSet (if present).
func snapshotRVs(t *testing.T, env *labtest.Env, apps ...*labtest.App) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, a := range apps {
		d, err := env.Client.AppsV1().Deployments(a.Namespace).Get(ctx, a.Deployment, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out["deployment "+a.Namespace] = d.ResourceVersion
		sas, err := env.Client.CoreV1().ServiceAccounts(a.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, sa := range sas.Items {
			out["sa "+a.Namespace+"/"+sa.Name] = sa.ResourceVersion
		}
	}
	if ds, err := env.Client.AppsV1().DaemonSets("kube-system").Get(ctx, "eks-pod-identity-agent", metav1.GetOptions{}); err == nil {
		out["daemonset kube-system/eks-pod-identity-agent"] = ds.ResourceVersion
	}
	return out
}

func equalRVs(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// fargateApp is a namespace whose Deployment runs on a Fargate-labelled
// kwok node (tainted as Fargate nodes are, so no other pod lands there).
func fargateApp(t *testing.T, env *labtest.Env) *labtest.App {
	t.Helper()
	ctx := context.Background()
	name := "fargate-ip-192-0-2-1." + fmt.Sprint(time.Now().UnixNano()%100000)
	taint := corev1.Taint{Key: "eks.amazonaws.com/compute-type", Value: "fargate", Effect: corev1.TaintEffectNoSchedule}
	createNode(t, env, name, map[string]string{"eks.amazonaws.com/compute-type": "fargate"}, []corev1.Taint{taint}, true)
	a := env.Namespace(t, "bad-fargate", labtest.ServiceAccount("carts"), labtest.Replicas(1))
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"nodeSelector":{"eks.amazonaws.com/compute-type":"fargate"},"tolerations":[{"key":"eks.amazonaws.com/compute-type","operator":"Exists"}]}}}}`)
	if _, err := env.Client.AppsV1().Deployments(a.Namespace).Patch(ctx, a.Deployment, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := lab.WaitDeploymentRolledOut(ctx, env.Client, a.Namespace, a.Deployment, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	return a
}

// createNode creates a node; kwok runs it when managed, else it has no
// kubelet at all (its pods never start).
func createNode(t *testing.T, env *labtest.Env, name string, labels map[string]string, taints []corev1.Taint, managed bool) {
	t.Helper()
	ctx := context.Background()
	l := map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "type": "kwok"}
	for k, v := range labels {
		l[k] = v
	}
	ann := map[string]string{"node.alpha.kubernetes.io/ttl": "0"}
	if managed {
		ann["kwok.x-k8s.io/node"] = "fake"
	}
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l, Annotations: ann},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status:     corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	if _, err := env.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := env.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Logf("delete node %s: %v", name, err)
		}
	})
}

// agentNotReady: a node without a kubelet joins (tainted so that only the
// agent, which tolerates everything, is placed there); its agent pod never
// becomes ready. enable must refuse to go on, name the node, and change
// nothing. The add-on is ACTIVE (pinned), so podid only reads the DaemonSet.
func agentNotReady(t *testing.T, env *labtest.Env, app *labtest.App) {
	ctx := context.Background()
	ds, err := env.Client.AppsV1().DaemonSets("kube-system").Get(ctx, "eks-pod-identity-agent", metav1.GetOptions{})
	if err != nil {
		// No earlier test created the agent yet: create it through an add-on.
		w := &world{Env: env, Fake: env.NewFake(t, fastOpts()), Config: awsConfig, Timeout: "10m"}
		if r := w.Podid(t, "install-agent", "--timeout", "2m"); r.Code != 0 {
			t.Fatalf("install-agent: exit %d\n%s", r.Code, r.Stderr)
		}
		if ds, err = env.Client.AppsV1().DaemonSets("kube-system").Get(ctx, "eks-pod-identity-agent", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	name := fmt.Sprintf("kwok-nokubelet-%d", time.Now().UnixNano()%100000)
	taint := corev1.Taint{Key: "reliability/no-kubelet", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	createNode(t, env, name, nil, []corev1.Taint{taint}, false)
	// The node controller writes the node too: retry on conflicts.
	err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		n, err := env.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		_, err = env.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("mark node %s Ready: %v", name, err)
	}
	// Wait until the DaemonSet controller has placed a pod on the node.
	deadline := time.Now().Add(60 * time.Second)
	for {
		pods, err := env.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + name})
		if err == nil && len(pods.Items) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the DaemonSet placed no agent pod on node %s", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
	w := &world{Env: env, Fake: env.NewFake(t, fastOpts()), App: app, Config: awsConfig, Timeout: "10m"}
	w.Fake.ForceAddonStatus(lab.WorkshopCluster, fakeaws.AgentAddonName, "ACTIVE")
	ds, _ = env.Client.AppsV1().DaemonSets("kube-system").Get(ctx, "eks-pod-identity-agent", metav1.GetOptions{})
	rvs := snapshotRVs(t, env, app)
	r := w.Podid(t, append([]string{"enable", "--timeout", "15s"}, w.Target()...)...)
	if r.Code != 4 && r.Code != 1 && r.Code != 3 {
		t.Errorf("exit %d, want a failure\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, name, "hint:")
	if a := w.Fake.Audit(); len(a) != 0 {
		t.Errorf("AWS changed: %+v", a)
	}
	got := snapshotRVs(t, env, app)
	// The DaemonSet's status moves with its pods (the new node's pod); its spec must not.
	ds2, _ := env.Client.AppsV1().DaemonSets("kube-system").Get(ctx, "eks-pod-identity-agent", metav1.GetOptions{})
	if ds2.Generation != ds.Generation {
		t.Errorf("the agent DaemonSet's spec changed (generation %d → %d)", ds.Generation, ds2.Generation)
	}
	delete(got, "daemonset kube-system/eks-pod-identity-agent")
	delete(rvs, "daemonset kube-system/eks-pod-identity-agent")
	if !equalRVs(got, rvs) {
		t.Errorf("Kubernetes objects changed:\nbefore %v\nafter  %v", rvs, got)
	}
}
