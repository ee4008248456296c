package fakeaws

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// Real IAM knows the AWS managed policies in every account; the ones people
// attach to Pod Identity roles attach, read back with their documents and
// are simulated; a service-linked role policy exists but does not attach.
func TestAWSManagedPolicies(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	for _, name := range []string{"AmazonDynamoDBFullAccess", "AmazonDynamoDBReadOnlyAccess", "AmazonS3FullAccess", "AmazonS3ReadOnlyAccess",
		"AmazonSQSFullAccess", "AmazonSNSFullAccess", "SecretsManagerReadWrite", "CloudWatchAgentServerPolicy", "AmazonEKSWorkerNodePolicy"} {
		arn := "arn:aws:iam::aws:policy/" + name
		pol, err := c.iam.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
		if err != nil {
			t.Errorf("GetPolicy %s: %v", name, err)
			continue
		}
		if !pol.Policy.IsAttachable || aws.ToString(pol.Policy.PolicyName) != name || aws.ToString(pol.Policy.Path) != "/" {
			t.Errorf("%s: policy = %+v", name, pol.Policy)
		}
		v, err := c.iam.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: pol.Policy.DefaultVersionId})
		if err != nil {
			t.Fatalf("GetPolicyVersion %s: %v", name, err)
		}
		doc, _ := url.QueryUnescape(aws.ToString(v.PolicyVersion.Document))
		if _, err := parsePolicy(doc); err != nil || !strings.Contains(doc, `"2012-10-17"`) {
			t.Errorf("%s: document does not parse: %v\n%s", name, err, doc)
		}
	}

	c.srv.PutRole(Role{Name: "carts", TrustPolicy: podsTrust})
	for _, arn := range []string{"arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"} {
		if _, err := c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("carts"), PolicyArn: aws.String(arn)}); err != nil {
			t.Fatalf("attach %s: %v", arn, err)
		}
	}
	sim, err := c.iam.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(roleArn("carts")),
		ActionNames: []string{"dynamodb:Query", "s3:GetObject", "s3:PutObject", "sqs:SendMessage"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range sim.EvaluationResults {
		got[aws.ToString(r.EvalActionName)] = string(r.EvalDecision)
	}
	want := map[string]string{"dynamodb:Query": "allowed", "s3:GetObject": "allowed", "s3:PutObject": "implicitDeny", "sqs:SendMessage": "implicitDeny"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("simulate %s = %s, want %s", k, got[k], v)
		}
	}

	slr := "arn:aws:iam::aws:policy/aws-service-role/CloudWatchEventsServiceRolePolicy"
	pol, err := c.iam.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(slr)})
	if err != nil || pol.Policy.IsAttachable {
		t.Errorf("service-linked role policy: %+v, %v; want it to exist, not attachable", pol, err)
	}
	for _, arn := range []string{slr, "arn:aws:iam::aws:policy/AmazonDynamoDBFulAccess"} {
		_, err = c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("carts"), PolicyArn: aws.String(arn)})
		var nse *iamtypes.NoSuchEntityException
		if !errors.As(err, &nse) || nse.ErrorMessage() != "Policy "+arn+" does not exist or is not attachable." {
			t.Errorf("attach %s: %v, want NoSuchEntity … does not exist or is not attachable", arn, err)
		}
	}
}

// DeleteRole refuses a role with policies left, as IAM does.
func TestIAMDeleteRole(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	if _, err := c.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("tmp"), AssumeRolePolicyDocument: aws.String(podsTrust)}); err != nil {
		t.Fatal(err)
	}
	s3ro := "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
	if _, err := c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("tmp"), PolicyArn: aws.String(s3ro)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("tmp"), PolicyName: aws.String("inline"), PolicyDocument: aws.String(dynamoPolicy)}); err != nil {
		t.Fatal(err)
	}
	var conflict *iamtypes.DeleteConflictException
	if _, err := c.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("tmp")}); !errors.As(err, &conflict) || !strings.Contains(err.Error(), "detach all policies") {
		t.Errorf("delete with attached policy: %v, want DeleteConflict", err)
	}
	if _, err := c.iam.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String("tmp"), PolicyArn: aws.String(s3ro)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("tmp")}); !errors.As(err, &conflict) || !strings.Contains(err.Error(), "delete policies") {
		t.Errorf("delete with inline policy: %v, want DeleteConflict", err)
	}
	if _, err := c.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("tmp"), PolicyName: aws.String("inline")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("tmp")}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	var nse *iamtypes.NoSuchEntityException
	if _, err := c.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("tmp")}); !errors.As(err, &nse) {
		t.Errorf("GetRole after delete: %v", err)
	}
	if _, err := c.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("tmp")}); !errors.As(err, &nse) {
		t.Errorf("second delete: %v", err)
	}
}

// With an IAM propagation delay, EKS does not see a new role, nor a changed
// trust policy, until the delay has passed; IAM itself sees both at once.
func TestIAMPropagationDelayFault(t *testing.T) {
	t.Parallel()
	const delay = 400 * time.Millisecond
	c := start(t, Options{})
	c.srv.SetFaults(Faults{IAMPropagationDelay: delay})
	eksc, _, _ := clientsFor(c.url, "AKID", 1)
	ctx := context.Background()
	create := func(sa, role string) error {
		_, err := eksc.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String(testCluster),
			Namespace: aws.String("carts"), ServiceAccount: aws.String(sa), RoleArn: aws.String(roleArn(role))})
		return err
	}
	invalid := func(err error, msg string) bool {
		var ip *ekstypes.InvalidParameterException
		return errors.As(err, &ip) && ip.ErrorMessage() == msg
	}

	// A seeded role is the world before: visible at once.
	if err := create("seeded", "carts-dynamo"); err != nil {
		t.Fatalf("seeded role: %v", err)
	}

	// A role created through the API: IAM shows it, EKS does not yet.
	created := time.Now()
	if _, err := c.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("fresh"), AssumeRolePolicyDocument: aws.String(podsTrust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("fresh")}); err != nil {
		t.Errorf("IAM's own read of the new role: %v", err)
	}
	if err := create("fresh", "fresh"); !invalid(err, "Role provided in the request does not exist") {
		t.Errorf("right after CreateRole: %v, want Role provided in the request does not exist", err)
	}
	var visibleAfter time.Duration
	eventually(t, 5*time.Second, "the new role to reach EKS", func() bool {
		visibleAfter = time.Since(created)
		return create("fresh", "fresh") == nil
	})
	if visibleAfter < delay-25*time.Millisecond { // wall (fake) vs monotonic (test) clock
		t.Errorf("EKS saw the new role after %v, before the delay %v", visibleAfter, delay)
	}

	// A trust policy changed through the API: EKS reads the old one until
	// the delay has passed (here: from IRSA-only to Pod Identity).
	if _, err := c.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("irsa"), AssumeRolePolicyDocument: aws.String(irsaTrust)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(delay + 50*time.Millisecond) // the IRSA trust is now what EKS sees
	if err := create("irsa", "irsa"); !invalid(err, "Trust policy of the role provided is invalid") {
		t.Fatalf("IRSA trust: %v", err)
	}
	changed := time.Now()
	if _, err := c.iam.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("irsa"), PolicyDocument: aws.String(podsTrust)}); err != nil {
		t.Fatal(err)
	}
	if err := create("irsa", "irsa"); !invalid(err, "Trust policy of the role provided is invalid") {
		t.Errorf("right after UpdateAssumeRolePolicy: %v, want the old trust still in effect", err)
	}
	eventually(t, 5*time.Second, "the new trust to reach EKS", func() bool {
		visibleAfter = time.Since(changed)
		return create("irsa", "irsa") == nil
	})
	if visibleAfter < delay-25*time.Millisecond { // wall (fake) vs monotonic (test) clock
		t.Errorf("EKS saw the new trust after %v, before the delay %v", visibleAfter, delay)
	}

	// The fault is on the admin switchboard too, as a duration string.
	code, body := adminPost(t, c.url, "/_fake/faults", `{"iamPropagationDelay":"2s"}`)
	if code != 200 || c.srv.Faults().IAMPropagationDelay != 2*time.Second {
		t.Errorf("admin faults: %d %s, delay %v", code, body, c.srv.Faults().IAMPropagationDelay)
	}
	if code, body := adminPost(t, c.url, "/_fake/faults", `{"iamPropagationDelay":"soon"}`); code != 400 || !strings.Contains(body, "iamPropagationDelay") {
		t.Errorf("bad delay: %d %s", code, body)
	}
}

// adminPost posts body to an admin route of the fake at base.
func adminPost(t *testing.T, base, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
