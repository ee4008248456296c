package trust

import (
	"bytes"
	"encoding/json"
	"strings"
)

// StatementSummary is one statement of a permission policy, flattened for
// printing (as `aws iam get-policy-version` shows it).
type StatementSummary struct {
	Index        int      `json:"index"`
	Sid          string   `json:"sid,omitempty"`
	Effect       string   `json:"effect"`
	Principal    string   `json:"principal,omitempty"` // compact JSON, for trust policies
	Actions      []string `json:"actions,omitempty"`
	NotActions   []string `json:"notActions,omitempty"`
	Resources    []string `json:"resources,omitempty"`
	NotResources []string `json:"notResources,omitempty"`
	// Condition is the statement's Condition as compact JSON in document order, or "".
	Condition string `json:"condition,omitempty"`
}

// Statements summarises every statement of doc in order.
func Statements(doc *Document) []StatementSummary {
	out := make([]StatementSummary, 0, len(doc.Statements))
	for _, s := range doc.Statements {
		sum := StatementSummary{
			Index:        s.Index,
			Sid:          s.Sid,
			Effect:       s.Effect,
			Actions:      s.Action,
			NotActions:   s.NotAction,
			Resources:    s.Resource,
			NotResources: s.NotResource,
		}
		if v, ok := s.members.get("Principal"); ok {
			sum.Principal = compact(v)
		} else if v, ok := s.members.get("NotPrincipal"); ok {
			sum.Principal = "not " + compact(v)
		}
		if v, ok := s.members.get("Condition"); ok {
			sum.Condition = compact(v)
		}
		out = append(out, sum)
	}
	return out
}

func compact(v json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return strings.TrimSpace(string(v))
	}
	return b.String()
}
