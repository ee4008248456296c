package lab

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/podid/podid/internal/fakeaws"
)

// Hub connects any number of fakeaws servers to one lab control plane. Each
// fake gets its own Handle (a fakeaws.ClusterBackend). The webhook's
// identities file is the union of the identities of all open handles; the
// agent DaemonSet is deleted only when no open handle still wants it.
type Hub struct {
	client         kubernetes.Interface
	identitiesFile string

	mu      sync.Mutex
	handles map[*Handle]struct{}
}

// NewBackend returns the hub for the lab whose admin client is client and
// whose webhook reads identitiesFile (State.IdentitiesFile).
func NewBackend(client kubernetes.Interface, identitiesFile string) *Hub {
	return &Hub{client: client, identitiesFile: identitiesFile, handles: map[*Handle]struct{}{}}
}

// Handle opens a new backend for one fake server.
func (h *Hub) Handle() *Handle {
	hd := &Handle{hub: h, ids: map[string][]fakeaws.Identity{}, agent: map[string]bool{}}
	h.mu.Lock()
	h.handles[hd] = struct{}{}
	h.mu.Unlock()
	return hd
}

// writeLocked rewrites the identities file from every open handle. h.mu must be held.
func (h *Hub) writeLocked() error {
	var all []fakeaws.Identity
	for hd := range h.handles {
		for _, ids := range hd.ids {
			all = append(all, ids...)
		}
	}
	return writeIdentities(h.identitiesFile, all)
}

// Handle is one fake's view of the lab cluster. It implements fakeaws.ClusterBackend.
type Handle struct {
	hub *Hub
	// guarded by hub.mu
	ids    map[string][]fakeaws.Identity // by EKS cluster name
	agent  map[string]bool               // clusters whose agent add-on this handle has applied
	closed bool
}

var _ fakeaws.ClusterBackend = (*Handle)(nil)

// Close drops the handle's identities from the webhook's file and its claim on
// the agent DaemonSet (the DaemonSet itself stays until DeleteAgent).
func (hd *Handle) Close() error {
	h := hd.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if hd.closed {
		return nil
	}
	hd.closed = true
	delete(h.handles, hd)
	return h.writeLocked()
}

// SetIdentities replaces the handle's identities for cluster.
func (hd *Handle) SetIdentities(_ context.Context, cluster string, ids []fakeaws.Identity) error {
	h := hd.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if hd.closed {
		return fmt.Errorf("set identities of cluster %s: lab backend handle is closed", cluster)
	}
	hd.ids[cluster] = append([]fakeaws.Identity(nil), ids...)
	return h.writeLocked()
}

// ApplyAgent creates or updates kube-system/eks-pod-identity-agent.
func (hd *Handle) ApplyAgent(ctx context.Context, spec fakeaws.AgentSpec) error {
	ds, err := AgentDaemonSet(spec.Cluster, spec.Version, spec.Configuration)
	if err != nil {
		return err
	}
	h := hd.hub
	h.mu.Lock()
	hd.agent[spec.Cluster] = true
	h.mu.Unlock()
	api := h.client.AppsV1().DaemonSets(AgentNamespace)
	old, err := api.Get(ctx, AgentName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, ds, metav1.CreateOptions{FieldManager: "eks"})
		if apierrors.IsAlreadyExists(err) {
			return hd.ApplyAgent(ctx, spec) // raced with another handle: update instead
		}
	case err == nil:
		// resolveConflicts PRESERVE keeps the self-managed values.
		preserveFields(ds, old, spec.Preserve)
		ds.ResourceVersion = old.ResourceVersion
		_, err = api.Update(ctx, ds, metav1.UpdateOptions{FieldManager: "eks"})
		if apierrors.IsConflict(err) {
			return hd.ApplyAgent(ctx, spec)
		}
	}
	if err != nil {
		return fmt.Errorf("apply DaemonSet %s/%s: %w", AgentNamespace, AgentName, err)
	}
	return nil
}

// DeleteAgent deletes the agent DaemonSet unless another open handle still
// has the add-on installed.
func (hd *Handle) DeleteAgent(ctx context.Context, cluster string) error {
	h := hd.hub
	h.mu.Lock()
	delete(hd.agent, cluster)
	others := false
	for o := range h.handles {
		if o != hd && len(o.agent) > 0 {
			others = true
		}
	}
	h.mu.Unlock()
	if others {
		return nil
	}
	bg := metav1.DeletePropagationBackground
	err := h.client.AppsV1().DaemonSets(AgentNamespace).Delete(ctx, AgentName, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete DaemonSet %s/%s: %w", AgentNamespace, AgentName, err)
	}
	return nil
}

// AgentHealth reports whether the agent DaemonSet is rolled out (kubectl's
// rules) and ready on every node it should run on.
func (hd *Handle) AgentHealth(ctx context.Context, cluster string) (fakeaws.AgentHealth, error) {
	return agentHealth(ctx, hd.hub.client)
}

func agentHealth(ctx context.Context, client kubernetes.Interface) (fakeaws.AgentHealth, error) {
	ds, err := client.AppsV1().DaemonSets(AgentNamespace).Get(ctx, AgentName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fakeaws.AgentHealth{Detail: fmt.Sprintf("DaemonSet %s/%s not found", AgentNamespace, AgentName)}, nil
	}
	if err != nil {
		return fakeaws.AgentHealth{}, fmt.Errorf("get DaemonSet %s/%s: %w", AgentNamespace, AgentName, err)
	}
	rolled, why := daemonSetRolledOut(ds)
	st := ds.Status
	ready := rolled && st.DesiredNumberScheduled > 0 && st.NumberReady == st.DesiredNumberScheduled
	if ready {
		return fakeaws.AgentHealth{Ready: true}, nil
	}
	missing, err := nodesWithoutReadyAgent(ctx, client, ds)
	if err != nil {
		return fakeaws.AgentHealth{}, err
	}
	detail := fmt.Sprintf("%d of %d pods ready", st.NumberReady, st.DesiredNumberScheduled)
	if st.DesiredNumberScheduled == 0 {
		detail = "no node runs an agent pod (0 desired)"
	}
	if why != "" {
		detail += "; " + why
	}
	if len(missing) > 0 {
		detail += "; no ready agent pod on " + strings.Join(missing, ", ")
	}
	return fakeaws.AgentHealth{Detail: detail}, nil
}

// nodesWithoutReadyAgent names the eligible nodes that lack a ready agent pod.
func nodesWithoutReadyAgent(ctx context.Context, client kubernetes.Interface, ds *appsv1.DaemonSet) ([]string, error) {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	sel := labels.SelectorFromSet(ds.Spec.Selector.MatchLabels)
	pods, err := client.CoreV1().Pods(AgentNamespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list agent pods in %s: %w", AgentNamespace, err)
	}
	readyOn := map[string]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp == nil && podReady(p) {
			readyOn[p.Spec.NodeName] = true
		}
	}
	var missing []string
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if agentEligible(n) && !readyOn[n.Name] {
			missing = append(missing, n.Name)
		}
	}
	sort.Strings(missing)
	return missing, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
