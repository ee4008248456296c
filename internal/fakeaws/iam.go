package fakeaws

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// AWS managed policies seeded into every fake.
const workerNodePolicyArn = "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"

const workerNodePolicyDoc = `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "WorkerNodePermissions",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeRouteTables",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVolumes",
                "ec2:DescribeVolumesModifications",
                "ec2:DescribeVpcs",
                "eks:DescribeCluster",
                "eks-auth:AssumeRoleForPodIdentity"
            ],
            "Resource": "*"
        }
    ]
}`

type roleState struct {
	name, path, id, arn string
	created             time.Time
	trust               string
	trustLog            []trustVersion // for IAM propagation (iamprop.go)
	description         string
	boundary            string
	maxSession          int
	tags                map[string]string
	attached            []string          // policy ARNs, in attach order
	inline              map[string]string // name -> document
}

type policyVersion struct {
	id      string
	doc     string
	created time.Time
}

type policyState struct {
	name, path, id, arn string
	created, updated    time.Time
	versions            []policyVersion // last is the default
	notAttachable       bool            // a service-linked role policy
}

func (p *policyState) defaultVersion() policyVersion { return p.versions[len(p.versions)-1] }

func randID(prefix string, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return prefix + string(b)
}

func normPath(p string) string {
	if p == "" {
		return "/"
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// PutRole creates or replaces a role (keeping its attachments on replace)
// and returns its ARN.
func (s *Server) PutRole(r Role) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	role := s.roles[strings.ToLower(r.Name)]
	if role == nil {
		role = &roleState{name: r.Name, id: randID("AROA", 17), created: time.Now().UTC(), maxSession: 3600, inline: map[string]string{}}
		s.roles[strings.ToLower(r.Name)] = role
	}
	role.path = normPath(r.Path)
	role.arn = "arn:aws:iam::" + s.opts.Account + ":role" + role.path + r.Name
	role.recordTrustLocked(r.TrustPolicy, time.Time{})
	role.description = r.Description
	role.boundary = r.PermissionsBoundary
	role.tags = map[string]string{}
	for k, v := range r.Tags {
		role.tags[k] = v
	}
	return role.arn
}

// PutPolicy creates a managed policy, or adds a new default version to an
// existing one, and returns its ARN.
func (s *Server) PutPolicy(p Policy) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := normPath(p.Path)
	arn := p.Arn
	if arn == "" {
		arn = "arn:aws:iam::" + s.opts.Account + ":policy" + path + p.Name
	}
	name := p.Name
	if name == "" {
		name = arn[strings.LastIndex(arn, "/")+1:]
	}
	now := time.Now().UTC()
	pol := s.policies[arn]
	if pol == nil {
		pol = &policyState{name: name, path: path, id: randID("ANPA", 17), arn: arn, created: now}
		s.policies[arn] = pol
	}
	pol.updated = now
	pol.versions = append(pol.versions, policyVersion{id: "v" + strconv.Itoa(len(pol.versions)+1), doc: p.Document, created: now})
	return arn
}

// AttachRolePolicy attaches a managed policy to a role.
func (s *Server) AttachRolePolicy(roleName, policyArn string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.attachLocked(roleName, policyArn); e != nil {
		return fmt.Errorf("fakeaws: attach %s to role %s: %s", policyArn, roleName, e.message)
	}
	return nil
}

func (s *Server) attachLocked(roleName, policyArn string) *apiError {
	role := s.roles[strings.ToLower(roleName)]
	if role == nil {
		return noSuchRole(roleName)
	}
	if p := s.policies[policyArn]; p == nil || p.notAttachable {
		return notAttachable(policyArn)
	}
	for _, a := range role.attached {
		if a == policyArn {
			return nil
		}
	}
	role.attached = append(role.attached, policyArn)
	return nil
}

// PutRolePolicy adds or replaces an inline policy of a role.
func (s *Server) PutRolePolicy(roleName, policyName, document string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	role := s.roles[strings.ToLower(roleName)]
	if role == nil {
		return fmt.Errorf("fakeaws: put inline policy %s: role %s does not exist; PutRole it first", policyName, roleName)
	}
	role.inline[policyName] = document
	return nil
}

func noSuchRole(name string) *apiError {
	return &apiError{status: 404, code: "NoSuchEntity", message: fmt.Sprintf("The role with name %s cannot be found.", name)}
}

func invalidInput(format string, args ...any) *apiError {
	return &apiError{status: 400, code: "InvalidInput", message: fmt.Sprintf(format, args...)}
}

func validationError(member string) *apiError {
	return &apiError{status: 400, code: "ValidationError", message: fmt.Sprintf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)}
}

// roleByArn finds a role of this account by ARN (nil if none).
func (s *Server) roleByArn(arn string) *roleState {
	acct, name, ok := parseRoleArn(arn)
	if !ok || acct != s.opts.Account {
		return nil
	}
	r := s.roles[strings.ToLower(name)]
	if r == nil || r.arn != arn {
		return nil
	}
	return r
}

// parseRoleArn splits arn:aws:iam::ACCOUNT:role/path/name.
func parseRoleArn(arn string) (account, name string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !strings.HasPrefix(parts[5], "role/") {
		return "", "", false
	}
	rest := parts[5]
	name = rest[strings.LastIndex(rest, "/")+1:]
	return parts[4], name, name != ""
}

func (s *Server) iamHandler(op string) handlerFunc {
	switch op {
	case "DeleteRole":
		return s.iamDeleteRole
	case "GetRole":
		return s.iamGetRole
	case "CreateRole":
		return s.iamCreateRole
	case "UpdateAssumeRolePolicy":
		return s.iamUpdateAssumeRolePolicy
	case "ListRoles":
		return s.iamListRoles
	case "ListAttachedRolePolicies":
		return s.iamListAttachedRolePolicies
	case "AttachRolePolicy":
		return s.iamAttachRolePolicy
	case "DetachRolePolicy":
		return s.iamDetachRolePolicy
	case "GetPolicy":
		return s.iamGetPolicy
	case "GetPolicyVersion":
		return s.iamGetPolicyVersion
	case "ListRolePolicies":
		return s.iamListRolePolicies
	case "GetRolePolicy":
		return s.iamGetRolePolicy
	case "PutRolePolicy":
		return s.iamPutRolePolicy
	case "DeleteRolePolicy":
		return s.iamDeleteRolePolicy
	case "TagRole":
		return s.iamTagRole
	case "ListRoleTags":
		return s.iamListRoleTags
	case "PutRolePermissionsBoundary":
		return s.iamPutRolePermissionsBoundary
	case "SimulatePrincipalPolicy":
		return s.iamSimulatePrincipalPolicy
	}
	return nil
}

// roleFor looks up RoleName after authorizing action on the role's ARN.
func (s *Server) roleFor(r *request, action string) (*roleState, *apiError) {
	name := r.f("RoleName")
	if name == "" {
		return nil, validationError("roleName")
	}
	role := s.roles[strings.ToLower(name)]
	arn := "arn:aws:iam::" + s.opts.Account + ":role/" + name
	if role != nil {
		arn = role.arn
	}
	if e := s.authorize(r, action, arn, nil); e != nil {
		return nil, e
	}
	if role == nil {
		return nil, noSuchRole(name)
	}
	return role, nil
}

func writeRole(b *xb, role *roleState) {
	b.open("Role")
	b.el("Path", role.path)
	b.el("RoleName", role.name)
	b.el("RoleId", role.id)
	b.el("Arn", role.arn)
	b.el("CreateDate", isoTime(role.created))
	b.el("AssumeRolePolicyDocument", encodeDoc(role.trust))
	if role.description != "" {
		b.el("Description", role.description)
	}
	b.el("MaxSessionDuration", strconv.Itoa(role.maxSession))
	if role.boundary != "" {
		b.open("PermissionsBoundary")
		b.el("PermissionsBoundaryType", "Policy")
		b.el("PermissionsBoundaryArn", role.boundary)
		b.close("PermissionsBoundary")
	}
	if len(role.tags) > 0 {
		writeTags(b, role.tags)
	}
	b.close("Role")
}

func writeTags(b *xb, tags map[string]string) {
	b.open("Tags")
	for _, k := range sortedKeys(tags) {
		b.open("member")
		b.el("Key", k)
		b.el("Value", tags[k])
		b.close("member")
	}
	b.close("Tags")
}

func formTags(form map[string][]string) map[string]string {
	tags := map[string]string{}
	for i := 1; ; i++ {
		p := "Tags.member." + strconv.Itoa(i)
		k, ok := form[p+".Key"]
		if !ok || len(k) == 0 {
			return tags
		}
		v := ""
		if vv := form[p+".Value"]; len(vv) > 0 {
			v = vv[0]
		}
		tags[k[0]] = v
	}
}

func (s *Server) iamGetRole(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, e := s.roleFor(r, "iam:GetRole")
	if e != nil {
		return nil, "", e
	}
	var b xb
	writeRole(&b, role)
	return b.String(), "", nil
}

func malformed(err error) *apiError {
	return &apiError{status: 400, code: "MalformedPolicyDocument", message: err.Error()}
}

func (s *Server) iamCreateRole(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name, doc := r.f("RoleName"), r.f("AssumeRolePolicyDocument")
	if name == "" {
		return nil, "", validationError("roleName")
	}
	if doc == "" {
		return nil, "", validationError("assumeRolePolicyDocument")
	}
	path := normPath(r.f("Path"))
	arn := "arn:aws:iam::" + s.opts.Account + ":role" + path + name
	if e := s.authorize(r, "iam:CreateRole", arn, nil); e != nil {
		return nil, "", e
	}
	if s.roles[strings.ToLower(name)] != nil {
		return nil, "", &apiError{status: 409, code: "EntityAlreadyExists", message: fmt.Sprintf("Role with name %s already exists.", name)}
	}
	if _, err := parsePolicy(doc); err != nil {
		return nil, "", malformed(err)
	}
	boundary := r.f("PermissionsBoundary")
	if boundary != "" && s.policies[boundary] == nil {
		return nil, "", &apiError{status: 404, code: "NoSuchEntity", message: fmt.Sprintf("Scope ARN: %s does not exist or is not attachable.", boundary)}
	}
	now := time.Now().UTC()
	role := &roleState{name: name, path: path, id: randID("AROA", 17), arn: arn, created: now,
		description: r.f("Description"), boundary: boundary, maxSession: 3600, tags: formTags(r.form), inline: map[string]string{}}
	role.recordTrustLocked(doc, now)
	if v := r.f("MaxSessionDuration"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3600 || n > 43200 {
			return nil, "", invalidInput("MaxSessionDuration %q must be a number of seconds between 3600 and 43200.", v)
		}
		role.maxSession = n
	}
	s.roles[strings.ToLower(name)] = role
	var b xb
	writeRole(&b, role)
	return b.String(), "role/" + name, nil
}

// iamDeleteRole deletes a role that has no attached or inline policies
// left, as IAM does (DeleteConflict otherwise).
func (s *Server) iamDeleteRole(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, e := s.roleFor(r, "iam:DeleteRole")
	if e != nil {
		return nil, "", e
	}
	if len(role.attached) > 0 {
		return nil, "", &apiError{status: 409, code: "DeleteConflict", message: "Cannot delete entity, must detach all policies first."}
	}
	if len(role.inline) > 0 {
		return nil, "", &apiError{status: 409, code: "DeleteConflict", message: "Cannot delete entity, must delete policies first."}
	}
	delete(s.roles, strings.ToLower(role.name))
	return nil, "role/" + role.name, nil
}

func (s *Server) iamUpdateAssumeRolePolicy(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, e := s.roleFor(r, "iam:UpdateAssumeRolePolicy")
	if e != nil {
		return nil, "", e
	}
	doc := r.f("PolicyDocument")
	if doc == "" {
		return nil, "", validationError("policyDocument")
	}
	if _, err := parsePolicy(doc); err != nil {
		return nil, "", malformed(err)
	}
	role.recordTrustLocked(doc, time.Now().UTC())
	return nil, "role/" + role.name, nil
}

// page applies Marker/MaxItems (default 100) to n items; the marker is the
// index of the next item.
func page(r *request, n int) (start, end int, next string, e *apiError) {
	maxItems := 100
	if v := r.f("MaxItems"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 || m > 1000 {
			return 0, 0, "", invalidInput("MaxItems %q must be between 1 and 1000.", v)
		}
		maxItems = m
	}
	if v := r.f("Marker"); v != "" {
		m, err := strconv.Atoi(strings.TrimPrefix(v, "m"))
		if err != nil || m < 0 || m > n {
			return 0, 0, "", invalidInput("Marker %q is not valid; pass the Marker of the previous page.", v)
		}
		start = m
	}
	end = min(n, start+maxItems)
	if end < n {
		next = "m" + strconv.Itoa(end)
	}
	return start, end, next, nil
}

func writePageEnd(b *xb, next string) {
	b.bool("IsTruncated", next != "")
	if next != "" {
		b.el("Marker", next)
	}
}

func (s *Server) iamListRoles(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.authorize(r, "iam:ListRoles", "arn:aws:iam::"+s.opts.Account+":role/", nil); e != nil {
		return nil, "", e
	}
	prefix := r.f("PathPrefix")
	var roles []*roleState
	for _, k := range sortedKeys(s.roles) {
		if role := s.roles[k]; strings.HasPrefix(role.path, prefix) {
			roles = append(roles, role)
		}
	}
	start, end, next, e := page(r, len(roles))
	if e != nil {
		return nil, "", e
	}
	var b xb
	b.open("Roles")
	for _, role := range roles[start:end] {
		var rb xb
		writeRole(&rb, role)
		b.WriteString("<member>" + strings.TrimSuffix(strings.TrimPrefix(rb.String(), "<Role>"), "</Role>") + "</member>")
	}
	b.close("Roles")
	writePageEnd(&b, next)
	return b.String(), "", nil
}

func (s *Server) iamListAttachedRolePolicies(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, e := s.roleFor(r, "iam:ListAttachedRolePolicies")
	if e != nil {
		return nil, "", e
	}
	var pols []*policyState
	for _, a := range role.attached {
		if p := s.policies[a]; p != nil && strings.HasPrefix(p.path, r.f("PathPrefix")) {
			pols = append(pols, p)
		}
	}
	start, end, next, e := page(r, len(pols))
	if e != nil {
		return nil, "", e
	}
	var b xb
	b.open("AttachedPolicies")
	for _, p := range pols[start:end] {
		b.open("member")
		b.el("PolicyName", p.name)
		b.el("PolicyArn", p.arn)
		b.close("member")
	}
	b.close("AttachedPolicies")
	writePageEnd(&b, next)
	return b.String(), "", nil
}

func (s *Server) iamAttachRolePolicy(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, e := s.roleFor(r, "iam:AttachRolePolicy")
	if e != nil {
		return nil, "", e
	}
	arn := r.f("PolicyArn")
	if arn == "" {
		return nil, "", validationError("policyArn")
	}
	if e := s.attachLocked(role.name, arn); e != nil {
		return nil, "", e
	}
	return nil, "role/" + role.name, nil
}

func (s *Server) iamDetachRolePolicy(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, e := s.roleFor(r, "iam:DetachRolePolicy")
	if e != nil {
		return nil, "", e
	}
	arn := r.f("PolicyArn")
	for i, a := range role.attached {
		if a == arn {
			role.attached = append(role.attached[:i:i], role.attached[i+1:]...)
			return nil, "role/" + role.name, nil
		}
	}
	return nil, "", &apiError{status: 404, code: "NoSuchEntity", message: fmt.Sprintf("Policy %s was not found.", arn)}
}

func (s *Server) policyFor(r *request, action string) (*policyState, *apiError) {
	arn := r.f("PolicyArn")
	if arn == "" {
		return nil, validationError("policyArn")
	}
	if e := s.authorize(r, action, arn, nil); e != nil {
		return nil, e
	}
	p := s.policies[arn]
	if p == nil {
		return nil, &apiError{status: 404, code: "NoSuchEntity", message: fmt.Sprintf("Policy %s was not found.", arn)}
	}
	return p, nil
}

func (s *Server) attachmentCount(arn string) int {
	n := 0
	for _, role := range s.roles {
		for _, a := range role.attached {
			if a == arn {
				n++
			}
		}
	}
	return n
}

func (s *Server) iamGetPolicy(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, e := s.policyFor(r, "iam:GetPolicy")
	if e != nil {
		return nil, "", e
	}
	var b xb
	b.open("Policy")
	b.el("PolicyName", p.name)
	b.el("PolicyId", p.id)
	b.el("Arn", p.arn)
	b.el("Path", p.path)
	b.el("DefaultVersionId", p.defaultVersion().id)
	b.el("AttachmentCount", strconv.Itoa(s.attachmentCount(p.arn)))
	b.el("PermissionsBoundaryUsageCount", "0")
	b.bool("IsAttachable", !p.notAttachable)
	b.el("CreateDate", isoTime(p.created))
	b.el("UpdateDate", isoTime(p.updated))
	b.close("Policy")
	return b.String(), "", nil
}

func (s *Server) iamGetPolicyVersion(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, e := s.policyFor(r, "iam:GetPolicyVersion")
	if e != nil {
		return nil, "", e
	}
	id := r.f("VersionId")
	if id == "" {
		return nil, "", validationError("versionId")
	}
	for _, v := range p.versions {
		if v.id != id {
			continue
		}
		var b xb
		b.open("PolicyVersion")
		b.el("Document", encodeDoc(v.doc))
		b.el("VersionId", v.id)
		b.bool("IsDefaultVersion", v.id == p.defaultVersion().id)
		b.el("CreateDate", isoTime(v.created))
		b.close("PolicyVersion")
		return b.String(), "", nil
	}
	return nil, "", &apiError{status: 404, code: "NoSuchEntity", message: fmt.Sprintf("Policy %s version %s does not exist or is not attachable.", p.arn, id)}
}

func (s *Server) iamListRolePolicies(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, e := s.roleFor(r, "iam:ListRolePolicies")
	if e != nil {
		return nil, "", e
	}
	names := sortedKeys(role.inline)
	start, end, next, e := page(r, len(names))
	if e != nil {
		return nil, "", e
	}
	var b xb
	b.open("PolicyNames")
	for _, n := range names[start:end] {
		b.el("member", n)
	}
	b.close("PolicyNames")
	writePageEnd(&b, next)
	return b.String(), "", nil
}

func (s *Server) iamGetRolePolicy(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, e := s.roleFor(r, "iam:GetRolePolicy")
	if e != nil {
		return nil, "", e
	}
	name := r.f("PolicyName")
	doc, ok := role.inline[name]
	if !ok {
		return nil, "", &apiError{status: 404, code: "NoSuchEntity", message: fmt.Sprintf("The role policy with name %s cannot be found.", name)}
	}
	var b xb
	b.el("RoleName", role.name)
	b.el("PolicyName", name)
	b.el("PolicyDocument", encodeDoc(doc))
	return b.String(), "", nil
}

func (s *Server) iamPutRolePolicy(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, e := s.roleFor(r, "iam:PutRolePolicy")
	if e != nil {
		return nil, "", e
	}
	name, doc := r.f("PolicyName"), r.f("PolicyDocument")
	if name == "" {
		return nil, "", validationError("policyName")
	}
	if doc == "" {
		return nil, "", validationError("policyDocument")
	}
	if _, err := parsePolicy(doc); err != nil {
		return nil, "", malformed(err)
	}
	role.inline[name] = doc
	return nil, "role/" + role.name + "/policy/" + name, nil
}

func (s *Server) iamDeleteRolePolicy(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, e := s.roleFor(r, "iam:DeleteRolePolicy")
	if e != nil {
		return nil, "", e
	}
	name := r.f("PolicyName")
	if _, ok := role.inline[name]; !ok {
		return nil, "", &apiError{status: 404, code: "NoSuchEntity", message: fmt.Sprintf("The role policy with name %s cannot be found.", name)}
	}
	delete(role.inline, name)
	return nil, "role/" + role.name + "/policy/" + name, nil
}

func (s *Server) iamTagRole(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, e := s.roleFor(r, "iam:TagRole")
	if e != nil {
		return nil, "", e
	}
	tags := formTags(r.form)
	if len(tags) == 0 {
		return nil, "", validationError("tags")
	}
	for k, v := range tags {
		role.tags[k] = v
	}
	if len(role.tags) > 50 {
		return nil, "", &apiError{status: 409, code: "LimitExceeded", message: "The number of tags has reached the maximum limit."}
	}
	return nil, "role/" + role.name, nil
}

func (s *Server) iamListRoleTags(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, e := s.roleFor(r, "iam:ListRoleTags")
	if e != nil {
		return nil, "", e
	}
	var b xb
	writeTags(&b, role.tags)
	b.bool("IsTruncated", false)
	return b.String(), "", nil
}

func (s *Server) iamPutRolePermissionsBoundary(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, e := s.roleFor(r, "iam:PutRolePermissionsBoundary")
	if e != nil {
		return nil, "", e
	}
	arn := r.f("PermissionsBoundary")
	if arn == "" {
		return nil, "", validationError("permissionsBoundary")
	}
	if s.policies[arn] == nil {
		return nil, "", &apiError{status: 404, code: "NoSuchEntity", message: fmt.Sprintf("Scope ARN: %s does not exist or is not attachable.", arn)}
	}
	role.boundary = arn
	return nil, "role/" + role.name, nil
}

// identityPolicies returns the role's attached managed and inline policies,
// parsed, and its permissions boundary. Unparseable stored documents are
// skipped (they could only come from seeding).
func (s *Server) identityPolicies(role *roleState) ([]namedPolicy, *namedPolicy) {
	var out []namedPolicy
	for _, a := range role.attached {
		p := s.policies[a]
		if p == nil {
			continue
		}
		doc, err := parsePolicy(p.defaultVersion().doc)
		if err != nil {
			continue
		}
		typ := "user-managed"
		if strings.HasPrefix(a, "arn:aws:iam::aws:policy/") {
			typ = "aws-managed"
		}
		out = append(out, namedPolicy{id: p.name, typ: typ, doc: doc})
	}
	for _, n := range sortedKeys(role.inline) {
		doc, err := parsePolicy(role.inline[n])
		if err != nil {
			continue
		}
		out = append(out, namedPolicy{id: n, typ: "role", doc: doc})
	}
	var boundary *namedPolicy
	if role.boundary != "" {
		if p := s.policies[role.boundary]; p != nil {
			if doc, err := parsePolicy(p.defaultVersion().doc); err == nil {
				boundary = &namedPolicy{id: p.name, typ: "none", doc: doc}
			}
		}
	}
	return out, boundary
}

// contextEntries decodes ContextEntries.member.N.{ContextKeyName,ContextKeyValues.member.M}.
func contextEntries(form map[string][]string) map[string][]string {
	out := map[string][]string{}
	for i := 1; ; i++ {
		p := "ContextEntries.member." + strconv.Itoa(i)
		k, ok := form[p+".ContextKeyName"]
		if !ok || len(k) == 0 {
			return out
		}
		out[strings.ToLower(k[0])] = formList(form, p+".ContextKeyValues")
	}
}

func (s *Server) iamSimulatePrincipalPolicy(_ context.Context, r *request) (any, string, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := r.f("PolicySourceArn")
	if src == "" {
		return nil, "", validationError("policySourceArn")
	}
	actions := formList(r.form, "ActionNames")
	if len(actions) == 0 {
		return nil, "", validationError("actionNames")
	}
	if e := s.authorize(r, "iam:SimulatePrincipalPolicy", src, nil); e != nil {
		return nil, "", e
	}
	role := s.roleByArn(src)
	if role == nil {
		_, name, _ := parseRoleArn(src)
		if name == "" {
			return nil, "", invalidInput("PolicySourceArn %s is not a role ARN of account %s.", src, s.opts.Account)
		}
		return nil, "", noSuchRole(name)
	}
	policies, boundary := s.identityPolicies(role)
	for i, doc := range formList(r.form, "PolicyInputList") {
		pd, err := parsePolicy(doc)
		if err != nil {
			return nil, "", malformed(err)
		}
		policies = append(policies, namedPolicy{id: "PolicyInputList." + strconv.Itoa(i+1), typ: "none", doc: pd})
	}
	resources := formList(r.form, "ResourceArns")
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	ctxKeys := contextEntries(r.form)
	type result struct {
		action, resource string
		res              evalResult
	}
	var results []result
	for _, a := range actions {
		for _, res := range resources {
			results = append(results, result{a, res, evaluate(policies, boundary, evalRequest{action: a, resource: res, context: ctxKeys})})
		}
	}
	start, end, next, e := page(r, len(results))
	if e != nil {
		return nil, "", e
	}
	var b xb
	b.open("EvaluationResults")
	for _, x := range results[start:end] {
		b.open("member")
		b.el("EvalActionName", x.action)
		b.el("EvalResourceName", x.resource)
		b.el("EvalDecision", x.res.decision)
		b.open("MatchedStatements")
		for _, m := range x.res.matched {
			b.open("member")
			b.el("SourcePolicyId", m.policyID)
			b.el("SourcePolicyType", m.policyType)
			b.close("member")
		}
		b.close("MatchedStatements")
		b.open("MissingContextValues")
		for _, k := range x.res.missing {
			b.el("member", k)
		}
		b.close("MissingContextValues")
		if x.res.boundaryAllowed != nil {
			b.open("PermissionsBoundaryDecisionDetail")
			b.bool("AllowedByPermissionsBoundary", *x.res.boundaryAllowed)
			b.close("PermissionsBoundaryDecisionDetail")
		}
		b.close("member")
	}
	b.close("EvaluationResults")
	writePageEnd(&b, next)
	return b.String(), "", nil
}
