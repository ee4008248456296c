package lab_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/agent"
	"github.com/podid/podid/internal/lab/labtest"
)

// podIdentityWorld is a fake with its own lab agent and a fresh namespace
// whose service account has an association to role (in effect).
type podIdentityWorld struct {
	env   *labtest.Env
	fake  *fakeaws.Server
	agent *agent.Agent
	app   *labtest.App
	role  string
}

func newPodIdentityWorld(t *testing.T, role string, agentOpts agent.Options) *podIdentityWorld {
	t.Helper()
	env := labtest.Get(t)
	ctx := context.Background()
	fake := env.NewFake(t, fakeaws.Options{})
	app := env.Namespace(t, "exec", labtest.Replicas(1))
	_, err := eks.NewFromConfig(labtest.AWSConfig(fake.URL())).CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName:    aws.String(lab.WorkshopCluster),
		Namespace:      aws.String(app.Namespace),
		ServiceAccount: aws.String(app.ServiceAccount),
		RoleArn:        aws.String(lab.RoleARN(role)),
	})
	if err != nil {
		t.Fatalf("CreatePodIdentityAssociation: %v", err)
	}
	waitFor(t, 10*time.Second, "the association to reach the webhook", func() (bool, string) {
		return lab.Injected(newPod(t, env.Client, app.Namespace, app.ServiceAccount, true)), "dry-run pod not injected"
	})
	installAgentAddon(t, fake)
	ag := env.NewAgent(t, fake, agentOpts)
	return &podIdentityWorld{env: env, fake: fake, agent: ag, app: app, role: role}
}

// installAgentAddon creates the eks-pod-identity-agent add-on in fake and
// waits until it is ACTIVE: the agent DaemonSet is ready on every eligible
// node, so exec finds an agent pod on the pod's node.
func installAgentAddon(t *testing.T, fake *fakeaws.Server) {
	t.Helper()
	ctx := context.Background()
	client := eks.NewFromConfig(labtest.AWSConfig(fake.URL()))
	if _, err := client.CreateAddon(ctx, &eks.CreateAddonInput{
		ClusterName: aws.String(lab.WorkshopCluster), AddonName: aws.String(lab.AgentName), AddonVersion: aws.String("v1.3.10-eksbuild.1"),
	}); err != nil {
		t.Fatalf("CreateAddon: %v", err)
	}
	waitFor(t, 60*time.Second, "the agent add-on ACTIVE", func() (bool, string) {
		out, err := client.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String(lab.WorkshopCluster), AddonName: aws.String(lab.AgentName)})
		if err != nil {
			return false, err.Error()
		}
		return out.Addon.Status == ekstypes.AddonStatusActive, string(out.Addon.Status)
	})
}

func (w *podIdentityWorld) execOptions(pod string, base []string) lab.ExecOptions {
	return lab.ExecOptions{Namespace: w.app.Namespace, Pod: pod, AgentURL: w.agent.URL(), AWSURL: w.fake.URL(), BaseEnv: base}
}

// envMap parses `env` output or KEY=VALUE lists.
func envMap(kvs []string) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// tokenClaims decodes the claims of a JWT without verifying it.
func tokenClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// callerIdentity plants an AWS identity in every way an SDK could find one.
func callerIdentity(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	awsDir := filepath.Join(home, ".aws")
	if err := os.MkdirAll(awsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	creds := "[default]\naws_access_key_id = AKIDCALLERHOME\naws_secret_access_key = callerhomesecret\n[caller]\naws_access_key_id = AKIDCALLERPROFILE\naws_secret_access_key = callerprofilesecret\n"
	for name, body := range map[string]string{"credentials": creds, "config": "[default]\nregion = eu-west-1\n[profile caller]\nregion = eu-west-1\n"} {
		if err := os.WriteFile(filepath.Join(awsDir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"AWS_ACCESS_KEY_ID=AKIDCALLERENV",
		"AWS_SECRET_ACCESS_KEY=callerenvsecret",
		"AWS_SESSION_TOKEN=callersessiontoken",
		"AWS_PROFILE=caller",
		"AWS_DEFAULT_PROFILE=caller",
		"AWS_WEB_IDENTITY_TOKEN_FILE=" + filepath.Join(home, "web-identity-token"),
		"AWS_ROLE_ARN=arn:aws:iam::999999999999:role/caller",
		"AWS_CONFIG_FILE=" + filepath.Join(awsDir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(awsDir, "credentials"),
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/caller",
		"AWS_REGION=eu-west-1",
		"KUBECONFIG=/caller/kubeconfig",
		"CALLER_KEEPS=this",
	}
}

func TestExecEnvironmentIsThePodsWithoutCallerIdentity(t *testing.T) {
	t.Parallel()
	w := newPodIdentityWorld(t, lab.CartsRole, agent.Options{})
	ctx := context.Background()
	c := w.env.Client
	ns := w.app.Namespace
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings"},
		Data:       map[string]string{"TABLE": "eks-workshop-carts", "MODE": "dynamo"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Data:       map[string][]byte{"password": []byte("s3cret")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	yes := true
	pod, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "carts-", Labels: map[string]string{"app": "carts"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: w.app.ServiceAccount,
			Containers: []corev1.Container{
				{
					Name: "app", Image: "public.ecr.aws/docker/library/busybox:latest",
					EnvFrom: []corev1.EnvFromSource{
						{Prefix: "CARTS_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}},
						{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: &yes}},
					},
					Env: []corev1.EnvVar{
						{Name: "GREETING", Value: "hello"},
						{Name: "EXPANDED", Value: "$(GREETING) from $(CARTS_TABLE) $$(GREETING) $(UNKNOWN)"},
						{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
						{Name: "POD_APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
						{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
						{Name: "MISSING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "nope"}}},
					},
				},
				{Name: "sidecar", Image: "public.ecr.aws/docker/library/busybox:latest", Env: []corev1.EnvVar{{Name: "SIDECAR", Value: "1"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !lab.Injected(pod) {
		t.Fatalf("pod %s was not injected", pod.Name)
	}

	planted := callerIdentity(t)
	pe, err := lab.PodEnv(ctx, c, w.execOptions(pod.Name, planted))
	if err != nil {
		t.Fatalf("PodEnv: %v", err)
	}
	got := envMap(pe.Env)
	for k, want := range map[string]string{
		"GREETING":                  "hello",
		"CARTS_TABLE":               "eks-workshop-carts",
		"CARTS_MODE":                "dynamo",
		"EXPANDED":                  "hello from eks-workshop-carts $(GREETING) $(UNKNOWN)",
		"POD_NAME":                  pod.Name,
		"POD_APP":                   "carts",
		"DB_PASSWORD":               "s3cret",
		"CALLER_KEEPS":              "this",
		lab.EnvCredentialsURI:       w.agent.URL(),
		lab.EnvTokenFile:            pe.TokenFile,
		"AWS_REGION":                lab.WorkshopRegion,
		"AWS_ENDPOINT_URL_STS":      w.fake.URL(),
		"AWS_ENDPOINT_URL_EKS_AUTH": w.fake.URL(),
		"AWS_ENDPOINT_URL":          w.fake.URL(),
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	for _, k := range []string{"MISSING", "SIDECAR", "KUBECONFIG", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		if v, ok := got[k]; ok {
			t.Errorf("%s reached the command (= %q)", k, v)
		}
	}
	if len(pe.Warnings) != 1 || !strings.Contains(pe.Warnings[0], "MISSING") {
		t.Errorf("warnings = %q, want one naming MISSING", pe.Warnings)
	}
	for _, k := range []string{"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		fi, err := os.Stat(got[k])
		if err != nil || fi.Size() != 0 || strings.Contains(got[k], ".aws") {
			t.Errorf("%s = %q (stat %v), want an empty file of the exec", k, got[k], err)
		}
	}
	// The token: fresh, for the pod's service account, bound to the pod, for EKS.
	fi, err := os.Stat(pe.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(pe.TokenFile)); di.Mode().Perm() != 0o700 {
		t.Errorf("token folder mode %v, want 0700", di.Mode().Perm())
	}
	raw, _ := os.ReadFile(pe.TokenFile)
	if bytes.ContainsAny(raw, "\r\n") {
		t.Errorf("token file has a newline; SDKs refuse it")
	}
	cl := tokenClaims(t, string(raw))
	if aud, _ := cl["aud"].([]any); len(aud) != 1 || aud[0] != lab.PodIdentityAudience {
		t.Errorf("token aud = %v, want [%s]", cl["aud"], lab.PodIdentityAudience)
	}
	k8s, _ := cl["kubernetes.io"].(map[string]any)
	podClaim, _ := k8s["pod"].(map[string]any)
	saClaim, _ := k8s["serviceaccount"].(map[string]any)
	if podClaim["name"] != pod.Name || podClaim["uid"] != string(pod.UID) || saClaim["name"] != w.app.ServiceAccount || k8s["namespace"] != ns {
		t.Errorf("token kubernetes.io claims = %v, want pod %s (uid %s), service account %s/%s", k8s, pod.Name, pod.UID, ns, w.app.ServiceAccount)
	}
	var wantTTL float64
	for _, v := range pod.Spec.Volumes {
		if v.Name == lab.TokenVolume {
			wantTTL = float64(*v.Projected.Sources[0].ServiceAccountToken.ExpirationSeconds)
		}
	}
	if ttl := cl["exp"].(float64) - cl["iat"].(float64); ttl != wantTTL {
		t.Errorf("token lifetime %vs, want the projected volume's %vs", ttl, wantTTL)
	}
	if err := pe.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pe.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("exec folder %s still there after Cleanup: %v", pe.Dir, err)
	}

	// What the child process sees, and the exit code passed through.
	var out, errOut bytes.Buffer
	code, err := lab.RunInPod(ctx, c, w.execOptions(pod.Name, planted), []string{"sh", "-c", `env; test -s "$AWS_CONFIG_FILE" && echo CONFIG-NOT-EMPTY; echo "TOKEN-FILE $AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"; exit 7`}, nil, &out, &errOut)
	if err != nil || code != 7 {
		t.Fatalf("RunInPod: code %d, err %v, stderr %s; want exit code 7", code, err, errOut.String())
	}
	for _, leak := range []string{"AKIDCALLER", "callerenvsecret", "callersessiontoken", "caller", "999999999999", "CONFIG-NOT-EMPTY", "/caller/kubeconfig", "eu-west-1"} {
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.Contains(line, leak) && !strings.HasPrefix(line, "CALLER_KEEPS=") {
				t.Errorf("the command saw %q: %s", leak, line)
			}
		}
	}
	var tokenFile string
	for _, line := range strings.Split(out.String(), "\n") {
		if f, ok := strings.CutPrefix(line, "TOKEN-FILE "); ok {
			tokenFile = f
		}
	}
	if _, err := os.Stat(tokenFile); tokenFile == "" || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token file %q after exec: %v, want removed", tokenFile, err)
	}
	if !strings.Contains(errOut.String(), "warning: MISSING") {
		t.Errorf("stderr %q, want the warning about MISSING", errOut.String())
	}

	// -c picks another container; an unknown one is named with the choices.
	o := w.execOptions(pod.Name, planted)
	o.Container = "sidecar"
	pe2, err := lab.PodEnv(ctx, c, o)
	if err != nil {
		t.Fatal(err)
	}
	defer pe2.Cleanup()
	if m := envMap(pe2.Env); m["SIDECAR"] != "1" || m["GREETING"] != "" {
		t.Errorf("container sidecar: SIDECAR=%q GREETING=%q, want 1 and unset", m["SIDECAR"], m["GREETING"])
	}
	o.Container = "nope"
	if _, err := lab.PodEnv(ctx, c, o); err == nil || !strings.Contains(err.Error(), "its containers are app, sidecar") {
		t.Errorf("unknown container: %v", err)
	}
}

func TestExecPodWithoutInjectionNamesTheFix(t *testing.T) {
	t.Parallel()
	w := newPodIdentityWorld(t, lab.CartsRole, agent.Options{})
	ctx := context.Background()
	// A service account without an association: its pods are not mutated.
	other := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: w.app.Namespace}}
	if _, err := w.env.Client.CoreV1().ServiceAccounts(w.app.Namespace).Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := newPod(t, w.env.Client, w.app.Namespace, "other", false)
	var out bytes.Buffer
	code, err := lab.RunInPod(ctx, w.env.Client, w.execOptions(pod.Name, nil), []string{"true"}, nil, &out, &out)
	var ni *lab.NotInjectedError
	if !errors.As(err, &ni) || code != 0 {
		t.Fatalf("exec into an uninjected pod: code %d, err %v; want NotInjectedError", code, err)
	}
	for _, want := range []string{"has no EKS Pod Identity injection", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"podid enable --cluster eks-workshop --ns " + w.app.Namespace + " --sa other"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if out.Len() != 0 {
		t.Errorf("the command ran: %q", out.String())
	}
	if _, err := lab.PodEnv(ctx, w.env.Client, w.execOptions("no-such-pod", nil)); err == nil || !strings.Contains(err.Error(), "kubectl -n "+w.app.Namespace+" get pods") {
		t.Errorf("unknown pod: %v", err)
	}
}

// On EKS a pod on a node without a ready agent pod (no add-on, a Fargate
// node, an agent still starting) cannot reach 169.254.170.23: exec
// reproduces that with a refused URL and says why.
func TestExecOnNodeWithoutAgentIsRefused(t *testing.T) {
	t.Parallel()
	bin := buildWhoami(t)
	w := newPodIdentityWorld(t, lab.CartsRole, agent.Options{})
	ctx := context.Background()
	node := "fargate-exec-" + w.app.Namespace[len(w.app.Namespace)-6:]
	if err := lab.CreateNode(ctx, w.env.Client, node, map[string]string{"eks.amazonaws.com/compute-type": "fargate"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.env.Client.CoreV1().Nodes().Delete(context.Background(), node, metav1.DeleteOptions{}) })
	pod, err := w.env.Client.CoreV1().Pods(w.app.Namespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "on-fargate-"},
		Spec: corev1.PodSpec{
			ServiceAccountName: w.app.ServiceAccount,
			NodeName:           node,
			Containers:         []corev1.Container{{Name: "app", Image: "public.ecr.aws/docker/library/busybox:latest"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !lab.Injected(pod) {
		t.Fatalf("pod %s was not injected", pod.Name)
	}
	var out, errOut bytes.Buffer
	code, err := lab.RunInPod(ctx, w.env.Client, w.execOptions(pod.Name, nil), []string{bin}, nil, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if code != 1 || out.Len() != 0 {
		t.Errorf("whoami on a node without agent: exit %d, stdout %q; want 1 and nothing", code, out.String())
	}
	for _, want := range []string{"node " + node + " runs no ready eks-pod-identity-agent pod", "connection refused"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
	if n := len(w.fake.Exchanges()); n != 0 {
		t.Errorf("%d EKS Auth exchanges, want none: no agent served the pod", n)
	}
}
