package kube

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/podid/podid/internal/fail"
)

func deploy(gen, observed int64, replicas *int32, st appsv1.DeploymentStatus, mods ...func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "carts", Namespace: "carts", Generation: gen},
		Spec:       appsv1.DeploymentSpec{Replicas: replicas},
		Status:     st,
	}
	d.Status.ObservedGeneration = observed
	for _, m := range mods {
		m(d)
	}
	return d
}

func deadline(d *appsv1.Deployment) {
	d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: "False", Reason: "ProgressDeadlineExceeded"}}
}

func paused(d *appsv1.Deployment) { d.Spec.Paused = true }

func TestDeploymentStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		d        *appsv1.Deployment
		wantMsg  string
		wantDone bool
		wantErr  string
	}{
		{"generation not observed", deploy(3, 2, ptr.To[int32](2), appsv1.DeploymentStatus{UpdatedReplicas: 2, Replicas: 2, AvailableReplicas: 2}),
			"Waiting for deployment spec update to be observed...", false, ""},
		{"deadline ignored until observed", deploy(3, 2, ptr.To[int32](2), appsv1.DeploymentStatus{}, deadline),
			"Waiting for deployment spec update to be observed...", false, ""},
		{"progress deadline exceeded is an error", deploy(3, 3, ptr.To[int32](2), appsv1.DeploymentStatus{UpdatedReplicas: 1, Replicas: 3}, deadline),
			"", false, `deployment "carts" exceeded its progress deadline`},
		{"deadline beats complete counts", deploy(3, 3, ptr.To[int32](2), appsv1.DeploymentStatus{UpdatedReplicas: 2, Replicas: 2, AvailableReplicas: 2}, deadline),
			"", false, "exceeded its progress deadline"},
		{"other progressing reason is fine", deploy(3, 3, ptr.To[int32](2), appsv1.DeploymentStatus{UpdatedReplicas: 2, Replicas: 2, AvailableReplicas: 2}, func(d *appsv1.Deployment) {
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: "True", Reason: "NewReplicaSetAvailable"}}
		}), `deployment "carts" successfully rolled out`, true, ""},
		{"updating", deploy(3, 3, ptr.To[int32](3), appsv1.DeploymentStatus{UpdatedReplicas: 1, Replicas: 4, AvailableReplicas: 3}),
			`Waiting for deployment "carts" rollout to finish: 1 out of 3 new replicas have been updated...`, false, ""},
		{"old pending termination", deploy(3, 3, ptr.To[int32](3), appsv1.DeploymentStatus{UpdatedReplicas: 3, Replicas: 5, AvailableReplicas: 3}),
			`Waiting for deployment "carts" rollout to finish: 2 old replicas are pending termination...`, false, ""},
		{"not available", deploy(3, 3, ptr.To[int32](3), appsv1.DeploymentStatus{UpdatedReplicas: 3, Replicas: 3, AvailableReplicas: 1}),
			`Waiting for deployment "carts" rollout to finish: 1 of 3 updated replicas are available...`, false, ""},
		{"complete", deploy(3, 3, ptr.To[int32](3), appsv1.DeploymentStatus{UpdatedReplicas: 3, Replicas: 3, AvailableReplicas: 3}),
			`deployment "carts" successfully rolled out`, true, ""},
		{"observed ahead counts as observed", deploy(3, 4, ptr.To[int32](1), appsv1.DeploymentStatus{UpdatedReplicas: 1, Replicas: 1, AvailableReplicas: 1}),
			`deployment "carts" successfully rolled out`, true, ""},
		{"nil replicas skips the updated check", deploy(1, 1, nil, appsv1.DeploymentStatus{UpdatedReplicas: 0, Replicas: 0}),
			`deployment "carts" successfully rolled out`, true, ""},
		{"scaled to zero", deploy(2, 2, ptr.To[int32](0), appsv1.DeploymentStatus{}),
			`deployment "carts" successfully rolled out`, true, ""},
		{"paused and complete is complete", deploy(2, 2, ptr.To[int32](1), appsv1.DeploymentStatus{UpdatedReplicas: 1, Replicas: 1, AvailableReplicas: 1}, paused),
			`deployment "carts" successfully rolled out`, true, ""},
		{"paused and unfinished is an error", deploy(2, 2, ptr.To[int32](2), appsv1.DeploymentStatus{UpdatedReplicas: 0, Replicas: 2, AvailableReplicas: 2}, paused),
			`Waiting for deployment "carts" rollout to finish: 0 out of 2 new replicas have been updated...`, false, `deployment "carts" is paused`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, done, err := DeploymentStatus(tt.d)
			checkStatus(t, msg, done, err, tt.wantMsg, tt.wantDone, tt.wantErr)
		})
	}
}

func checkStatus(t *testing.T, msg string, done bool, err error, wantMsg string, wantDone bool, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want one containing %q", err, wantErr)
		}
		if fail.HintOf(err) == "" {
			t.Errorf("err %q has no hint", err)
		}
	} else if err != nil {
		t.Fatalf("unexpected err: %v", err)
	}
	if msg != wantMsg || done != wantDone {
		t.Errorf("got (%q, %v), want (%q, %v)", msg, done, wantMsg, wantDone)
	}
}

func ds(gen, observed int64, strategy appsv1.DaemonSetUpdateStrategyType, desired, updated, available int32) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Generation: gen},
		Spec:       appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: strategy}},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: observed, DesiredNumberScheduled: desired,
			UpdatedNumberScheduled: updated, NumberAvailable: available},
	}
}

func TestDaemonSetStatus(t *testing.T) {
	t.Parallel()
	const ru = appsv1.RollingUpdateDaemonSetStrategyType
	tests := []struct {
		name     string
		d        *appsv1.DaemonSet
		wantMsg  string
		wantDone bool
		wantErr  string
	}{
		{"OnDelete is an error", ds(1, 1, appsv1.OnDeleteDaemonSetStrategyType, 3, 3, 3), "", false, "OnDelete update strategy"},
		{"not observed", ds(2, 1, ru, 3, 3, 3), "Waiting for daemon set spec update to be observed...", false, ""},
		{"updating", ds(2, 2, ru, 3, 1, 3), `Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...`, false, ""},
		{"not available", ds(2, 2, ru, 3, 3, 2), `Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...`, false, ""},
		{"complete", ds(2, 2, ru, 3, 3, 3), `daemon set "agent" successfully rolled out`, true, ""},
		{"no nodes", ds(1, 1, ru, 0, 0, 0), `daemon set "agent" successfully rolled out`, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, done, err := DaemonSetStatus(tt.d)
			checkStatus(t, msg, done, err, tt.wantMsg, tt.wantDone, tt.wantErr)
		})
	}
}

func sts(gen, observed int64, replicas *int32, strategy appsv1.StatefulSetUpdateStrategy, st appsv1.StatefulSetStatus) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Generation: gen},
		Spec:       appsv1.StatefulSetSpec{Replicas: replicas, UpdateStrategy: strategy},
		Status:     st,
	}
	s.Status.ObservedGeneration = observed
	return s
}

func TestStatefulSetStatus(t *testing.T) {
	t.Parallel()
	rolling := appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}
	partition := func(p int32) appsv1.StatefulSetUpdateStrategy {
		return appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To(p)}}
	}
	tests := []struct {
		name     string
		s        *appsv1.StatefulSet
		wantMsg  string
		wantDone bool
		wantErr  string
	}{
		{"OnDelete is an error", sts(1, 1, ptr.To[int32](3), appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}, appsv1.StatefulSetStatus{}), "", false, "OnDelete update strategy"},
		{"observed zero", sts(1, 0, ptr.To[int32](3), rolling, appsv1.StatefulSetStatus{}), "Waiting for statefulset spec update to be observed...", false, ""},
		{"not observed", sts(3, 2, ptr.To[int32](3), rolling, appsv1.StatefulSetStatus{ReadyReplicas: 3}), "Waiting for statefulset spec update to be observed...", false, ""},
		{"not ready", sts(3, 3, ptr.To[int32](3), rolling, appsv1.StatefulSetStatus{ReadyReplicas: 1}), "Waiting for 2 pods to be ready...", false, ""},
		{"revisions differ", sts(3, 3, ptr.To[int32](3), rolling, appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "db-a", UpdateRevision: "db-b"}),
			"waiting for statefulset rolling update to complete 1 pods at revision db-b...", false, ""},
		{"complete", sts(3, 3, ptr.To[int32](3), rolling, appsv1.StatefulSetStatus{ReadyReplicas: 3, CurrentReplicas: 3, CurrentRevision: "db-b", UpdateRevision: "db-b"}),
			"statefulset rolling update complete 3 pods at revision db-b...", true, ""},
		{"partition 0 updating", sts(3, 3, ptr.To[int32](3), partition(0), appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 2}),
			"Waiting for partitioned roll out to finish: 2 out of 3 new pods have been updated...", false, ""},
		{"partition 2 of 3 done with one updated", sts(3, 3, ptr.To[int32](3), partition(2), appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 1}),
			"partitioned roll out complete: 1 new pods have been updated...", true, ""},
		{"partition 1 of 3 waits for two", sts(3, 3, ptr.To[int32](3), partition(1), appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 1}),
			"Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...", false, ""},
		{"rollingUpdate without partition is complete", sts(3, 3, ptr.To[int32](3), appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{}}, appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 0}),
			"partitioned roll out complete: 0 new pods have been updated...", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, done, err := StatefulSetStatus(tt.s)
			checkStatus(t, msg, done, err, tt.wantMsg, tt.wantDone, tt.wantErr)
		})
	}
}

func TestRolloutStatusDispatch(t *testing.T) {
	t.Parallel()
	if _, done, err := RolloutStatus(ds(1, 1, appsv1.RollingUpdateDaemonSetStrategyType, 1, 1, 1)); err != nil || !done {
		t.Errorf("daemonset: done=%v err=%v", done, err)
	}
	if _, _, err := RolloutStatus(&appsv1.ReplicaSet{}); err == nil {
		t.Error("replicaset: want an error")
	}
}
