package fakeaws

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

type clusterState struct {
	seed    Cluster
	arn     string
	created time.Time
	addons  map[string]*addonState
	assocs  []*assocState          // creation order
	tokens  map[string]*assocState // CreatePodIdentityAssociation tokens, kept after a delete
	prop    *propagation
	// conflicts: add-on → fields of its Kubernetes resources someone else
	// owns with other values (SetAddonConflicts).
	conflicts map[string][]string
	// dying are deleted associations that still hold their key
	// (Options.AssociationDeleteLag; eks_idempotency.go).
	dying []dyingAssoc
	// addonTokens are CreateAddon tokens, kept after a delete.
	addonTokens map[string]*addonToken
}

// propagation serializes the snapshots sent to the backend.
type propagation struct {
	mu        sync.Mutex
	seq       uint64 // last scheduled (guarded by Server.mu)
	applied   uint64 // last applied (guarded by mu)
	effective []Identity
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

// pageNames answers a list operation whose result is a list of names under
// key, one page of it.
func pageNames(r *request, cluster, key string, names []string) (any, string, *apiError) {
	start, end, next, e := pageParams(r, cluster, len(names))
	if e != nil {
		return nil, "", e
	}
	return map[string]any{key: append([]string{}, names[start:end]...), "nextToken": next}, "", nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
