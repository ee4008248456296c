package podidentity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/step"
)

// AgentAddonName is the EKS add-on that runs the Pod Identity Agent.
const AgentAddonName = "eks-pod-identity-agent"

// AddonAPI is what the agent add-on step needs from EKS.
type AddonAPI interface {
	DescribeAddon(ctx context.Context, in *eks.DescribeAddonInput, optFns ...func(*eks.Options)) (*eks.DescribeAddonOutput, error)
	CreateAddon(ctx context.Context, in *eks.CreateAddonInput, optFns ...func(*eks.Options)) (*eks.CreateAddonOutput, error)
	UpdateAddon(ctx context.Context, in *eks.UpdateAddonInput, optFns ...func(*eks.Options)) (*eks.UpdateAddonOutput, error)
	DescribeAddonVersions(ctx context.Context, in *eks.DescribeAddonVersionsInput, optFns ...func(*eks.Options)) (*eks.DescribeAddonVersionsOutput, error)
}

// AgentWaiter waits until the agent DaemonSet runs on every eligible node
// (implemented on the Kubernetes side).
type AgentWaiter interface {
	WaitAgent(ctx context.Context, progress step.Progress) error
}

// ParseResolveConflicts parses --resolve-conflicts (overwrite, preserve or
// none, any case) into the EKS value; "" stays "" (not given).
func ParseResolveConflicts(s string) (ekstypes.ResolveConflicts, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return "", nil
	case "overwrite":
		return ekstypes.ResolveConflictsOverwrite, nil
	case "preserve":
		return ekstypes.ResolveConflictsPreserve, nil
	case "none":
		return ekstypes.ResolveConflictsNone, nil
	}
	return "", fail.Usagef("pass --resolve-conflicts overwrite (take the add-on's values), preserve (keep the edited fields; updates only) or none (fail on a conflict)",
		"invalid --resolve-conflicts %q: it must be overwrite, preserve or none", s)
}

// AgentAddon is the install-agent step: the eks-pod-identity-agent add-on
// exists and is ACTIVE, and its DaemonSet is ready.
type AgentAddon struct {
	api     AddonAPI
	agent   AgentWaiter
	cluster ClusterInfo
	opts    AgentAddonOptions
}

// AgentAddonOptions tune the agent add-on step.
type AgentAddonOptions struct {
	// Version pins the add-on version (--addon-version); empty = the default
	// for the cluster's Kubernetes version.
	Version string
	// Poller paces the wait for ACTIVE (zero value = DefaultPoller()).
	Poller Poller
	// ResolveConflicts (--resolve-conflicts; "" = not given) says what EKS
	// does with fields of the agent's resources that someone else owns with
	// other values (a self-managed DaemonSet, kubectl edits): NONE (the
	// default) fails, OVERWRITE takes the add-on's values, PRESERVE keeps
	// them (updates only; a creation uses NONE). Given, it also lets podid
	// update an add-on in UPDATE_FAILED or DEGRADED with it.
	ResolveConflicts ekstypes.ResolveConflicts
}

// NewAgentAddon returns the install-agent step for cluster. agent may be nil
// only where the DaemonSet cannot be checked (then the step says so).
func NewAgentAddon(api AddonAPI, agent AgentWaiter, cluster ClusterInfo, opts AgentAddonOptions) *AgentAddon {
	if opts.Poller.Sleep == nil {
		opts.Poller = DefaultPoller()
	}
	return &AgentAddon{api: api, agent: agent, cluster: cluster, opts: opts}
}

// Name implements step.Step.
func (s *AgentAddon) Name() string { return "install-agent" }

func (s *AgentAddon) describeHint() string {
	return fmt.Sprintf("aws eks describe-addon --cluster-name %s --addon-name %s --region %s", s.cluster.Name, AgentAddonName, s.cluster.Region)
}

// AgentNodeLister is implemented by an AgentWaiter that can name the nodes
// the agent DaemonSet must serve (not EKS Auto Mode, Fargate, hybrid or
// other unsupported nodes).
type AgentNodeLister interface {
	NodesNeedingAgent(ctx context.Context) ([]string, error)
}

// Check implements step.Step. On an EKS Auto Mode cluster the add-on is
// needed only for nodes that are not Auto Mode nodes (managed node groups,
// self-managed nodes): without any, the step is satisfied.
func (s *AgentAddon) Check(ctx context.Context) (step.Plan, error) {
	details := &AddonDetails{Cluster: s.cluster.Name, Addon: AgentAddonName}
	if !s.cluster.AutoMode {
		return s.check(ctx, details)
	}
	details.AutoMode = true
	lister, ok := s.agent.(AgentNodeLister)
	if s.agent == nil || !ok {
		return step.Plan{
			Satisfied: true,
			Summary:   fmt.Sprintf("cluster %s uses EKS Auto Mode: the Pod Identity Agent is built into Auto Mode nodes (other nodes were not checked: no Kubernetes access)", s.cluster.Name),
			Details:   details,
		}, nil
	}
	need, err := lister.NodesNeedingAgent(ctx)
	if err != nil {
		return step.Plan{}, fmt.Errorf("list the nodes of Auto Mode cluster %s: %w", s.cluster.Name, err)
	}
	if len(need) == 0 {
		return step.Plan{
			Satisfied: true,
			Summary:   fmt.Sprintf("cluster %s uses EKS Auto Mode and every node is an Auto Mode node: the Pod Identity Agent is built in, no add-on needed", s.cluster.Name),
			Details:   details,
		}, nil
	}
	details.NodesNeedingAgent = need
	p, err := s.check(ctx, details)
	if err == nil {
		p.Summary += s.autoModeNote(need)
	}
	return p, err
}

// autoModeNote says why an Auto Mode cluster gets the add-on.
func (s *AgentAddon) autoModeNote(need []string) string {
	if len(need) == 0 {
		return ""
	}
	return fmt.Sprintf(" (cluster %s uses EKS Auto Mode, but %d %s not Auto Mode nodes and %s the add-on: %s)", s.cluster.Name,
		len(need), pluralWord(len(need), "node is", "nodes are"), pluralWord(len(need), "needs", "need"), strings.Join(need, ", "))
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (s *AgentAddon) check(ctx context.Context, details *AddonDetails) (step.Plan, error) {
	out, err := s.api.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String(s.cluster.Name), AddonName: aws.String(AgentAddonName)})
	var nf *ekstypes.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		version, why, err := s.chooseVersion(ctx)
		if err != nil {
			return step.Plan{}, err
		}
		details.Action = ActionCreate
		details.AddonVersion = version
		rc, warning := s.createConflicts()
		details.ResolveConflicts = string(rc)
		p := step.Plan{
			Summary: fmt.Sprintf("add-on %s is not installed", AgentAddonName),
			Changes: []string{
				fmt.Sprintf("create add-on %s %s (%s%s)", AgentAddonName, version, why, conflictsNote(rc)),
				"wait until the add-on is ACTIVE and its DaemonSet is ready on every node",
			},
			Details: details,
		}
		if warning != "" {
			p.Warnings = append(p.Warnings, warning)
		}
		return p, nil
	case err != nil:
		return step.Plan{}, awsapi.Explain(err, "describe add-on", fmt.Sprintf("%s on cluster %s", AgentAddonName, s.cluster.Name))
	}
	a := out.Addon
	status := string(a.Status)
	details.Status = status
	details.AddonVersion = aws.ToString(a.AddonVersion)
	var warnings []string
	if s.opts.Version != "" && s.opts.Version != aws.ToString(a.AddonVersion) {
		warnings = append(warnings, fmt.Sprintf("add-on %s is installed at %s, not the requested %s; podid does not change an installed add-on (aws eks update-addon --cluster-name %s --addon-name %s --addon-version %s)",
			AgentAddonName, aws.ToString(a.AddonVersion), s.opts.Version, s.cluster.Name, AgentAddonName, s.opts.Version))
	}
	switch a.Status {
	case ekstypes.AddonStatusActive:
		return step.Plan{Satisfied: true, Summary: fmt.Sprintf("add-on %s %s is ACTIVE", AgentAddonName, aws.ToString(a.AddonVersion)), Warnings: warnings, Details: details}, nil
	case ekstypes.AddonStatusCreating, ekstypes.AddonStatusUpdating:
		details.Action = ActionWait
		return step.Plan{
			Summary:  fmt.Sprintf("add-on %s %s is %s", AgentAddonName, aws.ToString(a.AddonVersion), status),
			Changes:  []string{"wait until the add-on is ACTIVE and its DaemonSet is ready on every node"},
			Warnings: warnings,
			Details:  details,
		}, nil
	case ekstypes.AddonStatusDegraded, ekstypes.AddonStatusUpdateFailed:
		if s.opts.ResolveConflicts == "" {
			return step.Plan{}, s.failedError(a)
		}
		details.Action = ActionUpdate
		details.ResolveConflicts = string(s.opts.ResolveConflicts)
		return step.Plan{
			Summary: fmt.Sprintf("add-on %s %s is %s%s", AgentAddonName, aws.ToString(a.AddonVersion), status, issuesSuffix(a)),
			Changes: []string{
				fmt.Sprintf("update add-on %s %s with resolve conflicts %s", AgentAddonName, aws.ToString(a.AddonVersion), s.opts.ResolveConflicts),
				"wait until the add-on is ACTIVE and its DaemonSet is ready on every node",
			},
			Warnings: warnings,
			Details:  details,
		}, nil
	case ekstypes.AddonStatusCreateFailed:
		return step.Plan{}, s.failedError(a)
	case ekstypes.AddonStatusDeleting:
		// On its way out: wait for the delete, then create it again.
		version, why, err := s.chooseVersion(ctx)
		if err != nil {
			return step.Plan{}, err
		}
		details.Action = ActionCreate
		details.AddonVersion = version
		rc, warning := s.createConflicts()
		details.ResolveConflicts = string(rc)
		if warning != "" {
			warnings = append(warnings, warning)
		}
		return step.Plan{
			Summary: fmt.Sprintf("add-on %s on cluster %s is being deleted (DELETING)", AgentAddonName, s.cluster.Name),
			Changes: []string{
				fmt.Sprintf("wait until the delete of add-on %s is done", AgentAddonName),
				fmt.Sprintf("create add-on %s %s (%s%s)", AgentAddonName, version, why, conflictsNote(rc)),
				"wait until the add-on is ACTIVE and its DaemonSet is ready on every node",
			},
			Warnings: warnings,
			Details:  details,
		}, nil
	default:
		return step.Plan{}, fail.Errorf(s.describeHint(), "add-on %s on cluster %s is %s", AgentAddonName, s.cluster.Name, status)
	}
}

// chooseVersion returns the version to create and why: the pinned one if
// compatible, else the default for the cluster's Kubernetes version.
func (s *AgentAddon) chooseVersion(ctx context.Context) (version, why string, err error) {
	var compatible []string
	def := ""
	p := eks.NewDescribeAddonVersionsPaginator(s.api, &eks.DescribeAddonVersionsInput{
		AddonName: aws.String(AgentAddonName), KubernetesVersion: aws.String(s.cluster.Version)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", "", awsapi.Explain(err, "describe add-on versions", fmt.Sprintf("of %s for Kubernetes %s", AgentAddonName, s.cluster.Version))
		}
		for _, info := range page.Addons {
			if aws.ToString(info.AddonName) != AgentAddonName {
				continue
			}
			for _, v := range info.AddonVersions {
				for _, c := range v.Compatibilities {
					if aws.ToString(c.ClusterVersion) != s.cluster.Version {
						continue
					}
					compatible = append(compatible, aws.ToString(v.AddonVersion))
					if c.DefaultVersion && def == "" {
						def = aws.ToString(v.AddonVersion)
					}
				}
			}
		}
	}
	return selectVersion(s.opts.Version, def, compatible, s.cluster.Version)
}

// selectVersion is the pure part of chooseVersion.
func selectVersion(pinned, def string, compatible []string, k8s string) (version, why string, err error) {
	compatible = slices.Compact(compatible)
	if pinned != "" {
		if slices.Contains(compatible, pinned) {
			return pinned, "pinned with --addon-version", nil
		}
		if len(compatible) == 0 {
			return "", "", fail.Usagef("", "add-on version %s: EKS offers no %s version for Kubernetes %s", pinned, AgentAddonName, k8s)
		}
		return "", "", fail.Usagef("pass one of them with --addon-version, or leave it out for the default",
			"add-on version %s is not compatible with Kubernetes %s; compatible versions: %s", pinned, k8s, strings.Join(compatible, ", "))
	}
	if def != "" {
		return def, "default for Kubernetes " + k8s, nil
	}
	if len(compatible) > 0 {
		return compatible[0], "newest compatible with Kubernetes " + k8s, nil
	}
	return "", "", fail.Errorf("upgrade the cluster to a Kubernetes version that EKS Pod Identity supports",
		"EKS offers no %s version for Kubernetes %s", AgentAddonName, k8s)
}

// createConflicts is the resolveConflicts of a creation as the plan
// records it: "" (sent as NONE) unless --resolve-conflicts says otherwise;
// PRESERVE (which EKS refuses on CreateAddon) becomes NONE, which keeps
// conflicting fields the same way, with a warning.
func (s *AgentAddon) createConflicts() (ekstypes.ResolveConflicts, string) {
	switch s.opts.ResolveConflicts {
	case ekstypes.ResolveConflictsPreserve:
		return ekstypes.ResolveConflictsNone, "--resolve-conflicts preserve applies to updates (EKS refuses it on CreateAddon): the add-on is created with none, which also leaves conflicting fields alone and fails on them"
	}
	return s.opts.ResolveConflicts, ""
}

// conflictsNote is "; conflicts: overwrite" for a plan line when
// --resolve-conflicts was given, else "".
func conflictsNote(rc ekstypes.ResolveConflicts) string {
	if rc == "" {
		return ""
	}
	return "; conflicts: " + strings.ToLower(string(rc))
}

// createResolve is the resolveConflicts CreateAddon sends: NONE unless the
// plan says otherwise (see the comment in Apply).
func createResolve(planned string) ekstypes.ResolveConflicts {
	if planned == "" {
		return ekstypes.ResolveConflictsNone
	}
	return ekstypes.ResolveConflicts(planned)
}

// issuesSuffix is ": CODE: message (resources: …); …" for an add-on's
// health issues, or "".
func issuesSuffix(a *ekstypes.Addon) string {
	if a.Health == nil || len(a.Health.Issues) == 0 {
		return ""
	}
	var parts []string
	for _, i := range a.Health.Issues {
		parts = append(parts, FormatAddonIssue(i))
	}
	return ": " + strings.Join(parts, "; ")
}

// FormatAddonIssue is one health issue: "CODE: message (resources: a, b)",
// the message on one line.
func FormatAddonIssue(i ekstypes.AddonIssue) string {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(aws.ToString(i.Message), "\n", "; ")), " ")
	msg = strings.ReplaceAll(msg, ":;", ":")
	out := fmt.Sprintf("%s: %s", i.Code, msg)
	if len(i.ResourceIds) > 0 {
		out += fmt.Sprintf(" (resources: %s)", strings.Join(i.ResourceIds, ", "))
	}
	return out
}

// AddonFix says how to get the agent add-on a out of a failed or degraded
// status on cluster (in region): the health issues decide. A conflict (a
// self-managed DaemonSet or edited fields) needs a choice of
// --resolve-conflicts; a failed creation cannot be updated, only deleted
// and created again.
func AddonFix(cluster, region string, a *ekstypes.Addon) string {
	conflict := false
	if a.Health != nil {
		for _, i := range a.Health.Issues {
			if i.Code == ekstypes.AddonIssueCodeConfigurationConflict {
				conflict = true
			}
		}
	}
	describe := fmt.Sprintf("aws eks describe-addon --cluster-name %s --addon-name %s --region %s", cluster, AgentAddonName, region)
	podid := fmt.Sprintf("podid install-agent --cluster %s --region %s", cluster, region)
	update := fmt.Sprintf("aws eks update-addon --cluster-name %s --addon-name %s --region %s", cluster, AgentAddonName, region)
	deleteAddon := fmt.Sprintf("aws eks delete-addon --cluster-name %s --addon-name %s --region %s", cluster, AgentAddonName, region)
	switch {
	case a.Status == ekstypes.AddonStatusCreateFailed && conflict:
		return fmt.Sprintf("another eks-pod-identity-agent install (a self-managed DaemonSet, e.g. the Helm chart) owns those fields. "+
			"A failed creation cannot be updated: delete it, keeping the running DaemonSet (%s --preserve), then create it taking the DaemonSet over: %s --resolve-conflicts overwrite; "+
			"or remove the self-managed install first (e.g. helm uninstall) and run %s", deleteAddon, podid, podid)
	case a.Status == ekstypes.AddonStatusCreateFailed:
		return fmt.Sprintf("fix the issues above, delete the failed add-on (%s) and run %s again; details: %s", deleteAddon, podid, describe)
	case conflict:
		return fmt.Sprintf("someone changed those fields of the add-on's resources: %s --resolve-conflicts overwrite puts the add-on's values back, "+
			"--resolve-conflicts preserve keeps the changed ones (same as %s --resolve-conflicts OVERWRITE or PRESERVE)", podid, update)
	case a.Status == ekstypes.AddonStatusDegraded:
		return fmt.Sprintf("the agent DaemonSet is not healthy: inspect it (kubectl -n kube-system get pods -l app.kubernetes.io/name=%s -o wide) and fix what the issues name; EKS marks the add-on ACTIVE once it is healthy. "+
			"To re-apply the add-on: %s --resolve-conflicts overwrite (or %s --resolve-conflicts OVERWRITE); details: %s", AgentAddonName, podid, update, describe)
	}
	return fmt.Sprintf("fix what the issues name, then retry the update: %s --resolve-conflicts overwrite (or %s --resolve-conflicts OVERWRITE); details: %s", podid, update, describe)
}

// failedError explains a failed or degraded add-on with its health issues
// and the way out.
func (s *AgentAddon) failedError(a *ekstypes.Addon) error {
	var b strings.Builder
	fmt.Fprintf(&b, "add-on %s %s on cluster %s is %s", AgentAddonName, aws.ToString(a.AddonVersion), s.cluster.Name, a.Status)
	if a.Health != nil && len(a.Health.Issues) > 0 {
		b.WriteString(":")
		for _, i := range a.Health.Issues {
			fmt.Fprintf(&b, "\n  %s", FormatAddonIssue(i))
		}
	} else {
		b.WriteString(" (EKS reports no health issues)")
	}
	return fail.Errorf(AddonFix(s.cluster.Name, s.cluster.Region, a), "%s", b.String())
}

// Apply implements step.Step: create the add-on if the plan says so, wait
// for ACTIVE, then wait for the DaemonSet.
func (s *AgentAddon) Apply(ctx context.Context, p step.Plan, progress step.Progress) (step.Result, error) {
	planned, _ := p.Details.(*AddonDetails)
	if planned == nil {
		return step.Result{}, fmt.Errorf("install-agent: the plan has no add-on details; run the check first")
	}
	details := *planned
	res := step.Result{Details: &details}
	if details.Action == ActionUpdate {
		_, err := s.api.UpdateAddon(ctx, &eks.UpdateAddonInput{
			ClusterName:      aws.String(s.cluster.Name),
			AddonName:        aws.String(AgentAddonName),
			ResolveConflicts: ekstypes.ResolveConflicts(details.ResolveConflicts),
		})
		if err != nil {
			return res, awsapi.Explain(err, "update add-on", fmt.Sprintf("%s on cluster %s", AgentAddonName, s.cluster.Name))
		}
		res.Changes = append(res.Changes, fmt.Sprintf("updated add-on %s with resolve conflicts %s", AgentAddonName, details.ResolveConflicts))
	}
	if details.Action == ActionCreate {
		version := details.AddonVersion
		// ResolveConflicts NONE unless --resolve-conflicts says otherwise:
		// if someone runs a self-managed eks-pod-identity-agent DaemonSet
		// (Helm chart), OVERWRITE would silently replace its configuration
		// (tolerations, args). With NONE the add-on goes CREATE_FAILED with
		// a ConfigurationConflict health issue, and AddonFix tells the user
		// how to take over deliberately. The client request token is left
		// to the SDK (an idempotency token per call, reused across its
		// retries).
		in := &eks.CreateAddonInput{
			ClusterName:      aws.String(s.cluster.Name),
			AddonName:        aws.String(AgentAddonName),
			AddonVersion:     aws.String(version),
			ResolveConflicts: createResolve(details.ResolveConflicts),
		}
		// A 409 is either another run creating it (fine) or an add-on
		// being deleted (wait, then create): createAddon tells them apart.
		if err := s.createAddon(ctx, in, progress, &res); err != nil {
			return res, err
		}
	}
	a, err := s.waitActive(ctx, progress)
	if err != nil {
		return res, err
	}
	res.Summary = fmt.Sprintf("add-on %s %s is ACTIVE", AgentAddonName, aws.ToString(a.AddonVersion))
	details.Status = string(a.Status)
	details.AddonVersion = aws.ToString(a.AddonVersion)
	if err := s.waitAgent(ctx, progress, &res); err != nil {
		return res, err
	}
	res.Summary += s.autoModeNote(details.NodesNeedingAgent)
	return res, nil
}

// Verify implements step.Verifier: an ACTIVE add-on still needs a ready
// DaemonSet.
func (s *AgentAddon) Verify(ctx context.Context, p step.Plan, progress step.Progress) (step.Result, error) {
	res := step.Result{Summary: p.Summary, Details: p.Details}
	if d, _ := p.Details.(*AddonDetails); s.cluster.AutoMode && (d == nil || len(d.NodesNeedingAgent) == 0) {
		return res, nil
	}
	err := s.waitAgent(ctx, progress, &res)
	return res, err
}

func (s *AgentAddon) waitAgent(ctx context.Context, progress step.Progress, res *step.Result) error {
	if s.agent == nil {
		res.Warnings = append(res.Warnings, "the agent DaemonSet was not checked (no Kubernetes access)")
		return nil
	}
	if progress != nil {
		progress.Waiting("DaemonSet kube-system/eks-pod-identity-agent ready on every node")
	}
	if err := s.agent.WaitAgent(ctx, progress); err != nil {
		return fmt.Errorf("add-on %s is ACTIVE but its DaemonSet is not ready: %w", AgentAddonName, err)
	}
	res.Summary += "; DaemonSet ready"
	return nil
}

// waitActive polls DescribeAddon until ACTIVE, failing at once on a failed
// or degraded status, and naming the last status seen on timeout.
func (s *AgentAddon) waitActive(ctx context.Context, progress step.Progress) (*ekstypes.Addon, error) {
	var last *ekstypes.Addon
	in := &eks.DescribeAddonInput{ClusterName: aws.String(s.cluster.Name), AddonName: aws.String(AgentAddonName)}
	err := s.opts.Poller.Poll(ctx, func(ctx context.Context) (bool, error) {
		out, err := s.api.DescribeAddon(ctx, in)
		if err != nil {
			return false, err
		}
		prev := last
		last = out.Addon
		switch last.Status {
		case ekstypes.AddonStatusActive:
			return true, nil
		case ekstypes.AddonStatusCreateFailed, ekstypes.AddonStatusDegraded, ekstypes.AddonStatusUpdateFailed:
			return false, s.failedError(last)
		case ekstypes.AddonStatusDeleting, ekstypes.AddonStatusDeleteFailed:
			return false, fail.Errorf(s.describeHint(), "add-on %s on cluster %s went %s while podid waited for it", AgentAddonName, s.cluster.Name, last.Status)
		}
		if progress != nil && (prev == nil || prev.Status != last.Status) {
			progress.Waiting(fmt.Sprintf("add-on %s %s", AgentAddonName, last.Status))
		}
		return false, nil
	})
	if err == nil {
		return last, nil
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		seen := "no answer yet"
		if last != nil {
			seen = "last status " + string(last.Status)
		}
		return last, &fail.Error{Kind: fail.KindOf(ctx.Err()), Err: fmt.Errorf("add-on %s on cluster %s is not ACTIVE yet (%s): %w", AgentAddonName, s.cluster.Name, seen, ctx.Err()),
			Hint: "raise --timeout, or watch it with " + s.describeHint()}
	}
	var fe *fail.Error
	if errors.As(err, &fe) {
		return last, err
	}
	return last, awsapi.Explain(err, "describe add-on", fmt.Sprintf("%s on cluster %s", AgentAddonName, s.cluster.Name))
}
