package diagnose

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/podidentity"
)

// ActionAssumeRoleForPodIdentity is what the agent calls with the node's
// credentials; the node role must allow it.
const ActionAssumeRoleForPodIdentity = "eks-auth:AssumeRoleForPodIdentity"

// AddonInfo is the agent add-on as DescribeAddon reports it.
type AddonInfo struct {
	Installed      bool     `json:"installed"`
	Status         string   `json:"status,omitempty"`
	Version        string   `json:"version,omitempty"`
	DefaultVersion string   `json:"defaultVersion,omitempty"` // for the cluster's Kubernetes version
	HealthIssues   []string `json:"healthIssues,omitempty"`
}

// NodeGap is a node and why it matters.
type NodeGap struct {
	Node   string `json:"node"`
	Reason string `json:"reason"`
}

// AgentInfo is the agent DaemonSet's coverage.
type AgentInfo struct {
	Found      bool      `json:"found"`
	Summary    string    `json:"summary"`
	Eligible   []string  `json:"eligible"`
	Missing    []NodeGap `json:"missing,omitempty"`
	Ineligible []NodeGap `json:"ineligible,omitempty"`
	BuiltIn    []string  `json:"builtIn,omitempty"` // EKS Auto Mode nodes: the agent is built in
}

// NodeRoleInfo is a managed node group's role and whether it lets the agent
// call eks-auth:AssumeRoleForPodIdentity.
type NodeRoleInfo struct {
	Nodegroup string `json:"nodegroup"`
	Role      string `json:"role"`
	Decision  string `json:"decision"` // allowed, implicitDeny, explicitDeny, or "unknown: …"
}

func gaps(in []kube.NodeGap) []NodeGap {
	out := make([]NodeGap, 0, len(in))
	for _, g := range in {
		out = append(out, NodeGap{Node: g.Node, Reason: g.Reason})
	}
	return out
}

func checkCluster(r *Report, o Options) {
	c := o.Cluster
	if err := podidentity.SupportsPodIdentity(c.Version, c.PlatformVersion); err != nil {
		r.add(AreaCluster, Error, fail.HintOf(err), "cluster %s: %v", c.Name, err)
	} else {
		r.add(AreaCluster, OK, "", "cluster %s: Kubernetes %s (platform %s) supports EKS Pod Identity", c.Name, c.Version, c.PlatformVersion)
	}
}

// checkAutoMode reads the agent's status on an EKS Auto Mode cluster and
// reports autoOnly when every node is an Auto Mode node (the agent is built
// into them: no add-on, no DaemonSet needed). Other nodes of such a cluster
// (managed node groups, self-managed nodes) still need the add-on and its
// DaemonSet. st is the status read (nil when the cluster is not in Auto
// Mode).
func checkAutoMode(ctx context.Context, r *Report, d Deps, o Options) (autoOnly bool, st *kube.AgentStatus, err error) {
	c := o.Cluster
	if !c.AutoMode {
		return false, nil, nil
	}
	got, err := kube.GetAgentStatus(ctx, d.Kube)
	if err != nil {
		return false, nil, err
	}
	if len(got.Eligible) == 0 {
		r.add(AreaCluster, OK, "", "cluster %s uses EKS Auto Mode and its %d %s Auto Mode: the Pod Identity Agent is built in (no add-on, no DaemonSet)",
			c.Name, len(got.BuiltIn), plural(len(got.BuiltIn), "node is", "nodes are"))
		return true, &got, nil
	}
	r.add(AreaCluster, OK, "", "cluster %s uses EKS Auto Mode, but %d %s not Auto Mode (%s): %s the eks-pod-identity-agent add-on and its DaemonSet",
		c.Name, len(got.Eligible), plural(len(got.Eligible), "node is", "nodes are"), strings.Join(got.Eligible, ", "), plural(len(got.Eligible), "it needs", "they need"))
	return false, &got, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func installAgentFix(c podidentity.ClusterInfo) string {
	return fmt.Sprintf("podid install-agent --cluster %s", c.Name)
}

func checkAddon(ctx context.Context, r *Report, d Deps, o Options) error {
	c := o.Cluster
	name := podidentity.AgentAddonName
	out, err := d.EKS.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String(c.Name), AddonName: aws.String(name)})
	var nf *ekstypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		r.Addon = &AddonInfo{}
		who := "no pod"
		if c.AutoMode {
			who = "no pod outside the Auto Mode nodes"
		}
		r.add(AreaAddon, Error, installAgentFix(c), "add-on %s is not installed on cluster %s: %s can get Pod Identity credentials", name, c.Name, who)
		return nil
	}
	if err != nil {
		return awsapi.Explain(err, "describe add-on", fmt.Sprintf("%s on cluster %s", name, c.Name))
	}
	a := out.Addon
	info := &AddonInfo{Installed: true, Status: string(a.Status), Version: aws.ToString(a.AddonVersion)}
	if a.Health != nil {
		for _, h := range a.Health.Issues {
			info.HealthIssues = append(info.HealthIssues, podidentity.FormatAddonIssue(h))
		}
	}
	r.Addon = info
	switch a.Status {
	case ekstypes.AddonStatusActive:
		r.add(AreaAddon, OK, "", "add-on %s %s is ACTIVE", name, info.Version)
	case ekstypes.AddonStatusCreating, ekstypes.AddonStatusUpdating:
		r.add(AreaAddon, Warn, "wait for it: "+installAgentFix(c)+" waits until it is ACTIVE and its DaemonSet is ready",
			"add-on %s %s is %s", name, info.Version, a.Status)
	default:
		msg := fmt.Sprintf("add-on %s %s is %s", name, info.Version, a.Status)
		if len(info.HealthIssues) > 0 {
			msg += ": " + strings.Join(info.HealthIssues, "; ")
		}
		fix := podidentity.AddonFix(c.Name, c.Region, a)
		if a.Status == ekstypes.AddonStatusDeleting {
			fix = fmt.Sprintf("wait for the deletion (aws eks wait addon-deleted --cluster-name %s --addon-name %s), then %s", c.Name, name, installAgentFix(c))
		}
		r.add(AreaAddon, Error, fix, "%s", msg)
	}

	def, err := defaultAddonVersion(ctx, d.EKS, c.Version)
	if err != nil {
		return err
	}
	info.DefaultVersion = def
	if def != "" && compareVersions(def, info.Version) > 0 {
		r.add(AreaAddon, Warn,
			fmt.Sprintf("aws eks update-addon --cluster-name %s --addon-name %s --addon-version %s", c.Name, name, def),
			"add-on %s %s is older than the default version %s for Kubernetes %s", name, info.Version, def, c.Version)
	}
	return nil
}

// defaultAddonVersion is the agent add-on's default version for Kubernetes
// version k ("" if EKS names none).
func defaultAddonVersion(ctx context.Context, api EKSAPI, k string) (string, error) {
	p := eks.NewDescribeAddonVersionsPaginator(api, &eks.DescribeAddonVersionsInput{
		AddonName: aws.String(podidentity.AgentAddonName), KubernetesVersion: aws.String(k)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", awsapi.Explain(err, "describe add-on versions", fmt.Sprintf("of %s for Kubernetes %s", podidentity.AgentAddonName, k))
		}
		for _, a := range page.Addons {
			for _, v := range a.AddonVersions {
				for _, cp := range v.Compatibilities {
					if aws.ToString(cp.ClusterVersion) == k && cp.DefaultVersion {
						return aws.ToString(v.AddonVersion), nil
					}
				}
			}
		}
	}
	return "", nil
}

// compareVersions compares add-on versions such as v1.3.10-eksbuild.1 by
// their numbers in order (1,3,10,1): -1, 0 or +1.
func compareVersions(a, b string) int {
	na, nb := versionNumbers(a), versionNumbers(b)
	for i := 0; i < max(len(na), len(nb)); i++ {
		var x, y int
		if i < len(na) {
			x = na[i]
		}
		if i < len(nb) {
			y = nb[i]
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

func versionNumbers(v string) []int {
	var out []int
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r < '0' || r > '9' }) {
		n, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		out = append(out, n)
	}
	return out
}

// checkAgent checks the agent DaemonSet's coverage; read is the status
// already read (nil = read it).
func checkAgent(ctx context.Context, r *Report, d Deps, o Options, read *kube.AgentStatus) (*kube.AgentStatus, error) {
	var st kube.AgentStatus
	if read != nil {
		st = *read
	} else {
		var err error
		if st, err = kube.GetAgentStatus(ctx, d.Kube); err != nil {
			return nil, err
		}
	}
	r.Agent = &AgentInfo{Found: st.Found, Summary: st.Summary(), Eligible: st.Eligible, Missing: gaps(st.Missing), Ineligible: gaps(st.Ineligible), BuiltIn: st.BuiltIn}
	if r.Agent.Eligible == nil {
		r.Agent.Eligible = []string{}
	}
	inspect := fmt.Sprintf("kubectl -n %s get pods -l %s -o wide", kube.AgentNamespace, kube.AgentPodLabel)
	switch {
	case !st.Found:
		r.add(AreaAgent, Error, installAgentFix(o.Cluster), "daemonset %s/%s does not exist: no node runs the Pod Identity Agent", kube.AgentNamespace, kube.AgentName)
	case st.OK():
		r.add(AreaAgent, OK, "", "agent ready on %d of %d eligible nodes", len(st.Eligible), len(st.Eligible))
	default:
		for _, g := range st.Missing {
			r.add(AreaAgent, Error, fmt.Sprintf("inspect the agent pods (%s) and `kubectl describe node %s`", inspect, g.Node),
				"node %s has no ready agent pod (%s): pods there cannot get Pod Identity credentials", g.Node, g.Reason)
		}
		if len(st.Missing) == 0 {
			r.add(AreaAgent, Warn, fmt.Sprintf("check `kubectl -n %s rollout status daemonset %s`", kube.AgentNamespace, kube.AgentName),
				"daemonset %s/%s: %s", kube.AgentNamespace, kube.AgentName, st.Summary())
		}
	}
	if len(st.Ineligible) > 0 && !o.Scoped() {
		var names []string
		for _, g := range st.Ineligible {
			names = append(names, fmt.Sprintf("%s (%s)", g.Node, g.Reason))
		}
		r.add(AreaAgent, OK, "", "%d nodes are not served by the agent: %s; pods scheduled there get no Pod Identity credentials", len(names), strings.Join(names, ", "))
	}
	if len(st.BuiltIn) > 0 && !o.Scoped() {
		r.add(AreaAgent, OK, "", "%d EKS Auto Mode %s the agent built in: %s", len(st.BuiltIn), plural(len(st.BuiltIn), "node has", "nodes have"), strings.Join(st.BuiltIn, ", "))
	}
	return &st, nil
}

func checkNodeRoles(ctx context.Context, r *Report, d Deps, o Options) error {
	c := o.Cluster
	var groups []string
	p := eks.NewListNodegroupsPaginator(d.EKS, &eks.ListNodegroupsInput{ClusterName: aws.String(c.Name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return awsapi.Explain(err, "list node groups", "of cluster "+c.Name)
		}
		groups = append(groups, page.Nodegroups...)
	}
	if len(groups) == 0 {
		r.add(AreaNodeRole, OK, "", "cluster %s has no managed node groups (roles of self-managed nodes are not checked)", c.Name)
		return nil
	}
	sort.Strings(groups)
	decided := map[string]string{} // role ARN → decision
	for _, g := range groups {
		out, err := d.EKS.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(c.Name), NodegroupName: aws.String(g)})
		if err != nil {
			return awsapi.Explain(err, "describe node group", fmt.Sprintf("%s of cluster %s", g, c.Name))
		}
		roleArn := aws.ToString(out.Nodegroup.NodeRole)
		dec, ok := decided[roleArn]
		if !ok {
			dec, err = simulateNodeRole(ctx, d.IAM, roleArn, c.Arn)
			if err != nil {
				return err
			}
			decided[roleArn] = dec
		}
		r.NodeRoles = append(r.NodeRoles, NodeRoleInfo{Nodegroup: g, Role: roleArn, Decision: dec})
		name := podidentity.RoleNameOf(roleArn)
		switch {
		case dec == string(iamtypes.PolicyEvaluationDecisionTypeAllowed):
			r.add(AreaNodeRole, OK, "", "node group %s: role %s allows %s", g, name, ActionAssumeRoleForPodIdentity)
		case strings.HasPrefix(dec, "unknown"):
			r.add(AreaNodeRole, Warn, "grant the caller iam:SimulatePrincipalPolicy, or check the role's policies by hand",
				"node group %s: cannot tell whether role %s allows %s (%s)", g, name, ActionAssumeRoleForPodIdentity, dec)
		default:
			r.add(AreaNodeRole, Error,
				fmt.Sprintf("aws iam attach-role-policy --role-name %s --policy-arn arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy (it allows %s)", name, ActionAssumeRoleForPodIdentity),
				"node group %s: role %s does not allow %s (%s): the agent on its nodes cannot get credentials for any pod", g, name, ActionAssumeRoleForPodIdentity, dec)
		}
	}
	return nil
}

// simulateNodeRole asks IAM whether roleArn may call
// eks-auth:AssumeRoleForPodIdentity on the cluster. An access-denied
// simulation is reported as "unknown: …", not as an error.
func simulateNodeRole(ctx context.Context, api IAMAPI, roleArn, clusterArn string) (string, error) {
	in := &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(roleArn), ActionNames: []string{ActionAssumeRoleForPodIdentity}}
	if clusterArn != "" {
		in.ResourceArns = []string{clusterArn}
	}
	out, err := api.SimulatePrincipalPolicy(ctx, in)
	if awsapi.IsCode(err, "AccessDenied", "AccessDeniedException", "NoSuchEntity") {
		return "unknown: " + awsapi.Explain(err, "simulate policies", "of node role "+roleArn).Error(), nil
	}
	if err != nil {
		return "", awsapi.Explain(err, "simulate policies", "of node role "+roleArn)
	}
	for _, res := range out.EvaluationResults {
		if aws.ToString(res.EvalActionName) == ActionAssumeRoleForPodIdentity {
			return string(res.EvalDecision), nil
		}
	}
	return "unknown: the simulation returned no result", nil
}

// NodeRoleProblems checks, as status does, that the roles of the cluster's
// managed node groups allow eks-auth:AssumeRoleForPodIdentity (the agent's
// call), and returns the findings that are errors: verify uses it, since a
// node role without the permission fails every pod on its nodes although
// the caller's own exchange succeeds.
func NodeRoleProblems(ctx context.Context, d Deps, o Options) ([]Finding, error) {
	var r Report
	if err := checkNodeRoles(ctx, &r, d, o); err != nil {
		return nil, err
	}
	return r.Errors(), nil
}
