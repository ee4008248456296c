package fakeaws

// Admin endpoint
//
// podid-lab runs the fake as a separate process; tests and demos steer it
// over plain HTTP under /_fake/ (no SigV4 header needed, JSON in and out):
//
//	GET  /_fake/audit          accepted mutating calls, oldest first ([]AuditEntry)
//	GET  /_fake/calls          {"eks:DescribeAddon": 3, …}, failed calls included
//	POST /_fake/calls/reset    clears the call counts
//	GET  /_fake/faults         the faults in effect
//	POST /_fake/faults         replaces the faults; body is Faults, latency and
//	                           iamPropagationDelay in nanoseconds or as a Go
//	                           duration string ("250ms")
//	POST /_fake/addon-status   {"cluster":"c","addon":"eks-pod-identity-agent",
//	                           "status":"DEGRADED","issues":[{"code":…,"message":…}]}
//	POST /_fake/caller-policy  body is the caller's identity policy ("" = allow all)
//	GET  /_fake/rules          {"associationDeleteLag":"3s"}: EKS behaviour knobs
//	POST /_fake/rules          sets them (same body; durations as for faults)
//	GET  /_fake/state          clusters (with add-ons and associations) and roles
//	GET  /_fake/eks-auth       the EKS Auth knobs (EKSAuthOptions; durations in ns)
//	POST /_fake/eks-auth       replaces them, e.g. {"requireLivePod":true}
//	GET  /_fake/eks-auth/exchanges  AssumeRoleForPodIdentity calls ([]Exchange)
//	POST /_fake/role-session   {"role":"r","session":"s","ttl":"1h"} issues
//	                           credentials of a role session (Credentials)
//
// Errors are {"error": "..."} with status 400 (bad request), 404 (unknown
// path) or 405 (wrong method).

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

func adminError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /_fake/audit":
		a := s.Audit()
		if a == nil {
			a = []AuditEntry{}
		}
		writeJSON(w, http.StatusOK, a)
	case "GET /_fake/calls":
		writeJSON(w, http.StatusOK, s.CallCounts())
	case "POST /_fake/calls/reset":
		s.ResetCounts()
		writeJSON(w, http.StatusOK, map[string]string{})
	case "GET /_fake/faults":
		writeJSON(w, http.StatusOK, s.Faults())
	case "POST /_fake/faults":
		f, err := decodeFaults(r.Body)
		if err != nil {
			adminError(w, http.StatusBadRequest, "faults body: %v; send {\"throttleRate\":0.1,\"latency\":\"50ms\",…}", err)
			return
		}
		s.SetFaults(f)
		writeJSON(w, http.StatusOK, f)
	case "POST /_fake/addon-status":
		var in struct {
			Cluster string        `json:"cluster"`
			Addon   string        `json:"addon"`
			Status  string        `json:"status"`
			Issues  []HealthIssue `json:"issues"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Cluster == "" || in.Addon == "" || in.Status == "" {
			adminError(w, http.StatusBadRequest, "addon-status body needs cluster, addon and status (e.g. {\"cluster\":\"c\",\"addon\":\"eks-pod-identity-agent\",\"status\":\"DEGRADED\"}): %v", err)
			return
		}
		s.mu.Lock()
		known := s.clusters[in.Cluster] != nil
		s.mu.Unlock()
		if !known {
			adminError(w, http.StatusNotFound, "cluster %s is not seeded; AddCluster it first", in.Cluster)
			return
		}
		s.ForceAddonStatus(in.Cluster, in.Addon, in.Status, in.Issues...)
		writeJSON(w, http.StatusOK, map[string]string{})
	case "POST /_fake/caller-policy":
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			adminError(w, http.StatusBadRequest, "read caller policy: %v", err)
			return
		}
		if len(b) > 0 {
			if _, err := parsePolicy(string(b)); err != nil {
				adminError(w, http.StatusBadRequest, "caller policy: %v", err)
				return
			}
		}
		s.SetCallerPolicy(string(b))
		writeJSON(w, http.StatusOK, map[string]string{})
	case "GET /_fake/rules":
		s.mu.Lock()
		lag := s.opts.AssociationDeleteLag
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"associationDeleteLag": lag.String()})
	case "POST /_fake/rules":
		var in struct {
			AssociationDeleteLag json.RawMessage `json:"associationDeleteLag"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			adminError(w, http.StatusBadRequest, "rules body: %v; send {\"associationDeleteLag\":\"3s\"}", err)
			return
		}
		lag, err := decodeDuration(in.AssociationDeleteLag)
		if err == nil && lag < 0 {
			err = fmt.Errorf("%v is negative", lag)
		}
		if err != nil {
			adminError(w, http.StatusBadRequest, "associationDeleteLag %v; send a duration such as \"3s\" (0 = none)", err)
			return
		}
		s.SetAssociationDeleteLag(lag)
		writeJSON(w, http.StatusOK, map[string]string{"associationDeleteLag": lag.String()})
	case "GET /_fake/state":
		writeJSON(w, http.StatusOK, s.State())
	case "GET /_fake/eks-auth":
		writeJSON(w, http.StatusOK, s.EKSAuthOptions())
	case "POST /_fake/eks-auth":
		var o EKSAuthOptions
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			adminError(w, http.StatusBadRequest, "eks-auth body: %v; send {\"requireLivePod\":true,\"sessionDuration\":21600000000000,\"sourceArn\":\"cluster\"}", err)
			return
		}
		if o.SourceArn != "" && o.SourceArn != "cluster" && o.SourceArn != "association" {
			adminError(w, http.StatusBadRequest, "eks-auth sourceArn %q: want \"cluster\" or \"association\"", o.SourceArn)
			return
		}
		s.SetEKSAuthOptions(o)
		writeJSON(w, http.StatusOK, s.EKSAuthOptions())
	case "GET /_fake/eks-auth/exchanges":
		x := s.Exchanges()
		if x == nil {
			x = []Exchange{}
		}
		writeJSON(w, http.StatusOK, x)
	case "POST /_fake/role-session":
		var in struct {
			Role    string `json:"role"`
			Session string `json:"session"`
			TTL     string `json:"ttl"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Role == "" || in.Session == "" {
			adminError(w, http.StatusBadRequest, "role-session body needs role and session (e.g. {\"role\":\"eks-workshop-node-role\",\"session\":\"i-1\",\"ttl\":\"1h\"}): %v", err)
			return
		}
		var ttl time.Duration
		if in.TTL != "" {
			d, err := time.ParseDuration(in.TTL)
			if err != nil || d <= 0 {
				adminError(w, http.StatusBadRequest, "role-session ttl %q: want a positive Go duration like \"1h\"", in.TTL)
				return
			}
			ttl = d
		}
		c, err := s.IssueRoleSession(in.Role, in.Session, ttl)
		if err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		writeJSON(w, http.StatusOK, c)
	default:
		adminError(w, http.StatusNotFound, "no admin route %s; see the fakeaws package documentation", route)
	}
}

func decodeFaults(body io.Reader) (Faults, error) {
	var raw struct {
		Faults
		Latency             json.RawMessage `json:"latency"`
		IAMPropagationDelay json.RawMessage `json:"iamPropagationDelay"`
	}
	if err := json.NewDecoder(body).Decode(&raw); err != nil {
		return Faults{}, err
	}
	f := raw.Faults
	for _, d := range []struct {
		name string
		raw  json.RawMessage
		dst  *time.Duration
	}{{"latency", raw.Latency, &f.Latency}, {"iamPropagationDelay", raw.IAMPropagationDelay, &f.IAMPropagationDelay}} {
		v, err := decodeDuration(d.raw)
		if err != nil {
			return Faults{}, fmt.Errorf("%s %v", d.name, err)
		}
		*d.dst = v
	}
	for _, r := range []float64{f.ThrottleRate, f.ServerErrorRate} {
		if r < 0 || r > 1 {
			return Faults{}, fmt.Errorf("rates must be in [0,1], got %v", r)
		}
	}
	if f.IAMPropagationDelay < 0 {
		return Faults{}, fmt.Errorf("iamPropagationDelay must not be negative, got %v", f.IAMPropagationDelay)
	}
	return f, nil
}

// decodeDuration reads a Go duration string ("250ms") or nanoseconds; an
// absent or null value is 0.
func decodeDuration(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q: %v", s, err)
		}
		return d, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("must be nanoseconds or a duration string: %v", err)
	}
	return time.Duration(n), nil
}

// StateSnapshot is what GET /_fake/state returns.
type StateSnapshot struct {
	Clusters []ClusterSnapshot `json:"clusters"`
	Roles    []RoleSnapshot    `json:"roles"`
}

// ClusterSnapshot is one cluster in StateSnapshot.
type ClusterSnapshot struct {
	Name         string                `json:"name"`
	Version      string                `json:"version"`
	Status       string                `json:"status"`
	Addons       []AddonSnapshot       `json:"addons"`
	Associations []AssociationSnapshot `json:"associations"`
	Identities   []Identity            `json:"identities"` // in effect (after propagation)
}

// AddonSnapshot is one add-on in ClusterSnapshot.
type AddonSnapshot struct {
	Name    string        `json:"name"`
	Version string        `json:"version"`
	Status  string        `json:"status"`
	Issues  []HealthIssue `json:"issues,omitempty"`
}

// AssociationSnapshot is one association in ClusterSnapshot.
type AssociationSnapshot struct {
	ID                 string `json:"associationId"`
	Namespace          string `json:"namespace"`
	ServiceAccount     string `json:"serviceAccount"`
	RoleArn            string `json:"roleArn"`
	TargetRoleArn      string `json:"targetRoleArn,omitempty"`
	DisableSessionTags bool   `json:"disableSessionTags"`
}

// RoleSnapshot is one role in StateSnapshot.
type RoleSnapshot struct {
	Name             string            `json:"name"`
	Arn              string            `json:"arn"`
	TrustPolicy      string            `json:"trustPolicy"`
	AttachedPolicies []string          `json:"attachedPolicies"`
	InlinePolicies   map[string]string `json:"inlinePolicies"`
	Boundary         string            `json:"permissionsBoundary,omitempty"`
}

// State returns a snapshot of clusters, add-ons, associations and roles.
func (s *Server) State() StateSnapshot {
	s.mu.Lock()
	out := StateSnapshot{Clusters: []ClusterSnapshot{}, Roles: []RoleSnapshot{}}
	var props []*propagation
	for _, name := range sortedKeys(s.clusters) {
		cs := s.clusters[name]
		c := ClusterSnapshot{Name: name, Version: cs.seed.Version, Status: cs.seed.Status, Addons: []AddonSnapshot{}, Associations: []AssociationSnapshot{}}
		for _, an := range sortedKeys(cs.addons) {
			a := cs.addons[an]
			c.Addons = append(c.Addons, AddonSnapshot{Name: a.name, Version: a.version, Status: a.status, Issues: a.issues})
		}
		for _, a := range cs.assocs {
			c.Associations = append(c.Associations, AssociationSnapshot{ID: a.id, Namespace: a.ns, ServiceAccount: a.sa, RoleArn: a.roleArn, TargetRoleArn: a.targetRoleArn, DisableSessionTags: a.disableSessionTags})
		}
		out.Clusters = append(out.Clusters, c)
		props = append(props, cs.prop)
	}
	for _, k := range sortedKeys(s.roles) {
		r := s.roles[k]
		inline := map[string]string{}
		for n, d := range r.inline {
			inline[n] = d
		}
		out.Roles = append(out.Roles, RoleSnapshot{Name: r.name, Arn: r.arn, TrustPolicy: r.trust, AttachedPolicies: append([]string{}, r.attached...), InlinePolicies: inline, Boundary: r.boundary})
	}
	s.mu.Unlock()
	for i, p := range props {
		p.mu.Lock()
		out.Clusters[i].Identities = append([]Identity{}, p.effective...)
		p.mu.Unlock()
	}
	return out
}
