package trust

import (
	"fmt"
	"strings"
)

// tri is a three-valued truth: a condition can be true, false or unknown at
// check time (it depends on a value podid cannot know, such as the pod name).
type tri int

const (
	triFalse tri = iota
	triUnknown
	triTrue
)

func and(a, b tri) tri {
	if a < b {
		return a
	}
	return b
}

// sessionTagKeys are the session tags EKS Pod Identity attaches to every
// AssumeRole request (unless the association disables session tags).
var sessionTagKeys = []string{
	"eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace",
	"kubernetes-service-account", "kubernetes-pod-name", "kubernetes-pod-uid",
}

// contextValues returns the values of a condition key for the request, and
// whether podid knows them at check time. Keys are case-insensitive, as in IAM.
func (r Request) contextValues(key string) ([]string, bool) {
	one := func(v string) ([]string, bool) {
		if v == "" {
			return nil, false
		}
		return []string{v}, true
	}
	switch strings.ToLower(key) {
	case "aws:requesttag/eks-cluster-name":
		return one(r.Cluster)
	case "aws:requesttag/kubernetes-namespace":
		return one(r.Namespace)
	case "aws:requesttag/kubernetes-service-account":
		return one(r.ServiceAccount)
	case "aws:requesttag/eks-cluster-arn", "aws:sourcearn":
		return one(r.ClusterArn)
	case "aws:sourceaccount":
		return one(r.Account)
	case "aws:tagkeys":
		return sessionTagKeys, true
	}
	return nil, false
}

// conditionFailure records one condition clause that did not hold.
type conditionFailure struct {
	Operator string
	Key      string
	Wanted   []string
	Ours     []string
}

func (f conditionFailure) String() string {
	ours := "nothing"
	if len(f.Ours) == 1 {
		ours = fmt.Sprintf("%q", f.Ours[0])
	} else if len(f.Ours) > 1 {
		ours = fmt.Sprintf("%q", f.Ours)
	}
	return fmt.Sprintf("%s %s wants %s, this request has %s", f.Operator, f.Key, quoteList(f.Wanted), ours)
}

func quoteList(v []string) string {
	if len(v) == 1 {
		return fmt.Sprintf("%q", v[0])
	}
	q := make([]string, len(v))
	for i, s := range v {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "one of [" + strings.Join(q, ", ") + "]"
}

// condResult is the outcome of a statement's Condition block.
type condResult struct {
	Value    tri
	Failures []conditionFailure // clauses that were false
	Unknown  []string           // "Operator key" clauses unknown at check time
}

// evalCondition evaluates every operator and key (all must hold).
func evalCondition(c map[string]map[string][]string, req Request) condResult {
	res := condResult{Value: triTrue}
	for _, op := range sortedKeys(c) {
		for _, key := range sortedKeys(c[op]) {
			v := evalClause(op, key, c[op][key], req)
			switch v {
			case triFalse:
				vals, _ := req.contextValues(key)
				res.Failures = append(res.Failures, conditionFailure{Operator: op, Key: key, Wanted: c[op][key], Ours: vals})
			case triUnknown:
				res.Unknown = append(res.Unknown, op+" "+key)
			}
			res.Value = and(res.Value, v)
		}
	}
	return res
}

// evalClause evaluates one operator/key/values clause.
func evalClause(op, key string, want []string, req Request) tri {
	base := op
	set := ""
	if i := strings.Index(base, ":"); i >= 0 {
		set, base = base[:i], base[i+1:]
		if set != "ForAllValues" && set != "ForAnyValue" {
			return triUnknown
		}
	}
	ifExists := false
	if strings.HasSuffix(base, "IfExists") {
		ifExists = true
		base = strings.TrimSuffix(base, "IfExists")
	}
	match, negated, ok := operator(base)
	if !ok {
		return triUnknown
	}
	for _, w := range want {
		if strings.Contains(w, "${") {
			return triUnknown // a policy variable: its value is not known here
		}
	}
	vals, known := req.contextValues(key)
	if !known {
		return triUnknown
	}
	if len(vals) == 0 {
		// The key is present but empty only for set keys; IfExists and ForAllValues hold.
		if ifExists || set == "ForAllValues" {
			return triTrue
		}
		return triFalse
	}
	// matchesAny: the context value v satisfies the positive operator for some wanted value.
	matchesAny := func(v string) bool {
		for _, w := range want {
			if match(v, w) {
				return true
			}
		}
		return false
	}
	// ok: v satisfies the (possibly negated) operator.
	okFor := func(v string) bool {
		if negated {
			return !matchesAny(v)
		}
		return matchesAny(v)
	}
	result := false
	switch set {
	case "ForAllValues":
		result = true
		for _, v := range vals {
			if !okFor(v) {
				result = false
				break
			}
		}
	default: // ForAnyValue, and single-valued keys (a set of one)
		for _, v := range vals {
			if okFor(v) {
				result = true
				break
			}
		}
		if set == "" && len(vals) > 1 {
			// A plain operator on a multi-valued key compares the whole set; treat
			// it as unknown rather than guessing.
			return triUnknown
		}
	}
	if result {
		return triTrue
	}
	return triFalse
}

// operator returns the positive matcher for a base operator name and whether
// the operator negates it.
func operator(name string) (match func(v, w string) bool, negated bool, ok bool) {
	switch name {
	case "StringEquals":
		return func(v, w string) bool { return v == w }, false, true
	case "StringNotEquals":
		return func(v, w string) bool { return v == w }, true, true
	case "StringEqualsIgnoreCase":
		return strings.EqualFold, false, true
	case "StringNotEqualsIgnoreCase":
		return strings.EqualFold, true, true
	case "StringLike":
		return glob, false, true
	case "StringNotLike":
		return glob, true, true
	case "ArnEquals", "ArnLike":
		return arnLike, false, true
	case "ArnNotEquals", "ArnNotLike":
		return arnLike, true, true
	}
	return nil, false, false
}

// arnLike matches an ARN against a pattern component by component; each of
// the six colon-separated components may use * and ? wildcards.
func arnLike(v, pattern string) bool {
	vp := strings.SplitN(v, ":", 6)
	pp := strings.SplitN(pattern, ":", 6)
	if len(vp) != 6 || len(pp) != 6 {
		return v == pattern
	}
	for i := range vp {
		if !glob(vp[i], pp[i]) {
			return false
		}
	}
	return true
}

// glob reports whether s matches pattern, where * matches any run of
// characters and ? exactly one. Case-sensitive. Linear-time backtracking.
func glob(s, pattern string) bool {
	sr, pr := []rune(s), []rune(pattern)
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(sr) {
		switch {
		case pi < len(pr) && (pr[pi] == '?' || pr[pi] == sr[si]):
			si++
			pi++
		case pi < len(pr) && pr[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pr) && pr[pi] == '*' {
		pi++
	}
	return pi == len(pr)
}
