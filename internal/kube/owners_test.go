package kube

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestKept(t *testing.T) {
	t.Parallel()
	pod := func(name string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	rolling := Workload{Kind: KindStatefulSet, Name: "db", UpdateStrategy: string(appsv1.RollingUpdateStatefulSetStrategyType)}
	onDelete := Workload{Kind: KindDaemonSet, Name: "agent", UpdateStrategy: string(appsv1.OnDeleteDaemonSetStrategyType)}
	part := rolling
	part.Partition = 2
	tests := []struct {
		name  string
		w     Workload
		pod   *corev1.Pod
		kept  bool
		cause string
	}{
		{"rolling update", rolling, pod("db-0", nil), false, ""},
		{"OnDelete", onDelete, pod("agent-x7k2p", nil), true, "daemonset/agent uses the OnDelete update strategy"},
		{"below the partition, by name", part, pod("db-1", nil), true, "statefulset/db's partition 2"},
		{"at the partition", part, pod("db-2", nil), false, ""},
		{"below the partition, by the pod-index label", part, pod("renamed", map[string]string{appsv1.PodIndexLabel: "0"}), true, "partition 2"},
		{"no ordinal", part, pod("other-0", nil), false, ""},
	}
	for _, tt := range tests {
		kept, cause := Kept(tt.w, tt.pod)
		if kept != tt.kept || !strings.Contains(cause, tt.cause) {
			t.Errorf("%s: Kept = %v, %q; want %v, containing %q", tt.name, kept, cause, tt.kept, tt.cause)
		}
	}
}

func TestNextRun(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 1, 47, 30, 0, time.UTC)
	tests := []struct {
		schedule, tz string
		want         string // RFC 3339, or an error substring
	}{
		{"*/15 * * * *", "", "2026-12-02T02:00:00Z"},
		{"0 3 * * *", "", "2026-12-02T03:00:00Z"},
		{"@hourly", "", "2026-12-02T02:00:00Z"},
		{"30 1 * * 1-5", "", "2026-12-03T01:30:00Z"},                   // Wednesday: tomorrow
		{"0 3 * * *", "Europe/Paris", "2026-12-02T03:00:00+01:00"},     // 02:47 in Paris: today at 03:00
		{"0 9 1 * *", "America/New_York", "2026-12-01T09:00:00-05:00"}, // wrong: see below
		{"0 0 30 2 *", "", "never runs"},                               // 30 February
		{"61 * * * *", "", `schedule "61 * * * *"`},
		{"* * * * *", "Mars/Olympus", `time zone "Mars/Olympus"`},
	}
	// 2026-12-01 09:00 New York is before now: the next run is in January.
	tests[5].want = "2027-01-01T09:00:00-05:00"
	for _, tt := range tests {
		got, err := NextRun(tt.schedule, tt.tz, now)
		if err != nil {
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NextRun(%q, %q) error %v, want %q", tt.schedule, tt.tz, err, tt.want)
			}
			continue
		}
		if got.Format(time.RFC3339) != tt.want {
			t.Errorf("NextRun(%q, %q) = %s, want %s", tt.schedule, tt.tz, got.Format(time.RFC3339), tt.want)
		}
	}
}
