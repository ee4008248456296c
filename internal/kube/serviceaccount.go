package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ServiceAccount is what podid needs to know about a service account.
type ServiceAccount struct {
	Namespace string
	Name      string
	Exists    bool
	// IRSARoleARN is the eks.amazonaws.com/role-arn annotation (IRSA). Pod
	// Identity wins over it at the webhook once the association is known,
	// but pods created before that get IRSA.
	IRSARoleARN string
}

// GetServiceAccount reads ns/name. A missing service account is not an
// error (Exists is false); a missing namespace is.
func GetServiceAccount(ctx context.Context, client kubernetes.Interface, ns, name string) (ServiceAccount, error) {
	out := ServiceAccount{Namespace: ns, Name: name}
	sa, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if err := checkNamespace(ctx, client, ns); err != nil {
			return out, err
		}
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("get service account %s/%s: %w", ns, name, err)
	}
	out.Exists = true
	out.IRSARoleARN = sa.Annotations[IRSARoleAnnotation]
	return out, nil
}

// EnsureServiceAccount creates ns/name if it does not exist and reports
// whether it did (or, with dryRun, would: the create is then sent with
// server-side dry run, so admission still checks it). The namespace must
// exist.
func EnsureServiceAccount(ctx context.Context, client kubernetes.Interface, ns, name string, dryRun bool) (created bool, err error) {
	cur, err := GetServiceAccount(ctx, client, ns, name)
	if err != nil {
		return false, err
	}
	if cur.Exists {
		return false, nil
	}
	opts := metav1.CreateOptions{FieldManager: FieldManager}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: ns,
		Labels: map[string]string{"app.kubernetes.io/managed-by": "podid"},
	}}
	_, err = client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, opts)
	if apierrors.IsAlreadyExists(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create service account %s/%s: %w", ns, name, err)
	}
	return true, nil
}
