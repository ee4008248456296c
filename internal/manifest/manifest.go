// Package manifest reads podid.yaml, the file `podid apply -f` turns into
// pod identity associations, and validates all of it before anything is
// called: every problem is reported with its file:line:col.
//
// The format (apiVersion podid/v1, kind PodIdentity):
//
//	apiVersion: podid/v1
//	kind: PodIdentity
//	cluster: eks-workshop          # optional; --cluster must agree when both are given
//	defaults:                      # optional; every key is optional
//	  roleRule: discover           # entries without role: use the <cluster>-<sa>* role
//	  update: false                # let entries change an association that differs
//	  createServiceAccount: false  # create missing service accounts
//	  disableSessionTags: false
//	  policy: '{"Version": …}'      # session policy JSON; needs disableSessionTags: true
//	  tags: {team: retail}         # added to every entry's tags
//	  expect: [dynamodb:Query]     # added to every entry's expectations
//	  targetRoleArn: arn:aws:iam::…:role/x
//	entries:
//	  - namespace: carts           # required
//	    serviceAccount: carts      # required; (namespace, serviceAccount) is unique
//	    role: eks-workshop-carts-dynamo   # role name or ARN, or:
//	    # roleRule: discover       # the existing association's role, else the one <cluster>-<sa>* role
//	    workloads: [deployment/carts]     # optional: restart only these (NAME or KIND/NAME, as --workload)
//	    expect: ["dynamodb:Query=arn:aws:dynamodb:us-west-2:111122223333:table/carts"]
//	    targetRoleArn: …; disableSessionTags: …; policy: …; tags: {…}; update: …; createServiceAccount: …
//
// Unknown keys, wrong types, anchors/aliases, duplicate keys and duplicate
// (namespace, serviceAccount) pairs are errors. Entry values override the
// defaults; tags and expect add to them.
package manifest

import (
	"fmt"
	"strings"

	"github.com/podid/podid/internal/podidentity"
)

// APIVersion and Kind of a podid.yaml file.
const (
	APIVersion = "podid/v1"
	Kind       = "PodIdentity"
	// RoleRuleDiscover is the only role rule: the existing association's
	// role, else the one role named <cluster>-<serviceAccount>* that trusts
	// EKS Pod Identity.
	RoleRuleDiscover = "discover"
	// MaxEntries bounds a file (a typo in a generator should not start
	// thousands of restarts).
	MaxEntries = 1000
)

// File is a parsed and validated podid.yaml.
type File struct {
	Path    string
	Cluster string // "" = from --cluster / $EKS_CLUSTER_NAME
	Entries []Entry
}

// Entry is one (namespace, service account) with the defaults applied.
type Entry struct {
	Line, Col int // where the entry starts

	Namespace      string
	ServiceAccount string
	// Role is a role name or ARN; "" means discover (RoleRule).
	Role     string
	RoleRule string

	Workloads []string
	Expect    []string

	podidentity.AssociationSettings
	Update               bool
	CreateServiceAccount bool
}

// Key is "namespace/serviceAccount".
func (e Entry) Key() string { return e.Namespace + "/" + e.ServiceAccount }

// RoleLabel is how the entry names its role: the name or ARN, or "discover".
func (e Entry) RoleLabel() string {
	if e.Role != "" {
		return e.Role
	}
	return "(" + RoleRuleDiscover + ")"
}

// Problem is one thing wrong in a file. Col is 0 when only the line is
// known (YAML syntax errors).
type Problem struct {
	Line, Col int
	Msg       string
}

// Error lists every problem of a file.
type Error struct {
	Path     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		fmt.Fprintf(&b, "%s: 1 problem:", e.Path)
	} else {
		fmt.Fprintf(&b, "%s: %d problems:", e.Path, len(e.Problems))
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(e.format(p))
	}
	return b.String()
}

func (e *Error) format(p Problem) string {
	switch {
	case p.Line == 0:
		return fmt.Sprintf("%s: %s", e.Path, p.Msg)
	case p.Col == 0:
		return fmt.Sprintf("%s:%d: %s", e.Path, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.Path, p.Line, p.Col, p.Msg)
}

// Lines returns each problem as "path:line:col: message".
func (e *Error) Lines() []string {
	out := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = e.format(p)
	}
	return out
}

// Parse reads and validates a podid.yaml; path names it in messages. On any
// problem it returns nil and an *Error listing all of them.
func Parse(path string, data []byte) (*File, error) {
	p := &parser{path: path}
	f := p.parse(data)
	if len(p.problems) > 0 {
		return nil, &Error{Path: path, Problems: p.problems}
	}
	return f, nil
}
