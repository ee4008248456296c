package fakeaws

import (
	"encoding/json"
	"fmt"
	"time"
)

// Client request tokens and the delete lag
//
// clientRequestToken (CreatePodIdentityAssociation, CreateAddon) makes a
// create idempotent: the same token with the same parameters returns the
// original result, the same token with other parameters is refused. How
// long EKS remembers a token, and whether it still answers with the
// original after the resource was deleted, is not documented; AWS APIs
// commonly honour a token for hours (EC2: at least 24 hours after the
// request completed). The fake takes the safe assumption: a token is kept
// for idempotencyTTL, also after a delete, so a re-create that replays the
// old token gets the deleted association or add-on back (200), and nothing
// is created. A client must therefore use a fresh token per intended
// creation.
//
// DeletePodIdentityAssociation is eventually consistent
// (aws-controllers-k8s/community#2684): for a while after the delete, reads
// no longer show the association, but a create for the same namespace and
// service account is answered 409 ResourceInUseException "Association
// already exists: <the deleted id>". Options.AssociationDeleteLag (or
// SetAssociationDeleteLag) sets how long; 0 = none.

// idempotencyTTL is how long a clientRequestToken is remembered.
const idempotencyTTL = 24 * time.Hour

// dyingAssoc is a deleted association that still holds its (namespace,
// service account) key.
type dyingAssoc struct {
	ns, sa, id string
	until      time.Time
}

// addonToken is a CreateAddon client request token.
type addonToken struct {
	a      *addonState
	params string
	at     time.Time
}

// SetAssociationDeleteLag sets how long a deleted association keeps its
// (namespace, service account) key: creates for it are answered 409 until
// then. It applies to deletes from now on.
func (s *Server) SetAssociationDeleteLag(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.AssociationDeleteLag = d
}

// assocTokenLocked returns the association created with token, if the
// token is still remembered (the association may be deleted by now).
func (cs *clusterState) assocTokenLocked(token string, now time.Time) *assocState {
	prev := cs.tokens[token]
	if token == "" || prev == nil {
		return nil
	}
	if now.Sub(prev.created) > idempotencyTTL {
		delete(cs.tokens, token)
		return nil
	}
	return prev
}

// startDyingLocked records that a was deleted now; s.mu must be held.
func (s *Server) startDyingLocked(cs *clusterState, a *assocState, now time.Time) {
	if lag := s.opts.AssociationDeleteLag; lag > 0 {
		cs.dying = append(cs.dying, dyingAssoc{ns: a.ns, sa: a.sa, id: a.id, until: now.Add(lag)})
	}
}

// dyingLocked returns the deleted association that still holds ns/sa, if
// any, forgetting those whose lag is over.
func (cs *clusterState) dyingLocked(ns, sa string, now time.Time) *dyingAssoc {
	var found *dyingAssoc
	kept := cs.dying[:0]
	for _, d := range cs.dying {
		if !now.Before(d.until) {
			continue
		}
		kept = append(kept, d)
		if d.ns == ns && d.sa == sa {
			found = &kept[len(kept)-1]
		}
	}
	cs.dying = kept
	return found
}

// addonTokenParams is what a CreateAddon token is bound to.
func addonTokenParams(name string, in *addonInput) string {
	ns := ""
	if in.NamespaceConfig != nil {
		ns = in.NamespaceConfig.Namespace
	}
	b, _ := json.Marshal([]any{name, str(in.AddonVersion), str(in.ServiceAccountRoleArn), str(in.ResolveConflicts), str(in.ConfigurationValues), in.Tags, ns})
	return string(b)
}

// replayAddonTokenLocked answers a CreateAddon whose token was seen before:
// the original add-on (even if deleted since) or a refusal when the
// parameters differ. ok=false means the token is new.
func (cs *clusterState) replayAddonTokenLocked(token, name string, in *addonInput, now time.Time) (resp any, e *apiError, ok bool) {
	t := cs.addonTokens[token]
	if token == "" || t == nil {
		return nil, nil, false
	}
	if now.Sub(t.at) > idempotencyTTL {
		delete(cs.addonTokens, token)
		return nil, nil, false
	}
	if t.params != addonTokenParams(name, in) {
		return nil, eksInvalid(cs.seed.Name, "clientRequestToken %s was already used with different parameters; use a new token", token), true
	}
	return map[string]any{"addon": addonJSON(cs.seed.Name, t.a)}, nil, true
}

// rememberAddonTokenLocked keeps token for the add-on a just created.
func (cs *clusterState) rememberAddonTokenLocked(token, name string, in *addonInput, a *addonState, now time.Time) {
	if token == "" {
		return
	}
	cs.addonTokens[token] = &addonToken{a: a, params: addonTokenParams(name, in), at: now}
}

func inUseByDying(cluster string, d *dyingAssoc) *apiError {
	return &apiError{status: 409, code: "ResourceInUseException", message: fmt.Sprintf("Association already exists: %s", d.id), extra: map[string]any{"clusterName": cluster}}
}
