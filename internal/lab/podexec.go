package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// PodIdentityAudience is the audience of the token the webhook projects.
const PodIdentityAudience = "pods.eks.amazonaws.com"

// defaultTokenSeconds is the webhook's token lifetime when the pod's
// projected volume does not say (it jitters between 79200 and 86400).
const defaultTokenSeconds = 86400

// ExecOptions describe one `podid-lab exec`: which pod, and where the lab's
// agent and fake AWS listen.
type ExecOptions struct {
	Namespace string
	Pod       string
	Container string // "" = the pod's first container

	AgentURL string // the lab agent's credentials URL, http://127.0.0.1:<port>/v1/credentials
	AWSURL   string // the fake AWS endpoint
	Region   string // default WorkshopRegion
	Cluster  string // for the fix in errors (default WorkshopCluster)

	// BaseEnv is the caller's environment (default os.Environ()). Every AWS_*
	// variable and KUBECONFIG are removed from it before the pod's are added.
	BaseEnv []string
}

// PodEnvironment is the environment of one pod's container on this machine.
type PodEnvironment struct {
	Env       []string // KEY=VALUE, sorted by key
	TokenFile string   // the fresh service account token (private temp file)
	Warnings  []string // variables of the pod that could not be resolved (names only)
	Container string
	// AgentOnNode is false when the pod's node runs no ready agent pod; the
	// credentials URL then points at a closed port, so the SDK's call is
	// refused as it would be on EKS.
	AgentOnNode bool
	// Dir is the private temp folder holding the token and the empty AWS
	// config files; Cleanup removes it.
	Dir string
}

// Cleanup removes the token and the empty AWS files.
func (p *PodEnvironment) Cleanup() error {
	if p == nil || p.Dir == "" {
		return nil
	}
	return os.RemoveAll(p.Dir)
}

// NotInjectedError says the pod has no EKS Pod Identity injection.
type NotInjectedError struct {
	Namespace, Pod, Container, ServiceAccount, Cluster string
}

func (e *NotInjectedError) Error() string {
	return fmt.Sprintf("pod %s/%s has no EKS Pod Identity injection: container %s has no %s, so an SDK in it would not call the agent. "+
		"Fix: associate its service account and restart the workload so that new pods are mutated, e.g. `podid enable --cluster %s --ns %s --sa %s`, "+
		"then exec into one of the new pods (kubectl -n %s get pods)",
		e.Namespace, e.Pod, e.Container, EnvCredentialsURI, e.Cluster, e.Namespace, e.ServiceAccount, e.Namespace)
}

// PodEnv builds the environment COMMAND gets in `podid-lab exec`: the
// caller's environment without any AWS identity, then the container's env
// and envFrom (resolved like the kubelet where the lab can), then the pod
// identity variables pointed at the lab: the agent's URL, a token freshly
// requested for the pod's service account and bound to the pod, the fake's
// endpoints, the region, and empty shared config and credentials files.
// The caller must call Cleanup on the result.
func PodEnv(ctx context.Context, client kubernetes.Interface, o ExecOptions) (*PodEnvironment, error) {
	if o.Region == "" {
		o.Region = WorkshopRegion
	}
	if o.Cluster == "" {
		o.Cluster = WorkshopCluster
	}
	if o.BaseEnv == nil {
		o.BaseEnv = os.Environ()
	}
	if o.AgentURL == "" || o.AWSURL == "" {
		return nil, errors.New("exec: the lab agent URL and the fake AWS URL are required (is the lab up? podid-lab status)")
	}
	pod, err := runningPod(ctx, client, o.Namespace, o.Pod)
	if err != nil {
		return nil, err
	}
	c, err := pickContainer(pod, o.Container)
	if err != nil {
		return nil, err
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	if !hasEnvVar(c, EnvCredentialsURI) {
		return nil, &NotInjectedError{Namespace: pod.Namespace, Pod: pod.Name, Container: c.Name, ServiceAccount: sa, Cluster: o.Cluster}
	}
	podVars, warnings, err := resolveContainerEnv(ctx, client, pod, c)
	if err != nil {
		return nil, err
	}

	pe := &PodEnvironment{Container: c.Name, Warnings: warnings}
	agentURL := o.AgentURL
	pe.AgentOnNode, err = agentOnNode(ctx, client, pod.Spec.NodeName)
	if err != nil {
		return nil, err
	}
	if !pe.AgentOnNode {
		where := "node " + pod.Spec.NodeName + " runs no ready " + AgentName + " pod"
		pe.Warnings = append(pe.Warnings, fmt.Sprintf("%s: as on EKS, the SDK's call to the agent will be refused. "+
			"Fix: install the %s add-on (podid enable installs it) and wait until DaemonSet %s/%s is ready on the pod's node "+
			"(Fargate and other nodes it excludes never run it)", where, AgentName, AgentNamespace, AgentName))
		if agentURL, err = refusedURL(); err != nil {
			return nil, err
		}
	}
	pe.Dir, err = os.MkdirTemp("", "podid-lab-exec-")
	if err != nil {
		return nil, fmt.Errorf("exec: create a private temp folder for the token: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = pe.Cleanup()
		}
	}()
	token, err := podToken(ctx, client, pod, sa)
	if err != nil {
		return nil, err
	}
	pe.TokenFile = filepath.Join(pe.Dir, TokenVolume)
	if err := os.WriteFile(pe.TokenFile, []byte(token), 0o600); err != nil {
		return nil, fmt.Errorf("exec: write the token file: %w", err)
	}
	emptyConfig, emptyCreds := filepath.Join(pe.Dir, "config"), filepath.Join(pe.Dir, "credentials")
	for _, f := range []string{emptyConfig, emptyCreds} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			return nil, fmt.Errorf("exec: write the empty AWS file %s: %w", f, err)
		}
	}

	env := map[string]string{}
	for _, kv := range o.BaseEnv {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || k == "KUBECONFIG" {
			continue // nothing of the caller's AWS identity or cluster access
		}
		env[k] = v
	}
	for _, kv := range podVars {
		env[kv[0]] = kv[1]
	}
	if _, ok := env["AWS_REGION"]; !ok {
		env["AWS_REGION"] = o.Region
	}
	if _, ok := env["AWS_DEFAULT_REGION"]; !ok {
		env["AWS_DEFAULT_REGION"] = env["AWS_REGION"]
	}
	for k, v := range map[string]string{
		EnvCredentialsURI:             agentURL,
		EnvTokenFile:                  pe.TokenFile,
		"AWS_CONFIG_FILE":             emptyConfig,
		"AWS_SHARED_CREDENTIALS_FILE": emptyCreds,
		"AWS_EC2_METADATA_DISABLED":   "true", // the lab has no IMDS; fail fast instead of timing out
		"AWS_ENDPOINT_URL":            o.AWSURL,
		"AWS_ENDPOINT_URL_STS":        o.AWSURL,
		"AWS_ENDPOINT_URL_IAM":        o.AWSURL,
		"AWS_ENDPOINT_URL_EKS":        o.AWSURL,
		"AWS_ENDPOINT_URL_EKS_AUTH":   o.AWSURL,
	} {
		env[k] = v
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		pe.Env = append(pe.Env, k+"="+env[k])
	}
	ok = true
	return pe, nil
}

// RunInPod runs argv with the pod's environment (PodEnv) and returns its exit
// code (128+signal when a signal ended it). The token is removed afterwards.
func RunInPod(ctx context.Context, client kubernetes.Interface, o ExecOptions, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(argv) == 0 {
		return 0, errors.New("exec: no command given: write it after --, e.g. podid-lab exec --ns carts POD -- aws sts get-caller-identity")
	}
	pe, err := PodEnv(ctx, client, o)
	if err != nil {
		return 0, err
	}
	defer pe.Cleanup()
	for _, w := range pe.Warnings {
		fmt.Fprintf(stderr, "podid-lab exec: warning: %s\n", w)
	}
	path, err := lookPath(argv[0], pe.Env)
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = pe.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("exec: start %s: %w", argv[0], err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err = <-waitErr:
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		err = <-waitErr
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("exec: run %s: %w", argv[0], err)
	}
	return 0, nil
}

// podStartWait is how long exec waits for a new pod to be scheduled and running.
const podStartWait = 10 * time.Second

// runningPod returns the pod once it runs on a node (a just-created pod
// gets podStartWait), like kubectl exec, which needs a running container.
func runningPod(ctx context.Context, client kubernetes.Interface, ns, name string) (*corev1.Pod, error) {
	deadline := time.Now().Add(podStartWait)
	for {
		pod, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("pod %s/%s not found: list the pods with `kubectl -n %s get pods`", ns, name, ns)
		}
		if err != nil {
			return nil, fmt.Errorf("get pod %s/%s: %w", ns, name, err)
		}
		if pod.Spec.NodeName != "" && pod.Status.Phase == corev1.PodRunning {
			return pod, nil
		}
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || time.Now().After(deadline) {
			node := pod.Spec.NodeName
			if node == "" {
				node = "none"
			}
			return nil, fmt.Errorf("pod %s/%s is not running (phase %s, node %s): exec needs a running pod, as kubectl exec does; pick a running one (kubectl -n %s get pods)",
				ns, name, pod.Status.Phase, node, ns)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// agentOnNode reports whether node runs a ready, not terminating pod of
// the agent DaemonSet (what serves 169.254.170.23 on that node on EKS).
func agentOnNode(ctx context.Context, client kubernetes.Interface, node string) (bool, error) {
	if node == "" {
		return false, nil
	}
	pods, err := client.CoreV1().Pods(AgentNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/name=" + AgentName,
		FieldSelector: "spec.nodeName=" + node,
	})
	if err != nil {
		return false, fmt.Errorf("list %s pods on node %s: %w", AgentName, node, err)
	}
	for i := range pods.Items {
		if p := &pods.Items[i]; p.DeletionTimestamp == nil && podReady(p) {
			return true, nil
		}
	}
	return false, nil
}

// refusedURL is a credentials URL on a loopback port nothing listens on.
func refusedURL() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("exec: find a closed port for the missing agent: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/v1/credentials", nil
}

// lookPath finds name on the PATH of env (the child's PATH, not ours).
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %s not found on PATH (%s)", name, path)
}

func pickContainer(pod *corev1.Pod, name string) (*corev1.Container, error) {
	if len(pod.Spec.Containers) == 0 {
		return nil, fmt.Errorf("pod %s/%s has no containers", pod.Namespace, pod.Name)
	}
	if name == "" {
		return &pod.Spec.Containers[0], nil
	}
	var names []string
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i], nil
		}
		names = append(names, pod.Spec.Containers[i].Name)
	}
	return nil, fmt.Errorf("pod %s/%s has no container %q; its containers are %s (pick one with -c)", pod.Namespace, pod.Name, name, strings.Join(names, ", "))
}

func hasEnvVar(c *corev1.Container, name string) bool {
	for _, e := range c.Env {
		if e.Name == name {
			return true
		}
	}
	return false
}

// podToken requests a token for sa bound to pod, with the audience and the
// lifetime of the pod's projected eks-pod-identity-token volume.
func podToken(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, sa string) (string, error) {
	seconds := int64(defaultTokenSeconds)
	for _, v := range pod.Spec.Volumes {
		if v.Name != TokenVolume || v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if t := src.ServiceAccountToken; t != nil && t.ExpirationSeconds != nil {
				seconds = *t.ExpirationSeconds
			}
		}
	}
	tr, err := client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{
			Audiences:         []string{PodIdentityAudience},
			ExpirationSeconds: &seconds,
			BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("request a token for service account %s/%s bound to pod %s: %w", pod.Namespace, sa, pod.Name, err)
	}
	return tr.Status.Token, nil
}

// resolveContainerEnv returns the container's variables in kubelet order
// (envFrom, then env, later ones winning; $(VAR) expanded against the ones
// before), as [name, value] pairs. What the lab cannot resolve is skipped
// and named in the warnings.
func resolveContainerEnv(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, c *corev1.Container) ([][2]string, []string, error) {
	var (
		out      [][2]string
		warnings []string
		vals     = map[string]string{}
	)
	set := func(k, v string) {
		vals[k] = v
		out = append(out, [2]string{k, v})
	}
	cms := map[string]*corev1.ConfigMap{}
	secrets := map[string]*corev1.Secret{}
	getCM := func(name string) (*corev1.ConfigMap, error) {
		if cm, ok := cms[name]; ok {
			return cm, nil
		}
		cm, err := client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cm, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("get configmap %s/%s for the env of pod %s: %w", pod.Namespace, name, pod.Name, err)
		}
		cms[name] = cm
		return cm, nil
	}
	getSecret := func(name string) (*corev1.Secret, error) {
		if s, ok := secrets[name]; ok {
			return s, nil
		}
		s, err := client.CoreV1().Secrets(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			s, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("get secret %s/%s for the env of pod %s: %w", pod.Namespace, name, pod.Name, err)
		}
		secrets[name] = s
		return s, nil
	}
	optional := func(b *bool) bool { return b != nil && *b }

	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := getCM(from.ConfigMapRef.Name)
			if err != nil {
				return nil, nil, err
			}
			if cm == nil {
				if !optional(from.ConfigMapRef.Optional) {
					warnings = append(warnings, fmt.Sprintf("envFrom configmap %s not found; its variables are not set", from.ConfigMapRef.Name))
				}
				continue
			}
			for _, k := range sortedKeys(cm.Data) {
				set(from.Prefix+k, cm.Data[k])
			}
		case from.SecretRef != nil:
			s, err := getSecret(from.SecretRef.Name)
			if err != nil {
				return nil, nil, err
			}
			if s == nil {
				if !optional(from.SecretRef.Optional) {
					warnings = append(warnings, fmt.Sprintf("envFrom secret %s not found; its variables are not set", from.SecretRef.Name))
				}
				continue
			}
			for _, k := range sortedKeys(s.Data) {
				set(from.Prefix+k, string(s.Data[k]))
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expandVars(e.Value, vals))
			continue
		}
		vf := e.ValueFrom
		switch {
		case vf.FieldRef != nil:
			v, ok := podField(pod, vf.FieldRef.FieldPath)
			if !ok {
				warnings = append(warnings, fmt.Sprintf("%s: field %s is not resolved by the lab; not set", e.Name, vf.FieldRef.FieldPath))
				continue
			}
			set(e.Name, v)
		case vf.ConfigMapKeyRef != nil:
			ref := vf.ConfigMapKeyRef
			cm, err := getCM(ref.Name)
			if err != nil {
				return nil, nil, err
			}
			v, ok := "", false
			if cm != nil {
				v, ok = cm.Data[ref.Key]
			}
			if !ok {
				if !optional(ref.Optional) {
					warnings = append(warnings, fmt.Sprintf("%s: key %s of configmap %s not found; not set", e.Name, ref.Key, ref.Name))
				}
				continue
			}
			set(e.Name, v)
		case vf.SecretKeyRef != nil:
			ref := vf.SecretKeyRef
			s, err := getSecret(ref.Name)
			if err != nil {
				return nil, nil, err
			}
			var v []byte
			ok := false
			if s != nil {
				v, ok = s.Data[ref.Key]
			}
			if !ok {
				if !optional(ref.Optional) {
					warnings = append(warnings, fmt.Sprintf("%s: key %s of secret %s not found; not set", e.Name, ref.Key, ref.Name))
				}
				continue
			}
			set(e.Name, string(v))
		default:
			warnings = append(warnings, fmt.Sprintf("%s: resourceFieldRef is not resolved by the lab; not set", e.Name))
		}
	}
	return out, warnings, nil
}

// podField resolves a downward-API fieldRef.
func podField(pod *corev1.Pod, path string) (string, bool) {
	switch path {
	case "metadata.name":
		return pod.Name, true
	case "metadata.namespace":
		return pod.Namespace, true
	case "metadata.uid":
		return string(pod.UID), true
	case "spec.nodeName":
		return pod.Spec.NodeName, true
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, true
	case "status.hostIP":
		return pod.Status.HostIP, true
	case "status.podIP":
		return pod.Status.PodIP, true
	case "status.hostIPs", "status.podIPs":
		var ips []string
		if path == "status.hostIPs" {
			for _, ip := range pod.Status.HostIPs {
				ips = append(ips, ip.IP)
			}
		} else {
			for _, ip := range pod.Status.PodIPs {
				ips = append(ips, ip.IP)
			}
		}
		return strings.Join(ips, ","), true
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations} {
		if rest, ok := strings.CutPrefix(path, prefix+"['"); ok {
			if key, ok := strings.CutSuffix(rest, "']"); ok {
				return m[key], true
			}
		}
	}
	return "", false
}

// expandVars expands $(NAME) with the variables defined before, like the
// kubelet: $$ is a literal $, and an unknown $(NAME) stays as written.
func expandVars(s string, vals map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vals[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
