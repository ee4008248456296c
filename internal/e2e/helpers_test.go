package e2e

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/kube"
)

// associations returns the fake's associations for ns.
func (w *world) associations(ns string) []fakeaws.AssociationSnapshot {
	var out []fakeaws.AssociationSnapshot
	for _, c := range w.fake.State().Clusters {
		for _, a := range c.Associations {
			if a.Namespace == ns {
				out = append(out, a)
			}
		}
	}
	return out
}

// generation is the Deployment's metadata.generation (it moves on a restart).
func (w *world) generation(t *testing.T) int64 {
	t.Helper()
	d, err := w.env.Client.AppsV1().Deployments(w.app.Namespace).Get(context.Background(), w.app.Deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Generation
}

// injectedPods counts the Deployment's current pods that carry the injection.
func (w *world) injectedPods(t *testing.T) (injected, total int) {
	t.Helper()
	ctx := context.Background()
	wl, err := kube.GetWorkload(ctx, w.env.Client, w.app.Namespace, kube.KindDeployment, w.app.Deployment)
	if err != nil {
		t.Fatal(err)
	}
	pods, _, err := kube.CurrentPods(ctx, w.env.Client, wl)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods {
		if kube.CheckInjection(&pods[i]).Injected() {
			injected++
		}
	}
	return injected, len(pods)
}

func (w *world) auditLen() int { return len(w.fake.Audit()) }
