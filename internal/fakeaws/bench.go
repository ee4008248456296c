package fakeaws

import "time"

// AddonActiveAt returns when the add-on last switched to ACTIVE inside the
// fake (its modifiedAt, kept with sub-second precision), or the zero time
// when the cluster or add-on is unknown or the add-on is not ACTIVE now.
// Benchmarks use it as the start of a wait's notice latency: the moment a
// poller could first have seen ACTIVE.
func (s *Server) AddonActiveAt(cluster, addon string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.clusters[cluster]
	if cs == nil {
		return time.Time{}
	}
	a := cs.addons[addon]
	if a == nil || a.status != addonActive {
		return time.Time{}
	}
	return a.modified
}
