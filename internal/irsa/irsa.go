// Package irsa moves service accounts from IAM roles for service accounts
// (IRSA: the eks.amazonaws.com/role-arn annotation and an OIDC trust) to EKS
// Pod Identity: it finds annotated service accounts, removes the annotation
// and the OIDC trust statement once the migration is verified.
package irsa

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/step"
)

// Candidate is a service account annotated for IRSA.
type Candidate struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
	RoleArn        string `json:"roleArn"`
}

// Find lists the service accounts of namespace ns ("" = every namespace)
// that carry the IRSA annotation, sorted by namespace and name.
func Find(ctx context.Context, client kubernetes.Interface, ns string) ([]Candidate, error) {
	list, err := client.CoreV1().ServiceAccounts(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		where := "in every namespace"
		if ns != "" {
			where = "in namespace " + ns
		}
		if apierrors.IsNotFound(err) && ns != "" {
			return nil, kube.NamespaceNotFound(ns)
		}
		return nil, fmt.Errorf("list service accounts %s: %w", where, err)
	}
	var out []Candidate
	for _, sa := range list.Items {
		if arn := strings.TrimSpace(sa.Annotations[kube.IRSARoleAnnotation]); arn != "" {
			out = append(out, Candidate{Namespace: sa.Namespace, ServiceAccount: sa.Name, RoleArn: arn})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].ServiceAccount < out[j].ServiceAccount
	})
	return out, nil
}

// AnnotationStep removes the IRSA annotation from a service account.
type AnnotationStep struct {
	Client         kubernetes.Interface
	Namespace      string
	ServiceAccount string
}

// Name implements step.Step.
func (s *AnnotationStep) Name() string { return "remove-annotation" }

// Check reads the annotation.
func (s *AnnotationStep) Check(ctx context.Context) (step.Plan, error) {
	sa, err := kube.GetServiceAccount(ctx, s.Client, s.Namespace, s.ServiceAccount)
	if err != nil {
		return step.Plan{}, err
	}
	if !sa.Exists || sa.IRSARoleARN == "" {
		return step.Plan{Satisfied: true, Summary: fmt.Sprintf("service account %s/%s has no %s annotation", s.Namespace, s.ServiceAccount, kube.IRSARoleAnnotation)}, nil
	}
	return step.Plan{
		Summary: fmt.Sprintf("service account %s/%s is annotated %s=%s", s.Namespace, s.ServiceAccount, kube.IRSARoleAnnotation, sa.IRSARoleARN),
		Changes: []string{fmt.Sprintf("remove the annotation %s from service account %s/%s", kube.IRSARoleAnnotation, s.Namespace, s.ServiceAccount)},
	}, nil
}

// Apply removes the annotation with a merge patch.
func (s *AnnotationStep) Apply(ctx context.Context, _ step.Plan, _ step.Progress) (step.Result, error) {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{kube.IRSARoleAnnotation: nil}}})
	_, err := s.Client.CoreV1().ServiceAccounts(s.Namespace).Patch(ctx, s.ServiceAccount, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: kube.FieldManager})
	if err != nil {
		return step.Result{}, fmt.Errorf("remove annotation %s from service account %s/%s: %w", kube.IRSARoleAnnotation, s.Namespace, s.ServiceAccount, err)
	}
	return step.Result{
		Summary: fmt.Sprintf("removed %s from service account %s/%s", kube.IRSARoleAnnotation, s.Namespace, s.ServiceAccount),
		Changes: []string{"removed annotation " + kube.IRSARoleAnnotation},
	}, nil
}
