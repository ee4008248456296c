package fakeaws

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
)

func createAssocTok(ctx context.Context, c *eks.Client, sa, role, token string) (*ekstypes.PodIdentityAssociation, error) {
	in := &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String(testCluster), Namespace: aws.String("carts"),
		ServiceAccount: aws.String(sa), RoleArn: aws.String(roleArn(role))}
	if token != "" {
		in.ClientRequestToken = aws.String(token)
	}
	out, err := c.CreatePodIdentityAssociation(ctx, in)
	if err != nil {
		return nil, err
	}
	return out.Association, nil
}

func listAssocIDs(t *testing.T, c *eks.Client) []string {
	t.Helper()
	out, err := c.ListPodIdentityAssociations(context.Background(), &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(testCluster)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range out.Associations {
		ids = append(ids, aws.ToString(a.AssociationId))
	}
	return ids
}

// A client request token is remembered after the association is deleted:
// replaying it returns the deleted association and creates nothing; the
// same token with other parameters is refused; a fresh token creates.
func TestAssociationTokenSurvivesDelete(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	c.srv.PutRole(Role{Name: "other", TrustPolicy: podsTrust})
	ctx := context.Background()
	first, err := createAssocTok(ctx, c.eks, "carts", "carts-dynamo", "token-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.eks.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String(testCluster), AssociationId: first.AssociationId}); err != nil {
		t.Fatal(err)
	}
	replay, err := createAssocTok(ctx, c.eks, "carts", "carts-dynamo", "token-1")
	if err != nil || aws.ToString(replay.AssociationId) != aws.ToString(first.AssociationId) {
		t.Fatalf("replayed token: %+v, %v; want the original (deleted) association %s", replay, err, aws.ToString(first.AssociationId))
	}
	if ids := listAssocIDs(t, c.eks); len(ids) != 0 {
		t.Errorf("a replayed token created something: %v", ids)
	}
	if _, err := c.eks.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String(testCluster), AssociationId: first.AssociationId}); err == nil {
		t.Error("the replayed association can be described; it was deleted")
	}
	_, err = createAssocTok(ctx, c.eks, "carts", "other", "token-1")
	var ip *ekstypes.InvalidParameterException
	if !errors.As(err, &ip) || !strings.Contains(ip.ErrorMessage(), "token-1") {
		t.Errorf("same token, other role: %v, want InvalidParameterException naming the token", err)
	}
	fresh, err := createAssocTok(ctx, c.eks, "carts", "carts-dynamo", "token-2")
	if err != nil || aws.ToString(fresh.AssociationId) == aws.ToString(first.AssociationId) {
		t.Fatalf("fresh token: %+v, %v", fresh, err)
	}
	if ids := listAssocIDs(t, c.eks); len(ids) != 1 || ids[0] != aws.ToString(fresh.AssociationId) {
		t.Errorf("associations = %v, want the new one", ids)
	}
}

// For AssociationDeleteLag after a delete, reads no longer show the
// association but a create for the same service account is answered 409
// with the deleted association's ID; afterwards the create succeeds.
func TestAssociationDeleteLag(t *testing.T) {
	t.Parallel()
	const lag = 400 * time.Millisecond
	c := start(t, Options{AssociationDeleteLag: lag})
	eksc, _, _ := clientsFor(c.url, "AKID", 1)
	ctx := context.Background()
	old, err := createAssocTok(ctx, eksc, "carts", "carts-dynamo", "")
	if err != nil {
		t.Fatal(err)
	}
	other, err := createAssocTok(ctx, eksc, "orders", "carts-dynamo", "")
	if err != nil {
		t.Fatal(err)
	}
	// The lag runs from the server's delete: take the time before the
	// calls (the fake stamps wall time, the test measures on the
	// monotonic clock; a few ms of tolerance below cover the difference).
	deleted := time.Now()
	for _, a := range []*ekstypes.PodIdentityAssociation{old, other} {
		if _, err := eksc.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String(testCluster), AssociationId: a.AssociationId}); err != nil {
			t.Fatal(err)
		}
	}
	if ids := listAssocIDs(t, eksc); len(ids) != 0 {
		t.Errorf("list right after delete = %v, want nothing", ids)
	}
	var nf *ekstypes.ResourceNotFoundException
	if _, err := eksc.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String(testCluster), AssociationId: old.AssociationId}); !errors.As(err, &nf) {
		t.Errorf("describe right after delete: %v, want ResourceNotFoundException", err)
	}
	_, err = createAssocTok(ctx, eksc, "carts", "carts-dynamo", "")
	var inUse *ekstypes.ResourceInUseException
	if !errors.As(err, &inUse) || inUse.ErrorMessage() != "Association already exists: "+aws.ToString(old.AssociationId) {
		t.Fatalf("create right after delete: %v, want 409 Association already exists: %s", err, aws.ToString(old.AssociationId))
	}
	var created *ekstypes.PodIdentityAssociation
	eventually(t, 5*time.Second, "the deleted association to release carts/carts", func() bool {
		created, err = createAssocTok(ctx, eksc, "carts", "carts-dynamo", "")
		return err == nil
	})
	if since := time.Since(deleted); since < lag-25*time.Millisecond {
		t.Errorf("create succeeded %v after the delete, before the lag %v", since, lag)
	}
	if aws.ToString(created.AssociationId) == aws.ToString(old.AssociationId) {
		t.Error("the re-created association has the deleted one's ID")
	}

	// The lag can be turned off (and on) at run time, also over the admin
	// endpoint (podid-lab runs the fake in another process).
	if code, body := adminPost(t, c.url, "/_fake/rules", `{"associationDeleteLag":"-1s"}`); code != 400 || !strings.Contains(body, "negative") {
		t.Errorf("negative lag: %d %s", code, body)
	}
	if code, body := adminPost(t, c.url, "/_fake/rules", `{"associationDeleteLag":"0s"}`); code != 200 || !strings.Contains(body, `"0s"`) {
		t.Errorf("admin rules: %d %s", code, body)
	}
	if _, err := eksc.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String(testCluster), AssociationId: created.AssociationId}); err != nil {
		t.Fatal(err)
	}
	if _, err := createAssocTok(ctx, eksc, "carts", "carts-dynamo", ""); err != nil {
		t.Errorf("create after delete without lag: %v", err)
	}
}

// CreateAddon tokens are remembered after the add-on is deleted, and a
// create while the add-on is DELETING is answered 409.
func TestAddonTokenSurvivesDeleteAndDeletingIsInUse(t *testing.T) {
	t.Parallel()
	c := start(t, Options{AddonDelay: 300 * time.Millisecond})
	eksc, _, _ := clientsFor(c.url, "AKID", 1)
	ctx := context.Background()
	create := func(token, version string) (*ekstypes.Addon, error) {
		out, err := eksc.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName),
			AddonVersion: aws.String(version), ClientRequestToken: aws.String(token)})
		if err != nil {
			return nil, err
		}
		return out.Addon, nil
	}
	first, err := create("addon-1", "v1.3.10-eksbuild.1")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := create("addon-1", "v1.3.10-eksbuild.1"); err != nil || aws.ToString(again.AddonArn) != aws.ToString(first.AddonArn) {
		t.Errorf("retry with the same token: %+v, %v", again, err)
	}
	eventually(t, 5*time.Second, "add-on ACTIVE", func() bool {
		out, err := eksc.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)})
		return err == nil && out.Addon.Status == ekstypes.AddonStatusActive
	})
	if _, err := eksc.DeleteAddon(ctx, &eks.DeleteAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)}); err != nil {
		t.Fatal(err)
	}
	_, err = create("addon-2", "v1.3.10-eksbuild.1")
	var inUse *ekstypes.ResourceInUseException
	if !errors.As(err, &inUse) || aws.ToString(inUse.AddonName) != AgentAddonName {
		t.Errorf("create while DELETING: %v, want ResourceInUseException", err)
	}
	eventually(t, 5*time.Second, "add-on deleted", func() bool {
		_, err := eksc.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)})
		var nf *ekstypes.ResourceNotFoundException
		return errors.As(err, &nf)
	})
	replay, err := create("addon-1", "v1.3.10-eksbuild.1")
	if err != nil || aws.ToString(replay.AddonArn) != aws.ToString(first.AddonArn) {
		t.Fatalf("replayed token after delete: %+v, %v; want the original add-on", replay, err)
	}
	if out, err := eksc.ListAddons(ctx, &eks.ListAddonsInput{ClusterName: aws.String(testCluster)}); err != nil || len(out.Addons) != 0 {
		t.Errorf("a replayed token created an add-on: %+v, %v", out, err)
	}
	var ip *ekstypes.InvalidParameterException
	if _, err := create("addon-1", "v1.3.9-eksbuild.1"); !errors.As(err, &ip) {
		t.Errorf("same token, other version: %v, want InvalidParameterException", err)
	}
	if fresh, err := create("addon-3", "v1.3.10-eksbuild.1"); err != nil || aws.ToString(fresh.AddonArn) == aws.ToString(first.AddonArn) {
		t.Errorf("fresh token: %+v, %v", fresh, err)
	}
}
