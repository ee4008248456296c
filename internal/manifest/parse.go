package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/podid/podid/internal/validate"
)

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
	if entries != nil {
		f.Entries = p.entries(entries, defaults)
	}
	return f
}

// entries parses the entries list, each with the defaults applied, and
// reports a (namespace, serviceAccount) listed twice.
func (p *parser) entries(entries *yaml.Node, defaults options) []Entry {
	if entries.Kind != yaml.SequenceNode {
		p.add(entries, "entries must be a list, not %s", kindName(entries))
		return nil
	}
	if len(entries.Content) == 0 {
		p.add(entries, "entries is empty: list at least one namespace and serviceAccount")
	}
	if len(entries.Content) > MaxEntries {
		p.add(entries, "%d entries; at most %d are allowed in one file", len(entries.Content), MaxEntries)
		return nil
	}
	var out []Entry
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
		out = append(out, e)
	}
	return out
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
