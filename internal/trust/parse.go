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

// member is one name/value pair of a JSON object, kept in document order.
type member struct {
	Key   string
	Value json.RawMessage
}

type object []member

func (o object) get(key string) (json.RawMessage, bool) {
	for _, m := range o {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}

func (o object) set(key string, v json.RawMessage) object {
	for i, m := range o {
		if m.Key == key {
			o[i].Value = v
			return o
		}
	}
	return append(o, member{Key: key, Value: v})
}

// marshal writes the object compactly, values as stored.
func (o object) marshal(buf *bytes.Buffer) {
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(marshalString(m.Key))
		buf.WriteByte(':')
		buf.Write(m.Value)
	}
	buf.WriteByte('}')
}

func marshalString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func marshalValue(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("trust: marshal %T: %v", v, err)) // only called with strings, slices and objects
	}
	return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n"))
}

// parseObject reads a JSON object keeping member order. It rejects duplicate
// names, which IAM rejects too and which would make the typed view ambiguous.
func parseObject(raw []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("want a JSON object, got %s", describe(raw))
	}
	var o object
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("want a member name, got %v", tok)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("member %q: %w", key, err)
		}
		if seen[key] {
			return nil, fmt.Errorf("member %q appears twice", key)
		}
		seen[key] = true
		o = append(o, member{Key: key, Value: v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return o, nil
}

// describe names the JSON type of raw for error messages.
func describe(raw []byte) string {
	t := bytes.TrimLeft(raw, " \t\r\n")
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
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

func parseStatement(i int, raw json.RawMessage) (*Statement, error) {
	o, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("statement %d: %w", i, err)
	}
	s := &Statement{Index: i, members: o}
	if err := s.decode(); err != nil {
		return nil, fmt.Errorf("statement %d: %w", i, err)
	}
	return s, nil
}

// decode fills the typed fields from s.members.
func (s *Statement) decode() error {
	o := s.members
	if v, ok := o.get("Sid"); ok {
		if err := json.Unmarshal(v, &s.Sid); err != nil {
			return fmt.Errorf("Sid must be a string, got %s", describe(v))
		}
	}
	v, ok := o.get("Effect")
	if !ok {
		return errors.New("Effect is missing: want \"Allow\" or \"Deny\"")
	}
	if err := json.Unmarshal(v, &s.Effect); err != nil || (s.Effect != "Allow" && s.Effect != "Deny") {
		return fmt.Errorf("Effect must be \"Allow\" or \"Deny\", got %s", v)
	}
	var err error
	if s.Principal, err = principal(o, "Principal"); err != nil {
		return err
	}
	if s.NotPrincipal, err = principal(o, "NotPrincipal"); err != nil {
		return err
	}
	if s.Principal != nil && s.NotPrincipal != nil {
		return errors.New("has both Principal and NotPrincipal: keep one")
	}
	for _, f := range []struct {
		name string
		dst  *[]string
	}{{"Action", &s.Action}, {"NotAction", &s.NotAction}, {"Resource", &s.Resource}, {"NotResource", &s.NotResource}} {
		v, ok := o.get(f.name)
		if !ok {
			continue
		}
		if *f.dst, err = stringOrList(v); err != nil {
			return fmt.Errorf("%s %w", f.name, err)
		}
	}
	_, hasA := o.get("Action")
	_, hasNA := o.get("NotAction")
	switch {
	case hasA && hasNA:
		return errors.New("has both Action and NotAction: keep one")
	case !hasA && !hasNA:
		return errors.New("has neither Action nor NotAction: want e.g. \"Action\": [\"sts:AssumeRole\", \"sts:TagSession\"]")
	}
	if _, ok := o.get("Resource"); ok {
		if _, ok := o.get("NotResource"); ok {
			return errors.New("has both Resource and NotResource: keep one")
		}
	}
	if v, ok := o.get("Condition"); ok {
		if s.Condition, err = condition(v); err != nil {
			return fmt.Errorf("Condition %w", err)
		}
	}
	return nil
}

func principal(o object, name string) (*Principal, error) {
	v, ok := o.get(name)
	if !ok {
		return nil, nil
	}
	var str string
	if json.Unmarshal(v, &str) == nil {
		if str != "*" {
			return nil, fmt.Errorf("%s must be \"*\" or an object such as {\"Service\": \"pods.eks.amazonaws.com\"}, got %q", name, str)
		}
		return &Principal{Wildcard: true}, nil
	}
	po, err := parseObject(v)
	if err != nil {
		return nil, fmt.Errorf("%s must be \"*\" or an object such as {\"Service\": \"pods.eks.amazonaws.com\"}: %w", name, err)
	}
	p := &Principal{Values: map[string][]string{}}
	for _, m := range po {
		vals, err := stringOrList(m.Value)
		if err != nil {
			return nil, fmt.Errorf("%s.%s %w", name, m.Key, err)
		}
		p.Values[m.Key] = vals
	}
	return p, nil
}

// stringOrList decodes a string or a list of strings.
func stringOrList(v json.RawMessage) ([]string, error) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return []string{s}, nil
	}
	var l []string
	if describe(v) == "a list" && json.Unmarshal(v, &l) == nil {
		if l == nil {
			l = []string{}
		}
		return l, nil
	}
	return nil, fmt.Errorf("must be a string or a list of strings, got %s", describe(v))
}

// condition decodes operator → key → string, bool, number or a list of them.
func condition(v json.RawMessage) (map[string]map[string][]string, error) {
	ops, err := parseObject(v)
	if err != nil {
		return nil, fmt.Errorf("must be an object such as {\"StringEquals\": {\"aws:SourceAccount\": \"111122223333\"}}: %w", err)
	}
	out := map[string]map[string][]string{}
	for _, op := range ops {
		keys, err := parseObject(op.Value)
		if err != nil {
			return nil, fmt.Errorf("%s must be an object of condition keys: %w", op.Key, err)
		}
		out[op.Key] = map[string][]string{}
		for _, k := range keys {
			vals, err := scalarOrList(k.Value)
			if err != nil {
				return nil, fmt.Errorf("%s.%s %w", op.Key, k.Key, err)
			}
			out[op.Key][k.Key] = vals
		}
	}
	return out, nil
}

func scalarOrList(v json.RawMessage) ([]string, error) {
	const want = "must be a string, boolean, number or a list of them"
	switch describe(v) {
	case "a list":
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return nil, fmt.Errorf("%s: %w", want, err)
		}
		out := []string{}
		for _, it := range items {
			s, err := scalar(it)
			if err != nil {
				return nil, fmt.Errorf("%s, got a list holding %s", want, describe(it))
			}
			out = append(out, s)
		}
		return out, nil
	default:
		s, err := scalar(v)
		if err != nil {
			return nil, fmt.Errorf("%s, got %s", want, describe(v))
		}
		return []string{s}, nil
	}
}

func scalar(v json.RawMessage) (string, error) {
	switch describe(v) {
	case "a string":
		var s string
		err := json.Unmarshal(v, &s)
		return s, err
	case "a boolean", "a number":
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return "", err
		}
		return string(bytes.TrimSpace(v)), nil
	}
	return "", errors.New("not a scalar")
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

func pretty(b []byte) string {
	var compact, out bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		// Every value was produced by the JSON decoder or encoder, so this cannot happen.
		panic(fmt.Sprintf("trust: compact policy document: %v", err))
	}
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		panic(fmt.Sprintf("trust: indent policy document: %v", err))
	}
	out.WriteByte('\n')
	return out.String()
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
