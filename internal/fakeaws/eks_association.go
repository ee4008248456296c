package fakeaws

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
)

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
// authorizing iam:PassRole on it. It sees the role as EKS does: through
// IAM propagation (roleSeenByServiceLocked).
func (s *Server) checkRole(r *request, cs *clusterState, roleArn string) *apiError {
	if e := s.authorize(r, "iam:PassRole", roleArn, map[string][]string{"iam:PassedToService": {"pods.eks.amazonaws.com"}}); e != nil {
		return e
	}
	_, trust, ok := s.roleSeenByServiceLocked(roleArn, time.Now())
	if !ok {
		return eksInvalid(cs.seed.Name, "Role provided in the request does not exist")
	}
	doc, err := parsePolicy(trust)
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
	now := time.Now().UTC()
	if prev := cs.assocTokenLocked(token, now); prev != nil {
		// The original result, even when the association was deleted since.
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
	if d := cs.dyingLocked(*in.Namespace, *in.ServiceAccount, now); d != nil {
		return nil, "", inUseByDying(cluster, d)
	}
	if len(cs.assocs) >= s.maxAssociations {
		return nil, "", &apiError{status: 400, code: "ResourceLimitExceededException", message: fmt.Sprintf("Cluster %s already has the maximum of %d pod identity associations", cluster, s.maxAssociations), extra: map[string]any{"clusterName": cluster}}
	}
	if e := s.checkRole(r, cs, *in.RoleArn); e != nil {
		return nil, "", e
	}
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
	// The token stays: a replay returns this (deleted) association.
	s.startDyingLocked(cs, a, time.Now())
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
