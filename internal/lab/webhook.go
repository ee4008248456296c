package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/podid/podid/internal/fakeaws"
)

// Names the webhook uses.
const (
	WebhookConfigName = "pod-identity-webhook"
	// EnvCredentialsURI is the variable the webhook injects for an associated service account.
	EnvCredentialsURI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	// EnvTokenFile is the token file variable the webhook injects.
	EnvTokenFile = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
	// TokenVolume is the projected volume the webhook adds.
	TokenVolume = "eks-pod-identity-token"
	// SkipLabel opts a pod out of the webhook.
	SkipLabel = "eks.amazonaws.com/skip-pod-identity-webhook"

	probeSA = "podid-lab-webhook-probe"
)

// identitiesDoc is the webhook's container-credentials config file.
type identitiesDoc struct {
	Identities []fakeaws.Identity `json:"identities"`
}

// writeIdentities replaces the identities file with ids (sorted, deduplicated)
// through a temp file and rename, so the webhook never sees a half file.
func writeIdentities(path string, ids []fakeaws.Identity) error {
	seen := map[fakeaws.Identity]bool{}
	doc := identitiesDoc{Identities: []fakeaws.Identity{}}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			doc.Identities = append(doc.Identities, id)
		}
	}
	sort.Slice(doc.Identities, func(i, j int) bool {
		a, b := doc.Identities[i], doc.Identities[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.ServiceAccount < b.ServiceAccount
	})
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("update webhook identities: %w", err)
	}
	return nil
}

func startWebhook(ctx context.Context, s *State, client kubernetes.Interface, port, metricsPort int, _ []byte, env []string, record func(Process) error) error {
	pki := filepath.Join(s.Dir, "pki")
	caPEM, certPath, keyPath, err := writeWebhookPKI(pki)
	if err != nil {
		return err
	}
	s.IdentitiesFile = filepath.Join(s.Dir, "identities.json")
	if err := writeIdentities(s.IdentitiesFile, nil); err != nil {
		return err
	}
	p, err := spawn("pod-identity-webhook", filepath.Join(s.BinDir, BinWebhook), []string{
		"--in-cluster=false",
		"--kubeconfig=" + s.Kubeconfig,
		"--tls-cert=" + certPath,
		"--tls-key=" + keyPath,
		"--port=" + strconv.Itoa(port),
		"--metrics-port=" + strconv.Itoa(metricsPort),
		"--watch-container-credentials-config=" + s.IdentitiesFile,
		"--aws-default-region=us-west-2",
		"--sts-regional-endpoint=true",
	}, env, filepath.Join(s.Dir, "logs", "pod-identity-webhook.log"))
	if err != nil {
		return err
	}
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	p.URL = base
	s.WebhookURL = base
	if err := record(p); err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	if err := pollHTTP(ctx, "pod identity webhook", p, base+"/healthz", &tls.Config{RootCAs: pool}, 30*time.Second); err != nil {
		return err
	}
	if err := registerWebhook(ctx, client, base+"/mutate", caPEM); err != nil {
		return err
	}
	return probeWebhook(ctx, s, client, p)
}

func registerWebhook(ctx context.Context, client kubernetes.Interface, url string, caPEM []byte) error {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	timeout := int32(10)
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: WebhookConfigName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pod-identity-webhook.amazonaws.com",
			AdmissionReviewVersions: []string{"v1beta1"}, // v0.6.17 answers in v1beta1 only
			SideEffects:             &none,
			FailurePolicy:           &fail,
			TimeoutSeconds:          &timeout,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: SkipLabel, Operator: metav1.LabelSelectorOpDoesNotExist},
			}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
				},
			}},
		}},
	}
	api := client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	old, err := api.Get(ctx, WebhookConfigName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, cfg, metav1.CreateOptions{})
	case err == nil:
		cfg.ResourceVersion = old.ResourceVersion
		_, err = api.Update(ctx, cfg, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("register MutatingWebhookConfiguration %s: %w", WebhookConfigName, err)
	}
	return nil
}

// Injected reports whether the webhook mutated pod for Pod Identity: the
// projected token volume and the two variables in every container.
func Injected(pod *corev1.Pod) bool {
	hasVolume := false
	for _, v := range pod.Spec.Volumes {
		if v.Name == TokenVolume && v.Projected != nil {
			hasVolume = true
		}
	}
	if !hasVolume || len(pod.Spec.Containers) == 0 {
		return false
	}
	for _, c := range pod.Spec.Containers {
		var uri, file bool
		for _, e := range c.Env {
			uri = uri || e.Name == EnvCredentialsURI
			file = file || e.Name == EnvTokenFile
		}
		if !uri || !file {
			return false
		}
	}
	return true
}

// DryRunPod asks the apiserver to admit (not store) a pod of sa in ns and
// returns the admitted pod, as mutated by the webhook.
func DryRunPod(ctx context.Context, client kubernetes.Interface, ns, sa string) (*corev1.Pod, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "podid-lab-dryrun-", Namespace: ns},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			Containers:         []corev1.Container{{Name: "app", Image: "public.ecr.aws/docker/library/busybox:latest"}},
		},
	}
	out, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return nil, fmt.Errorf("dry-run create of a pod of service account %s/%s: %w", ns, sa, err)
	}
	return out, nil
}

// probeWebhook proves that the apiserver calls the webhook: it lists a probe
// service account in the identities file and dry-runs pods of it until one
// comes back mutated, then empties the file again.
func probeWebhook(ctx context.Context, s *State, client kubernetes.Interface, p Process) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: probeSA, Namespace: "default"}}
	if _, err := client.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create webhook probe service account default/%s: %w", probeSA, err)
	}
	if err := writeIdentities(s.IdentitiesFile, []fakeaws.Identity{{Namespace: "default", ServiceAccount: probeSA}}); err != nil {
		return err
	}
	var last string
	err := poll(ctx, 30*time.Second, func() (bool, error) {
		if !p.Alive() {
			return false, processDied(p)
		}
		pod, err := DryRunPod(ctx, client, "default", probeSA)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = "pod admitted without Pod Identity injection"
		return Injected(pod), nil
	})
	if err != nil {
		return fmt.Errorf("wait for the apiserver to call the pod identity webhook (last: %s; webhook log %s): %w", last, p.Log, err)
	}
	if err := writeIdentities(s.IdentitiesFile, nil); err != nil {
		return err
	}
	_ = client.CoreV1().ServiceAccounts("default").Delete(ctx, probeSA, metav1.DeleteOptions{})
	return nil
}
