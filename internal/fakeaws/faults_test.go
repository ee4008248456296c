package fakeaws

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

func errorCode(err error) string {
	if err == nil {
		return ""
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return "other: " + err.Error()
}

func TestFaultRates(t *testing.T) {
	t.Parallel()
	const n = 400
	tests := []struct {
		name     string
		faults   Faults
		call     func(ctx context.Context, e *eks.Client, i *iam.Client, s *sts.Client) error
		wantCode string
		rate     float64
	}{
		{name: "eks throttling", faults: Faults{ThrottleRate: 0.2, Seed: 7}, wantCode: "ThrottlingException", rate: 0.2,
			call: func(ctx context.Context, e *eks.Client, _ *iam.Client, _ *sts.Client) error {
				_, err := e.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(testCluster)})
				return err
			}},
		{name: "iam server errors", faults: Faults{ServerErrorRate: 0.1, Seed: 8}, wantCode: "ServiceFailure", rate: 0.1,
			call: func(ctx context.Context, _ *eks.Client, i *iam.Client, _ *sts.Client) error {
				_, err := i.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("carts-dynamo")})
				return err
			}},
		{name: "sts throttling", faults: Faults{ThrottleRate: 0.3, Seed: 9}, wantCode: "Throttling", rate: 0.3,
			call: func(ctx context.Context, _ *eks.Client, _ *iam.Client, s *sts.Client) error {
				_, err := s.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := start(t, Options{Faults: tt.faults})
			e, i, s := clientsFor(c.url, "AKID", 1)
			ctx := context.Background()
			codes := map[string]int{}
			for range n {
				codes[errorCode(tt.call(ctx, e, i, s))]++
			}
			got := float64(codes[tt.wantCode]) / n
			if got < tt.rate-0.07 || got > tt.rate+0.07 || codes[""]+codes[tt.wantCode] != n {
				t.Errorf("codes = %v: %s rate %.3f, want %.2f±0.07 and nothing else", codes, tt.wantCode, got, tt.rate)
			}
			var total int
			for k, v := range c.srv.CallCounts() {
				if strings.HasPrefix(k, strings.SplitN(tt.name, " ", 2)[0]+":") {
					total += v
				}
			}
			if total != n {
				t.Errorf("CallCounts total = %d, want %d (failed calls included)", total, n)
			}
		})
	}
}

func TestFaultsAreDeterministicWithSeed(t *testing.T) {
	t.Parallel()
	run := func() []string {
		c := start(t, Options{Faults: Faults{ThrottleRate: 0.3, ServerErrorRate: 0.2, Seed: 42}})
		e, _, _ := clientsFor(c.url, "AKID", 1)
		var seq []string
		for range 50 {
			_, err := e.DescribeCluster(context.Background(), &eks.DescribeClusterInput{Name: aws.String(testCluster)})
			seq = append(seq, errorCode(err))
		}
		return seq
	}
	if diff := cmp.Diff(run(), run()); diff != "" {
		t.Errorf("same seed, different faults (-first +second):\n%s", diff)
	}
}

func TestRetriesRideOutThrottling(t *testing.T) {
	t.Parallel()
	c := start(t, Options{Faults: Faults{ThrottleRate: 0.3, Seed: 3}})
	ctx := context.Background()
	okCount := 0
	for range 50 {
		if _, err := c.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(testCluster)}); err == nil {
			okCount++
		}
	}
	calls := c.srv.CallCounts()["eks:DescribeCluster"]
	if okCount < 45 || calls <= 50 {
		t.Errorf("%d of 50 succeeded with %d calls; want retries to absorb most throttling", okCount, calls)
	}
}

func TestFaultedMutationsChangeNothing(t *testing.T) {
	t.Parallel()
	c := start(t, Options{Faults: Faults{ThrottleRate: 0.5, ServerErrorRate: 0.5, Seed: 1}})
	ctx := context.Background()
	e, i, _ := clientsFor(c.url, "AKID", 1)
	_, err := e.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String(testCluster),
		Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("carts-dynamo"))})
	if err == nil {
		t.Fatal("create succeeded under 100% faults")
	}
	_, err = e.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)})
	if err == nil {
		t.Fatal("CreateAddon succeeded under 100% faults")
	}
	if _, err := i.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("x"), AssumeRolePolicyDocument: aws.String(podsTrust)}); err == nil {
		t.Fatal("CreateRole succeeded under 100% faults")
	}
	c.srv.SetFaults(Faults{})
	list, err := c.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(testCluster)})
	if err != nil {
		t.Fatal(err)
	}
	addons, err := c.eks.ListAddons(ctx, &eks.ListAddonsInput{ClusterName: aws.String(testCluster)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Associations) != 0 || len(addons.Addons) != 0 || len(c.srv.Audit()) != 0 {
		t.Errorf("faulted calls changed state: %d associations, %d addons, audit %v", len(list.Associations), len(addons.Addons), c.srv.Audit())
	}
	if got := c.srv.State(); len(got.Roles) != 1 {
		t.Errorf("roles = %v, want only the seeded one", got.Roles)
	}
}

func TestDownServicesAndLatencyAndRateLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("down", func(t *testing.T) {
		t.Parallel()
		c := start(t, Options{Faults: Faults{Down: []string{"eks"}}})
		e, i, _ := clientsFor(c.url, "AKID", 1)
		_, err := e.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(testCluster)})
		var unavailable *ekstypes.ServiceUnavailableException
		if !errors.As(err, &unavailable) {
			t.Errorf("eks down: err = %v, want ServiceUnavailableException", err)
		}
		if _, err := i.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("carts-dynamo")}); err != nil {
			t.Errorf("iam is up, but: %v", err)
		}
	})
	t.Run("latency", func(t *testing.T) {
		t.Parallel()
		c := start(t, Options{Faults: Faults{Latency: 100 * time.Millisecond}})
		begin := time.Now()
		if _, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(begin); d < 100*time.Millisecond {
			t.Errorf("call took %v, want >= 100ms", d)
		}
	})
	t.Run("eks rate limit", func(t *testing.T) {
		t.Parallel()
		c := start(t, Options{Faults: Faults{EKSRateLimit: 5}})
		e, _, _ := clientsFor(c.url, "AKID", 1)
		codes := map[string]int{}
		for range 20 {
			_, err := e.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(testCluster)})
			codes[errorCode(err)]++
		}
		if codes[""] < 5 || codes[""] > 8 || codes["ThrottlingException"]+codes[""] != 20 {
			t.Errorf("codes = %v, want a burst of about 5 and the rest ThrottlingException", codes)
		}
	})
}

func TestCallerPolicy(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	c.srv.SetCallerPolicy(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["eks:Describe*","eks:List*","eks:CreatePodIdentityAssociation"],"Resource":"*"},
		{"Effect":"Allow","Action":"iam:GetRole","Resource":"arn:aws:iam::1234567890:role/other"}]}`)
	e, i, s := clientsFor(c.url, "AKID", 1)
	if _, err := e.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(testCluster)}); err != nil {
		t.Fatalf("allowed DescribeCluster: %v", err)
	}
	in := &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String(testCluster), Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"),
		RoleArn: aws.String(roleArn("carts-dynamo"))}
	_, err := e.CreatePodIdentityAssociation(ctx, in)
	var denied *ekstypes.AccessDeniedException
	want := "User: arn:aws:iam::1234567890:user/podid-lab is not authorized to perform: iam:PassRole on resource: arn:aws:iam::1234567890:role/carts-dynamo"
	if !errors.As(err, &denied) || denied.ErrorMessage() != want {
		t.Errorf("create without PassRole: err = %v, want AccessDeniedException %q", err, want)
	}
	_, err = e.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)})
	if !errors.As(err, &denied) || !strings.Contains(denied.ErrorMessage(), "eks:CreateAddon on resource: arn:aws:eks:us-west-2:1234567890:cluster/eks-workshop") {
		t.Errorf("CreateAddon: err = %v, want AccessDeniedException naming eks:CreateAddon and the cluster", err)
	}
	_, err = i.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("carts-dynamo")})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" || !strings.Contains(api.ErrorMessage(), "iam:GetRole on resource: arn:aws:iam::1234567890:role/carts-dynamo") {
		t.Errorf("GetRole: err = %v, want AccessDenied", err)
	}
	if _, err := s.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("GetCallerIdentity needs no permission: %v", err)
	}
	if a := c.srv.Audit(); len(a) != 0 {
		t.Errorf("audit after denied calls = %v, want empty", a)
	}
	if n := c.srv.CallCounts()["eks:CreatePodIdentityAssociation"]; n != 1 {
		t.Errorf("denied call counted %d times, want 1", n)
	}

	c.srv.SetCallerPolicy(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"eks:CreatePodIdentityAssociation","Resource":"arn:aws:eks:us-west-2:1234567890:cluster/eks-workshop"},
		{"Effect":"Allow","Action":"iam:PassRole","Resource":"*","Condition":{"StringEquals":{"iam:PassedToService":"pods.eks.amazonaws.com"}}}]}`)
	if _, err := e.CreatePodIdentityAssociation(ctx, in); err != nil {
		t.Fatalf("create with PassRole: %v", err)
	}
	c.srv.SetCallerPolicy("")
	c.srv.ResetCounts()
	if _, err := i.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("carts-dynamo")}); err != nil {
		t.Errorf("no caller policy: %v", err)
	}
	if diff := cmp.Diff(map[string]int{"iam:GetRole": 1}, c.srv.CallCounts()); diff != "" {
		t.Errorf("counts after reset (-want +got):\n%s", diff)
	}
}

func TestAdminEndpoint(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	do := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, c.url+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	createAssoc(t, c, "carts", "carts", "carts-dynamo")

	code, body := do("GET", "/_fake/audit", "")
	var audit []AuditEntry
	if err := json.Unmarshal(body, &audit); err != nil || code != 200 || len(audit) != 1 || audit[0].Operation != "CreatePodIdentityAssociation" || audit[0].Service != "eks" {
		t.Errorf("audit: %d %s", code, body)
	}
	code, body = do("GET", "/_fake/calls", "")
	var calls map[string]int
	if err := json.Unmarshal(body, &calls); err != nil || code != 200 || calls["eks:CreatePodIdentityAssociation"] != 1 {
		t.Errorf("calls: %d %s", code, body)
	}
	code, body = do("GET", "/_fake/state", "")
	var st StateSnapshot
	if err := json.Unmarshal(body, &st); err != nil || code != 200 || len(st.Clusters) != 1 || len(st.Clusters[0].Associations) != 1 || len(st.Roles) != 1 {
		t.Errorf("state: %d %s", code, body)
	}

	if code, body := do("POST", "/_fake/faults", `{"down":["iam"],"latency":"5ms"}`); code != 200 {
		t.Fatalf("faults: %d %s", code, body)
	}
	if f := c.srv.Faults(); f.Latency != 5*time.Millisecond || len(f.Down) != 1 {
		t.Errorf("faults = %+v", f)
	}
	_, i, _ := clientsFor(c.url, "AKID", 1)
	if _, err := i.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("carts-dynamo")}); errorCode(err) != "ServiceUnavailable" {
		t.Errorf("iam down via admin: err = %v", err)
	}
	if code, _ := do("POST", "/_fake/faults", `{"throttleRate":2}`); code != 400 {
		t.Errorf("bad rate accepted: %d", code)
	}
	if code, body := do("POST", "/_fake/faults", `{}`); code != 200 {
		t.Fatalf("clear faults: %d %s", code, body)
	}

	if code, body := do("POST", "/_fake/addon-status", `{"cluster":"eks-workshop","addon":"eks-pod-identity-agent","status":"DEGRADED","issues":[{"code":"InsufficientNumberOfReplicas","message":"m"}]}`); code != 200 {
		t.Fatalf("addon-status: %d %s", code, body)
	}
	out, err := c.eks.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Addon.Status != ekstypes.AddonStatusDegraded || len(out.Addon.Health.Issues) != 1 {
		t.Errorf("forced addon = %s %+v", out.Addon.Status, out.Addon.Health)
	}
	if code, _ := do("POST", "/_fake/addon-status", `{"cluster":"nope","addon":"x","status":"ACTIVE"}`); code != 404 {
		t.Errorf("addon-status on unknown cluster: %d, want 404", code)
	}
	if code, _ := do("POST", "/_fake/caller-policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`); code != 200 {
		t.Errorf("caller-policy: %d", code)
	}
	if _, err := c.eks.ListClusters(ctx, &eks.ListClustersInput{}); errorCode(err) != "AccessDeniedException" {
		t.Errorf("after deny-all caller policy: err = %v", err)
	}
	if code, _ := do("GET", "/_fake/nope", ""); code != 404 {
		t.Errorf("unknown admin path: %d, want 404", code)
	}
}
