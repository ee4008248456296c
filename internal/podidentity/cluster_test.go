package podidentity

import (
	"context"
	"strings"
	"testing"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/fakeaws"
)

func TestSupportsPodIdentity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		version, platform string
		ok                bool
	}{
		{"1.35", "eks.1", true}, {"1.29", "eks.1", true}, {"1.29", "", true},
		{"1.28", "eks.4", true}, {"1.28", "eks.3", false}, {"1.28", "eks.12", true},
		{"1.27", "eks.8", true}, {"1.27", "eks.7", false},
		{"1.26", "eks.9", true}, {"1.26", "eks.8", false},
		{"1.25", "eks.20", false}, {"1.28", "weird", false}, {"latest", "eks.1", false},
	}
	for _, tt := range tests {
		err := SupportsPodIdentity(tt.version, tt.platform)
		if (err == nil) != tt.ok {
			t.Errorf("SupportsPodIdentity(%q, %q) = %v, want ok=%v", tt.version, tt.platform, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), tt.version) {
			t.Errorf("error %q does not name the version", err)
		}
	}
}

func TestLookupCluster(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeaws.Options{}, func(c *fakeaws.Cluster) { c.AutoMode = true; c.CAData = "Q0E=" })
	if e.cluster.Account != testAccount || e.cluster.Region != "us-west-2" || !e.cluster.AutoMode || e.cluster.Version != "1.35" ||
		e.cluster.CAData != "Q0E=" || e.cluster.Endpoint != "https://127.0.0.1:6443" || !strings.HasSuffix(e.cluster.Arn, ":cluster/eks-workshop") {
		t.Errorf("cluster = %+v", e.cluster)
	}
	_, err := LookupCluster(context.Background(), e.clients.EKS(), "nope", "us-west-2")
	if err == nil || err.Error() != `cluster "nope" not found in us-west-2` || !strings.Contains(fail.HintOf(err), "aws eks list-clusters") {
		t.Errorf("err = %v, hint %q", err, fail.HintOf(err))
	}
	e.fake.AddCluster(fakeaws.Cluster{Name: "old", Version: "1.28", PlatformVersion: "eks.2"})
	if _, err := LookupCluster(context.Background(), e.clients.EKS(), "old", "us-west-2"); err == nil || !strings.Contains(err.Error(), "eks.4") {
		t.Errorf("old cluster: %v", err)
	}
}
