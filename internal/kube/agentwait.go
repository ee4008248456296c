package kube

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/podid/podid/internal/fail"
)

// GetAgentStatus reads the agent DaemonSet, the nodes and the agent pods.
func GetAgentStatus(ctx context.Context, client kubernetes.Interface) (AgentStatus, error) {
	ds, err := client.AppsV1().DaemonSets(AgentNamespace).Get(ctx, AgentName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		ds, err = nil, nil
	}
	if err != nil {
		return AgentStatus{}, fmt.Errorf("get daemonset %s/%s: %w", AgentNamespace, AgentName, err)
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return AgentStatus{}, fmt.Errorf("list nodes: %w", err)
	}
	pods, err := client.CoreV1().Pods(AgentNamespace).List(ctx, metav1.ListOptions{LabelSelector: AgentPodLabel})
	if err != nil {
		return AgentStatus{}, fmt.Errorf("list agent pods in %s: %w", AgentNamespace, err)
	}
	return ComputeAgentStatus(ds, nodes.Items, pods.Items), nil
}

// WaitAgent waits, driven by watches on the agent DaemonSet, its pods and
// the nodes, until the DaemonSet exists, has rolled out (kubectl's rule),
// wants one pod per eligible node and every eligible node has a ready agent
// pod. onProgress (may be nil) receives each new summary. When ctx ends
// first, the error wraps ctx's error and names each node without a ready
// agent pod.
func WaitAgent(ctx context.Context, client kubernetes.Interface, onProgress func(string)) (AgentStatus, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	nodeFactory := informers.NewSharedInformerFactory(client, 0)
	dsFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(AgentNamespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", AgentName).String()
		}))
	podFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(AgentNamespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = AgentPodLabel }))

	nodeInf := nodeFactory.Core().V1().Nodes()
	dsInf := dsFactory.Apps().V1().DaemonSets()
	podInf := podFactory.Core().V1().Pods()

	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	for _, inf := range []cache.SharedIndexInformer{nodeInf.Informer(), dsInf.Informer(), podInf.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return AgentStatus{}, fmt.Errorf("watch the pod identity agent: %w", err)
		}
	}
	for _, f := range []informers.SharedInformerFactory{nodeFactory, dsFactory, podFactory} {
		f.Start(ctx.Done())
	}
	defer func() {
		cancel()
		nodeFactory.Shutdown()
		dsFactory.Shutdown()
		podFactory.Shutdown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), nodeInf.Informer().HasSynced, dsInf.Informer().HasSynced, podInf.Informer().HasSynced) {
		return AgentStatus{}, agentTimeout(ctx.Err(), AgentStatus{}, false)
	}

	var (
		st   AgentStatus
		last string
	)
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return st, agentTimeout(ctx.Err(), st, true)
			case <-changed:
			}
		}
		ds, err := dsInf.Lister().DaemonSets(AgentNamespace).Get(AgentName)
		if apierrors.IsNotFound(err) {
			ds, err = nil, nil
		}
		if err != nil {
			return st, fmt.Errorf("read daemonset %s/%s from cache: %w", AgentNamespace, AgentName, err)
		}
		nodes, err := nodeInf.Lister().List(labels.Everything())
		if err != nil {
			return st, fmt.Errorf("read nodes from cache: %w", err)
		}
		pods, err := podInf.Lister().Pods(AgentNamespace).List(labels.Everything())
		if err != nil {
			return st, fmt.Errorf("read agent pods from cache: %w", err)
		}
		st = ComputeAgentStatus(ds, derefAll(nodes), derefAll(pods))
		if ds != nil {
			if _, _, err := DaemonSetStatus(ds); err != nil {
				return st, err
			}
		}
		if s := st.Summary(); s != last {
			last = s
			if onProgress != nil {
				onProgress(s)
			}
		}
		if st.OK() {
			return st, nil
		}
	}
}

func derefAll[T any](ps []*T) []T {
	out := make([]T, 0, len(ps))
	for _, p := range ps {
		out = append(out, *p)
	}
	return out
}

func agentTimeout(ctxErr error, st AgentStatus, seen bool) error {
	hint := fmt.Sprintf("check `kubectl -n %s get daemonset %s` and `kubectl -n %s get pods -l %s -o wide`, or raise --timeout",
		AgentNamespace, AgentName, AgentNamespace, AgentPodLabel)
	if !seen {
		return fail.WithHint(fmt.Errorf("wait for the pod identity agent: %w (the watches never synced)", ctxErr), hint)
	}
	return fail.WithHint(fmt.Errorf("wait for the pod identity agent: %w: %s", ctxErr, st.Summary()), hint)
}
