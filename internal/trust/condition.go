package trust

import (
	"fmt"
	"slices"
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

// contextValues returns the values of a condition key in the request EKS
// makes for this association, and whether podid knows them at check time.
// known with no values means the key is absent from the request (IAM's
// "missing key" rules then apply). Keys are case-insensitive, as in IAM.
//
// The first hop (CallerRoleArn empty) is pods.eks.amazonaws.com calling
// sts:AssumeRole on the association's role; the second hop is that role's
// session calling sts:AssumeRole on the target role.
func (r Request) contextValues(key string) ([]string, bool) {
	k := strings.ToLower(key)
	if tag, ok := strings.CutPrefix(k, "aws:requesttag/"); ok {
		if r.NoSessionTags {
			return nil, true // disableSessionTags: EKS sends no request tags
		}
		return r.sessionTag(tag)
	}
	if k == "aws:tagkeys" {
		if r.NoSessionTags {
			return nil, true
		}
		return sessionTagKeys, true
	}
	if r.CallerRoleArn == "" {
		return r.firstHopValue(k)
	}
	return r.secondHopValue(k)
}

// firstHopValue is a key of the request pods.eks.amazonaws.com makes.
func (r Request) firstHopValue(k string) ([]string, bool) {
	switch k {
	case "aws:sourceaccount":
		return known(r.Account)
	case "aws:sourcearn":
		// UNVERIFIED (EKS-AUTH.md §2.5): templates disagree between the
		// cluster ARN and the association ARN. podid evaluates the cluster
		// ARN, the stricter choice: a condition written for another value
		// fails here instead of passing as unknown.
		return known(r.ClusterArn)
	case "aws:principalisawsservice":
		return []string{"true"}, true
	case "aws:principalservicename":
		return []string{ServicePrincipal}, true
	case "aws:principalarn", "aws:principalaccount", "aws:principalorgid", "aws:principalorgpaths",
		"aws:principaltype", "aws:userid", "aws:username", "sts:externalid":
		// A service principal carries no IAM principal keys. Whether EKS
		// sends an ExternalId on the first hop is UNVERIFIED: absent is
		// the stricter choice.
		return nil, true
	}
	if strings.HasPrefix(k, "aws:principaltag/") {
		return nil, true
	}
	// aws:SourceOrgId (EKS passes the organization of the account, which
	// podid cannot read), aws:SourceOrgPaths, aws:CurrentTime, …
	return nil, false
}

// secondHopValue is a key of the request the association role's session
// makes on the target role.
func (r Request) secondHopValue(k string) ([]string, bool) {
	switch k {
	case "aws:principalarn":
		return known(r.CallerRoleArn)
	case "aws:principalaccount":
		return known(arnAccount(r.CallerRoleArn))
	case "aws:principaltype":
		return []string{"AssumedRole"}, true
	case "aws:principalisawsservice":
		return []string{"false"}, true
	case "aws:principalservicename":
		return nil, true
	case "sts:externalid":
		if r.ExternalID == "" {
			return nil, true
		}
		return []string{r.ExternalID}, true
	case "aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid", "aws:sourceorgpaths":
		// The second hop is an ordinary call by a role session, not a
		// service acting for a resource; whether EKS adds source keys is
		// UNVERIFIED, so podid takes the stricter view: absent.
		return nil, true
	}
	if tag, ok := strings.CutPrefix(k, "aws:principaltag/"); ok {
		if !r.NoSessionTags && slices.Contains(sessionTagKeys, tag) {
			return r.sessionTag(tag) // the session tags are transitive
		}
		return nil, false // the role's own tags: not read here
	}
	return nil, false
}

// sessionTag is the value EKS gives session tag key (lower case); only the
// six session tags exist, and EKS cannot add others.
func (r Request) sessionTag(key string) ([]string, bool) {
	switch key {
	case "eks-cluster-name":
		return known(r.Cluster)
	case "kubernetes-namespace":
		return known(r.Namespace)
	case "kubernetes-service-account":
		return known(r.ServiceAccount)
	case "eks-cluster-arn":
		return known(r.ClusterArn)
	case "kubernetes-pod-name", "kubernetes-pod-uid":
		return nil, false // differs per pod
	}
	return nil, true
}

// known is a single value, or unknown when it is empty.
func known(v string) ([]string, bool) {
	if v == "" {
		return nil, false
	}
	return []string{v}, true
}

// arnAccount is the account field of an ARN, or "".
func arnAccount(arn string) string {
	p := strings.SplitN(arn, ":", 6)
	if len(p) != 6 {
		return ""
	}
	return p[4]
}

// arnPartition is the partition field of an ARN, "aws" when it has none.
func arnPartition(arn string) string {
	p := strings.SplitN(arn, ":", 6)
	if len(p) != 6 || p[1] == "" {
		return "aws"
	}
	return p[1]
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
	vals, isKnown := req.contextValues(key)
	if !isKnown {
		return triUnknown
	}
	if base == "Null" {
		// "true": the key must be absent; "false": present. Any value may match.
		for _, w := range want {
			if strings.EqualFold(w, "true") == (len(vals) == 0) {
				return triTrue
			}
		}
		return triFalse
	}
	if len(vals) == 0 {
		// IAM's rules for a key missing from the request: IfExists and
		// ForAllValues hold, ForAnyValue does not, a negated operator
		// (StringNotEquals, ArnNotLike, …) holds, any other does not.
		switch {
		case ifExists || set == "ForAllValues":
			return triTrue
		case set == "ForAnyValue":
			return triFalse
		case strings.Contains(base, "Not"):
			return triTrue
		}
		return triFalse
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
		if set == "" && len(vals) > 1 {
			// A plain operator on a multi-valued key compares the whole set; treat
			// it as unknown rather than guessing.
			return triUnknown
		}
		for _, v := range vals {
			if okFor(v) {
				result = true
				break
			}
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
	case "Bool":
		return strings.EqualFold, false, true
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
