package podidentity

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/podid/podid/internal/fakeaws"
)

// putAddonThenDelete creates the agent add-on outside podid and deletes it
// at once, so that it is DELETING for the fake's AddonDelay.
func putAddonThenDelete(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	c := e.clients.EKS()
	if _, err := c.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteAddon(ctx, &eks.DeleteAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)})
	if err != nil || out.Addon.Status != ekstypes.AddonStatusDeleting {
		t.Fatalf("add-on after delete: %+v, %v", out, err)
	}
}

func addonStatus(t *testing.T, e *env) string {
	t.Helper()
	out, err := e.clients.EKS().DescribeAddon(context.Background(), &eks.DescribeAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)})
	var nf *ekstypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return "absent"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out.Addon.Status)
}

// Issue 12 B8: a 409 on CreateAddon because the add-on is being deleted is
// not "another run is creating it": podid waits for the delete, creates the
// add-on again and waits for ACTIVE, saying what it waits for.
func TestAgentAddonCreateWaitsOutADelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{AddonDelay: 400 * time.Millisecond})
	s := NewAgentAddon(e.clients.EKS(), &agentWaiter{}, e.cluster, AgentAddonOptions{Poller: fastPoller()})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// The plan is made while there is no add-on; then someone's delete
	// is in flight when podid creates.
	p, err := s.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	putAddonThenDelete(t, e)
	rec := &recorder{}
	res, err := s.Apply(ctx, p, rec)
	if err != nil {
		t.Fatalf("Apply while the add-on is DELETING: %v", err)
	}
	if st := addonStatus(t, e); st != "ACTIVE" || !strings.Contains(strings.Join(res.Changes, "\n"), "created add-on") {
		t.Errorf("after Apply the add-on is %s; changes %q", st, res.Changes)
	}
	if !strings.Contains(strings.Join(rec.msgs, "\n"), "to finish deleting") {
		t.Errorf("progress = %q, want it to say it waits for the delete", rec.msgs)
	}
	if w := strings.Join(res.Warnings, "\n"); strings.Contains(w, "concurrently") || !strings.Contains(w, "being deleted") {
		t.Errorf("warnings = %q", res.Warnings)
	}

	// Found DELETING at check time: the plan says it will wait, then create.
	putAddonThenDeleteAfterActive(t, e)
	p, err = s.Check(ctx)
	if err != nil {
		t.Fatalf("Check while DELETING: %v", err)
	}
	if !strings.Contains(strings.Join(p.Changes, "\n"), "wait until the delete") {
		t.Errorf("plan changes = %q", p.Changes)
	}
	if _, err := s.Apply(ctx, p, nil); err != nil || addonStatus(t, e) != "ACTIVE" {
		t.Errorf("Apply: %v, add-on %s", err, addonStatus(t, e))
	}
}

// putAddonThenDeleteAfterActive deletes the (ACTIVE) add-on.
func putAddonThenDeleteAfterActive(t *testing.T, e *env) {
	t.Helper()
	if _, err := e.clients.EKS().DeleteAddon(context.Background(), &eks.DeleteAddonInput{ClusterName: aws.String(testCluster), AddonName: aws.String(AgentAddonName)}); err != nil {
		t.Fatal(err)
	}
	if st := addonStatus(t, e); st != "DELETING" {
		t.Fatalf("add-on is %s after the delete", st)
	}
}
