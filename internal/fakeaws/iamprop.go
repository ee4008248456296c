package fakeaws

import "time"

// IAM propagation as other services see it
//
// IAM is eventually consistent: "changes that you make in IAM … take time to
// become visible" to other services. A role created a moment ago makes EKS
// answer "Role provided in the request does not exist", and a trust policy
// changed a moment ago still reads as the old one ("Trust policy of the role
// provided is invalid"). With Faults.IAMPropagationDelay > 0 the fake models
// this: a role created or re-trusted through the IAM API is seen by EKS (and
// EKS Auth) only that long after the change. IAM's own reads (GetRole, …)
// see every change at once. Roles seeded with PutRole are the world before
// the test and are visible at once.

// trustVersion is one trust policy of a role and when it was written
// through the API (zero for seeded roles: visible at once).
type trustVersion struct {
	at  time.Time
	doc string
}

// maxTrustVersions bounds a role's trust history; older versions can only
// matter while they are younger than the propagation delay.
const maxTrustVersions = 16

// recordTrustLocked notes that role's trust became doc at at (zero = seeded).
func (r *roleState) recordTrustLocked(doc string, at time.Time) {
	r.trust = doc
	if at.IsZero() {
		r.trustLog = []trustVersion{{doc: doc}}
		return
	}
	r.trustLog = append(r.trustLog, trustVersion{at: at, doc: doc})
	if n := len(r.trustLog); n > maxTrustVersions {
		r.trustLog = append([]trustVersion(nil), r.trustLog[n-maxTrustVersions:]...)
	}
}

// iamPropagationDelayLocked is the delay in effect. s.mu must be held.
func (s *Server) iamPropagationDelayLocked() time.Duration {
	fs := s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.f.IAMPropagationDelay
}

// roleSeenByServiceLocked returns the role with ARN arn as another AWS
// service (EKS, EKS Auth) sees it at now, with the trust policy that service
// sees; ok=false when the role does not exist there yet (or at all). It
// applies Faults.IAMPropagationDelay; without it, it is the role as IAM has
// it. Every service check of a role's existence or trust goes through here.
// s.mu must be held.
func (s *Server) roleSeenByServiceLocked(arn string, now time.Time) (role *roleState, trust string, ok bool) {
	role = s.roleByArn(arn)
	if role == nil {
		return nil, "", false
	}
	delay := s.iamPropagationDelayLocked()
	if delay <= 0 || len(role.trustLog) == 0 {
		return role, role.trust, true
	}
	for i := len(role.trustLog) - 1; i >= 0; i-- {
		v := role.trustLog[i]
		if v.at.IsZero() || !v.at.Add(delay).After(now) {
			return role, v.doc, true
		}
	}
	return nil, "", false // created through the API less than delay ago
}
