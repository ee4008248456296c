package trust

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Document is a parsed IAM policy document (trust or permission policy).
//
// Besides the typed view in Statements, a Document keeps every member of the
// original JSON in its original order, so that String re-serialises it with
// unknown members intact and Fix can change one statement while leaving the
// others semantically identical.
type Document struct {
	// Version is the policy language version, e.g. "2012-10-17"; empty when absent.
	Version string
	// Statements holds the statements in document order.
	Statements []*Statement

	members      object // top-level members in order
	singleObject bool   // "Statement" was an object, not a list
}

// Statement is one policy statement. List-valued fields hold the values in
// document order whether the JSON had a string or a list.
type Statement struct {
	// Index is the statement's position in the document, from 0.
	Index  int
	Sid    string
	Effect string // "Allow" or "Deny"
	// Principal and NotPrincipal are nil when the member is absent.
	Principal    *Principal
	NotPrincipal *Principal
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	// Condition maps operator → condition key → values. Booleans and numbers
	// are kept as their JSON text ("true", "3600").
	Condition map[string]map[string][]string

	members object
}

// Principal is a Principal or NotPrincipal element.
type Principal struct {
	// Wildcard is true for the bare string "*".
	Wildcard bool
	// Values maps a principal type (Service, AWS, Federated, CanonicalUser) to its values.
	Values map[string][]string
}

// Name names the statement for messages: `"Sid" (statement N)` when it has
// a Sid, else `statement N` (N counts from 0).
func (s *Statement) Name() string {
	if s.Sid != "" {
		return fmt.Sprintf("%q (statement %d)", s.Sid, s.Index)
	}
	return fmt.Sprintf("statement %d", s.Index)
}

// Decode returns the JSON text of a policy document as IAM returns it:
// URL-encoded documents (not starting with "{", but starting with %7B or
// containing %22) are decoded, anything else is returned unchanged.
func Decode(doc string) (string, error) {
	t := strings.TrimSpace(doc)
	if strings.HasPrefix(t, "{") {
		return doc, nil // plain JSON, even when a value contains "%22"
	}
	if strings.HasPrefix(strings.ToUpper(t), "%7B") || strings.Contains(strings.ToUpper(t), "%22") {
		d, err := url.QueryUnescape(t)
		if err != nil {
			return "", fmt.Errorf("policy document looks URL-encoded but does not decode: %w", err)
		}
		return d, nil
	}
	return doc, nil
}

// Parse parses a policy document, URL-encoded (as IAM's GetRole,
// GetPolicyVersion and GetRolePolicy return it) or plain JSON.
//
// Errors name the statement index and member that is malformed.
func Parse(doc string) (*Document, error) {
	text, err := Decode(doc)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(text) == "" {
		return nil, errors.New("policy document is empty: want a JSON object with a Statement")
	}
	top, err := parseObject([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("policy document is not a JSON object: %w", err)
	}
	d := &Document{members: top}
	if v, ok := top.get("Version"); ok {
		if err := json.Unmarshal(v, &d.Version); err != nil {
			return nil, fmt.Errorf("policy document: Version must be a string such as \"2012-10-17\", got %s", describe(v))
		}
	}
	rawStmts, ok := top.get("Statement")
	if !ok {
		return nil, errors.New("policy document has no Statement: want \"Statement\": [ {\"Effect\": …} ]")
	}
	var list []json.RawMessage
	switch describe(rawStmts) {
	case "an object":
		d.singleObject = true
		list = []json.RawMessage{rawStmts}
	case "a list":
		if err := json.Unmarshal(rawStmts, &list); err != nil {
			return nil, fmt.Errorf("policy document: Statement: %w", err)
		}
	default:
		return nil, fmt.Errorf("policy document: Statement must be an object or a list of objects, got %s", describe(rawStmts))
	}
	for i, raw := range list {
		s, err := parseStatement(i, raw)
		if err != nil {
			return nil, err
		}
		d.Statements = append(d.Statements, s)
	}
	return d, nil
}

// String returns the document as pretty JSON (2-space indent). Members keep
// their original order; statements added by Fix use the order Sid, Effect,
// Principal, Action, Condition.
func (d *Document) String() string {
	var buf bytes.Buffer
	top := append(object(nil), d.members...)
	var stmts json.RawMessage
	if d.singleObject && len(d.Statements) == 1 {
		var b bytes.Buffer
		d.Statements[0].members.marshal(&b)
		stmts = b.Bytes()
	} else {
		var b bytes.Buffer
		b.WriteByte('[')
		for i, s := range d.Statements {
			if i > 0 {
				b.WriteByte(',')
			}
			s.members.marshal(&b)
		}
		b.WriteByte(']')
		stmts = b.Bytes()
	}
	top = top.set("Statement", stmts)
	top.marshal(&buf)
	return pretty(buf.Bytes())
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
