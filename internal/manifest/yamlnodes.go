package manifest

import (
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

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
