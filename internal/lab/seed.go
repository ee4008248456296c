package lab

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/podid/podid/internal/fakeaws"
)

// The workshop world (EKS workshop, "Amazon EKS Pod Identity" lab).
const (
	WorkshopAccount  = fakeaws.DefaultAccount
	WorkshopRegion   = fakeaws.DefaultRegion
	WorkshopCluster  = "eks-workshop"
	WorkshopNodeRole = "eks-workshop-node-role"
	// CartsRole is the correctly trusted Pod Identity role for carts.
	CartsRole = "eks-workshop-carts-dynamo"
	// CartsIRSARole trusts only an IRSA OIDC provider (a wrong choice for Pod Identity).
	CartsIRSARole = "eks-workshop-carts-irsa"
	// OrdersIRSARole is the IRSA role the orders service account is annotated with.
	OrdersIRSARole = "eks-workshop-orders-irsa"
	// WorkerNodePolicy is attached to the node role; it grants eks-auth:AssumeRoleForPodIdentity.
	WorkerNodePolicy = "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"
	// IRSAAnnotation is the service account annotation of IRSA.
	IRSAAnnotation = "eks.amazonaws.com/role-arn"

	cartsImage    = "public.ecr.aws/aws-containers/retail-store-sample-cart:1.0.0"
	checkoutImage = "public.ecr.aws/aws-containers/retail-store-sample-checkout:1.0.0"
	ordersImage   = "public.ecr.aws/aws-containers/retail-store-sample-orders:1.0.0"
	oidcIssuer    = "oidc.eks.us-west-2.amazonaws.com/id/B5A1D9B7C1E2F3A4B5C6D7E8F9A0B1C2"
)

// PodIdentityTrust is the trust policy that admits EKS Pod Identity.
const PodIdentityTrust = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"Service": "pods.eks.amazonaws.com"},
      "Action": ["sts:AssumeRole", "sts:TagSession"]
    }
  ]
}`

// Kube is the lab cluster as seen from outside: a client, the apiserver URL
// and the CA PEM that the lab kubeconfig trusts.
type Kube struct {
	Client kubernetes.Interface
	Server string
	CAData []byte
}

// ARN of a role in the workshop account.
func RoleARN(name string) string {
	return fmt.Sprintf("arn:aws:iam::%s:role/%s", WorkshopAccount, name)
}

func irsaTrust(sa string) string {
	return fmt.Sprintf(`{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"Federated": "arn:aws:iam::%[1]s:oidc-provider/%[2]s"},
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {"StringEquals": {"%[2]s:sub": "system:serviceaccount:%[3]s", "%[2]s:aud": "sts.amazonaws.com"}}
    }
  ]
}`, WorkshopAccount, oidcIssuer, sa)
}

// SeedWorkshop builds the workshop world: the AWS side in fake (SeedWorkshopAWS)
// and the Kubernetes side in the lab (SeedWorkshopKube).
func SeedWorkshop(ctx context.Context, fake *fakeaws.Server, kube Kube) error {
	if err := SeedWorkshopAWS(fake, kube); err != nil {
		return err
	}
	return SeedWorkshopKube(ctx, kube.Client)
}

// SeedWorkshopAWS adds the workshop cluster, roles and policies to fake. The
// cluster's endpoint and CA are the lab's.
func SeedWorkshopAWS(fake *fakeaws.Server, kube Kube) error {
	nodeRole := fake.PutRole(fakeaws.Role{
		Name:        WorkshopNodeRole,
		Description: "EKS managed node group role of eks-workshop",
		TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
	})
	if err := fake.AttachRolePolicy(WorkshopNodeRole, WorkerNodePolicy); err != nil {
		return fmt.Errorf("seed workshop: attach %s to role %s: %w", WorkerNodePolicy, WorkshopNodeRole, err)
	}
	fake.AddCluster(fakeaws.Cluster{
		Name:            WorkshopCluster,
		Version:         "1.35",
		PlatformVersion: "eks.5",
		Status:          "ACTIVE",
		Endpoint:        kube.Server,
		CAData:          base64.StdEncoding.EncodeToString(kube.CAData),
		Nodegroups: []fakeaws.Nodegroup{{
			Name:     "default",
			NodeRole: nodeRole,
			Labels:   map[string]string{"workshop-default": "yes"},
		}},
	})

	// The right role for carts.
	fake.PutRole(fakeaws.Role{
		Name:        CartsRole,
		Description: "carts service DynamoDB access through EKS Pod Identity",
		TrustPolicy: PodIdentityTrust,
	})
	policy := fake.PutPolicy(fakeaws.Policy{
		Name: CartsRole,
		Document: fmt.Sprintf(`{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AllAPIActionsOnCart",
      "Effect": "Allow",
      "Action": "dynamodb:*",
      "Resource": [
        "arn:aws:dynamodb:%[1]s:%[2]s:table/eks-workshop-carts",
        "arn:aws:dynamodb:%[1]s:%[2]s:table/eks-workshop-carts/index/*"
      ]
    }
  ]
}`, WorkshopRegion, WorkshopAccount),
	})
	if err := fake.AttachRolePolicy(CartsRole, policy); err != nil {
		return fmt.Errorf("seed workshop: attach %s to role %s: %w", policy, CartsRole, err)
	}

	// Wrong: an IRSA-only role for carts, with the same permissions.
	fake.PutRole(fakeaws.Role{
		Name:        CartsIRSARole,
		Description: "carts DynamoDB access for IRSA (trusts only the cluster's OIDC provider)",
		TrustPolicy: irsaTrust("carts:carts"),
	})
	if err := fake.AttachRolePolicy(CartsIRSARole, policy); err != nil {
		return fmt.Errorf("seed workshop: attach %s to role %s: %w", policy, CartsIRSARole, err)
	}
	// Wrong: orders still on IRSA.
	fake.PutRole(fakeaws.Role{
		Name:        OrdersIRSARole,
		Description: "orders service role for IRSA",
		TrustPolicy: irsaTrust("orders:orders"),
	})
	if err := fake.PutRolePolicy(OrdersIRSARole, "orders-sqs", fmt.Sprintf(`{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"], "Resource": "arn:aws:sqs:%s:%s:eks-workshop-orders"}]
}`, WorkshopRegion, WorkshopAccount)); err != nil {
		return fmt.Errorf("seed workshop: inline policy of role %s: %w", OrdersIRSARole, err)
	}
	return nil
}

// App describes a namespace with a service account and a Deployment.
type App struct {
	Namespace      string
	ServiceAccount string            // created in Namespace
	SAAnnotations  map[string]string // on the service account
	Deployment     string
	DeploymentSA   string // serviceAccountName of the pod template ("" = default)
	Image          string
	Replicas       int32
	Paused         bool
}

// SeedWorkshopKube creates the workshop's namespaces, service accounts and
// Deployments and waits until they are rolled out. It is idempotent.
func SeedWorkshopKube(ctx context.Context, client kubernetes.Interface) error {
	apps := []App{
		{Namespace: "carts", ServiceAccount: "carts", Deployment: "carts", DeploymentSA: "carts", Image: cartsImage, Replicas: 2},
		// Wrong: the Deployment runs under "default", not the checkout service account.
		{Namespace: "checkout", ServiceAccount: "checkout", Deployment: "checkout", DeploymentSA: "", Image: checkoutImage, Replicas: 1},
		// Wrong: orders uses IRSA.
		{Namespace: "orders", ServiceAccount: "orders", Deployment: "orders", DeploymentSA: "orders", Image: ordersImage, Replicas: 1,
			SAAnnotations: map[string]string{IRSAAnnotation: RoleARN(OrdersIRSARole)}},
	}
	for _, a := range apps {
		if err := CreateApp(ctx, client, a); err != nil {
			return err
		}
	}
	for _, a := range apps {
		if err := WaitDeploymentRolledOut(ctx, client, a.Namespace, a.Deployment, 60*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// CreateApp creates the namespace, service account and Deployment of a
// (existing objects are kept). It does not wait for the rollout.
func CreateApp(ctx context.Context, client kubernetes.Interface, a App) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: a.Namespace}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", a.Namespace, err)
	}
	if a.ServiceAccount != "" {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: a.ServiceAccount, Namespace: a.Namespace, Annotations: a.SAAnnotations}}
		if _, err := client.CoreV1().ServiceAccounts(a.Namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create service account %s/%s: %w", a.Namespace, a.ServiceAccount, err)
		}
	}
	if a.Deployment == "" {
		return nil
	}
	if a.Image == "" {
		a.Image = cartsImage
	}
	labels := map[string]string{
		"app.kubernetes.io/name":      a.Deployment,
		"app.kubernetes.io/instance":  a.Deployment,
		"app.kubernetes.io/component": "service",
		"app.kubernetes.io/owner":     "retail-store-sample",
	}
	replicas := a.Replicas
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: a.Deployment, Namespace: a.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Paused:   a.Paused,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: a.DeploymentSA,
					Containers: []corev1.Container{{
						Name:  a.Deployment,
						Image: a.Image,
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
					}},
				},
			},
		},
	}
	if _, err := client.AppsV1().Deployments(a.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create deployment %s/%s: %w", a.Namespace, a.Deployment, err)
	}
	return nil
}

// WaitDeploymentRolledOut waits until kubectl's Deployment rollout rules hold.
func WaitDeploymentRolledOut(ctx context.Context, client kubernetes.Interface, ns, name string, timeout time.Duration) error {
	last := "not seen yet"
	err := poll(ctx, timeout, func() (bool, error) {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ok, why := deploymentRolledOut(d)
		last = why
		return ok, nil
	})
	if err != nil {
		return fmt.Errorf("wait for deployment %s/%s to roll out (last: %s): %w", ns, name, last, err)
	}
	return nil
}

func deploymentRolledOut(d *appsv1.Deployment) (bool, string) {
	st := d.Status
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	switch {
	case d.Generation > st.ObservedGeneration:
		return false, "waiting for deployment spec update to be observed"
	case d.Spec.Paused:
		return true, "paused"
	case st.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d out of %d new replicas have been updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		return false, fmt.Sprintf("%d old replicas are pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		return false, fmt.Sprintf("%d of %d updated replicas are available", st.AvailableReplicas, st.UpdatedReplicas)
	}
	return true, "successfully rolled out"
}
