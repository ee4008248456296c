package fakeaws

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
)

func TestAddonActiveAt(t *testing.T) {
	t.Parallel()
	const delay = 200 * time.Millisecond
	c := start(t, Options{AddonDelay: delay})
	ctx := context.Background()

	if got := c.srv.AddonActiveAt(testCluster, AgentAddonName); !got.IsZero() {
		t.Fatalf("AddonActiveAt before CreateAddon = %v, want zero", got)
	}
	if got := c.srv.AddonActiveAt("no-such-cluster", AgentAddonName); !got.IsZero() {
		t.Fatalf("AddonActiveAt of an unknown cluster = %v, want zero", got)
	}
	created := time.Now()
	if _, err := c.eks.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)}); err != nil {
		t.Fatal(err)
	}
	if got := c.srv.AddonActiveAt(testCluster, AgentAddonName); !got.IsZero() {
		t.Fatalf("AddonActiveAt while CREATING = %v, want zero", got)
	}
	var seen time.Time
	for deadline := time.Now().Add(30 * time.Second); ; {
		out, err := c.eks.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Addon.Status == ekstypes.AddonStatusActive {
			seen = time.Now()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("add-on still %s after 30s", out.Addon.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	at := c.srv.AddonActiveAt(testCluster, AgentAddonName)
	if at.IsZero() {
		t.Fatal("AddonActiveAt after ACTIVE is zero")
	}
	if at.Before(created.Add(delay)) || at.After(seen) {
		t.Errorf("AddonActiveAt = %v, want between %v (create + delay) and %v (first ACTIVE answer)", at, created.Add(delay), seen)
	}

	c.srv.ForceAddonStatus(testCluster, AgentAddonName, "DEGRADED")
	if got := c.srv.AddonActiveAt(testCluster, AgentAddonName); !got.IsZero() {
		t.Errorf("AddonActiveAt while DEGRADED = %v, want zero", got)
	}
	c.srv.ForceAddonStatus(testCluster, AgentAddonName, "ACTIVE")
	if got := c.srv.AddonActiveAt(testCluster, AgentAddonName); got.IsZero() || !got.After(at) {
		t.Errorf("AddonActiveAt after a forced ACTIVE = %v, want after %v", got, at)
	}
}
