package manifest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/validate"
)

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
	p.applyDefaults(&e, n, i, o, d, roleNode)
	return e, len(p.problems) == before
}

// applyDefaults fills e's options from the entry's own (o) or else the
// defaults (d), and checks the combinations: role or roleRule, at most 50
// tags, a session policy only with session tags disabled.
func (p *parser) applyDefaults(e *Entry, n *yaml.Node, i int, o, d options, roleNode *yaml.Node) {
	prefix := fmt.Sprintf("entries[%d].", i)
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
}
