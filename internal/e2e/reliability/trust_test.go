package reliability

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

// verify-role warns when the trust has no session-tag conditions and shows
// the scoped Condition to add, for this cluster, namespace and SA.
func TestVerifyRoleWarnsUnscopedTrust(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"))
	args := append([]string{"verify-role", "--role", lab.CartsRole}, w.Target()...)
	wants := []string{"not scoped by session tags", "StringEquals",
		`"aws:RequestTag/eks-cluster-name": "eks-workshop"`,
		`"aws:RequestTag/kubernetes-namespace": "` + w.App.Namespace + `"`,
		`"aws:RequestTag/kubernetes-service-account": "carts"`}
	r := w.Podid(t, args...)
	if r.Code != 0 {
		t.Fatalf("verify-role: exit %d\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "text output", all(r), wants...)

	r = w.Podid(t, append(args, "-o", "json")...)
	if r.Code != 0 {
		t.Fatalf("verify-role -o json: exit %d\n%s", r.Code, r.Stderr)
	}
	d := r.Doc(t)
	b, _ := json.Marshal(d)
	// JSON escapes the quotes of the condition inside strings; compare the keys.
	mustContain(t, "JSON document", string(b), "not scoped by session tags", "aws:RequestTag/kubernetes-namespace", w.App.Namespace)

	// A scoped trust is not warned about.
	scoped := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],
 "Condition":{"StringEquals":{"aws:RequestTag/eks-cluster-name":"eks-workshop","aws:RequestTag/kubernetes-namespace":"` + w.App.Namespace + `","aws:RequestTag/kubernetes-service-account":"carts"}}}]}`
	w.Fake.PutRole(fakeaws.Role{Name: "scoped-role", TrustPolicy: scoped})
	r = w.Podid(t, append([]string{"verify-role", "--role", "scoped-role"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("verify-role of a scoped role: exit %d\n%s", r.Code, r.Stderr)
	}
	if strings.Contains(all(r), "not scoped") {
		t.Errorf("a scoped trust was warned about:\n%s", r.Stderr)
	}
}

// --fix never widens trust: whatever the starting document, every statement
// it adds or changes is an Allow for pods.eks.amazonaws.com alone with only
// sts:AssumeRole and sts:TagSession; every other statement is kept as it was,
// and every Deny survives.
func TestFixNeverWidensTrust(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fastOpts(), labtest.ServiceAccount("carts"))
	ns := w.App.Namespace
	docs := map[string]string{
		"empty":               `{"Version":"2012-10-17","Statement":[]}`,
		"ec2 only":            `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
		"irsa only":           `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::1234567890:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"oidc.eks.us-west-2.amazonaws.com/id/ABC:sub":"system:serviceaccount:carts:carts"}}}]}`,
		"pods without tag":    noTagSessionTrust,
		"pods other ns":       `{"Version":"2012-10-17","Statement":[{"Sid":"Other","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"orders"}}}]}`,
		"pods with deny":      denyTrust,
		"account root + pods": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1234567890:root"},"Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":{"Service":["pods.eks.amazonaws.com","ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}]}`,
		"deny other ns":       `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"sts:*","Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"kube-system"}}},{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
		"already fine":        lab.PodIdentityTrust,
	}
	fixedOK := 0
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			role := "fix-" + strings.ReplaceAll(name, " ", "-")
			role = strings.ReplaceAll(role, "+", "plus")
			w.Fake.PutRole(fakeaws.Role{Name: role, TrustPolicy: doc})
			r := w.Podid(t, "verify-role", "--role", role, "--ns", ns, "--sa", "carts", "--fix")
			after := roleTrust(t, w, role)
			checkNotWidened(t, doc, after)
			// A statement --fix appended (past the old ones) is scoped to this
			// namespace and SA; one it changed in place keeps its own scope.
			for i, s := range parseStatements(t, after) {
				if i < len(parseStatements(t, doc)) {
					continue
				}
				if c, _ := json.Marshal(s["Condition"]); !strings.Contains(string(c), ns) || !strings.Contains(string(c), "carts") {
					t.Errorf("--fix added a statement not scoped to %s/carts: %v", ns, s)
				}
			}
			if r.Code == 0 {
				fixedOK++
				// The fix works: a plain verify passes now.
				if r2 := w.Podid(t, "verify-role", "--role", role, "--ns", ns, "--sa", "carts"); r2.Code != 0 {
					t.Errorf("after --fix (exit 0), verify-role fails: exit %d\n%s", r2.Code, r2.Stderr)
				}
			} else {
				mustContain(t, "stderr", r.Stderr, "hint:")
				if r.Code != 3 && r.Code != 1 {
					t.Errorf("--fix: exit %d\n%s", r.Code, r.Stderr)
				}
			}
		})
	}
	t.Logf("FIGURE trust: %d starting documents, %d fixed, none widened", len(docs), fixedOK)
}

func roleTrust(t *testing.T, w *world, name string) string {
	t.Helper()
	for _, r := range w.Fake.State().Roles {
		if r.Name == name {
			return r.TrustPolicy
		}
	}
	t.Fatalf("role %s not in the fake", name)
	return ""
}

type stmt = map[string]any

func parseStatements(t *testing.T, doc string) []stmt {
	t.Helper()
	var d struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatalf("trust does not parse: %v\n%s", err, doc)
	}
	var list []stmt
	if err := json.Unmarshal(d.Statement, &list); err != nil {
		var one stmt
		if err2 := json.Unmarshal(d.Statement, &one); err2 != nil {
			t.Fatalf("Statement does not parse: %v\n%s", err, doc)
		}
		list = []stmt{one}
	}
	return list
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, e.(string))
		}
		return out
	}
	return nil
}

// podsOnly reports whether s is an Allow for pods.eks.amazonaws.com alone
// with actions among sts:AssumeRole and sts:TagSession.
func podsOnly(s stmt) bool {
	if s["Effect"] != "Allow" || s["NotPrincipal"] != nil || s["NotAction"] != nil {
		return false
	}
	p, ok := s["Principal"].(map[string]any)
	if !ok || len(p) != 1 {
		return false
	}
	svc := strs(p["Service"])
	if len(svc) != 1 || svc[0] != "pods.eks.amazonaws.com" {
		return false
	}
	acts := strs(s["Action"])
	if len(acts) == 0 {
		return false
	}
	for _, a := range acts {
		if a != "sts:AssumeRole" && a != "sts:TagSession" {
			return false
		}
	}
	return true
}

func checkNotWidened(t *testing.T, before, after string) {
	t.Helper()
	old, cur := parseStatements(t, before), parseStatements(t, after)
	contains := func(list []stmt, s stmt) bool {
		return slices.ContainsFunc(list, func(x stmt) bool { return reflect.DeepEqual(x, s) })
	}
	for _, s := range cur {
		if !contains(old, s) && !podsOnly(s) {
			t.Errorf("--fix added or changed a statement beyond pods.eks.amazonaws.com with sts:AssumeRole/sts:TagSession: %v\nbefore: %s\nafter:  %s", s, before, after)
		}
	}
	for _, s := range old {
		if contains(cur, s) {
			continue
		}
		if s["Effect"] == "Deny" {
			t.Errorf("--fix removed or changed a Deny: %v\nafter: %s", s, after)
			continue
		}
		// A changed Allow must have been a pods-only statement (it gains sts:TagSession).
		if !podsOnly(s) {
			t.Errorf("--fix changed a statement that is not only for pods.eks.amazonaws.com: %v\nafter: %s", s, after)
		}
	}
}
