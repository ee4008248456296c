package fakeaws

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
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

type clusterState struct {
	seed    Cluster
	arn     string
	created time.Time
	addons  map[string]*addonState
	assocs  []*assocState // creation order
	tokens  map[string]*assocState
	prop    *propagation
}

// propagation serializes the snapshots sent to the backend.
type propagation struct {
	mu        sync.Mutex
	seq       uint64 // last scheduled (guarded by Server.mu)
	applied   uint64 // last applied (guarded by mu)
	effective []Identity
}

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

type assocState struct {
	id, arn, ns, sa    string
	roleArn            string
	targetRoleArn      string
	externalID         string
	policy             string
	disableSessionTags bool
	tags               map[string]string
	created, modified  time.Time
	token              string
	tokenParams        string
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

// AddCluster seeds (or re-seeds) a cluster. Re-seeding keeps add-ons and
// associations.
func (s *Server) AddCluster(c Cluster) {
	if c.Status == "" {
		c.Status = "ACTIVE"
	}
	if c.Version == "" {
		c.Version = "1.35"
	}
	if c.PlatformVersion == "" {
		c.PlatformVersion = "eks.1"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.clusters[c.Name]; cs != nil {
		cs.seed = c
		return
	}
	s.clusters[c.Name] = &clusterState{
		seed:    c,
		arn:     fmt.Sprintf("arn:aws:eks:%s:%s:cluster/%s", s.opts.Region, s.opts.Account, c.Name),
		created: time.Now().UTC().Truncate(time.Second),
		addons:  map[string]*addonState{},
		tokens:  map[string]*assocState{},
		prop:    &propagation{},
	}
}

// Identities returns the identities that have taken effect on cluster (the
// last snapshot applied after the propagation delay).
func (s *Server) Identities(cluster string) []Identity {
	s.mu.Lock()
	cs := s.clusters[cluster]
	s.mu.Unlock()
	if cs == nil {
		return nil
	}
	cs.prop.mu.Lock()
	defer cs.prop.mu.Unlock()
	return append([]Identity(nil), cs.prop.effective...)
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

// --- errors ---

func eksInvalid(cluster, format string, args ...any) *apiError {
	e := &apiError{status: 400, code: "InvalidParameterException", message: fmt.Sprintf(format, args...)}
	if cluster != "" {
		e.extra = map[string]any{"clusterName": cluster}
	}
	return e
}

func clusterNotFound(name string) *apiError {
	return &apiError{status: 404, code: "ResourceNotFoundException", message: fmt.Sprintf("No cluster found for name: %s.", name), extra: map[string]any{"clusterName": name}}
}

// --- routing ---

func (s *Server) routeEKS(r *request) (string, handlerFunc) {
	p, m := r.path, r.method
	if len(p) == 2 && p[0] == "addons" && p[1] == "supported-versions" && m == http.MethodGet {
		return "DescribeAddonVersions", s.eksDescribeAddonVersions
	}
	if len(p) == 0 || p[0] != "clusters" {
		return "", nil
	}
	switch {
	case len(p) == 1 && m == http.MethodGet:
		return "ListClusters", s.eksListClusters
	case len(p) == 2 && m == http.MethodGet:
		return "DescribeCluster", s.eksDescribeCluster
	case len(p) == 3 && p[2] == "addons" && m == http.MethodGet:
		return "ListAddons", s.eksListAddons
	case len(p) == 3 && p[2] == "addons" && m == http.MethodPost:
		return "CreateAddon", s.eksCreateAddon
	case len(p) == 4 && p[2] == "addons" && m == http.MethodGet:
		return "DescribeAddon", s.eksDescribeAddon
	case len(p) == 4 && p[2] == "addons" && m == http.MethodDelete:
		return "DeleteAddon", s.eksDeleteAddon
	case len(p) == 5 && p[2] == "addons" && p[4] == "update" && m == http.MethodPost:
		return "UpdateAddon", s.eksUpdateAddon
	case len(p) == 3 && p[2] == "pod-identity-associations" && m == http.MethodGet:
		return "ListPodIdentityAssociations", s.eksListAssociations
	case len(p) == 3 && p[2] == "pod-identity-associations" && m == http.MethodPost:
		return "CreatePodIdentityAssociation", s.eksCreateAssociation
	case len(p) == 4 && p[2] == "pod-identity-associations" && m == http.MethodGet:
		return "DescribePodIdentityAssociation", s.eksDescribeAssociation
	case len(p) == 4 && p[2] == "pod-identity-associations" && m == http.MethodPost:
		return "UpdatePodIdentityAssociation", s.eksUpdateAssociation
	case len(p) == 4 && p[2] == "pod-identity-associations" && m == http.MethodDelete:
		return "DeletePodIdentityAssociation", s.eksDeleteAssociation
	case len(p) == 3 && p[2] == "node-groups" && m == http.MethodGet:
		return "ListNodegroups", s.eksListNodegroups
	case len(p) == 4 && p[2] == "node-groups" && m == http.MethodGet:
		return "DescribeNodegroup", s.eksDescribeNodegroup
	}
	return "", nil
}

func (s *Server) clusterArn(name string) string {
	return fmt.Sprintf("arn:aws:eks:%s:%s:cluster/%s", s.opts.Region, s.opts.Account, name)
}

// cluster authorizes action on the cluster's ARN and looks the cluster up.
// Call with s.mu held.
func (s *Server) cluster(r *request, action string) (*clusterState, *apiError) {
	name := r.path[1]
	if e := s.authorize(r, action, s.clusterArn(name), nil); e != nil {
		return nil, e
	}
	cs := s.clusters[name]
	if cs == nil {
		return nil, clusterNotFound(name)
	}
	return cs, nil
}

// pageParams validates maxResults (1–100) and nextToken for a list of n.
func pageParams(r *request, cluster string, n int) (start, end int, next *string, e *apiError) {
	maxResults := 100
	if v, ok := r.query["maxResults"]; ok && len(v) > 0 {
		m, err := strconv.Atoi(v[0])
		if err != nil || m < 1 || m > 100 {
			return 0, 0, nil, eksInvalid(cluster, "maxResults %s is not valid; it must be between 1 and 100", v[0])
		}
		maxResults = m
	}
	if tok := r.q("nextToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		m, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "offset:"))
		if err != nil || err2 != nil || m < 0 || m > n {
			return 0, 0, nil, eksInvalid(cluster, "nextToken %q is not valid; pass the nextToken of the previous page", tok)
		}
		start = m
	}
	end = min(n, start+maxResults)
	if end < n {
		t := base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end)))
		next = &t
	}
	return start, end, next, nil
}

func decodeBody(r *request, cluster string, v any) *apiError {
	if len(r.body) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return &apiError{status: 400, code: "SerializationException", message: fmt.Sprintf("request body of %s is not valid JSON: %v", r.operation, err)}
	}
	return nil
}

// --- clusters and node groups ---

func (s *Server) eksListClusters(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.authorize(r, "eks:ListClusters", fmt.Sprintf("arn:aws:eks:%s:%s:cluster/*", s.opts.Region, s.opts.Account), nil); e != nil {
		return nil, "", e
	}
	return pageNames(r, "", "clusters", sortedKeys(s.clusters))
}

// pageNames answers a list operation whose result is a list of names under
// key, one page of it.
func pageNames(r *request, cluster, key string, names []string) (any, string, *apiError) {
	start, end, next, e := pageParams(r, cluster, len(names))
	if e != nil {
		return nil, "", e
	}
	return map[string]any{key: append([]string{}, names[start:end]...), "nextToken": next}, "", nil
}

func (s *Server) eksDescribeCluster(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, e := s.cluster(r, "eks:DescribeCluster")
	if e != nil {
		return nil, "", e
	}
	c := cs.seed
	out := map[string]any{
		"name":            c.Name,
		"arn":             cs.arn,
		"createdAt":       epoch(cs.created),
		"version":         c.Version,
		"platformVersion": c.PlatformVersion,
		"status":          c.Status,
		"computeConfig":   map[string]any{"enabled": c.AutoMode},
		"tags":            map[string]string{},
	}
	if c.Endpoint != "" {
		out["endpoint"] = c.Endpoint
	}
	if c.CAData != "" {
		out["certificateAuthority"] = map[string]any{"data": c.CAData}
	}
	return map[string]any{"cluster": out}, "", nil
}

func (s *Server) eksListNodegroups(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, e := s.cluster(r, "eks:ListNodegroups")
	if e != nil {
		return nil, "", e
	}
	var names []string
	for _, ng := range cs.seed.Nodegroups {
		names = append(names, ng.Name)
	}
	sort.Strings(names)
	return pageNames(r, cs.seed.Name, "nodegroups", names)
}

func (s *Server) eksDescribeNodegroup(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := r.path[1]
	ngName := r.path[3]
	arnPrefix := fmt.Sprintf("arn:aws:eks:%s:%s:nodegroup/%s/%s/", s.opts.Region, s.opts.Account, name, ngName)
	if e := s.authorize(r, "eks:DescribeNodegroup", arnPrefix+"*", nil); e != nil {
		return nil, "", e
	}
	cs := s.clusters[name]
	if cs == nil {
		return nil, "", clusterNotFound(name)
	}
	for _, ng := range cs.seed.Nodegroups {
		if ng.Name != ngName {
			continue
		}
		labels := ng.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		return map[string]any{"nodegroup": map[string]any{
			"nodegroupName": ng.Name,
			"nodegroupArn":  arnPrefix + "00000000-0000-0000-0000-" + fmt.Sprintf("%012d", len(ng.Name)),
			"clusterName":   name,
			"version":       cs.seed.Version,
			"status":        "ACTIVE",
			"nodeRole":      ng.NodeRole,
			"labels":        labels,
			"createdAt":     epoch(cs.created),
			"modifiedAt":    epoch(cs.created),
			"tags":          map[string]string{},
		}}, "", nil
	}
	return nil, "", &apiError{status: 404, code: "ResourceNotFoundException", message: fmt.Sprintf("No node group found for name: %s.", ngName),
		extra: map[string]any{"clusterName": name, "nodegroupName": ngName}}
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
	if cs.addons[name] != nil {
		return nil, "", &apiError{status: 409, code: "ResourceInUseException", message: fmt.Sprintf("Addon already exists: %s", name),
			extra: map[string]any{"clusterName": cs.seed.Name, "addonName": name}}
	}
	if e := s.checkAddonInput(cs, name, &in); e != nil {
		return nil, "", e
	}
	version := cat.defaultVersion(cs.seed.Version)
	if in.AddonVersion != nil && *in.AddonVersion != "" {
		version = *in.AddonVersion
	}
	if version == "" {
		return nil, "", eksInvalid(cs.seed.Name, "Addon %s has no version for Kubernetes %s", name, cs.seed.Version)
	}
	now := time.Now().UTC()
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
	s.startAddonLifecycleLocked(cs.seed.Name, a, false)
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
	s.startAddonLifecycleLocked(cs.seed.Name, a, true)
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

// startAddonLifecycleLocked waits AddonDelay, applies the agent through the
// backend and follows its health until ACTIVE or DEGRADED. s.mu must be held.
func (s *Server) startAddonLifecycleLocked(cluster string, a *addonState, update bool) {
	gen := a.gen
	spec := AgentSpec{Cluster: cluster, Version: a.version, Configuration: a.config}
	b, delay, timeout := s.opts.Backend, s.opts.AddonDelay, s.opts.AddonReadyTimeout
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

// --- pod identity associations ---

func newAssociationID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 17)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return "a-" + string(b)
}

func assocJSON(cluster string, a *assocState) map[string]any {
	tags := a.tags
	if tags == nil {
		tags = map[string]string{}
	}
	out := map[string]any{
		"clusterName":        cluster,
		"namespace":          a.ns,
		"serviceAccount":     a.sa,
		"roleArn":            a.roleArn,
		"associationArn":     a.arn,
		"associationId":      a.id,
		"tags":               tags,
		"createdAt":          epoch(a.created),
		"modifiedAt":         epoch(a.modified),
		"disableSessionTags": a.disableSessionTags,
	}
	if a.targetRoleArn != "" {
		out["targetRoleArn"] = a.targetRoleArn
		out["externalId"] = a.externalID
	}
	if a.policy != "" {
		out["policy"] = a.policy
	}
	return out
}

func summaryJSON(cluster string, a *assocState) map[string]any {
	return map[string]any{"clusterName": cluster, "namespace": a.ns, "serviceAccount": a.sa, "associationArn": a.arn, "associationId": a.id}
}

func (cs *clusterState) assoc(id string) *assocState {
	for _, a := range cs.assocs {
		if a.id == id {
			return a
		}
	}
	return nil
}

func (s *Server) assocArn(cluster, id string) string {
	return fmt.Sprintf("arn:aws:eks:%s:%s:podidentityassociation/%s/%s", s.opts.Region, s.opts.Account, cluster, id)
}

// checkRole verifies that roleArn names a role of this account whose trust
// policy lets EKS Pod Identity assume it and tag the session, after
// authorizing iam:PassRole on it.
func (s *Server) checkRole(r *request, cs *clusterState, roleArn string) *apiError {
	if e := s.authorize(r, "iam:PassRole", roleArn, map[string][]string{"iam:PassedToService": {"pods.eks.amazonaws.com"}}); e != nil {
		return e
	}
	role := s.roleByArn(roleArn)
	if role == nil {
		return eksInvalid(cs.seed.Name, "Role provided in the request does not exist")
	}
	doc, err := parsePolicy(role.trust)
	ctx := map[string][]string{"aws:sourceaccount": {s.opts.Account}, "aws:sourcearn": {cs.arn}}
	if err != nil || !trustAllowsPodIdentity(doc, ctx) {
		return eksInvalid(cs.seed.Name, "Trust policy of the role provided is invalid")
	}
	return nil
}

func validRoleArn(arn string) bool {
	_, name, ok := parseRoleArn(arn)
	return ok && name != ""
}

type assocInput struct {
	Namespace          *string           `json:"namespace"`
	ServiceAccount     *string           `json:"serviceAccount"`
	RoleArn            *string           `json:"roleArn"`
	ClientRequestToken *string           `json:"clientRequestToken"`
	Tags               map[string]string `json:"tags"`
	DisableSessionTags *bool             `json:"disableSessionTags"`
	TargetRoleArn      *string           `json:"targetRoleArn"`
	Policy             *string           `json:"policy"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *Server) eksCreateAssociation(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, e := s.cluster(r, "eks:CreatePodIdentityAssociation")
	if e != nil {
		return nil, "", e
	}
	cluster := cs.seed.Name
	var in assocInput
	if e := decodeBody(r, cluster, &in); e != nil {
		return nil, "", e
	}
	for _, req := range []struct {
		name string
		v    *string
	}{{"namespace", in.Namespace}, {"serviceAccount", in.ServiceAccount}, {"roleArn", in.RoleArn}} {
		if str(req.v) == "" {
			return nil, "", eksInvalid(cluster, "%s is required", req.name)
		}
	}
	if !validRoleArn(*in.RoleArn) {
		return nil, "", eksInvalid(cluster, "roleArn %s is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", *in.RoleArn)
	}
	if t := str(in.TargetRoleArn); t != "" && !validRoleArn(t) {
		return nil, "", eksInvalid(cluster, "targetRoleArn %s is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", t)
	}
	disable := in.DisableSessionTags != nil && *in.DisableSessionTags
	if str(in.Policy) != "" && !disable {
		return nil, "", eksInvalid(cluster, "A session policy can only be specified when disableSessionTags is true")
	}
	if str(in.Policy) != "" {
		if _, err := parsePolicy(*in.Policy); err != nil {
			return nil, "", eksInvalid(cluster, "policy is not a valid IAM policy: %v", err)
		}
	}
	params, _ := json.Marshal([]any{*in.Namespace, *in.ServiceAccount, *in.RoleArn, str(in.TargetRoleArn), disable, str(in.Policy), in.Tags})
	token := str(in.ClientRequestToken)
	if prev := cs.tokens[token]; token != "" && prev != nil && cs.assoc(prev.id) == prev {
		if prev.tokenParams == string(params) {
			return map[string]any{"association": assocJSON(cluster, prev)}, "", nil
		}
		return nil, "", eksInvalid(cluster, "clientRequestToken %s was already used with different parameters; use a new token", token)
	}
	if cs.seed.Status != "ACTIVE" {
		return nil, "", &apiError{status: 400, code: "InvalidRequestException", message: fmt.Sprintf("Cluster %s is in %s state", cluster, cs.seed.Status), extra: map[string]any{"clusterName": cluster}}
	}
	for _, a := range cs.assocs {
		if a.ns == *in.Namespace && a.sa == *in.ServiceAccount {
			return nil, "", &apiError{status: 409, code: "ResourceInUseException", message: "Association already exists: " + a.id, extra: map[string]any{"clusterName": cluster}}
		}
	}
	if len(cs.assocs) >= s.maxAssociations {
		return nil, "", &apiError{status: 400, code: "ResourceLimitExceededException", message: fmt.Sprintf("Cluster %s already has the maximum of %d pod identity associations", cluster, s.maxAssociations), extra: map[string]any{"clusterName": cluster}}
	}
	if e := s.checkRole(r, cs, *in.RoleArn); e != nil {
		return nil, "", e
	}
	now := time.Now().UTC()
	id := newAssociationID()
	a := &assocState{id: id, arn: s.assocArn(cluster, id), ns: *in.Namespace, sa: *in.ServiceAccount, roleArn: *in.RoleArn,
		targetRoleArn: str(in.TargetRoleArn), policy: str(in.Policy), disableSessionTags: disable, tags: map[string]string{},
		created: now, modified: now, token: token, tokenParams: string(params)}
	for k, v := range in.Tags {
		a.tags[k] = v
	}
	if a.targetRoleArn != "" {
		a.externalID = newRequestID()
	}
	cs.assocs = append(cs.assocs, a)
	if token != "" {
		cs.tokens[token] = a
	}
	s.schedulePropagationLocked(cs)
	return map[string]any{"association": assocJSON(cluster, a)}, cluster + "/" + id, nil
}

// association authorizes action on the association's ARN and looks it up.
func (s *Server) association(r *request, action string) (*clusterState, *assocState, *apiError) {
	cluster, id := r.path[1], r.path[3]
	if e := s.authorize(r, action, s.assocArn(cluster, id), nil); e != nil {
		return nil, nil, e
	}
	cs := s.clusters[cluster]
	if cs == nil {
		return nil, nil, clusterNotFound(cluster)
	}
	a := cs.assoc(id)
	if a == nil {
		return nil, nil, &apiError{status: 404, code: "ResourceNotFoundException", message: fmt.Sprintf("No association found for id: %s.", id), extra: map[string]any{"clusterName": cluster}}
	}
	return cs, a, nil
}

func (s *Server) eksDescribeAssociation(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, a, e := s.association(r, "eks:DescribePodIdentityAssociation")
	if e != nil {
		return nil, "", e
	}
	return map[string]any{"association": assocJSON(cs.seed.Name, a)}, "", nil
}

func (s *Server) eksListAssociations(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, e := s.cluster(r, "eks:ListPodIdentityAssociations")
	if e != nil {
		return nil, "", e
	}
	ns, sa := r.q("namespace"), r.q("serviceAccount")
	var match []*assocState
	for _, a := range cs.assocs {
		if (ns == "" || a.ns == ns) && (sa == "" || a.sa == sa) {
			match = append(match, a)
		}
	}
	start, end, next, e := pageParams(r, cs.seed.Name, len(match))
	if e != nil {
		return nil, "", e
	}
	out := []map[string]any{}
	for _, a := range match[start:end] {
		out = append(out, summaryJSON(cs.seed.Name, a))
	}
	return map[string]any{"associations": out, "nextToken": next}, "", nil
}

func (s *Server) eksUpdateAssociation(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, a, e := s.association(r, "eks:UpdatePodIdentityAssociation")
	if e != nil {
		return nil, "", e
	}
	cluster := cs.seed.Name
	var in assocInput
	if e := decodeBody(r, cluster, &in); e != nil {
		return nil, "", e
	}
	if in.RoleArn == nil && in.TargetRoleArn == nil && in.DisableSessionTags == nil && in.Policy == nil {
		return nil, "", eksInvalid(cluster, "No changes requested for association %s; set roleArn, targetRoleArn, disableSessionTags or policy", a.id)
	}
	next := *a
	if in.RoleArn != nil {
		if !validRoleArn(*in.RoleArn) {
			return nil, "", eksInvalid(cluster, "roleArn %s is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", *in.RoleArn)
		}
		next.roleArn = *in.RoleArn
	}
	if in.TargetRoleArn != nil {
		if *in.TargetRoleArn != "" && !validRoleArn(*in.TargetRoleArn) {
			return nil, "", eksInvalid(cluster, "targetRoleArn %s is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", *in.TargetRoleArn)
		}
		next.targetRoleArn = *in.TargetRoleArn
	}
	if in.DisableSessionTags != nil {
		next.disableSessionTags = *in.DisableSessionTags
	}
	if in.Policy != nil {
		next.policy = *in.Policy
	}
	if next.policy != "" && !next.disableSessionTags {
		return nil, "", eksInvalid(cluster, "A session policy can only be specified when disableSessionTags is true")
	}
	if in.Policy != nil && next.policy != "" {
		if _, err := parsePolicy(next.policy); err != nil {
			return nil, "", eksInvalid(cluster, "policy is not a valid IAM policy: %v", err)
		}
	}
	if next.roleArn == a.roleArn && next.targetRoleArn == a.targetRoleArn && next.disableSessionTags == a.disableSessionTags && next.policy == a.policy {
		return nil, "", eksInvalid(cluster, "No changes requested for association %s: roleArn, targetRoleArn, disableSessionTags and policy already have the requested values", a.id)
	}
	if in.RoleArn != nil {
		if e := s.checkRole(r, cs, next.roleArn); e != nil {
			return nil, "", e
		}
	}
	switch {
	case next.targetRoleArn == "":
		next.externalID = ""
	case a.externalID == "":
		next.externalID = newRequestID()
	}
	next.modified = time.Now().UTC()
	*a = next
	s.schedulePropagationLocked(cs)
	return map[string]any{"association": assocJSON(cluster, a)}, cluster + "/" + a.id, nil
}

func (s *Server) eksDeleteAssociation(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, a, e := s.association(r, "eks:DeletePodIdentityAssociation")
	if e != nil {
		return nil, "", e
	}
	for i, x := range cs.assocs {
		if x == a {
			cs.assocs = append(cs.assocs[:i:i], cs.assocs[i+1:]...)
			break
		}
	}
	if a.token != "" && cs.tokens[a.token] == a {
		delete(cs.tokens, a.token)
	}
	s.schedulePropagationLocked(cs)
	return map[string]any{"association": assocJSON(cs.seed.Name, a)}, cs.seed.Name + "/" + a.id, nil
}

// identitiesLocked returns the cluster's associations as sorted identities.
func (cs *clusterState) identitiesLocked() []Identity {
	ids := make([]Identity, 0, len(cs.assocs))
	for _, a := range cs.assocs {
		ids = append(ids, Identity{Namespace: a.ns, ServiceAccount: a.sa})
	}
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].Namespace != ids[j].Namespace {
			return ids[i].Namespace < ids[j].Namespace
		}
		return ids[i].ServiceAccount < ids[j].ServiceAccount
	})
	return ids
}

// schedulePropagationLocked snapshots the cluster's identities now and
// hands them to the backend PropagationDelay later. A snapshot is skipped
// when a newer one has already been applied, so the backend never sees an
// older state after a newer one, and never sees a change early.
func (s *Server) schedulePropagationLocked(cs *clusterState) {
	p := cs.prop
	p.seq++
	seq := p.seq
	ids := cs.identitiesLocked()
	cluster, b, delay := cs.seed.Name, s.opts.Backend, s.opts.PropagationDelay
	s.spawnLocked(func(ctx context.Context) {
		if !sleepCtx(ctx, delay) {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if seq <= p.applied {
			return
		}
		if b != nil {
			for attempt := 1; ; attempt++ {
				err := b.SetIdentities(ctx, cluster, ids)
				if err == nil {
					break
				}
				s.logger.Error("fakeaws: SetIdentities", "cluster", cluster, "attempt", attempt, "err", err)
				if attempt >= 5 || !sleepCtx(ctx, 200*time.Millisecond) {
					return
				}
			}
		}
		p.applied = seq
		p.effective = ids
	})
}
