package fakeaws

import (
	"context"
	"fmt"
	"sort"
	"time"
)

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

		addonTokens: map[string]*addonToken{},
	}
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
