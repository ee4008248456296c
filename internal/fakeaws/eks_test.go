package fakeaws

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestDescribeCluster(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	c.srv.AddCluster(Cluster{Name: "auto", AutoMode: true})
	out, err := c.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(testCluster)})
	if err != nil {
		t.Fatal(err)
	}
	cl := out.Cluster
	got := []string{aws.ToString(cl.Name), aws.ToString(cl.Arn), aws.ToString(cl.Version), aws.ToString(cl.PlatformVersion), string(cl.Status),
		aws.ToString(cl.Endpoint), aws.ToString(cl.CertificateAuthority.Data)}
	want := []string{testCluster, "arn:aws:eks:us-west-2:1234567890:cluster/eks-workshop", "1.35", "eks.5", "ACTIVE", "https://127.0.0.1:6443", "Q0EK"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cluster (-want +got):\n%s", diff)
	}
	if cl.CreatedAt == nil || time.Since(*cl.CreatedAt) > time.Minute {
		t.Errorf("createdAt = %v, want about now", cl.CreatedAt)
	}
	if cl.ComputeConfig == nil || aws.ToBool(cl.ComputeConfig.Enabled) {
		t.Errorf("computeConfig.enabled = %v, want false", cl.ComputeConfig)
	}
	auto, err := c.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("auto")})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(auto.Cluster.ComputeConfig.Enabled) {
		t.Error("auto mode cluster: computeConfig.enabled = false, want true")
	}
	list, err := c.eks.ListClusters(ctx, &eks.ListClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"auto", testCluster}, list.Clusters); diff != "" {
		t.Errorf("ListClusters (-want +got):\n%s", diff)
	}
}

func TestUnknownClusterIsNotFoundEverywhere(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	nope := aws.String("nope")
	calls := map[string]func() error{
		"DescribeCluster": func() error { _, err := c.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: nope}); return err },
		"ListAddons":      func() error { _, err := c.eks.ListAddons(ctx, &eks.ListAddonsInput{ClusterName: nope}); return err },
		"DescribeAddon": func() error {
			_, err := c.eks.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: nope, AddonName: aws.String(AgentAddonName)})
			return err
		},
		"CreateAddon": func() error {
			_, err := c.eks.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: nope, AddonName: aws.String(AgentAddonName)})
			return err
		},
		"CreatePodIdentityAssociation": func() error {
			_, err := c.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: nope,
				Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("carts-dynamo"))})
			return err
		},
		"ListPodIdentityAssociations": func() error {
			_, err := c.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: nope})
			return err
		},
		"ListNodegroups": func() error {
			_, err := c.eks.ListNodegroups(ctx, &eks.ListNodegroupsInput{ClusterName: nope})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			var nf *ekstypes.ResourceNotFoundException
			if err := call(); !errors.As(err, &nf) {
				t.Fatalf("err = %v, want ResourceNotFoundException", err)
			}
			if aws.ToString(nf.ClusterName) != "nope" || !strings.Contains(nf.ErrorMessage(), "nope") {
				t.Errorf("error %v does not name cluster nope", nf)
			}
		})
	}
}

func TestNodegroups(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	list, err := c.eks.ListNodegroups(ctx, &eks.ListNodegroupsInput{ClusterName: aws.String(testCluster)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"default"}, list.Nodegroups); diff != "" {
		t.Errorf("nodegroups (-want +got):\n%s", diff)
	}
	ng, err := c.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(testCluster), NodegroupName: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(ng.Nodegroup.NodeRole) != "arn:aws:iam::1234567890:role/node" || ng.Nodegroup.Status != ekstypes.NodegroupStatusActive || ng.Nodegroup.Labels["role"] != "worker" {
		t.Errorf("nodegroup = %+v", ng.Nodegroup)
	}
	_, err = c.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(testCluster), NodegroupName: aws.String("gpu")})
	var nf *ekstypes.ResourceNotFoundException
	if !errors.As(err, &nf) || aws.ToString(nf.NodegroupName) != "gpu" {
		t.Errorf("missing nodegroup: err = %v, want ResourceNotFoundException for gpu", err)
	}
}

func TestDescribeAddonVersions(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	versions := func(k string) (all []string, defaults []string) {
		t.Helper()
		out, err := c.eks.DescribeAddonVersions(ctx, &eks.DescribeAddonVersionsInput{AddonName: aws.String(AgentAddonName), KubernetesVersion: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range out.Addons {
			for _, v := range a.AddonVersions {
				all = append(all, aws.ToString(v.AddonVersion))
				for _, comp := range v.Compatibilities {
					if aws.ToString(comp.ClusterVersion) != k {
						t.Errorf("version %s lists compatibility %s, want only %s", aws.ToString(v.AddonVersion), aws.ToString(comp.ClusterVersion), k)
					}
					if comp.DefaultVersion {
						defaults = append(defaults, aws.ToString(v.AddonVersion))
					}
				}
			}
		}
		return all, defaults
	}
	all, defaults := versions("1.35")
	if diff := cmp.Diff([]string{"v1.3.10-eksbuild.1", "v1.3.9-eksbuild.1", "v1.3.8-eksbuild.2"}, all); diff != "" {
		t.Errorf("1.35 versions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"v1.3.10-eksbuild.1"}, defaults); diff != "" {
		t.Errorf("1.35 defaults (-want +got):\n%s", diff)
	}
	all, defaults = versions("1.30")
	if diff := cmp.Diff([]string{"v1.3.8-eksbuild.2"}, all); diff != "" {
		t.Errorf("1.30 versions (-want +got):\n%s", diff)
	}
	if len(defaults) != 1 {
		t.Errorf("1.30 defaults = %v, want one", defaults)
	}

	var names []string
	pages := 0
	p := eks.NewDescribeAddonVersionsPaginator(c.eks, &eks.DescribeAddonVersionsInput{KubernetesVersion: aws.String("1.35"), MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range out.Addons {
			names = append(names, aws.ToString(a.AddonName))
		}
	}
	if diff := cmp.Diff([]string{"coredns", AgentAddonName, "kube-proxy", "vpc-cni"}, names); diff != "" || pages != 4 {
		t.Errorf("paged addons in %d pages (-want +got):\n%s", pages, diff)
	}
}

func fastWaiter(c *eks.Client) *eks.AddonActiveWaiter {
	return eks.NewAddonActiveWaiter(c, func(o *eks.AddonActiveWaiterOptions) {
		o.MinDelay = 10 * time.Millisecond
		o.MaxDelay = 50 * time.Millisecond
	})
}

func TestAddonLifecycleWithoutBackend(t *testing.T) {
	t.Parallel()
	c := start(t, Options{AddonDelay: 100 * time.Millisecond})
	ctx := context.Background()
	cluster := aws.String(testCluster)
	created, err := c.eks.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: cluster, AddonName: aws.String(AgentAddonName)})
	if err != nil {
		t.Fatal(err)
	}
	if created.Addon.Status != ekstypes.AddonStatusCreating || aws.ToString(created.Addon.AddonVersion) != "v1.3.10-eksbuild.1" {
		t.Errorf("created addon status %s version %s, want CREATING v1.3.10-eksbuild.1", created.Addon.Status, aws.ToString(created.Addon.AddonVersion))
	}
	if !strings.HasPrefix(aws.ToString(created.Addon.AddonArn), "arn:aws:eks:us-west-2:1234567890:addon/eks-workshop/eks-pod-identity-agent/") {
		t.Errorf("addon arn = %s", aws.ToString(created.Addon.AddonArn))
	}
	_, err = c.eks.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: cluster, AddonName: aws.String(AgentAddonName)})
	var inUse *ekstypes.ResourceInUseException
	if !errors.As(err, &inUse) || aws.ToString(inUse.AddonName) != AgentAddonName {
		t.Errorf("duplicate CreateAddon: err = %v, want ResourceInUseException with addonName", err)
	}
	begin := time.Now()
	out, err := fastWaiter(c.eks).WaitForOutput(ctx, &eks.DescribeAddonInput{ClusterName: cluster, AddonName: aws.String(AgentAddonName)}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if out.Addon.Status != ekstypes.AddonStatusActive {
		t.Errorf("status = %s, want ACTIVE", out.Addon.Status)
	}
	if elapsed := time.Since(begin); elapsed < 50*time.Millisecond {
		t.Errorf("addon became ACTIVE after %v, before the add-on delay", elapsed)
	}
	list, err := c.eks.ListAddons(ctx, &eks.ListAddonsInput{ClusterName: cluster})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{AgentAddonName}, list.Addons); diff != "" {
		t.Errorf("ListAddons (-want +got):\n%s", diff)
	}

	up, err := c.eks.UpdateAddon(ctx, &eks.UpdateAddonInput{ClusterName: cluster, AddonName: aws.String(AgentAddonName), AddonVersion: aws.String("v1.3.9-eksbuild.1")})
	if err != nil {
		t.Fatal(err)
	}
	if up.Update == nil || up.Update.Status != ekstypes.UpdateStatusInProgress || up.Update.Type != ekstypes.UpdateTypeAddonUpdate {
		t.Errorf("update = %+v, want InProgress AddonUpdate", up.Update)
	}
	d, err := c.eks.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: cluster, AddonName: aws.String(AgentAddonName)})
	if err != nil {
		t.Fatal(err)
	}
	if d.Addon.Status != ekstypes.AddonStatusUpdating || aws.ToString(d.Addon.AddonVersion) != "v1.3.9-eksbuild.1" {
		t.Errorf("after update: status %s version %s, want UPDATING v1.3.9-eksbuild.1", d.Addon.Status, aws.ToString(d.Addon.AddonVersion))
	}
	if err := fastWaiter(c.eks).Wait(ctx, &eks.DescribeAddonInput{ClusterName: cluster, AddonName: aws.String(AgentAddonName)}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	_, err = c.eks.UpdateAddon(ctx, &eks.UpdateAddonInput{ClusterName: cluster, AddonName: aws.String(AgentAddonName), AddonVersion: aws.String("v9.9.9")})
	var invalid *ekstypes.InvalidParameterException
	if !errors.As(err, &invalid) {
		t.Errorf("update to unknown version: err = %v, want InvalidParameterException", err)
	}

	del, err := c.eks.DeleteAddon(ctx, &eks.DeleteAddonInput{ClusterName: cluster, AddonName: aws.String(AgentAddonName)})
	if err != nil {
		t.Fatal(err)
	}
	if del.Addon.Status != ekstypes.AddonStatusDeleting {
		t.Errorf("delete status = %s, want DELETING", del.Addon.Status)
	}
	deleted := eks.NewAddonDeletedWaiter(c.eks, func(o *eks.AddonDeletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	})
	if err := deleted.Wait(ctx, &eks.DescribeAddonInput{ClusterName: cluster, AddonName: aws.String(AgentAddonName)}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	_, err = c.eks.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: cluster, AddonName: aws.String(AgentAddonName)})
	var nf *ekstypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("describe deleted addon: err = %v, want ResourceNotFoundException", err)
	}
	wantAudit := []string{"CreateAddon", "UpdateAddon", "DeleteAddon"}
	var gotAudit []string
	for _, a := range c.srv.Audit() {
		gotAudit = append(gotAudit, a.Operation)
	}
	if diff := cmp.Diff(wantAudit, gotAudit); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestAddonLifecycleWithBackend(t *testing.T) {
	t.Parallel()
	b := &recordingBackend{readyAfter: 150 * time.Millisecond}
	c := start(t, Options{Backend: b, AddonDelay: 50 * time.Millisecond, AddonReadyTimeout: 5 * time.Second})
	ctx := context.Background()
	in := &eks.DescribeAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)}
	if _, err := c.eks.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: in.ClusterName, AddonName: in.AddonName}); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := fastWaiter(c.eks).Wait(ctx, in, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(begin); elapsed < 150*time.Millisecond {
		t.Errorf("ACTIVE after %v, before the DaemonSet was ready", elapsed)
	}
	calls, _, _ := b.snapshot()
	if diff := cmp.Diff([]string{"ApplyAgent eks-workshop v1.3.10-eksbuild.1"}, calls); diff != "" {
		t.Errorf("backend calls (-want +got):\n%s", diff)
	}

	// The DaemonSet loses a pod: DescribeAddon notices within the re-check period.
	b.setReady(false)
	var last *ekstypes.Addon
	eventually(t, 3*time.Second, "DEGRADED", func() bool {
		out, err := c.eks.DescribeAddon(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		last = out.Addon
		return out.Addon.Status == ekstypes.AddonStatusDegraded
	})
	if len(last.Health.Issues) != 1 || last.Health.Issues[0].Code != ekstypes.AddonIssueCodeInsufficientNumberOfReplicas ||
		!strings.Contains(aws.ToString(last.Health.Issues[0].Message), "kwok-node-1") {
		t.Errorf("health = %+v, want InsufficientNumberOfReplicas naming kwok-node-1", last.Health)
	}
	b.setReady(true)
	eventually(t, 3*time.Second, "ACTIVE again", func() bool {
		out, err := c.eks.DescribeAddon(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out.Addon.Status == ekstypes.AddonStatusActive && len(out.Addon.Health.Issues) == 0
	})

	if _, err := c.eks.DeleteAddon(ctx, &eks.DeleteAddonInput{ClusterName: in.ClusterName, AddonName: in.AddonName}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "DeleteAgent", func() bool {
		calls, _, _ := b.snapshot()
		return len(calls) == 2 && calls[1] == "DeleteAgent eks-workshop"
	})
}

func TestAddonDegradedWhenNeverReady(t *testing.T) {
	t.Parallel()
	b := &recordingBackend{readyAfter: -1}
	c := start(t, Options{Backend: b, AddonDelay: 20 * time.Millisecond, AddonReadyTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	in := &eks.DescribeAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)}
	if _, err := c.eks.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: in.ClusterName, AddonName: in.AddonName}); err != nil {
		t.Fatal(err)
	}
	err := fastWaiter(c.eks).Wait(ctx, in, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "waiter state transitioned to Failure") {
		t.Fatalf("waiter err = %v, want a failure state", err)
	}
	out, err := c.eks.DescribeAddon(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []ekstypes.AddonIssue{{Code: ekstypes.AddonIssueCodeInsufficientNumberOfReplicas, Message: aws.String("0 of 2 pods ready"), ResourceIds: []string{AgentAddonName}}}
	if out.Addon.Status != ekstypes.AddonStatusDegraded {
		t.Errorf("status = %s, want DEGRADED", out.Addon.Status)
	}
	if diff := cmp.Diff(want, out.Addon.Health.Issues, cmpIgnoreNoCopy); diff != "" {
		t.Errorf("issues (-want +got):\n%s", diff)
	}
}

func TestForceAddonStatus(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	in := &eks.DescribeAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)}
	if _, err := c.eks.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: in.ClusterName, AddonName: in.AddonName}); err != nil {
		t.Fatal(err)
	}
	c.srv.ForceAddonStatus(testCluster, AgentAddonName, "CREATE_FAILED", HealthIssue{Code: "ConfigurationConflict", Message: "conflicts with an existing DaemonSet"})
	err := fastWaiter(c.eks).Wait(ctx, in, 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "Failure") {
		t.Fatalf("waiter err = %v, want failure", err)
	}
	time.Sleep(50 * time.Millisecond) // the lifecycle timer fires, but the pin holds
	out, err := c.eks.DescribeAddon(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if out.Addon.Status != ekstypes.AddonStatusCreateFailed || aws.ToString(out.Addon.Health.Issues[0].Message) != "conflicts with an existing DaemonSet" {
		t.Errorf("addon = %s %+v, want pinned CREATE_FAILED", out.Addon.Status, out.Addon.Health.Issues)
	}
}

var cmpIgnoreNoCopy = cmpopts.IgnoreUnexported(ekstypes.AddonIssue{})

var assocIDPattern = regexp.MustCompile(`^a-[a-z0-9]{17}$`)

func createAssoc(t *testing.T, c *clients, ns, sa, role string) *ekstypes.PodIdentityAssociation {
	t.Helper()
	out, err := c.eks.CreatePodIdentityAssociation(context.Background(), &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String(testCluster), Namespace: aws.String(ns), ServiceAccount: aws.String(sa), RoleArn: aws.String(roleArn(role))})
	if err != nil {
		t.Fatalf("create association %s/%s: %v", ns, sa, err)
	}
	return out.Association
}

func TestAssociationLifecycle(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	c.srv.PutRole(Role{Name: "carts-other", TrustPolicy: podsTrust})
	cluster := aws.String(testCluster)
	a := createAssoc(t, c, "carts", "carts", "carts-dynamo")
	id := aws.ToString(a.AssociationId)
	if !assocIDPattern.MatchString(id) {
		t.Errorf("association id %q does not match %s", id, assocIDPattern)
	}
	if want := "arn:aws:eks:us-west-2:1234567890:podidentityassociation/eks-workshop/" + id; aws.ToString(a.AssociationArn) != want {
		t.Errorf("arn = %s, want %s", aws.ToString(a.AssociationArn), want)
	}
	if a.CreatedAt == nil || a.ModifiedAt == nil || aws.ToBool(a.DisableSessionTags) {
		t.Errorf("association = %+v", a)
	}

	_, err := c.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: cluster,
		Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("carts-other"))})
	var inUse *ekstypes.ResourceInUseException
	if !errors.As(err, &inUse) || inUse.ErrorMessage() != "Association already exists: "+id {
		t.Errorf("duplicate: err = %v, want ResourceInUseException naming %s", err, id)
	}

	d, err := c.eks.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: cluster, AssociationId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.Association.RoleArn) != roleArn("carts-dynamo") {
		t.Errorf("describe roleArn = %s", aws.ToString(d.Association.RoleArn))
	}

	up, err := c.eks.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: cluster, AssociationId: aws.String(id),
		RoleArn: aws.String(roleArn("carts-other")), TargetRoleArn: aws.String("arn:aws:iam::999999999999:role/target")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(up.Association.RoleArn) != roleArn("carts-other") || aws.ToString(up.Association.TargetRoleArn) == "" || aws.ToString(up.Association.ExternalId) == "" {
		t.Errorf("updated = %+v, want new role, target role and external id", up.Association)
	}
	up, err = c.eks.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: cluster, AssociationId: aws.String(id), TargetRoleArn: aws.String("")})
	if err != nil {
		t.Fatal(err)
	}
	if up.Association.TargetRoleArn != nil || up.Association.ExternalId != nil {
		t.Errorf("targetRoleArn \"\" did not clear: %+v", up.Association)
	}
	for name, in := range map[string]*eks.UpdatePodIdentityAssociationInput{
		"nothing requested": {ClusterName: cluster, AssociationId: aws.String(id)},
		"same role":         {ClusterName: cluster, AssociationId: aws.String(id), RoleArn: aws.String(roleArn("carts-other"))},
		"policy with tags":  {ClusterName: cluster, AssociationId: aws.String(id), Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`)},
		"missing role":      {ClusterName: cluster, AssociationId: aws.String(id), RoleArn: aws.String(roleArn("nope"))},
	} {
		_, err := c.eks.UpdatePodIdentityAssociation(ctx, in)
		var invalid *ekstypes.InvalidParameterException
		if !errors.As(err, &invalid) {
			t.Errorf("update %s: err = %v, want InvalidParameterException", name, err)
		}
	}
	up, err = c.eks.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: cluster, AssociationId: aws.String(id),
		DisableSessionTags: aws.Bool(true), Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(up.Association.DisableSessionTags) || up.Association.Policy == nil {
		t.Errorf("session policy update = %+v", up.Association)
	}

	del, err := c.eks.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: cluster, AssociationId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(del.Association.AssociationId) != id {
		t.Errorf("deleted %s, want %s", aws.ToString(del.Association.AssociationId), id)
	}
	_, err = c.eks.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: cluster, AssociationId: aws.String(id)})
	var nf *ekstypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("describe deleted: err = %v, want ResourceNotFoundException", err)
	}
	var ops []string
	for _, e := range c.srv.Audit() {
		ops = append(ops, e.Operation+" "+e.Target)
	}
	want := []string{"CreatePodIdentityAssociation eks-workshop/" + id, "UpdatePodIdentityAssociation eks-workshop/" + id,
		"UpdatePodIdentityAssociation eks-workshop/" + id, "UpdatePodIdentityAssociation eks-workshop/" + id, "DeletePodIdentityAssociation eks-workshop/" + id}
	if diff := cmp.Diff(want, ops); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestCreateAssociationRejects(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	c.srv.PutRole(Role{Name: "irsa", TrustPolicy: irsaTrust})
	c.srv.PutRole(Role{Name: "no-tag", TrustPolicy: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}}`})
	c.srv.PutRole(Role{Name: "denied", TrustPolicy: `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","pods.eks.amazonaws.com"]},"Action":"sts:*"},
		{"Effect":"Deny","Principal":"*","Action":"sts:TagSession"}]}`})
	c.srv.PutRole(Role{Name: "wildcard", TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","pods.eks.amazonaws.com"]},"Action":"sts:*"}]}`})
	c.srv.PutRole(Role{Name: "other-account", TrustPolicy: podsTrust})

	tests := []struct {
		name    string
		in      eks.CreatePodIdentityAssociationInput
		wantMsg string // "" = success
	}{
		{name: "missing role", in: eks.CreatePodIdentityAssociationInput{RoleArn: aws.String(roleArn("nope"))}, wantMsg: "Role provided in the request does not exist"},
		{name: "role in another account", in: eks.CreatePodIdentityAssociationInput{RoleArn: aws.String("arn:aws:iam::999999999999:role/other-account")}, wantMsg: "Role provided in the request does not exist"},
		{name: "irsa trust", in: eks.CreatePodIdentityAssociationInput{RoleArn: aws.String(roleArn("irsa"))}, wantMsg: "Trust policy of the role provided is invalid"},
		{name: "trust without TagSession", in: eks.CreatePodIdentityAssociationInput{RoleArn: aws.String(roleArn("no-tag"))}, wantMsg: "Trust policy of the role provided is invalid"},
		{name: "trust with explicit deny", in: eks.CreatePodIdentityAssociationInput{RoleArn: aws.String(roleArn("denied"))}, wantMsg: "Trust policy of the role provided is invalid"},
		{name: "policy without disableSessionTags", in: eks.CreatePodIdentityAssociationInput{RoleArn: aws.String(roleArn("carts-dynamo")),
			Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`)}, wantMsg: "disableSessionTags"},
		{name: "malformed role arn", in: eks.CreatePodIdentityAssociationInput{RoleArn: aws.String("carts-dynamo")}, wantMsg: "not an IAM role ARN"},
		{name: "wildcard action trust", in: eks.CreatePodIdentityAssociationInput{RoleArn: aws.String(roleArn("wildcard"))}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.ClusterName = aws.String(testCluster)
			in.Namespace = aws.String("ns")
			in.ServiceAccount = aws.String("sa" + string(rune('a'+i)))
			_, err := c.eks.CreatePodIdentityAssociation(ctx, &in)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				return
			}
			var invalid *ekstypes.InvalidParameterException
			if !errors.As(err, &invalid) || !strings.Contains(invalid.ErrorMessage(), tt.wantMsg) {
				t.Fatalf("err = %v, want InvalidParameterException containing %q", err, tt.wantMsg)
			}
		})
	}
	// Only the successful create was audited.
	if a := c.srv.Audit(); len(a) != 1 {
		t.Errorf("audit = %+v, want only the one accepted create", a)
	}
}

func TestAssociationIdempotencyAndLimit(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	in := &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String(testCluster), Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"),
		RoleArn: aws.String(roleArn("carts-dynamo")), ClientRequestToken: aws.String("token-1")}
	first, err := c.eks.CreatePodIdentityAssociation(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.eks.CreatePodIdentityAssociation(ctx, in)
	if err != nil {
		t.Fatalf("same token, same parameters: %v", err)
	}
	if aws.ToString(again.Association.AssociationId) != aws.ToString(first.Association.AssociationId) {
		t.Errorf("same token returned %s, want %s", aws.ToString(again.Association.AssociationId), aws.ToString(first.Association.AssociationId))
	}
	in.ServiceAccount = aws.String("other")
	var invalid *ekstypes.InvalidParameterException
	if _, err := c.eks.CreatePodIdentityAssociation(ctx, in); !errors.As(err, &invalid) {
		t.Errorf("same token, other parameters: err = %v, want InvalidParameterException", err)
	}

	c.srv.mu.Lock()
	c.srv.maxAssociations = 2
	c.srv.mu.Unlock()
	createAssoc(t, c, "carts", "second", "carts-dynamo")
	_, err = c.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String(testCluster),
		Namespace: aws.String("carts"), ServiceAccount: aws.String("third"), RoleArn: aws.String(roleArn("carts-dynamo"))})
	var limit *ekstypes.ResourceLimitExceededException
	if !errors.As(err, &limit) {
		t.Errorf("over the limit: err = %v, want ResourceLimitExceededException", err)
	}
}

func TestListAssociationsPaginatesAndFilters(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	var want []string
	for _, ns := range []string{"a", "b", "c", "d", "e"} {
		want = append(want, aws.ToString(createAssoc(t, c, ns, "sa", "carts-dynamo").AssociationId))
	}
	createAssoc(t, c, "a", "other", "carts-dynamo")
	var got []string
	pages := 0
	p := eks.NewListPodIdentityAssociationsPaginator(c.eks, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(testCluster),
		ServiceAccount: aws.String("sa"), MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range out.Associations {
			got = append(got, aws.ToString(s.AssociationId))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" || pages != 3 {
		t.Errorf("%d pages (-want +got):\n%s", pages, diff)
	}
	out, err := c.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(testCluster), Namespace: aws.String("a")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Associations) != 2 || out.NextToken != nil {
		t.Errorf("namespace a: %d associations, next %v; want 2, no next token", len(out.Associations), out.NextToken)
	}
	for _, bad := range []int32{0, 101} {
		_, err := c.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(testCluster), MaxResults: aws.Int32(bad)})
		var invalid *ekstypes.InvalidParameterException
		if !errors.As(err, &invalid) {
			t.Errorf("maxResults %d: err = %v, want InvalidParameterException", bad, err)
		}
	}
	// The summaries carry no roleArn: check the raw body.
	req, _ := http.NewRequest(http.MethodGet, c.url+"/clusters/eks-workshop/pod-identity-associations", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-west-2/eks/aws4_request, SignedHeaders=host, Signature=x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "roleArn") || !strings.Contains(string(body), `"associations":[`) {
		t.Errorf("list body = %s, want summaries without roleArn", body)
	}
}

func TestRawRequestsValidateRequiredMembers(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	tests := []struct {
		name, body string
		wantStatus int
		wantCode   string
	}{
		{"missing namespace", `{"serviceAccount": "carts", "roleArn": "arn:aws:iam::1234567890:role/carts-dynamo"}`, 400, "InvalidParameterException"},
		{"missing roleArn", `{"namespace": "carts", "serviceAccount": "carts"}`, 400, "InvalidParameterException"},
		{"not json", `{"namespace": `, 400, "SerializationException"},
		{"botocore spacing", `{"namespace": "carts", "serviceAccount": "carts", "roleArn": "arn:aws:iam::1234567890:role/carts-dynamo"}`, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, c.url+"/clusters/eks-workshop/pod-identity-associations", strings.NewReader(tt.body))
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-west-2/eks/aws4_request, SignedHeaders=host, Signature=x")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("X-Amzn-ErrorType") != tt.wantCode {
				t.Errorf("status %d type %q, want %d %q", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), tt.wantStatus, tt.wantCode)
			}
		})
	}
}

func TestPropagationDelay(t *testing.T) {
	t.Parallel()
	b := &recordingBackend{}
	const delay = 150 * time.Millisecond
	c := start(t, Options{Backend: b, PropagationDelay: delay})
	ctx := context.Background()
	created := time.Now()
	a := createAssoc(t, c, "carts", "carts", "carts-dynamo")
	createAssoc(t, c, "orders", "orders", "carts-dynamo")
	if ids := c.srv.Identities(testCluster); len(ids) != 0 {
		t.Fatalf("identities right after create = %v, want none before the propagation delay", ids)
	}
	eventually(t, 2*time.Second, "two identities", func() bool { return len(c.srv.Identities(testCluster)) == 2 })
	_, _, times := b.snapshot()
	if len(times) == 0 || times[0].Sub(created) < delay {
		t.Fatalf("first SetIdentities at %v after create, want >= %v", times[0].Sub(created), delay)
	}
	deleted := time.Now()
	if _, err := c.eks.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String(testCluster), AssociationId: a.AssociationId}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "one identity", func() bool { return len(c.srv.Identities(testCluster)) == 1 })
	_, sets, times := b.snapshot()
	if last := times[len(times)-1]; last.Sub(deleted) < delay {
		t.Errorf("delete reached the backend after %v, want >= %v", last.Sub(deleted), delay)
	}
	if diff := cmp.Diff([]Identity{{Namespace: "orders", ServiceAccount: "orders"}}, sets[len(sets)-1]); diff != "" {
		t.Errorf("last identities (-want +got):\n%s", diff)
	}
}

// EKS is regional: from another region the cluster does not exist.
func TestOtherRegionHasNoClusters(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	other := func(o *eks.Options) { o.Region = "eu-west-1" }
	_, err := c.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(testCluster)}, other)
	var nf *ekstypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("DescribeCluster from eu-west-1: err = %v, want ResourceNotFoundException", err)
	}
	list, err := c.eks.ListClusters(ctx, &eks.ListClustersInput{}, other)
	if err != nil || len(list.Clusters) != 0 {
		t.Fatalf("ListClusters from eu-west-1 = %v, %v; want none", list, err)
	}
	if _, err := c.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(testCluster)}); err != nil {
		t.Fatalf("from us-west-2: %v", err)
	}
}

// resolveConflicts as EKS documents it: NONE fails on conflicting fields
// and changes nothing, OVERWRITE takes them over, PRESERVE (update only)
// keeps them; PRESERVE on a creation is refused.
func TestAddonResolveConflicts(t *testing.T) {
	t.Parallel()
	b := &recordingBackend{}
	c := start(t, Options{Backend: b, AddonDelay: 10 * time.Millisecond, AddonReadyTimeout: 5 * time.Second})
	ctx := context.Background()
	cluster, name := aws.String(testCluster), aws.String(AgentAddonName)
	in := &eks.DescribeAddonInput{ClusterName: cluster, AddonName: name}
	fields := []string{"DaemonSet.apps eks-pod-identity-agent - .spec.template.spec.tolerations",
		`DaemonSet.apps eks-pod-identity-agent - .spec.template.spec.containers[name="eks-pod-identity-agent"].args`}
	c.srv.SetAddonConflicts(testCluster, AgentAddonName, fields...)
	waitStatus := func(want ekstypes.AddonStatus) *ekstypes.Addon {
		t.Helper()
		var a *ekstypes.Addon
		eventually(t, 5*time.Second, "add-on "+string(want), func() bool {
			out, err := c.eks.DescribeAddon(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			a = out.Addon
			return a.Status == want
		})
		return a
	}
	backendCalls := func() int { calls, _, _ := b.snapshot(); return len(calls) }

	_, err := c.eks.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: cluster, AddonName: name, ResolveConflicts: ekstypes.ResolveConflictsPreserve})
	var invalid *ekstypes.InvalidParameterException
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "Resolve conflicts option PRESERVE is not supported for operation CreateAddon") {
		t.Fatalf("create with PRESERVE: %v", err)
	}

	// NONE (and no value at all) fails with the fields, applies nothing.
	if _, err := c.eks.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: cluster, AddonName: name}); err != nil {
		t.Fatal(err)
	}
	a := waitStatus(ekstypes.AddonStatusCreateFailed)
	if len(a.Health.Issues) != 1 || a.Health.Issues[0].Code != ekstypes.AddonIssueCodeConfigurationConflict ||
		!strings.Contains(aws.ToString(a.Health.Issues[0].Message), fields[0]) || !strings.Contains(aws.ToString(a.Health.Issues[0].Message), fields[1]) {
		t.Errorf("issues %+v", a.Health.Issues)
	}
	if n := backendCalls(); n != 0 {
		t.Errorf("a conflicting create applied the agent (%d backend calls)", n)
	}
	if _, err := c.eks.DeleteAddon(ctx, &eks.DeleteAddonInput{ClusterName: cluster, AddonName: name, Preserve: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "add-on deleted", func() bool {
		_, err := c.eks.DescribeAddon(ctx, in)
		var nf *ekstypes.ResourceNotFoundException
		return errors.As(err, &nf)
	})

	// OVERWRITE takes the fields over.
	if _, err := c.eks.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: cluster, AddonName: name, ResolveConflicts: ekstypes.ResolveConflictsOverwrite}); err != nil {
		t.Fatal(err)
	}
	waitStatus(ekstypes.AddonStatusActive)
	if got := c.srv.AddonConflicts(testCluster, AgentAddonName); len(got) != 0 {
		t.Errorf("conflicts after OVERWRITE: %v", got)
	}

	// Someone edits the DaemonSet again: an update with NONE fails, with
	// PRESERVE succeeds and keeps the edits, with OVERWRITE takes them over.
	c.srv.SetAddonConflicts(testCluster, AgentAddonName, fields[0])
	update := func(rc ekstypes.ResolveConflicts) {
		t.Helper()
		if _, err := c.eks.UpdateAddon(ctx, &eks.UpdateAddonInput{ClusterName: cluster, AddonName: name, ResolveConflicts: rc}); err != nil {
			t.Fatalf("update %s: %v", rc, err)
		}
	}
	update(ekstypes.ResolveConflictsNone)
	a = waitStatus(ekstypes.AddonStatusUpdateFailed)
	if len(a.Health.Issues) != 1 || !strings.Contains(aws.ToString(a.Health.Issues[0].Message), fields[0]) {
		t.Errorf("update NONE issues %+v", a.Health.Issues)
	}
	update(ekstypes.ResolveConflictsPreserve)
	waitStatus(ekstypes.AddonStatusActive)
	if got := c.srv.AddonConflicts(testCluster, AgentAddonName); len(got) != 1 {
		t.Errorf("PRESERVE dropped the edited fields: %v", got)
	}
	update(ekstypes.ResolveConflictsOverwrite)
	waitStatus(ekstypes.AddonStatusActive)
	if got := c.srv.AddonConflicts(testCluster, AgentAddonName); len(got) != 0 {
		t.Errorf("conflicts after OVERWRITE: %v", got)
	}
}

// conflictBackend is a recordingBackend whose cluster holds a self-managed
// agent: it reports conflicting fields and records what ApplyAgent was told
// to preserve.
type conflictBackend struct {
	*recordingBackend
	fields   []string
	preserve [][]string
	asked    int
}

func (b *conflictBackend) AgentConflicts(context.Context, AgentSpec) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.asked++
	return b.fields, nil
}

func (b *conflictBackend) ApplyAgent(ctx context.Context, spec AgentSpec) error {
	b.mu.Lock()
	b.preserve = append(b.preserve, spec.Preserve)
	b.mu.Unlock()
	return b.recordingBackend.ApplyAgent(ctx, spec)
}

// Conflicts the backend's cluster holds (a self-managed agent DaemonSet)
// are resolved like recorded ones: NONE fails listing them, PRESERVE
// applies keeping them, OVERWRITE applies over them without asking.
func TestAddonConflictsFromBackend(t *testing.T) {
	t.Parallel()
	field := "DaemonSet.apps eks-pod-identity-agent - .spec.template.spec.tolerations"
	b := &conflictBackend{recordingBackend: &recordingBackend{}, fields: []string{field}}
	c := start(t, Options{Backend: b, AddonDelay: 10 * time.Millisecond, AddonReadyTimeout: 5 * time.Second})
	ctx := context.Background()
	cluster, name := aws.String(testCluster), aws.String(AgentAddonName)
	in := &eks.DescribeAddonInput{ClusterName: cluster, AddonName: name}
	wait := func(want ekstypes.AddonStatus) *ekstypes.Addon {
		t.Helper()
		var a *ekstypes.Addon
		eventually(t, 5*time.Second, "add-on "+string(want), func() bool {
			out, err := c.eks.DescribeAddon(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			a = out.Addon
			return a.Status == want
		})
		return a
	}
	if _, err := c.eks.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: cluster, AddonName: name}); err != nil {
		t.Fatal(err)
	}
	a := wait(ekstypes.AddonStatusCreateFailed)
	if len(a.Health.Issues) != 1 || !strings.Contains(aws.ToString(a.Health.Issues[0].Message), field) {
		t.Errorf("issues %+v", a.Health.Issues)
	}
	if calls, _, _ := b.snapshot(); len(calls) != 0 {
		t.Errorf("NONE applied the agent over the self-managed one: %v", calls)
	}
	if _, err := c.eks.DeleteAddon(ctx, &eks.DeleteAddonInput{ClusterName: cluster, AddonName: name, Preserve: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "add-on deleted", func() bool {
		_, err := c.eks.DescribeAddon(ctx, in)
		var nf *ekstypes.ResourceNotFoundException
		return errors.As(err, &nf)
	})
	if _, err := c.eks.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: cluster, AddonName: name, ResolveConflicts: ekstypes.ResolveConflictsOverwrite}); err != nil {
		t.Fatal(err)
	}
	wait(ekstypes.AddonStatusActive)
	if _, err := c.eks.UpdateAddon(ctx, &eks.UpdateAddonInput{ClusterName: cluster, AddonName: name, ResolveConflicts: ekstypes.ResolveConflictsPreserve}); err != nil {
		t.Fatal(err)
	}
	wait(ekstypes.AddonStatusActive)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.preserve) != 2 || len(b.preserve[0]) != 0 || !slices.Equal(b.preserve[1], []string{field}) {
		t.Errorf("ApplyAgent preserve = %q, want none on OVERWRITE, then the field on PRESERVE", b.preserve)
	}
	if b.asked != 2 {
		t.Errorf("conflicts asked %d times, want 2 (NONE and PRESERVE; OVERWRITE need not ask)", b.asked)
	}
}
