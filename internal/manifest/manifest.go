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
//	    workloads: [deployment/carts]     # optional: restart only these
//	    expect: ["dynamodb:Query=arn:aws:dynamodb:us-west-2:111122223333:table/carts"]
//	    targetRoleArn: …; disableSessionTags: …; policy: …; tags: {…}; update: …; createServiceAccount: …
//
// Unknown keys, wrong types, anchors/aliases, duplicate keys and duplicate
// (namespace, serviceAccount) pairs are errors. Entry values override the
// defaults; tags and expect add to them.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/validate"
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

	TargetRoleArn        string
	DisableSessionTags   bool
	Policy               string
	Tags                 map[string]string
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
	fmt.Fprintf(&b, "%s: %d problem(s):", e.Path, len(e.Problems))
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

type parser struct {
	path     string
	problems []Problem
}

func (p *parser) add(n *yaml.Node, format string, args ...any) {
	pr := Problem{Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		pr.Line, pr.Col = n.Line, n.Column
	}
	p.problems = append(p.problems, pr)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) syntax(err error) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.problems = append(p.problems, Problem{Line: line, Msg: "YAML syntax: " + m[2]})
		return
	}
	p.problems = append(p.problems, Problem{Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")})
}

// options are the keys shared by defaults and entries; nil = not given.
type options struct {
	roleRule             *string
	targetRoleArn        *string
	disableSessionTags   *bool
	policy               *string
	policyNode           *yaml.Node
	tags                 map[string]string
	update               *bool
	createServiceAccount *bool
	expect               []string
}

func (p *parser) parse(data []byte) *File {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.add(nil, "the file is empty; it needs apiVersion: %s, kind: %s and entries", APIVersion, Kind)
			return nil
		}
		p.syntax(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.add(&extra, "a second YAML document: put every entry in the first document's entries list")
	} else if !errors.Is(err, io.EOF) {
		p.syntax(err)
		return nil
	}
	if len(doc.Content) == 0 {
		p.add(&doc, "the file is empty; it needs apiVersion: %s, kind: %s and entries", APIVersion, Kind)
		return nil
	}
	if p.aliases(&doc) {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		p.add(root, "the file must be a mapping with apiVersion, kind and entries, not %s", kindName(root))
		return nil
	}
	f := &File{Path: p.path}
	var defaults options
	var entries *yaml.Node
	seen := map[string]bool{}
	for _, kv := range p.pairs(root) {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "apiVersion":
			if s, ok := p.str(v, "apiVersion"); ok && s != APIVersion {
				p.add(v, "apiVersion %q is not supported; use apiVersion: %s", s, APIVersion)
			}
		case "kind":
			if s, ok := p.str(v, "kind"); ok && s != Kind {
				p.add(v, "kind %q is not supported; use kind: %s", s, Kind)
			}
		case "cluster":
			if s, ok := p.str(v, "cluster"); ok {
				if err := validate.ClusterName(s); err != nil {
					p.add(v, "cluster: %v", err)
				}
				f.Cluster = s
			}
		case "defaults":
			if v.Kind != yaml.MappingNode {
				p.add(v, "defaults must be a mapping, not %s", kindName(v))
				continue
			}
			for _, dkv := range p.pairs(v) {
				if !p.option(&defaults, dkv[0], dkv[1], "defaults.") {
					p.add(dkv[0], "unknown key %q in defaults (known: %s)", dkv[0].Value, strings.Join(optionKeys, ", "))
				}
			}
		case "entries":
			entries = v
		default:
			p.add(k, "unknown key %q (known: apiVersion, kind, cluster, defaults, entries)", k.Value)
		}
		seen[k.Value] = true
	}
	for _, req := range []string{"apiVersion", "kind", "entries"} {
		if !seen[req] {
			p.add(root, "missing %s", req)
		}
	}
	if entries == nil {
		return f
	}
	if entries.Kind != yaml.SequenceNode {
		p.add(entries, "entries must be a list, not %s", kindName(entries))
		return f
	}
	if len(entries.Content) == 0 {
		p.add(entries, "entries is empty: list at least one namespace and serviceAccount")
	}
	if len(entries.Content) > MaxEntries {
		p.add(entries, "%d entries; at most %d are allowed in one file", len(entries.Content), MaxEntries)
		return f
	}
	first := map[string]*yaml.Node{}
	for i, n := range entries.Content {
		e, ok := p.entry(n, i, defaults)
		if !ok {
			continue
		}
		if prev, dup := first[e.Key()]; dup {
			p.add(n, "entries[%d]: %s is listed twice (first at line %d); merge the two entries", i, e.Key(), prev.Line)
			continue
		}
		first[e.Key()] = n
		f.Entries = append(f.Entries, e)
	}
	return f
}

// aliases rejects anchors and aliases anywhere (they make "where is this
// value" ambiguous and can blow up in size).
func (p *parser) aliases(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		p.add(n, "anchors and aliases (&name, *name) are not supported; write the values out")
		return true
	}
	for _, c := range n.Content {
		if p.aliases(c) {
			return true
		}
	}
	return false
}

// pairs returns a mapping's key/value nodes, reporting non-string and
// duplicate keys.
func (p *parser) pairs(m *yaml.Node) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.add(k, "keys must be plain names, not %s", kindName(k))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			p.add(k, "key %q is given twice (first at line %d)", k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out
}

var optionKeys = []string{"roleRule", "targetRoleArn", "disableSessionTags", "policy", "tags", "update", "createServiceAccount", "expect"}

// option parses one defaults/entry option key; false = not an option key.
func (p *parser) option(o *options, k, v *yaml.Node, prefix string) bool {
	name := prefix + k.Value
	switch k.Value {
	case "roleRule":
		if s, ok := p.str(v, name); ok {
			if s != RoleRuleDiscover {
				p.add(v, "%s %q is not a role rule; the only rule is %q (the <cluster>-<serviceAccount>* role)", name, s, RoleRuleDiscover)
			}
			o.roleRule = &s
		}
	case "targetRoleArn":
		if s, ok := p.str(v, name); ok {
			if _, err := validate.RoleArn(s); err != nil {
				p.add(v, "%s: %v", name, err)
			}
			o.targetRoleArn = &s
		}
	case "disableSessionTags":
		o.disableSessionTags = p.boolean(v, name)
	case "update":
		o.update = p.boolean(v, name)
	case "createServiceAccount":
		o.createServiceAccount = p.boolean(v, name)
	case "policy":
		if s, ok := p.str(v, name); ok {
			if !json.Valid([]byte(s)) {
				p.add(v, "%s is not valid JSON; write the session policy as a JSON string (e.g. policy: '{\"Version\": \"2012-10-17\", \"Statement\": [...]}')", name)
			}
			o.policy, o.policyNode = &s, v
		}
	case "tags":
		o.tags = p.tags(v, name)
	case "expect":
		for _, s := range p.strList(v, name) {
			if _, err := podidentity.ParseExpect(s.val); err != nil {
				p.add(s.node, "%s: %s", name, strings.TrimPrefix(err.Error(), "--expect "))
				continue
			}
			o.expect = append(o.expect, s.val)
		}
	default:
		return false
	}
	return true
}

var entryKeys = append([]string{"namespace", "serviceAccount", "role", "workloads"}, optionKeys...)

func (p *parser) entry(n *yaml.Node, i int, d options) (Entry, bool) {
	e := Entry{Line: n.Line, Col: n.Column}
	if n.Kind != yaml.MappingNode {
		p.add(n, "entries[%d] must be a mapping with namespace and serviceAccount, not %s", i, kindName(n))
		return e, false
	}
	before := len(p.problems)
	var o options
	var roleNode *yaml.Node
	prefix := fmt.Sprintf("entries[%d].", i)
	for _, kv := range p.pairs(n) {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "namespace":
			if s, ok := p.str(v, prefix+"namespace"); ok {
				if err := validate.Namespace(s); err != nil {
					p.add(v, "%snamespace: %v", prefix, err)
				}
				e.Namespace = s
			}
		case "serviceAccount":
			if s, ok := p.str(v, prefix+"serviceAccount"); ok {
				if err := validate.ServiceAccount(s); err != nil {
					p.add(v, "%sserviceAccount: %v", prefix, err)
				}
				e.ServiceAccount = s
			}
		case "role":
			if s, ok := p.str(v, prefix+"role"); ok {
				if _, _, err := validate.RoleRef(s); err != nil {
					p.add(v, "%srole: %v", prefix, err)
				}
				e.Role, roleNode = s, v
			}
		case "workloads":
			for _, s := range p.strList(v, prefix+"workloads") {
				if _, _, err := validate.Workload(s.val); err != nil {
					p.add(s.node, "%sworkloads: %v", prefix, err)
					continue
				}
				e.Workloads = append(e.Workloads, s.val)
			}
		default:
			if !p.option(&o, k, v, prefix) {
				p.add(k, "unknown key %q in entries[%d] (known: %s)", k.Value, i, strings.Join(entryKeys, ", "))
			}
		}
	}
	if e.Namespace == "" && !hasKey(n, "namespace") {
		p.add(n, "entries[%d] has no namespace", i)
	}
	if e.ServiceAccount == "" && !hasKey(n, "serviceAccount") {
		p.add(n, "entries[%d] has no serviceAccount", i)
	}

	// Apply the defaults.
	pick := func(v, def *string) string {
		if v != nil {
			return *v
		}
		if def != nil {
			return *def
		}
		return ""
	}
	pickB := func(v, def *bool) bool {
		if v != nil {
			return *v
		}
		return def != nil && *def
	}
	e.TargetRoleArn = pick(o.targetRoleArn, d.targetRoleArn)
	e.Policy = pick(o.policy, d.policy)
	e.DisableSessionTags = pickB(o.disableSessionTags, d.disableSessionTags)
	e.Update = pickB(o.update, d.update)
	e.CreateServiceAccount = pickB(o.createServiceAccount, d.createServiceAccount)
	e.Expect = append(slices.Clone(d.expect), o.expect...)
	if len(d.tags)+len(o.tags) > 0 {
		e.Tags = map[string]string{}
		for k, v := range d.tags {
			e.Tags[k] = v
		}
		for k, v := range o.tags {
			e.Tags[k] = v
		}
		if len(e.Tags) > 50 {
			p.add(n, "entries[%d] has %d tags with the defaults; EKS allows at most 50", i, len(e.Tags))
		}
	}
	switch {
	case roleNode != nil && o.roleRule != nil:
		p.add(roleNode, "%sgives both role and roleRule; keep one", prefix)
	case roleNode != nil:
	case o.roleRule != nil || d.roleRule != nil:
		e.RoleRule = RoleRuleDiscover
	default:
		p.add(n, "entries[%d] (%s) has no role: give role: NAME_OR_ARN, or roleRule: %s (here or in defaults)", i, e.Key(), RoleRuleDiscover)
	}
	if e.Policy != "" && !e.DisableSessionTags {
		at := o.policyNode
		if at == nil {
			at = d.policyNode
		}
		p.add(at, "%spolicy needs disableSessionTags: true (EKS accepts a session policy only when session tags are disabled)", prefix)
	}
	return e, len(p.problems) == before
}

func hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

// str reads a string scalar. Numbers are taken as written; null, booleans
// and collections are errors.
func (p *parser) str(v *yaml.Node, name string) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		p.add(v, "%s must be a string, not %s", name, kindName(v))
		return "", false
	}
	switch v.Tag {
	case "!!str", "!!int", "!!float":
		if v.Value == "" {
			p.add(v, "%s is empty", name)
			return "", false
		}
		return v.Value, true
	}
	p.add(v, "%s must be a string, not %s (quote it if you mean the text %q)", name, kindName(v), v.Value)
	return "", false
}

func (p *parser) boolean(v *yaml.Node, name string) *bool {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
		p.add(v, "%s must be true or false, not %s", name, kindName(v))
		return nil
	}
	b := v.Value == "true" || v.Value == "True" || v.Value == "TRUE"
	return &b
}

type strAt struct {
	val  string
	node *yaml.Node
}

func (p *parser) strList(v *yaml.Node, name string) []strAt {
	if v.Kind != yaml.SequenceNode {
		p.add(v, "%s must be a list, not %s", name, kindName(v))
		return nil
	}
	var out []strAt
	for i, n := range v.Content {
		if s, ok := p.str(n, fmt.Sprintf("%s[%d]", name, i)); ok {
			out = append(out, strAt{s, n})
		}
	}
	return out
}

func (p *parser) tags(v *yaml.Node, name string) map[string]string {
	if v.Kind != yaml.MappingNode {
		p.add(v, "%s must be a mapping of KEY: VALUE, not %s", name, kindName(v))
		return nil
	}
	out := map[string]string{}
	for _, kv := range p.pairs(v) {
		k, val := kv[0], kv[1]
		if k.Value == "" || len(k.Value) > 128 || strings.HasPrefix(strings.ToLower(k.Value), "aws:") {
			p.add(k, "%s: invalid tag key %q (1-128 characters, no aws: prefix)", name, k.Value)
			continue
		}
		if val.Kind != yaml.ScalarNode || val.Tag == "!!null" {
			p.add(val, "%s.%s must be a string, not %s", name, k.Value, kindName(val))
			continue
		}
		if len(val.Value) > 256 {
			p.add(val, "%s.%s is %d characters; tag values are at most 256", name, k.Value, len(val.Value))
			continue
		}
		out[k.Value] = val.Value
	}
	return out
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.Tag {
	case "!!null":
		return "null"
	case "!!bool":
		return "a boolean (" + n.Value + ")"
	case "!!int", "!!float":
		return "a number (" + n.Value + ")"
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	}
	return fmt.Sprintf("%s %q", n.Tag, n.Value)
}
