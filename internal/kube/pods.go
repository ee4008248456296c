package kube

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// What the pod identity webhook injects (POD-IDENTITY.md §6).
const (
	EnvFullURI            = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	EnvTokenFile          = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
	FullURIv4             = "http://169.254.170.23/v1/credentials"
	FullURIv6             = "http://[fd00:ec2::23]/v1/credentials"
	TokenVolume           = "eks-pod-identity-token"
	TokenMountPath        = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"
	TokenFile             = TokenMountPath + "/eks-pod-identity-token"
	TokenAudience         = "pods.eks.amazonaws.com"
	PodIdentityLabel      = "eks.amazonaws.com/pod-identity"
	SkipContainersAnnot   = "eks.amazonaws.com/skip-containers"
	IRSARoleAnnotation    = "eks.amazonaws.com/role-arn"
	envIRSARole           = "AWS_ROLE_ARN"
	envIRSATokenFile      = "AWS_WEB_IDENTITY_TOKEN_FILE"
	envStaticKey          = "AWS_ACCESS_KEY_ID"
	deploymentRevisionAnn = "deployment.kubernetes.io/revision"
)

// CurrentPods returns the pods of w's current revision that are not
// terminating, sorted by name, and the number of other (old or terminating)
// pods the workload still owns.
//
//   - Deployment: pods owned by the ReplicaSet whose template equals the
//     Deployment's (ignoring pod-template-hash, as the deployment controller
//     does), falling back to the one carrying the Deployment's revision.
//   - StatefulSet: pods whose controller-revision-hash is status.updateRevision.
//   - DaemonSet: pods whose controller-revision-hash is that of the
//     DaemonSet's newest ControllerRevision.
//
// w is re-read, so pass the Workload from FindWorkloads as it was.
func CurrentPods(ctx context.Context, client kubernetes.Interface, w Workload) (current []corev1.Pod, old int, err error) {
	current, oldPods, err := WorkloadPods(ctx, client, w)
	return current, len(oldPods), err
}

// WorkloadPods is CurrentPods with the other pods listed: old holds the
// pods of w that are terminating or of another revision.
func WorkloadPods(ctx context.Context, client kubernetes.Interface, w Workload) (current, old []corev1.Pod, err error) {
	fresh, err := GetWorkload(ctx, client, w.Namespace, w.Kind, w.Name)
	if err != nil {
		return nil, nil, err
	}
	sel, err := metav1.LabelSelectorAsSelector(fresh.Selector)
	if err != nil {
		return nil, nil, fmt.Errorf("selector of %s in namespace %s: %w", w.Ref(), w.Namespace, err)
	}
	owns, isCurrent, err := revisionOf(ctx, client, fresh)
	if err != nil {
		return nil, nil, err
	}
	pods, err := client.CoreV1().Pods(w.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, nil, fmt.Errorf("list pods of %s in namespace %s: %w", w.Ref(), w.Namespace, err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if !slices.Contains(owns, controllerUID(p)) {
			continue
		}
		if p.DeletionTimestamp == nil && isCurrent(p) {
			current = append(current, *p)
		} else {
			old = append(old, *p)
		}
	}
	sortPods(current)
	sortPods(old)
	return current, old, nil
}

// revisionOf says which pods belong to w (owns: the UIDs of their
// controllers) and which of those are of its current revision.
func revisionOf(ctx context.Context, client kubernetes.Interface, w Workload) (owns []types.UID, isCurrent func(*corev1.Pod) bool, err error) {
	switch o := w.obj.(type) {
	case *appsv1.Deployment:
		rs, err := newReplicaSet(ctx, client, o)
		if err != nil {
			return nil, nil, err
		}
		if rs == nil {
			return nil, nil, fmt.Errorf("deployment %s in namespace %s has no ReplicaSet for its current template yet", o.Name, o.Namespace)
		}
		// Pods belong to ReplicaSets: old ones are those of the
		// deployment's other ReplicaSets.
		rsUIDs, err := replicaSetUIDs(ctx, client, o)
		if err != nil {
			return nil, nil, err
		}
		return rsUIDs, func(p *corev1.Pod) bool { return controllerUID(p) == rs.UID }, nil
	case *appsv1.StatefulSet:
		rev := o.Status.UpdateRevision
		return []types.UID{o.UID}, func(p *corev1.Pod) bool { return rev != "" && p.Labels[appsv1.ControllerRevisionHashLabelKey] == rev }, nil
	case *appsv1.DaemonSet:
		hash, err := daemonSetCurrentHash(ctx, client, o)
		if err != nil {
			return nil, nil, err
		}
		// Older DaemonSets' pods may lack the hash label; the template
		// generation label is the controller's other marker.
		gen := o.Annotations[appsv1.DeprecatedTemplateGeneration]
		return []types.UID{o.UID}, func(p *corev1.Pod) bool {
			if h := p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; hash != "" && h != "" {
				return h == hash
			}
			return gen != "" && p.Labels["pod-template-generation"] == gen
		}, nil
	}
	return nil, nil, fmt.Errorf("workload kind %q is not supported", w.Kind)
}

func sortPods(ps []corev1.Pod) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
}

func controllerUID(obj metav1.Object) types.UID {
	if ref := metav1.GetControllerOf(obj); ref != nil {
		return ref.UID
	}
	return ""
}

func ownedReplicaSets(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment) ([]appsv1.ReplicaSet, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector of deployment %s: %w", d.Name, err)
	}
	list, err := client.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list replicasets of deployment %s in namespace %s: %w", d.Name, d.Namespace, err)
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if controllerUID(&rs) == d.UID {
			out = append(out, rs)
		}
	}
	return out, nil
}

func replicaSetUIDs(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment) ([]types.UID, error) {
	rss, err := ownedReplicaSets(ctx, client, d)
	if err != nil {
		return nil, err
	}
	var uids []types.UID
	for _, rs := range rss {
		uids = append(uids, rs.UID)
	}
	return uids, nil
}

func newReplicaSet(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment) (*appsv1.ReplicaSet, error) {
	rss, err := ownedReplicaSets(ctx, client, d)
	if err != nil {
		return nil, err
	}
	return NewReplicaSet(d, rss), nil
}

// NewReplicaSet picks the deployment's current ReplicaSet from rss: the
// oldest whose pod template equals the deployment's apart from the
// pod-template-hash label, else the one with the deployment's revision
// annotation. It returns nil if none qualifies.
func NewReplicaSet(d *appsv1.Deployment, rss []appsv1.ReplicaSet) *appsv1.ReplicaSet {
	sorted := slices.Clone(rss)
	slices.SortFunc(sorted, func(a, b appsv1.ReplicaSet) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for i := range sorted {
		if templatesEqualIgnoreHash(&sorted[i].Spec.Template, &d.Spec.Template) {
			return &sorted[i]
		}
	}
	if rev := d.Annotations[deploymentRevisionAnn]; rev != "" {
		for i := range sorted {
			if sorted[i].Annotations[deploymentRevisionAnn] == rev {
				return &sorted[i]
			}
		}
	}
	return nil
}

func templatesEqualIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(b.Labels) == 0 {
		b.Labels = nil
	}
	return equality.Semantic.DeepEqual(a, b)
}

// daemonSetCurrentHash is the controller-revision-hash of the DaemonSet's
// newest ControllerRevision ("" if none is found).
func daemonSetCurrentHash(ctx context.Context, client kubernetes.Interface, d *appsv1.DaemonSet) (string, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return "", fmt.Errorf("selector of daemonset %s: %w", d.Name, err)
	}
	list, err := client.AppsV1().ControllerRevisions(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return "", fmt.Errorf("list controller revisions of daemonset %s in namespace %s: %w", d.Name, d.Namespace, err)
	}
	var best *appsv1.ControllerRevision
	for i := range list.Items {
		cr := &list.Items[i]
		if controllerUID(cr) != d.UID {
			continue
		}
		if best == nil || cr.Revision > best.Revision {
			best = cr
		}
	}
	if best == nil {
		return "", nil
	}
	return best.Labels[appsv1.DefaultDaemonSetUniqueLabelKey], nil
}

// Injection is what the pod identity webhook put into one pod.
type Injection struct {
	Pod  string
	Node string

	HasLabel  bool // eks.amazonaws.com/pod-identity: enabled
	HasVolume bool // projected token volume with audience pods.eks.amazonaws.com
	// HasFullURI, HasTokenFile and HasMount hold when every checked
	// container has them.
	HasFullURI   bool
	HasTokenFile bool
	HasMount     bool

	Containers map[string]ContainerInjection // checked containers (skip-containers excluded)
	Skipped    []string                      // containers named in eks.amazonaws.com/skip-containers

	Missing  []string // what is missing, one human-readable item each
	Warnings []string // IRSA env or static keys that take precedence in AWS SDKs
}

// ContainerInjection is one container's share of the injection.
type ContainerInjection struct {
	FullURI   string // value of AWS_CONTAINER_CREDENTIALS_FULL_URI ("" if unset)
	TokenFile string // value of AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
	Mounted   bool   // the token volume is mounted at TokenMountPath
	IRSA      bool   // AWS_ROLE_ARN or AWS_WEB_IDENTITY_TOKEN_FILE set
	StaticKey bool   // AWS_ACCESS_KEY_ID set
}

// Injected reports a complete Pod Identity injection.
func (i Injection) Injected() bool { return len(i.Missing) == 0 }

// Parts lists the parts of the injection present (the label, the token
// volume, and per container the agent variables or the token mount), one
// human-readable item each; empty means none at all.
func (i Injection) Parts() []string {
	var found []string
	if i.HasLabel {
		found = append(found, "label "+PodIdentityLabel+"=enabled")
	}
	if i.HasVolume {
		found = append(found, "volume "+TokenVolume)
	}
	names := make([]string, 0, len(i.Containers))
	for name := range i.Containers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := i.Containers[name]
		if c.FullURI != "" || c.TokenFile != "" || c.Mounted {
			found = append(found, fmt.Sprintf("container %s: %s env or token mount", name, EnvFullURI))
		}
	}
	return found
}

// CheckInjection inspects a pod's spec for the Pod Identity injection: the
// label, the projected token volume, and in every container and init
// container not named in eks.amazonaws.com/skip-containers, the two
// environment variables (IPv4 or IPv6 agent URL) and the read-only mount.
// It also warns about IRSA variables and hand-set static keys, which AWS
// SDKs use before the container credential provider.
func CheckInjection(pod *corev1.Pod) Injection {
	in := Injection{Pod: pod.Name, Node: pod.Spec.NodeName, Containers: map[string]ContainerInjection{}}
	in.HasLabel = pod.Labels[PodIdentityLabel] == "enabled"
	if !in.HasLabel {
		in.Missing = append(in.Missing, "label "+PodIdentityLabel+"=enabled")
	}
	for _, v := range pod.Spec.Volumes {
		if v.Name != TokenVolume || v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil && s.ServiceAccountToken.Audience == TokenAudience {
				in.HasVolume = true
			}
		}
	}
	if !in.HasVolume {
		in.Missing = append(in.Missing, fmt.Sprintf("projected volume %s (service account token for audience %s)", TokenVolume, TokenAudience))
	}
	skip := map[string]bool{}
	for _, name := range strings.Split(pod.Annotations[SkipContainersAnnot], ",") {
		if name = strings.TrimSpace(name); name != "" {
			skip[name] = true
		}
	}
	in.HasFullURI, in.HasTokenFile, in.HasMount = true, true, true
	var irsa, static []string
	check := func(c corev1.Container) {
		if skip[c.Name] {
			in.Skipped = append(in.Skipped, c.Name)
			return
		}
		var ci ContainerInjection
		for _, e := range c.Env {
			switch e.Name {
			case EnvFullURI:
				ci.FullURI = e.Value
			case EnvTokenFile:
				ci.TokenFile = e.Value
			case envIRSARole, envIRSATokenFile:
				ci.IRSA = true
			case envStaticKey:
				ci.StaticKey = true
			}
		}
		for _, m := range c.VolumeMounts {
			if m.Name == TokenVolume && m.MountPath == TokenMountPath {
				ci.Mounted = true
			}
		}
		in.Containers[c.Name] = ci
		if ci.FullURI != FullURIv4 && ci.FullURI != FullURIv6 {
			in.HasFullURI = false
			if ci.FullURI == "" {
				in.Missing = append(in.Missing, fmt.Sprintf("container %s: env %s", c.Name, EnvFullURI))
			} else {
				in.Missing = append(in.Missing, fmt.Sprintf("container %s: env %s is %q, not the agent's %s", c.Name, EnvFullURI, ci.FullURI, FullURIv4))
			}
		}
		if ci.TokenFile != TokenFile {
			in.HasTokenFile = false
			if ci.TokenFile == "" {
				in.Missing = append(in.Missing, fmt.Sprintf("container %s: env %s", c.Name, EnvTokenFile))
			} else {
				in.Missing = append(in.Missing, fmt.Sprintf("container %s: env %s is %q, not %s", c.Name, EnvTokenFile, ci.TokenFile, TokenFile))
			}
		}
		if !ci.Mounted {
			in.HasMount = false
			in.Missing = append(in.Missing, fmt.Sprintf("container %s: mount of volume %s at %s", c.Name, TokenVolume, TokenMountPath))
		}
		if ci.IRSA {
			irsa = append(irsa, c.Name)
		}
		if ci.StaticKey {
			static = append(static, c.Name)
		}
	}
	for _, c := range pod.Spec.InitContainers {
		check(c)
	}
	for _, c := range pod.Spec.Containers {
		check(c)
	}
	if len(irsa) > 0 {
		in.Warnings = append(in.Warnings, fmt.Sprintf("containers %s have IRSA variables (%s, %s): AWS SDKs use them before Pod Identity; remove the %s annotation from the service account and restart",
			strings.Join(irsa, ", "), envIRSARole, envIRSATokenFile, IRSARoleAnnotation))
	}
	if len(static) > 0 {
		in.Warnings = append(in.Warnings, fmt.Sprintf("containers %s set %s: static keys come first in AWS SDKs and hide Pod Identity; remove them",
			strings.Join(static, ", "), envStaticKey))
	}
	return in
}

// PodReady reports a pod that is not terminating and has condition Ready=True.
func PodReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
