package diag

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

// The agent installed with Helm (a self-managed DaemonSet with its own
// tolerations) meets the add-on: install-agent fails naming the conflicting
// field and the way out (delete keeping the DaemonSet, then
// --resolve-conflicts overwrite), which works. It owns kube-system's agent
// DaemonSet for a while, so it does not run in parallel; it leaves the
// add-on's DaemonSet behind, as other tests expect.
func TestAddonConflictWithHelmAgent(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	dsClient := w.Env.Client.AppsV1().DaemonSets(lab.AgentNamespace)
	helm, err := lab.AgentDaemonSet(lab.WorkshopCluster, "v1.3.9-eksbuild.1", "")
	if err != nil {
		t.Fatal(err)
	}
	helm.Labels["app.kubernetes.io/managed-by"] = "Helm"
	helm.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "agents", Effect: corev1.TaintEffectNoSchedule}}
	live, err := dsClient.Get(ctx, lab.AgentName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = dsClient.Create(ctx, helm, metav1.CreateOptions{FieldManager: "helm"})
	case err == nil:
		helm.ResourceVersion = live.ResourceVersion
		_, err = dsClient.Update(ctx, helm, metav1.UpdateOptions{FieldManager: "helm"})
	}
	if err != nil {
		t.Fatalf("install the Helm agent: %v", err)
	}

	r := w.Podid(t, "install-agent")
	if r.Code != 1 {
		t.Fatalf("install-agent over the Helm agent: exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	for _, want := range []string{"CREATE_FAILED", "ConfigurationConflict", "DaemonSet.apps eks-pod-identity-agent - .spec.template.spec.tolerations",
		"aws eks delete-addon --cluster-name eks-workshop --addon-name eks-pod-identity-agent --region us-west-2 --preserve",
		"podid install-agent --cluster eks-workshop --region us-west-2 --resolve-conflicts overwrite"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	if ds, err := dsClient.Get(ctx, lab.AgentName, metav1.GetOptions{}); err != nil || ds.Labels["app.kubernetes.io/managed-by"] != "Helm" {
		t.Fatalf("the failed creation touched the Helm DaemonSet: %v %v", err, ds.Labels)
	}

	// The way out the hint names.
	api := eks.NewFromConfig(labtest.AWSConfig(w.Fake.URL()))
	if _, err := api.DeleteAddon(ctx, &eks.DeleteAddonInput{ClusterName: aws.String(lab.WorkshopCluster), AddonName: aws.String(lab.AgentName), Preserve: true}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := api.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String(lab.WorkshopCluster), AddonName: aws.String(lab.AgentName)})
		var nf *ekstypes.ResourceNotFoundException
		if errorsAs(err, &nf) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("add-on not deleted: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r = w.Podid(t, "install-agent", "--resolve-conflicts", "overwrite")
	if r.Code != 0 {
		t.Fatalf("install-agent --resolve-conflicts overwrite: exit %d\n%s", r.Code, r.Stderr)
	}
	ds, err := dsClient.Get(ctx, lab.AgentName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Labels["app.kubernetes.io/managed-by"] != "EKS" || len(ds.Spec.Template.Spec.Tolerations) != 1 || ds.Spec.Template.Spec.Tolerations[0].Operator != corev1.TolerationOpExists {
		t.Errorf("the add-on did not take the DaemonSet over: labels %v, tolerations %+v", ds.Labels, ds.Spec.Template.Spec.Tolerations)
	}
}

func errorsAs(err error, target any) bool { return err != nil && errors.As(err, target) }
