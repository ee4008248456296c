package fakeaws

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Identities per access key.
//
// Every request is attributed to the principal of its access key:
//   - keys the fake issued (IssueRoleSession, EKS Auth) belong to a role
//     session; their session token (x-amz-security-token) must match and
//     they expire;
//   - an unknown key that looks temporary (ASIA…) is refused, as STS would;
//   - any other key is the lab's admin user (podid-lab), subject to the
//     caller policy (SetCallerPolicy). With Options.AdminAccessKeys set,
//     only those keys are the admin and other long-term keys are refused.
//
// The SigV4 signature is checked for issued keys (sigv4.go), whose secret
// the fake made; the admin's keys accept any secret.

// Credentials are AWS credentials of a role session the fake issued.
type Credentials struct {
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey"`
	SessionToken    string    `json:"sessionToken"`
	Expiration      time.Time `json:"expiration"`
	Arn             string    `json:"arn"` // arn:aws:sts::<acct>:assumed-role/<role>/<session>
}

const (
	principalUser    = "User"
	principalSession = "AssumedRole"
)

// principal is who signed a request.
type principal struct {
	kind        string // principalUser or principalSession
	arn         string // user ARN, or the assumed-role session ARN
	userID      string // AIDA… for a user, <RoleId>:<session> for a session
	roleName    string // sessions: the role
	roleArn     string
	roleID      string // AROA…: a role deleted and created again is another role
	sessionName string
	tags        map[string]string // session tags (sessions only)
	policy      *policyDoc        // session policy (nil = none)
}

// credential is one access key the fake knows.
type credential struct {
	secret, token string
	expires       time.Time
	p             *principal
}

// now is the fake's clock (Options.Now, for tests of expiry).
func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

func (s *Server) adminPrincipal() *principal {
	return &principal{kind: principalUser, arn: s.callerArn(), userID: "AIDAFAKEPODIDLAB" + s.opts.Account}
}

func randString(alphabet string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// mintLocked issues credentials for p valid for ttl. s.mu must be held.
func (s *Server) mintLocked(p *principal, ttl time.Duration) Credentials {
	if s.keys == nil {
		s.keys = map[string]*credential{}
	}
	now := s.now()
	// Forget keys that expired a day ago (they keep answering ExpiredToken
	// until then).
	for k, c := range s.keys {
		if now.Sub(c.expires) > 24*time.Hour {
			delete(s.keys, k)
		}
	}
	var akid string
	for {
		akid = "ASIA" + randString("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
		if s.keys[akid] == nil {
			break
		}
	}
	tok := make([]byte, 96)
	_, _ = rand.Read(tok)
	c := &credential{
		secret:  randString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40),
		token:   "IQoJb3JpZ2luX2VjEPODIDLAB" + base64.StdEncoding.EncodeToString(tok),
		expires: now.Add(ttl).Truncate(time.Second),
		p:       p,
	}
	s.keys[akid] = c
	return Credentials{AccessKeyID: akid, SecretAccessKey: c.secret, SessionToken: c.token, Expiration: c.expires.UTC(), Arn: p.arn}
}

// sessionPrincipal builds the principal of a session of role.
func (s *Server) sessionPrincipal(role *roleState, sessionName string, tags map[string]string, policy *policyDoc) *principal {
	return &principal{
		kind:        principalSession,
		arn:         fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", s.opts.Account, role.name, sessionName),
		userID:      role.id + ":" + sessionName,
		roleName:    role.name,
		roleArn:     role.arn,
		roleID:      role.id,
		sessionName: sessionName,
		tags:        tags,
		policy:      policy,
	}
}

// IssueRoleSession issues credentials for a session of roleName named
// sessionName, valid for ttl (default 1h), without evaluating the role's
// trust: it stands for credentials that reach a machine out of band, like
// an EC2 instance profile's (the lab's node role). The session carries no
// tags and no session policy.
func (s *Server) IssueRoleSession(roleName, sessionName string, ttl time.Duration) (Credentials, error) {
	if ttl <= 0 {
		ttl = time.Hour
	}
	if sessionName == "" || len(sessionName) > 64 {
		return Credentials{}, fmt.Errorf("fakeaws: issue a session of role %s: session name %q must have 1 to 64 characters", roleName, sessionName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	role := s.roles[strings.ToLower(roleName)]
	if role == nil {
		return Credentials{}, fmt.Errorf("fakeaws: issue a session of role %s: no such role; PutRole it first", roleName)
	}
	return s.mintLocked(s.sessionPrincipal(role, sessionName, nil, nil), ttl), nil
}

func invalidClientToken(service string) *apiError {
	switch service {
	case "iam", "sts":
		return &apiError{status: http.StatusForbidden, code: "InvalidClientTokenId", message: "The security token included in the request is invalid."}
	}
	return &apiError{status: http.StatusForbidden, code: "UnrecognizedClientException", message: "The security token included in the request is invalid."}
}

func expiredClientToken(service string) *apiError {
	switch service {
	case "iam", "sts":
		return &apiError{status: http.StatusForbidden, code: "ExpiredToken", message: "The security token included in the request is expired"}
	}
	return &apiError{status: http.StatusForbidden, code: "ExpiredTokenException", message: "The security token included in the request is expired"}
}

// resolveCaller maps the access key (and session token) of a request to
// its principal, or answers with the service's credential error.
func (s *Server) resolveCaller(service, akid string, hr *http.Request, body []byte) (*principal, *apiError) {
	sessionToken := hr.Header.Get("X-Amz-Security-Token")
	if e := credentialError(service, akid); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.keys[akid]
	if c == nil {
		if strings.HasPrefix(akid, "ASIA") {
			return nil, invalidClientToken(service)
		}
		if len(s.opts.AdminAccessKeys) > 0 && !slices.Contains(s.opts.AdminAccessKeys, akid) {
			return nil, invalidClientToken(service)
		}
		return s.adminPrincipal(), nil
	}
	if sessionToken != c.token {
		return nil, invalidClientToken(service)
	}
	if !s.now().Before(c.expires) {
		return nil, expiredClientToken(service)
	}
	if err := verifySigV4(hr, body, c.secret); err != nil {
		s.logger.Debug("fakeaws: signature check failed", "service", service, "accessKey", akid, "err", err)
		return nil, signatureMismatch(service)
	}
	return c.p, nil
}

// principalContext returns the global condition keys that describe p.
func (s *Server) principalContext(p *principal) map[string][]string {
	keys := map[string][]string{
		"aws:requestedregion":  {s.opts.Region},
		"aws:principalaccount": {s.opts.Account},
		"aws:principaltype":    {p.kind},
		"aws:userid":           {p.userID},
	}
	switch p.kind {
	case principalSession:
		keys["aws:principalarn"] = []string{p.roleArn}
		// Principal tags: the role's tags, overridden by session tags.
		if role := s.roles[strings.ToLower(p.roleName)]; role != nil {
			for k, v := range role.tags {
				keys["aws:principaltag/"+strings.ToLower(k)] = []string{v}
			}
		}
		for k, v := range p.tags {
			keys["aws:principaltag/"+strings.ToLower(k)] = []string{v}
		}
	default:
		keys["aws:principalarn"] = []string{p.arn}
		keys["aws:username"] = []string{callerUser}
	}
	return keys
}

// evalPrincipalLocked evaluates action on resource for p: the admin by the
// caller policy (nil policy = allowed), a session by its role's identity
// policies and permissions boundary, intersected with its session policy.
// allowAll reports that no policy applies (the unrestricted admin).
func (s *Server) evalPrincipalLocked(p *principal, action, resource string, extra map[string][]string) (res evalResult, allowAll bool) {
	keys := s.principalContext(p)
	for k, v := range extra {
		keys[strings.ToLower(k)] = v
	}
	req := evalRequest{action: action, resource: resource, context: keys}
	if p.kind != principalSession {
		if s.callerPolicy == nil {
			return evalResult{decision: decisionAllowed}, true
		}
		return evaluate([]namedPolicy{{id: "caller", typ: "user", doc: s.callerPolicy}}, nil, req), false
	}
	role := s.roles[strings.ToLower(p.roleName)]
	if role == nil || role.arn != p.roleArn || role.id != p.roleID {
		// The role was deleted (or deleted and created again: a new role
		// ID): its sessions may do nothing.
		return evalResult{decision: decisionImplicitDeny}, false
	}
	policies, boundary := s.identityPolicies(role)
	res = evaluate(policies, boundary, req)
	if p.policy != nil && res.decision == decisionAllowed {
		sp := evalSet([]namedPolicy{{id: "session", typ: "session", doc: p.policy}}, req)
		if sp.decision != decisionAllowed {
			sp.missing = mergeSorted(res.missing, sp.missing)
			return sp, false
		}
	}
	return res, false
}

// denialReason words why an evaluation did not allow, the way IAM's
// messages do.
func denialReason(res evalResult, action string, session bool) string {
	if res.decision == decisionExplicitDeny {
		return "with an explicit deny in an identity-based policy"
	}
	if session {
		return "because no identity-based policy or session policy allows the " + action + " action"
	}
	return "because no identity-based policy allows the " + action + " action"
}

// authorize checks action on resource for the caller of r. It must be
// called with s.mu held.
func (s *Server) authorize(r *request, action, resource string, ctxKeys map[string][]string) *apiError {
	p := r.caller
	if p == nil {
		p = s.adminPrincipal()
	}
	res, _ := s.evalPrincipalLocked(p, action, resource, ctxKeys)
	if res.decision == decisionAllowed {
		return nil
	}
	// The short form of IAM's message (what podid and its tests match).
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s", p.arn, action, resource)
	switch r.service {
	case "eks":
		return &apiError{status: http.StatusForbidden, code: "AccessDeniedException", message: msg}
	case "eks-auth":
		// The EKS Auth model gives AccessDeniedException HTTP 400.
		return &apiError{status: http.StatusBadRequest, code: "AccessDeniedException", message: msg}
	}
	return &apiError{status: http.StatusForbidden, code: "AccessDenied", message: msg}
}
