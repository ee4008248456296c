package trust

import (
	"encoding/json"
	"slices"
	"strings"
)

// Equivalent reports whether two policy documents (plain or URL-encoded)
// say the same thing, which text comparison gets wrong: key order, white
// space, the order of statements and of values in a list, a single value
// written as a string or as a one-element list, Sids, repeated values and
// the case of action names and condition keys do not change what a policy
// means. A bare "*" principal is {"AWS": "*"}, and a missing Version is
// "2008-10-17". Documents that do not parse are equivalent only when their
// JSON values are equal.
func Equivalent(a, b string) bool {
	da, errA := Parse(a)
	db, errB := Parse(b)
	if errA != nil || errB != nil {
		return sameJSONValue(a, b)
	}
	return slices.Equal(canonical(da), canonical(db))
}

func sameJSONValue(a, b string) bool {
	ta, errA := Decode(a)
	tb, errB := Decode(b)
	if errA != nil || errB != nil {
		return false
	}
	var x, y any
	if json.Unmarshal([]byte(ta), &x) != nil || json.Unmarshal([]byte(tb), &y) != nil {
		return false
	}
	cx, _ := json.Marshal(x) // maps marshal with sorted keys
	cy, _ := json.Marshal(y)
	return string(cx) == string(cy)
}

// canonicalStatement is a statement with every order and spelling choice
// removed; its JSON text is the statement's canonical form.
type canonicalStatement struct {
	Effect       string                         `json:"e"`
	Principal    map[string][]string            `json:"p,omitempty"`
	NotPrincipal map[string][]string            `json:"np,omitempty"`
	Action       []string                       `json:"a,omitempty"`
	NotAction    []string                       `json:"na,omitempty"`
	Resource     []string                       `json:"r,omitempty"`
	NotResource  []string                       `json:"nr,omitempty"`
	Condition    map[string]map[string][]string `json:"c,omitempty"`
	Other        map[string]json.RawMessage     `json:"o,omitempty"`
}

var knownStatementMembers = []string{"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}

// canonical returns the document's version followed by its statements'
// canonical forms, sorted and without repeats.
func canonical(d *Document) []string {
	version := d.Version
	if version == "" {
		version = "2008-10-17"
	}
	var stmts []string
	for _, s := range d.Statements {
		c := canonicalStatement{
			Effect:       s.Effect,
			Principal:    canonicalPrincipal(s.Principal),
			NotPrincipal: canonicalPrincipal(s.NotPrincipal),
			Action:       valueSet(s.Action, strings.ToLower),
			NotAction:    valueSet(s.NotAction, strings.ToLower),
			Resource:     valueSet(s.Resource, nil),
			NotResource:  valueSet(s.NotResource, nil),
		}
		if len(s.Condition) > 0 {
			c.Condition = map[string]map[string][]string{}
			for op, keys := range s.Condition {
				m := map[string][]string{}
				for k, v := range keys {
					m[strings.ToLower(k)] = valueSet(v, nil)
				}
				c.Condition[op] = m
			}
		}
		for _, m := range s.members {
			if slices.Contains(knownStatementMembers, m.Key) {
				continue
			}
			if c.Other == nil {
				c.Other = map[string]json.RawMessage{}
			}
			var v any
			if json.Unmarshal(m.Value, &v) == nil {
				c.Other[m.Key], _ = json.Marshal(v)
			} else {
				c.Other[m.Key] = m.Value
			}
		}
		b, _ := json.Marshal(c)
		stmts = append(stmts, string(b))
	}
	slices.Sort(stmts)
	return append([]string{version}, slices.Compact(stmts)...)
}

func canonicalPrincipal(p *Principal) map[string][]string {
	if p == nil {
		return nil
	}
	out := map[string][]string{}
	if p.Wildcard {
		out["AWS"] = []string{"*"}
	}
	for typ, vs := range p.Values {
		out[typ] = valueSet(append(out[typ], vs...), nil)
	}
	return out
}

// valueSet returns vs mapped by norm (if not nil), sorted, without repeats.
func valueSet(vs []string, norm func(string) string) []string {
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		if norm != nil {
			v = norm(v)
		}
		out[i] = v
	}
	slices.Sort(out)
	return slices.Compact(out)
}
