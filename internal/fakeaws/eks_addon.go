package fakeaws

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// AgentAddonName is the add-on that runs the EKS Pod Identity Agent.
const AgentAddonName = "eks-pod-identity-agent"

// Add-on statuses.
const (
	addonCreating     = "CREATING"
	addonActive       = "ACTIVE"
	addonCreateFailed = "CREATE_FAILED"
	addonUpdating     = "UPDATING"
	addonUpdateFailed = "UPDATE_FAILED"
	addonDeleting     = "DELETING"
	addonDeleteFailed = "DELETE_FAILED"
	addonDegraded     = "DEGRADED"
)

const (
	healthPollInterval  = 100 * time.Millisecond // lifecycle: how often AgentHealth is polled
	healthRecheckPeriod = 500 * time.Millisecond // DescribeAddon: at most one AgentHealth per period
)

type addonState struct {
	name, version, arn   string
	config, saRoleArn    string
	tags                 map[string]string
	status               string
	issues               []HealthIssue
	created, modified    time.Time
	gen                  uint64 // bumped whenever a new lifecycle starts
	pinned               bool   // ForceAddonStatus
	healthManaged        bool   // ACTIVE/DEGRADED follow AgentHealth
	lastCheck            time.Time
	checking             bool
	namespace            string
	podIdentityAssocArns []string
}

// catalog of add-ons and versions that DescribeAddonVersions offers.
type catalogAddon struct {
	name, typ, publisher, owner string
	versions                    []catalogVersion
}

type catalogVersion struct {
	version  string
	clusters []string // compatible Kubernetes minors
	defaults []string // minors for which this is the default
}

var addonCatalog = []catalogAddon{
	{name: "coredns", typ: "networking", publisher: "eks", owner: "aws", versions: []catalogVersion{
		{version: "v1.12.4-eksbuild.1", clusters: []string{"1.33", "1.34", "1.35"}, defaults: []string{"1.33", "1.34", "1.35"}},
	}},
	{name: AgentAddonName, typ: "security", publisher: "eks", owner: "aws", versions: []catalogVersion{
		{version: "v1.3.10-eksbuild.1", clusters: []string{"1.32", "1.33", "1.34", "1.35"}, defaults: []string{"1.34", "1.35"}},
		{version: "v1.3.9-eksbuild.1", clusters: []string{"1.31", "1.32", "1.33", "1.34", "1.35"}, defaults: []string{"1.32", "1.33"}},
		{version: "v1.3.8-eksbuild.2", clusters: []string{"1.30", "1.31", "1.32", "1.33", "1.34", "1.35"}, defaults: []string{"1.30", "1.31"}},
	}},
	{name: "kube-proxy", typ: "networking", publisher: "eks", owner: "aws", versions: []catalogVersion{
		{version: "v1.35.0-eksbuild.2", clusters: []string{"1.35"}, defaults: []string{"1.35"}},
		{version: "v1.34.1-eksbuild.2", clusters: []string{"1.34"}, defaults: []string{"1.34"}},
	}},
	{name: "vpc-cni", typ: "networking", publisher: "eks", owner: "aws", versions: []catalogVersion{
		{version: "v1.20.4-eksbuild.1", clusters: []string{"1.32", "1.33", "1.34", "1.35"}, defaults: []string{"1.32", "1.33", "1.34", "1.35"}},
	}},
}

func findCatalog(name string) *catalogAddon {
	for i := range addonCatalog {
		if addonCatalog[i].name == name {
			return &addonCatalog[i]
		}
	}
	return nil
}

// defaultVersion is the default (or else newest compatible) version of a for
// Kubernetes minor k ("" if none).
func (a *catalogAddon) defaultVersion(k string) string {
	first := ""
	for _, v := range a.versions {
		if contains(v.defaults, k) {
			return v.version
		}
		if first == "" && contains(v.clusters, k) {
			first = v.version
		}
	}
	return first
}

func (a *catalogAddon) supports(version, k string) bool {
	for _, v := range a.versions {
		if v.version == version {
			return contains(v.clusters, k)
		}
	}
	return false
}

func contains(list []string, x string) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

// ForceAddonStatus pins an add-on's status (creating the add-on record if
// needed) until the next UpdateAddon or DeleteAddon. Unknown clusters are
// ignored.
func (s *Server) ForceAddonStatus(cluster, addon, status string, issues ...HealthIssue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.clusters[cluster]
	if cs == nil {
		s.logger.Error("fakeaws: ForceAddonStatus on unknown cluster", "cluster", cluster)
		return
	}
	a := cs.addons[addon]
	now := time.Now().UTC()
	if a == nil {
		version := ""
		if cat := findCatalog(addon); cat != nil {
			version = cat.defaultVersion(cs.seed.Version)
		}
		a = &addonState{name: addon, version: version, arn: s.addonArn(cluster, addon), tags: map[string]string{}, created: now}
		cs.addons[addon] = a
	}
	a.gen++
	a.pinned = true
	a.healthManaged = false
	a.status = status
	a.issues = append([]HealthIssue(nil), issues...)
	a.modified = now
}

func (s *Server) addonArn(cluster, addon string) string {
	return fmt.Sprintf("arn:aws:eks:%s:%s:addon/%s/%s/%s", s.opts.Region, s.opts.Account, cluster, addon, newRequestID())
}

// --- add-ons ---

func (s *Server) eksDescribeAddonVersions(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.authorize(r, "eks:DescribeAddonVersions", "*", nil); e != nil {
		return nil, "", e
	}
	k := r.q("kubernetesVersion")
	name := r.q("addonName")
	var infos []map[string]any
	for _, a := range addonCatalog {
		if name != "" && a.name != name {
			continue
		}
		var versions []map[string]any
		for _, v := range a.versions {
			var compat []map[string]any
			for _, c := range v.clusters {
				if k != "" && c != k {
					continue
				}
				compat = append(compat, map[string]any{"clusterVersion": c, "platformVersions": []string{"*"}, "defaultVersion": contains(v.defaults, c)})
			}
			if len(compat) == 0 {
				continue
			}
			versions = append(versions, map[string]any{
				"addonVersion":           v.version,
				"architecture":           []string{"amd64", "arm64"},
				"computeTypes":           []string{"ec2", "hybrid"},
				"compatibilities":        compat,
				"requiresConfiguration":  false,
				"requiresIamPermissions": false,
			})
		}
		if len(versions) == 0 {
			continue
		}
		infos = append(infos, map[string]any{"addonName": a.name, "type": a.typ, "addonVersions": versions, "publisher": a.publisher, "owner": a.owner})
	}
	start, end, next, e := pageParams(r, "", len(infos))
	if e != nil {
		return nil, "", e
	}
	return map[string]any{"addons": append([]map[string]any{}, infos[start:end]...), "nextToken": next}, "", nil
}

func addonJSON(cluster string, a *addonState) map[string]any {
	issues := make([]map[string]any, 0, len(a.issues))
	for _, i := range a.issues {
		ids := i.ResourceIDs
		if ids == nil {
			ids = []string{}
		}
		issues = append(issues, map[string]any{"code": i.Code, "message": i.Message, "resourceIds": ids})
	}
	out := map[string]any{
		"addonName":               a.name,
		"clusterName":             cluster,
		"status":                  a.status,
		"addonVersion":            a.version,
		"health":                  map[string]any{"issues": issues},
		"addonArn":                a.arn,
		"createdAt":               epoch(a.created),
		"modifiedAt":              epoch(a.modified),
		"tags":                    a.tags,
		"podIdentityAssociations": append([]string{}, a.podIdentityAssocArns...),
		"publisher":               "eks",
		"owner":                   "aws",
	}
	if a.saRoleArn != "" {
		out["serviceAccountRoleArn"] = a.saRoleArn
	}
	if a.config != "" {
		out["configurationValues"] = a.config
	}
	if a.namespace != "" {
		out["namespaceConfig"] = map[string]any{"namespace": a.namespace}
	}
	return out
}

// addon authorizes action on the add-on and looks it up.
func (s *Server) addon(r *request, action string) (*clusterState, *addonState, *apiError) {
	clusterName, addonName := r.path[1], r.path[3]
	cs := s.clusters[clusterName]
	var a *addonState
	arn := fmt.Sprintf("arn:aws:eks:%s:%s:addon/%s/%s/*", s.opts.Region, s.opts.Account, clusterName, addonName)
	if cs != nil {
		if a = cs.addons[addonName]; a != nil {
			arn = a.arn
		}
	}
	if e := s.authorize(r, action, arn, nil); e != nil {
		return nil, nil, e
	}
	if cs == nil {
		return nil, nil, clusterNotFound(clusterName)
	}
	if a == nil {
		return nil, nil, &apiError{status: 404, code: "ResourceNotFoundException", message: fmt.Sprintf("No addon: %s found in cluster: %s", addonName, clusterName),
			extra: map[string]any{"clusterName": clusterName, "addonName": addonName}}
	}
	return cs, a, nil
}

type addonInput struct {
	AddonName             *string                     `json:"addonName"`
	AddonVersion          *string                     `json:"addonVersion"`
	ServiceAccountRoleArn *string                     `json:"serviceAccountRoleArn"`
	ResolveConflicts      *string                     `json:"resolveConflicts"`
	ClientRequestToken    *string                     `json:"clientRequestToken"`
	ConfigurationValues   *string                     `json:"configurationValues"`
	Tags                  map[string]string           `json:"tags"`
	PodIdentityAssocs     []json.RawMessage           `json:"podIdentityAssociations"`
	NamespaceConfig       *struct{ Namespace string } `json:"namespaceConfig"`
}

func (s *Server) checkAddonInput(cs *clusterState, name string, in *addonInput) *apiError {
	if in.ResolveConflicts != nil {
		switch *in.ResolveConflicts {
		case "OVERWRITE", "NONE", "PRESERVE":
		default:
			return eksInvalid(cs.seed.Name, "resolveConflicts %q is not valid; use OVERWRITE, NONE or PRESERVE", *in.ResolveConflicts)
		}
	}
	if len(in.PodIdentityAssocs) > 0 {
		return eksInvalid(cs.seed.Name, "fakeaws does not model podIdentityAssociations on add-ons; create them with CreatePodIdentityAssociation")
	}
	if in.ConfigurationValues != nil && strings.HasPrefix(strings.TrimSpace(*in.ConfigurationValues), "{") && !json.Valid([]byte(*in.ConfigurationValues)) {
		return eksInvalid(cs.seed.Name, "ConfigurationValue provided in request is not supported: configurationValues is not valid JSON")
	}
	if in.AddonVersion != nil && *in.AddonVersion != "" {
		cat := findCatalog(name)
		if cat == nil || !cat.supports(*in.AddonVersion, cs.seed.Version) {
			return eksInvalid(cs.seed.Name, "Addon version %s specified is not supported for addon %s on Kubernetes %s", *in.AddonVersion, name, cs.seed.Version)
		}
	}
	return nil
}

func (s *Server) eksCreateAddon(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, e := s.cluster(r, "eks:CreateAddon")
	if e != nil {
		return nil, "", e
	}
	var in addonInput
	if e := decodeBody(r, cs.seed.Name, &in); e != nil {
		return nil, "", e
	}
	if in.AddonName == nil || *in.AddonName == "" {
		return nil, "", eksInvalid(cs.seed.Name, "addonName is required")
	}
	name := *in.AddonName
	cat := findCatalog(name)
	if cat == nil {
		return nil, "", eksInvalid(cs.seed.Name, "Addon %s specified is not supported", name)
	}
	if cs.seed.Status != "ACTIVE" {
		return nil, "", &apiError{status: 400, code: "InvalidRequestException", message: fmt.Sprintf("Cluster %s is in %s state; add-ons can be created on ACTIVE clusters only", cs.seed.Name, cs.seed.Status), extra: map[string]any{"clusterName": cs.seed.Name}}
	}
	now := time.Now().UTC()
	token := str(in.ClientRequestToken)
	if resp, e, seen := cs.replayAddonTokenLocked(token, name, &in, now); seen {
		return resp, "", e
	}
	if cs.addons[name] != nil {
		// Also while the add-on is DELETING: the name is taken until the
		// delete finishes.
		return nil, "", &apiError{status: 409, code: "ResourceInUseException", message: fmt.Sprintf("Addon already exists: %s", name),
			extra: map[string]any{"clusterName": cs.seed.Name, "addonName": name}}
	}
	if e := s.checkAddonInput(cs, name, &in); e != nil {
		return nil, "", e
	}
	if str(in.ResolveConflicts) == resolvePreserve {
		// PRESERVE keeps fields someone changed from the add-on's values;
		// on a creation there is nothing of the add-on's to keep.
		return nil, "", &apiError{status: 400, code: "InvalidParameterException", message: "Resolve conflicts option PRESERVE is not supported for operation CreateAddon",
			extra: map[string]any{"clusterName": cs.seed.Name, "addonName": name}}
	}
	version := cat.defaultVersion(cs.seed.Version)
	if in.AddonVersion != nil && *in.AddonVersion != "" {
		version = *in.AddonVersion
	}
	if version == "" {
		return nil, "", eksInvalid(cs.seed.Name, "Addon %s has no version for Kubernetes %s", name, cs.seed.Version)
	}
	a := &addonState{name: name, version: version, arn: s.addonArn(cs.seed.Name, name), tags: map[string]string{},
		status: addonCreating, created: now, modified: now, gen: 1}
	for k, v := range in.Tags {
		a.tags[k] = v
	}
	if in.ConfigurationValues != nil {
		a.config = *in.ConfigurationValues
	}
	if in.ServiceAccountRoleArn != nil {
		a.saRoleArn = *in.ServiceAccountRoleArn
	}
	if in.NamespaceConfig != nil {
		a.namespace = in.NamespaceConfig.Namespace
	}
	cs.addons[name] = a
	cs.rememberAddonTokenLocked(token, name, &in, a, now)
	s.startAddonLifecycleLocked(cs, a, false, str(in.ResolveConflicts))
	return map[string]any{"addon": addonJSON(cs.seed.Name, a)}, cs.seed.Name + "/" + name, nil
}

func (s *Server) eksDescribeAddon(ctx context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, a, e := s.addon(r, "eks:DescribeAddon")
	if e != nil {
		return nil, "", e
	}
	b := s.opts.Backend
	if b != nil && a.name == AgentAddonName && a.healthManaged && !a.checking && time.Since(a.lastCheck) >= healthRecheckPeriod {
		a.checking = true
		a.lastCheck = time.Now()
		gen := a.gen
		cluster := cs.seed.Name
		s.mu.Unlock()
		h, err := b.AgentHealth(ctx, cluster)
		s.mu.Lock()
		a.checking = false
		if err != nil {
			s.logger.Debug("fakeaws: AgentHealth", "cluster", cluster, "err", err)
		} else if cs.addons[a.name] == a && a.gen == gen && a.healthManaged {
			if h.Ready && a.status != addonActive {
				a.status, a.issues, a.modified = addonActive, nil, time.Now().UTC()
			} else if !h.Ready && a.status != addonDegraded {
				a.status, a.issues, a.modified = addonDegraded, []HealthIssue{replicaIssue(h.Detail)}, time.Now().UTC()
			}
		}
	}
	return map[string]any{"addon": addonJSON(cs.seed.Name, a)}, "", nil
}

func replicaIssue(detail string) HealthIssue {
	if detail == "" {
		detail = "the eks-pod-identity-agent DaemonSet is not ready"
	}
	return HealthIssue{Code: "InsufficientNumberOfReplicas", Message: detail, ResourceIDs: []string{AgentAddonName}}
}

func (s *Server) eksListAddons(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, e := s.cluster(r, "eks:ListAddons")
	if e != nil {
		return nil, "", e
	}
	return pageNames(r, cs.seed.Name, "addons", sortedKeys(cs.addons))
}

func (s *Server) eksUpdateAddon(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, a, e := s.addon(r, "eks:UpdateAddon")
	if e != nil {
		return nil, "", e
	}
	var in addonInput
	if e := decodeBody(r, cs.seed.Name, &in); e != nil {
		return nil, "", e
	}
	switch a.status {
	case addonCreating, addonUpdating, addonDeleting:
		return nil, "", &apiError{status: 400, code: "InvalidRequestException", message: fmt.Sprintf("Addon %s is in %s state; wait until it is ACTIVE, DEGRADED or failed before updating", a.name, a.status),
			extra: map[string]any{"clusterName": cs.seed.Name, "addonName": a.name}}
	}
	if e := s.checkAddonInput(cs, a.name, &in); e != nil {
		return nil, "", e
	}
	var params []map[string]string
	if in.AddonVersion != nil && *in.AddonVersion != "" {
		a.version = *in.AddonVersion
		params = append(params, map[string]string{"type": "AddonVersion", "value": a.version})
	}
	if in.ConfigurationValues != nil {
		a.config = *in.ConfigurationValues
		params = append(params, map[string]string{"type": "ConfigurationValues", "value": a.config})
	}
	if in.ServiceAccountRoleArn != nil {
		a.saRoleArn = *in.ServiceAccountRoleArn
		params = append(params, map[string]string{"type": "ServiceAccountRoleArn", "value": a.saRoleArn})
	}
	if in.ResolveConflicts != nil {
		params = append(params, map[string]string{"type": "ResolveConflicts", "value": *in.ResolveConflicts})
	}
	now := time.Now().UTC()
	a.gen++
	a.pinned, a.healthManaged = false, false
	a.status, a.issues, a.modified = addonUpdating, nil, now
	s.startAddonLifecycleLocked(cs, a, true, str(in.ResolveConflicts))
	if params == nil {
		params = []map[string]string{}
	}
	update := map[string]any{"id": newRequestID(), "status": "InProgress", "type": "AddonUpdate", "params": params, "createdAt": epoch(now), "errors": []any{}}
	return map[string]any{"update": update}, cs.seed.Name + "/" + a.name, nil
}

func (s *Server) eksDeleteAddon(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, a, e := s.addon(r, "eks:DeleteAddon")
	if e != nil {
		return nil, "", e
	}
	if a.status == addonDeleting {
		return map[string]any{"addon": addonJSON(cs.seed.Name, a)}, "", nil
	}
	preserve := r.q("preserve") == "true"
	a.gen++
	gen := a.gen
	a.pinned, a.healthManaged = false, false
	a.status, a.issues, a.modified = addonDeleting, nil, time.Now().UTC()
	out := map[string]any{"addon": addonJSON(cs.seed.Name, a)}
	cluster, b, delay := cs.seed.Name, s.opts.Backend, s.opts.AddonDelay
	s.spawnLocked(func(ctx context.Context) {
		if !sleepCtx(ctx, delay) {
			return
		}
		if b != nil && a.name == AgentAddonName && !preserve {
			if err := b.DeleteAgent(ctx, cluster); err != nil {
				s.logger.Error("fakeaws: DeleteAgent", "cluster", cluster, "err", err)
				s.mu.Lock()
				if a.gen == gen {
					a.status, a.issues = addonDeleteFailed, []HealthIssue{{Code: "InternalFailure", Message: err.Error(), ResourceIDs: []string{AgentAddonName}}}
				}
				s.mu.Unlock()
				return
			}
		}
		s.mu.Lock()
		if cs.addons[a.name] == a && a.gen == gen {
			delete(cs.addons, a.name)
		}
		s.mu.Unlock()
	})
	return out, cluster + "/" + a.name, nil
}

// spawnLocked runs f in a goroutine tracked by Close; s.mu must be held.
func (s *Server) spawnLocked(f func(ctx context.Context)) {
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(s.bg)
	}()
}

// Values of resolveConflicts.
const (
	resolveNone      = "NONE"
	resolveOverwrite = "OVERWRITE"
	resolvePreserve  = "PRESERVE"
)

// SetAddonConflicts records that the cluster's Kubernetes resources of addon
// hold fields with values other than the add-on's, owned by someone else
// (a self-managed install, e.g. the Helm chart, or edits with kubectl), each
// as EKS names it: `DaemonSet.apps eks-pod-identity-agent -
// .spec.template.spec.tolerations`. No fields = no conflicts.
//
// As EKS documents resolveConflicts: a create or update with NONE (the
// default) fails (CREATE_FAILED / UPDATE_FAILED) with a
// ConfigurationConflict health issue listing the fields and changes
// nothing; OVERWRITE replaces them with the add-on's values (the conflicts
// are gone); PRESERVE, on an update only, keeps them (they stay conflicts
// for the next update).
func (s *Server) SetAddonConflicts(cluster, addon string, fields ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.clusters[cluster]
	if cs == nil {
		s.logger.Error("fakeaws: SetAddonConflicts on unknown cluster", "cluster", cluster)
		return
	}
	if cs.conflicts == nil {
		cs.conflicts = map[string][]string{}
	}
	cs.conflicts[addon] = append([]string(nil), fields...)
}

// AddonConflicts returns the conflicting fields SetAddonConflicts recorded
// and no create or update has overwritten.
func (s *Server) AddonConflicts(cluster, addon string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.clusters[cluster]; cs != nil {
		return append([]string(nil), cs.conflicts[addon]...)
	}
	return nil
}

func conflictIssue(fields []string) HealthIssue {
	return HealthIssue{Code: "ConfigurationConflict",
		Message: "Conflicts found when trying to apply. Will not continue due to resolve conflicts mode. Conflicts:\n" + strings.Join(fields, "\n")}
}

// startAddonLifecycleLocked waits AddonDelay, applies the agent through the
// backend and follows its health until ACTIVE or DEGRADED; with conflicting
// fields (SetAddonConflicts) it applies resolveConflicts first. s.mu must
// be held.
func (s *Server) startAddonLifecycleLocked(cs *clusterState, a *addonState, update bool, resolve string) {
	gen := a.gen
	cluster := cs.seed.Name
	spec := AgentSpec{Cluster: cluster, Version: a.version, Configuration: a.config}
	b, delay, timeout := s.opts.Backend, s.opts.AddonDelay, s.opts.AddonReadyTimeout
	var conflicts []string
	switch resolve {
	case resolveOverwrite:
		delete(cs.conflicts, a.name)
	case resolvePreserve:
	default:
		conflicts = append(conflicts, cs.conflicts[a.name]...)
	}
	finish := func(status string, issues []HealthIssue) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if a.gen != gen {
			return
		}
		a.status, a.issues, a.modified = status, issues, time.Now().UTC()
		a.healthManaged = status == addonActive || status == addonDegraded
		a.lastCheck = time.Now()
	}
	s.spawnLocked(func(ctx context.Context) {
		if !sleepCtx(ctx, delay) {
			return
		}
		// What the cluster itself holds (a self-managed agent) conflicts
		// too: NONE fails on it, PRESERVE keeps it, OVERWRITE replaces it.
		if checker, ok := b.(AgentConflictChecker); ok && a.name == AgentAddonName && resolve != resolveOverwrite {
			found, err := checker.AgentConflicts(ctx, spec)
			if err != nil {
				s.logger.Debug("fakeaws: AgentConflicts", "cluster", cluster, "err", err)
			}
			if resolve == resolvePreserve {
				spec.Preserve = found
			} else {
				conflicts = append(conflicts, found...)
			}
		}
		if len(conflicts) > 0 {
			status := addonCreateFailed
			if update {
				status = addonUpdateFailed
			}
			finish(status, []HealthIssue{conflictIssue(conflicts)})
			return
		}
		if b == nil || a.name != AgentAddonName {
			finish(addonActive, nil)
			return
		}
		if err := b.ApplyAgent(ctx, spec); err != nil {
			if ctx.Err() != nil {
				return
			}
			status := addonCreateFailed
			if update {
				status = addonUpdateFailed
			}
			finish(status, []HealthIssue{{Code: "InternalFailure", Message: "apply eks-pod-identity-agent: " + err.Error(), ResourceIDs: []string{AgentAddonName}}})
			return
		}
		deadline := time.Now().Add(timeout)
		for {
			h, err := b.AgentHealth(ctx, cluster)
			if ctx.Err() != nil {
				return
			}
			if err == nil && h.Ready {
				finish(addonActive, nil)
				return
			}
			detail := h.Detail
			if err != nil {
				detail = "agent health unknown: " + err.Error()
			}
			if !time.Now().Before(deadline) {
				finish(addonDegraded, []HealthIssue{replicaIssue(detail)})
				return
			}
			if !sleepCtx(ctx, min(healthPollInterval, time.Until(deadline)+time.Millisecond)) {
				return
			}
		}
	})
}
