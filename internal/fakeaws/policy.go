package fakeaws

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Evaluation decisions, as SimulatePrincipalPolicy spells them.
const (
	decisionAllowed      = "allowed"
	decisionExplicitDeny = "explicitDeny"
	decisionImplicitDeny = "implicitDeny"
)

// policyDoc is a parsed IAM policy document.
type policyDoc struct {
	Version    string
	Statements []statement
}

type statement struct {
	Sid          string
	Effect       string // Allow or Deny
	Principal    map[string][]string
	PrincipalAny bool // "Principal": "*"
	NotPrincipal map[string][]string
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	HasResource  bool // Resource or NotResource given (identity policies)
	Condition    []condition
	// variables is set for Version 2012-10-17 documents, where ${key}
	// policy variables in Resource and condition values are replaced.
	variables bool
}

type condition struct {
	Operator string // as written, e.g. ForAnyValue:StringLikeIfExists
	Key      string
	Values   []string
}

// parsePolicy parses a policy document. It reports MalformedPolicyDocument
// problems in AWS's words where it can.
func parsePolicy(doc string) (*policyDoc, error) {
	var raw struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	if err := dec.Decode(&raw); err != nil {
		return nil, errors.New("This policy contains invalid Json")
	}
	if dec.More() {
		return nil, errors.New("This policy contains invalid Json")
	}
	if len(raw.Statement) == 0 {
		return nil, errors.New("Syntax errors in policy: the policy has no Statement")
	}
	var rawStmts []map[string]json.RawMessage
	if raw.Statement[0] == '[' {
		if err := json.Unmarshal(raw.Statement, &rawStmts); err != nil {
			return nil, errors.New("This policy contains invalid Json")
		}
	} else {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw.Statement, &one); err != nil {
			return nil, errors.New("This policy contains invalid Json")
		}
		rawStmts = []map[string]json.RawMessage{one}
	}
	p := &policyDoc{Version: raw.Version}
	for i, rs := range rawStmts {
		st, err := parseStatement(rs)
		if err != nil {
			return nil, fmt.Errorf("Syntax errors in policy: statement %d: %v", i+1, err)
		}
		st.variables = raw.Version == "2012-10-17"
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

func parseStatement(rs map[string]json.RawMessage) (statement, error) {
	var st statement
	if v, ok := rs["Sid"]; ok {
		_ = json.Unmarshal(v, &st.Sid)
	}
	if err := json.Unmarshal(rs["Effect"], &st.Effect); err != nil || (st.Effect != "Allow" && st.Effect != "Deny") {
		return st, errors.New(`Effect must be "Allow" or "Deny"`)
	}
	var err error
	if v, ok := rs["Action"]; ok {
		if st.Action, err = stringOrList(v); err != nil {
			return st, fmt.Errorf("Action: %v", err)
		}
	}
	if v, ok := rs["NotAction"]; ok {
		if st.NotAction, err = stringOrList(v); err != nil {
			return st, fmt.Errorf("NotAction: %v", err)
		}
	}
	if st.Action == nil && st.NotAction == nil {
		return st, errors.New("missing Action or NotAction")
	}
	if v, ok := rs["Resource"]; ok {
		st.HasResource = true
		if st.Resource, err = stringOrList(v); err != nil {
			return st, fmt.Errorf("Resource: %v", err)
		}
	}
	if v, ok := rs["NotResource"]; ok {
		st.HasResource = true
		if st.NotResource, err = stringOrList(v); err != nil {
			return st, fmt.Errorf("NotResource: %v", err)
		}
	}
	if v, ok := rs["Principal"]; ok {
		st.Principal, st.PrincipalAny, err = parsePrincipal(v)
		if err != nil {
			return st, fmt.Errorf("Principal: %v", err)
		}
	}
	if v, ok := rs["NotPrincipal"]; ok {
		st.NotPrincipal, _, err = parsePrincipal(v)
		if err != nil {
			return st, fmt.Errorf("NotPrincipal: %v", err)
		}
	}
	if v, ok := rs["Condition"]; ok {
		var ops map[string]map[string]json.RawMessage
		if err := json.Unmarshal(v, &ops); err != nil {
			return st, fmt.Errorf("Condition: %v", err)
		}
		for _, op := range sortedKeys(ops) {
			for _, key := range sortedKeys(ops[op]) {
				vals, err := stringOrList(ops[op][key])
				if err != nil {
					return st, fmt.Errorf("Condition %s %s: %v", op, key, err)
				}
				st.Condition = append(st.Condition, condition{Operator: op, Key: key, Values: vals})
			}
		}
	}
	return st, nil
}

// stringOrList decodes "x", ["x","y"], true or 12 into strings.
func stringOrList(raw json.RawMessage) ([]string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	scalar := func(x any) (string, error) {
		switch t := x.(type) {
		case string:
			return t, nil
		case bool:
			return strconv.FormatBool(t), nil
		case float64:
			return strconv.FormatFloat(t, 'f', -1, 64), nil
		}
		return "", fmt.Errorf("want a string or a list of strings, got %T", x)
	}
	switch t := v.(type) {
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			s, err := scalar(x)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	default:
		s, err := scalar(t)
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
}

func parsePrincipal(raw json.RawMessage) (map[string][]string, bool, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "*" {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("%q: a string principal must be \"*\"", s)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false, err
	}
	out := map[string][]string{}
	for k, v := range m {
		vals, err := stringOrList(v)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %v", k, err)
		}
		out[k] = vals
	}
	return out, false, nil
}

// principalRef is who asks (trust policies only): type is Service, AWS or
// Federated.
type principalRef struct {
	typ string
	id  string
	// also are other names a trust policy may use for the same caller: for
	// a role session, the role's ARN, the account root ARN and the bare
	// account ID (IAM matches a role principal for every session of the role,
	// and the account principal for every principal of the account).
	also []string
}

type evalRequest struct {
	action    string
	resource  string              // "" for trust policies
	principal *principalRef       // nil for identity policies
	context   map[string][]string // lower-cased keys
	// createTime evaluates a trust policy the way EKS checks it when an
	// association is created: conditions (on session tags, source ARN, …)
	// are decided only when pods later ask for credentials, so a condition
	// on a key not known at create time (session tags) lets an Allow count
	// and keeps a Deny from applying.
	createTime bool
}

type namedPolicy struct {
	id  string // SourcePolicyId
	typ string // SourcePolicyType: role, aws-managed, user-managed, user, resource, none
	doc *policyDoc
}

type matchedStatement struct {
	policyID   string
	policyType string
	sid        string
}

type evalResult struct {
	decision string
	matched  []matchedStatement
	missing  []string
	// boundaryAllowed is set when a permissions boundary took part.
	boundaryAllowed *bool
}

// evaluate applies the IAM logic to one request: an explicit Deny wins,
// then an Allow, else the request is implicitly denied. With a permissions
// boundary, the boundary must allow too (and its Deny also wins).
func evaluate(policies []namedPolicy, boundary *namedPolicy, req evalRequest) evalResult {
	res := evalSet(policies, req)
	if boundary == nil {
		return res
	}
	b := evalSet([]namedPolicy{*boundary}, req)
	allowed := b.decision == decisionAllowed
	res.boundaryAllowed = &allowed
	res.missing = mergeSorted(res.missing, b.missing)
	switch {
	case b.decision == decisionExplicitDeny && res.decision != decisionExplicitDeny:
		res.decision = decisionExplicitDeny
		res.matched = b.matched
	case res.decision == decisionAllowed && !allowed:
		res.decision = decisionImplicitDeny
		res.matched = nil
	}
	return res
}

func evalSet(policies []namedPolicy, req evalRequest) evalResult {
	var allows, denies []matchedStatement
	missing := map[string]bool{}
	for _, p := range policies {
		if p.doc == nil {
			continue
		}
		for _, st := range p.doc.Statements {
			if !statementApplies(st, req, missing) {
				continue
			}
			m := matchedStatement{policyID: p.id, policyType: p.typ, sid: st.Sid}
			if st.Effect == "Deny" {
				denies = append(denies, m)
			} else {
				allows = append(allows, m)
			}
		}
	}
	res := evalResult{decision: decisionImplicitDeny}
	for k := range missing {
		res.missing = append(res.missing, k)
	}
	sort.Strings(res.missing)
	switch {
	case len(denies) > 0:
		res.decision, res.matched = decisionExplicitDeny, denies
	case len(allows) > 0:
		res.decision, res.matched = decisionAllowed, allows
	}
	return res
}

func mergeSorted(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range append(append([]string(nil), a...), b...) {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

func statementApplies(st statement, req evalRequest, missing map[string]bool) bool {
	if st.Action != nil && !anyMatch(st.Action, req.action, true) {
		return false
	}
	if st.NotAction != nil && anyMatch(st.NotAction, req.action, true) {
		return false
	}
	if req.resource != "" && st.HasResource {
		if st.Resource != nil && !anyMatch(expandAll(st.Resource, req.context, st.variables), req.resource, false) {
			return false
		}
		if st.NotResource != nil && anyMatch(expandAll(st.NotResource, req.context, st.variables), req.resource, false) {
			return false
		}
	}
	if req.principal != nil {
		if st.Principal != nil || st.PrincipalAny {
			if !st.PrincipalAny && !principalMatches(st.Principal, *req.principal) {
				return false
			}
		} else if st.NotPrincipal != nil {
			if principalMatches(st.NotPrincipal, *req.principal) {
				return false
			}
		} else {
			return false // a trust statement without a principal names nobody
		}
	}
	holds := true
	for _, c := range st.Condition {
		if _, known := req.context[strings.ToLower(c.Key)]; req.createTime && !known {
			if st.Effect == "Deny" {
				return false
			}
			continue
		}
		// Evaluate every condition so that all missing keys get reported.
		if st.variables {
			c.Values = expandAll(c.Values, req.context, true)
		}
		if !conditionHolds(c, req.context, missing) {
			holds = false
		}
	}
	return holds
}

func principalMatches(p map[string][]string, who principalRef) bool {
	if vals, ok := p["AWS"]; ok && len(vals) == 1 && vals[0] == "*" {
		return true
	}
	vals, ok := p[who.typ]
	if !ok {
		return false
	}
	if anyMatch(vals, who.id, who.typ == "Service") {
		return true
	}
	// Aliases match exactly: a wildcard in an AWS principal other than "*"
	// is not allowed by IAM.
	for _, a := range who.also {
		for _, v := range vals {
			if v == a {
				return true
			}
		}
	}
	return false
}

func anyMatch(patterns []string, value string, foldCase bool) bool {
	for _, p := range patterns {
		if foldCase {
			if wildcardMatch(strings.ToLower(p), strings.ToLower(value)) {
				return true
			}
		} else if wildcardMatch(p, value) {
			return true
		}
	}
	return false
}

// wildcardMatch matches value against a pattern where * is any run of
// characters and ? is one character.
func wildcardMatch(pattern, value string) bool {
	p, v := []rune(pattern), []rune(value)
	pi, vi := 0, 0
	star, mark := -1, 0
	for vi < len(v) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == v[vi]):
			pi++
			vi++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, vi
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			vi = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// conditionHolds evaluates one condition key against the request context.
// A key that the context lacks is recorded in missing (unless the operator
// tolerates absence) and makes the condition false.
func conditionHolds(c condition, ctx map[string][]string, missing map[string]bool) bool {
	op := c.Operator
	setOp := ""
	if i := strings.Index(op, ":"); i >= 0 {
		setOp, op = op[:i], op[i+1:]
	}
	ifExists := strings.HasSuffix(op, "IfExists")
	op = strings.TrimSuffix(op, "IfExists")
	vals, present := ctx[strings.ToLower(c.Key)]
	if op == "Null" {
		want := len(c.Values) > 0 && strings.EqualFold(c.Values[0], "true")
		return want == !present
	}
	if !present {
		if ifExists || setOp == "ForAllValues" {
			return true
		}
		missing[c.Key] = true
		return false
	}
	match, negated, ok := operator(op)
	if !ok {
		return false
	}
	one := func(v string) bool {
		for _, want := range c.Values {
			if match(want, v) {
				return true
			}
		}
		return false
	}
	switch setOp {
	case "ForAllValues":
		for _, v := range vals {
			if one(v) == negated {
				return false
			}
		}
		return true
	default: // single-valued keys and ForAnyValue
		if negated {
			for _, v := range vals {
				if one(v) {
					return false
				}
			}
			return true
		}
		for _, v := range vals {
			if one(v) {
				return true
			}
		}
		return false
	}
}

// operator returns the positive match function of a condition operator and
// whether the operator negates it.
func operator(op string) (match func(want, got string) bool, negated, ok bool) {
	num := func(cmp func(a, b float64) bool) func(string, string) bool {
		return func(want, got string) bool {
			w, err1 := strconv.ParseFloat(want, 64)
			g, err2 := strconv.ParseFloat(got, 64)
			return err1 == nil && err2 == nil && cmp(g, w)
		}
	}
	eq := func(want, got string) bool { return want == got }
	fold := func(want, got string) bool { return strings.EqualFold(want, got) }
	switch op {
	case "StringEquals", "ArnEquals":
		return eq, false, true
	case "StringNotEquals", "ArnNotEquals":
		return eq, true, true
	case "StringEqualsIgnoreCase":
		return fold, false, true
	case "StringNotEqualsIgnoreCase":
		return fold, true, true
	case "StringLike", "ArnLike":
		return wildcardMatch, false, true
	case "StringNotLike", "ArnNotLike":
		return wildcardMatch, true, true
	case "Bool":
		return fold, false, true
	case "NumericEquals":
		return num(func(g, w float64) bool { return g == w }), false, true
	case "NumericNotEquals":
		return num(func(g, w float64) bool { return g == w }), true, true
	case "NumericLessThan":
		return num(func(g, w float64) bool { return g < w }), false, true
	case "NumericLessThanEquals":
		return num(func(g, w float64) bool { return g <= w }), false, true
	case "NumericGreaterThan":
		return num(func(g, w float64) bool { return g > w }), false, true
	case "NumericGreaterThanEquals":
		return num(func(g, w float64) bool { return g >= w }), false, true
	}
	return nil, false, false
}

// trustAllowsPodIdentity reports whether a trust policy lets the EKS Pod
// Identity service principal both assume the role and tag the session.
func trustAllowsPodIdentity(doc *policyDoc, ctx map[string][]string) bool {
	who := &principalRef{typ: "Service", id: "pods.eks.amazonaws.com"}
	for _, action := range []string{"sts:AssumeRole", "sts:TagSession"} {
		r := evaluate([]namedPolicy{{id: "trust", typ: "resource", doc: doc}}, nil, evalRequest{action: action, principal: who, context: ctx, createTime: true})
		if r.decision != decisionAllowed {
			return false
		}
	}
	return true
}

// expandAll replaces policy variables in each pattern (when on). A pattern
// whose variable has no value and no default can match nothing: IAM treats
// the element as not matching, so it is dropped.
func expandAll(patterns []string, ctx map[string][]string, on bool) []string {
	if !on {
		return patterns
	}
	out := make([]string, 0, len(patterns))
	for _, p := range patterns {
		if v, ok := expandVariables(p, ctx); ok {
			out = append(out, v)
		}
	}
	return out
}

// expandVariables replaces ${key} and ${key, 'default'} with the single
// context value of key, and ${*}, ${?}, ${$} with the literal characters
// (as IAM does). A multi-valued or missing key without a default fails.
// The value is substituted as text, as IAM does.
func expandVariables(pattern string, ctx map[string][]string) (string, bool) {
	if !strings.Contains(pattern, "${") {
		return pattern, true
	}
	var b strings.Builder
	rest := pattern
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			b.WriteString(rest)
			return b.String(), true
		}
		j := strings.Index(rest[i:], "}")
		if j < 0 {
			b.WriteString(rest)
			return b.String(), true
		}
		b.WriteString(rest[:i])
		inner := strings.TrimSpace(rest[i+2 : i+j])
		rest = rest[i+j+1:]
		switch inner {
		case "*", "?", "$":
			b.WriteString(inner)
			continue
		}
		key, def, hasDef := inner, "", false
		if k, d, ok := strings.Cut(inner, ","); ok {
			key = strings.TrimSpace(k)
			d = strings.TrimSpace(d)
			if len(d) >= 2 && d[0] == '\'' && d[len(d)-1] == '\'' {
				def, hasDef = d[1:len(d)-1], true
			}
		}
		vals := ctx[strings.ToLower(key)]
		switch {
		case len(vals) == 1:
			b.WriteString(vals[0])
		case hasDef:
			b.WriteString(def)
		default:
			return "", false
		}
	}
}
