package trust

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		doc     string
		req     Request
		opts    FixOptions
		changed bool
		want    string // the fixed document, pretty
	}{
		{
			name:    "adds TagSession to the existing statement object",
			doc:     assumeOnlyTrust,
			changed: true,
			want: `{
  "Version": "2012-10-17",
  "Statement": {
    "Sid": "Pods",
    "Effect": "Allow",
    "Principal": {
      "Service": "pods.eks.amazonaws.com"
    },
    "Action": [
      "sts:AssumeRole",
      "sts:TagSession"
    ]
  }
}
`,
		},
		{
			name:    "appends a statement and keeps the IRSA one",
			doc:     irsaTrust,
			changed: true,
			want: `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {
        "Federated": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
      },
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {
        "StringEquals": {
          "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub": "system:serviceaccount:carts:carts",
          "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:aud": "sts.amazonaws.com"
        }
      }
    },
    {
      "Sid": "AllowEksAuthToAssumeRoleForPodIdentity",
      "Effect": "Allow",
      "Principal": {
        "Service": "pods.eks.amazonaws.com"
      },
      "Action": [
        "sts:AssumeRole",
        "sts:TagSession"
      ]
    }
  ]
}
`,
		},
		{
			name:    "scoped statement for an IRSA role",
			doc:     `{"Statement":{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/x"},"Action":"sts:AssumeRoleWithWebIdentity"}}`,
			opts:    FixOptions{Scoped: true},
			changed: true,
			want: `{
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {
        "Federated": "arn:aws:iam::111122223333:oidc-provider/x"
      },
      "Action": "sts:AssumeRoleWithWebIdentity"
    },
    {
      "Sid": "AllowEksAuthToAssumeRoleForPodIdentity",
      "Effect": "Allow",
      "Principal": {
        "Service": "pods.eks.amazonaws.com"
      },
      "Action": [
        "sts:AssumeRole",
        "sts:TagSession"
      ],
      "Condition": {
        "StringEquals": {
          "aws:RequestTag/eks-cluster-name": "eks-workshop",
          "aws:RequestTag/kubernetes-namespace": "carts",
          "aws:RequestTag/kubernetes-service-account": "carts",
          "aws:SourceAccount": "111122223333"
        }
      }
    }
  ]
}
`,
		},
		{
			name:    "a statement shared with another service is not widened",
			doc:     `{"Statement":[{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","pods.eks.amazonaws.com"]},"Action":"sts:AssumeRole"}]}`,
			changed: true,
			want: `{
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {
        "Service": [
          "ec2.amazonaws.com",
          "pods.eks.amazonaws.com"
        ]
      },
      "Action": "sts:AssumeRole"
    },
    {
      "Sid": "AllowEksAuthToAssumeRoleForPodIdentity",
      "Effect": "Allow",
      "Principal": {
        "Service": "pods.eks.amazonaws.com"
      },
      "Action": [
        "sts:AssumeRole",
        "sts:TagSession"
      ]
    }
  ]
}
`,
		},
		{
			name:    "a statement excluded by its condition gets a scoped sibling",
			doc:     stmt(`{"Sid":"Orders","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"orders"}}}`),
			opts:    FixOptions{Scoped: true},
			changed: true,
			want: `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Orders",
      "Effect": "Allow",
      "Principal": {
        "Service": "pods.eks.amazonaws.com"
      },
      "Action": "sts:AssumeRole",
      "Condition": {
        "StringEquals": {
          "aws:RequestTag/kubernetes-namespace": "orders"
        }
      }
    },
    {
      "Sid": "AllowEksAuthToAssumeRoleForPodIdentity",
      "Effect": "Allow",
      "Principal": {
        "Service": "pods.eks.amazonaws.com"
      },
      "Action": [
        "sts:AssumeRole",
        "sts:TagSession"
      ],
      "Condition": {
        "StringEquals": {
          "aws:RequestTag/eks-cluster-name": "eks-workshop",
          "aws:RequestTag/kubernetes-namespace": "carts",
          "aws:RequestTag/kubernetes-service-account": "carts",
          "aws:SourceAccount": "111122223333"
        }
      }
    }
  ]
}
`,
		},
		{
			name:    "an allowed trust is unchanged",
			doc:     workshopTrust,
			changed: false,
			want:    mustPretty(workshopTrust),
		},
		{
			name:    "a conditional trust is left alone rather than widened",
			doc:     stmt(allowWith(`{"StringEquals":{"aws:SourceOrgId":"o-abc"}}`)),
			changed: false,
			want:    mustPretty(stmt(allowWith(`{"StringEquals":{"aws:SourceOrgId":"o-abc"}}`))),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Parse(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			before := doc.String()
			req := tt.req
			if req == (Request{}) {
				req = workshopReq
			}
			got, changed, err := Fix(doc, req, tt.opts)
			if err != nil {
				t.Fatalf("Fix: %v", err)
			}
			if changed != tt.changed {
				t.Errorf("changed = %v, want %v", changed, tt.changed)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Fix (-want +got):\n%s", diff)
			}
			if doc.String() != before {
				t.Errorf("Fix modified its input")
			}
			// Idempotent: fixing the fixed document changes nothing.
			fixedDoc, err := Parse(got)
			if err != nil {
				t.Fatalf("Parse(fixed): %v", err)
			}
			again, changed, err := Fix(fixedDoc, req, tt.opts)
			if err != nil || changed || again != got {
				t.Errorf("Fix(fixed) = changed %v, err %v, same %v; want unchanged", changed, err, again == got)
			}
		})
	}
}

func mustPretty(doc string) string {
	d, err := Parse(doc)
	if err != nil {
		panic(err)
	}
	return d.String()
}

func TestFixRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		req  Request
		opts FixOptions
		want string
	}{
		{"deny blocks", denyTrust, workshopReq, FixOptions{}, `"NoCarts" (statement 1) denies sts:AssumeRole to pods.eks.amazonaws.com: podid does not remove a Deny; edit that statement by hand`},
		{"deny without sid", stmt(`{"Effect":"Deny","Principal":"*","Action":"sts:TagSession"}`), workshopReq, FixOptions{}, "statement 0 denies sts:TagSession"},
		{"scoped needs the names", irsaTrust, Request{Cluster: "c"}, FixOptions{Scoped: true}, "scoped trust needs the cluster, namespace and service account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Parse(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			_, changed, err := Fix(doc, tt.req, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Fix error = %v, want it to contain %q", err, tt.want)
			}
			if changed {
				t.Errorf("changed = true on error")
			}
		})
	}
}

// fixCorpus is the seed corpus of the never-widen property.
var fixCorpus = []string{
	workshopTrust, irsaTrust, assumeOnlyTrust, denyTrust, scopedTrust, starTrust, bothTrust,
	stmt(`{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","pods.eks.amazonaws.com"]},"Action":"sts:TagSession"}`),
	stmt(`{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:TagSession"}`),
	stmt(`{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:Assume*"}`),
	stmt(`{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"NotAction":"sts:TagSession"}`),
	stmt(`{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}`),
	stmt(allowWith(`{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"orders"}}`)),
	stmt(allowWith(`{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}`)),
	stmt(`{"Sid":"A","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"carts"}}}`),
	stmt(`{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"orders"}}}`),
	`{"Statement":[]}`,
}

// TestFixNeverWidens checks, over the corpus and several requests, that the
// fixed document keeps every statement, adds at most the two actions to a
// statement whose only principal is the service, appends at most the
// service's two-action statement, admits the request and is a fixed point.
func TestFixNeverWidens(t *testing.T) {
	t.Parallel()
	reqs := []Request{
		workshopReq,
		{Cluster: "eks-workshop", Namespace: "orders", ServiceAccount: "orders", Account: "111122223333"},
		{Cluster: "c", Namespace: "n", ServiceAccount: "s"},
		{Cluster: "eks-workshop", Namespace: "carts", ServiceAccount: "carts", Account: "111122223333", NoSessionTags: true},
		{Cluster: "c", Namespace: "n", ServiceAccount: "s", NoSessionTags: true},
	}
	for i, src := range fixCorpus {
		for j, req := range reqs {
			for _, scoped := range []bool{false, true} {
				doc, err := Parse(src)
				if err != nil {
					t.Fatalf("corpus %d: %v", i, err)
				}
				fixed, changed, err := Fix(doc, req, FixOptions{Scoped: scoped})
				if err != nil {
					if !strings.Contains(err.Error(), "Deny") {
						t.Errorf("corpus %d req %d: unexpected error %v", i, j, err)
					}
					continue
				}
				checkNotWider(t, doc, fixed, changed)
				fd, err := Parse(fixed)
				if err != nil {
					t.Fatalf("corpus %d req %d: fixed does not parse: %v", i, j, err)
				}
				if !Evaluate(fd, req).Admits() {
					t.Errorf("corpus %d req %d scoped %v: fixed doc does not admit the request:\n%s", i, j, scoped, fixed)
				}
				if _, again, err := Fix(fd, req, FixOptions{Scoped: scoped}); err != nil || again {
					t.Errorf("corpus %d req %d: Fix not idempotent: changed %v, %v", i, j, again, err)
				}
			}
		}
	}
}

func checkNotWider(t *testing.T, old *Document, fixed string, changed bool) {
	t.Helper()
	nd, err := Parse(fixed)
	if err != nil {
		t.Fatalf("fixed does not parse: %v", err)
	}
	if !changed {
		if fixed != old.String() {
			t.Errorf("changed=false but the document differs:\n%s", Diff(old.String(), fixed))
		}
		return
	}
	if n, o := len(nd.Statements), len(old.Statements); n != o && n != o+1 {
		t.Fatalf("fixed has %d statements, old %d", n, o)
	}
	edited := 0
	for i, os := range old.Statements {
		ns := nd.Statements[i]
		if sameMembers(os.members, ns.members) {
			continue
		}
		edited++
		if !onlyPodIdentityPrincipal(os.Principal) {
			t.Errorf("statement %d edited though its principal is not only the service", i)
		}
		// Only Action may differ, and only by the two actions.
		for _, m := range os.members {
			if m.Key == "Action" {
				continue
			}
			v, _ := ns.members.get(m.Key)
			if compact(v) != compact(m.Value) {
				t.Errorf("statement %d: member %s changed", i, m.Key)
			}
		}
		if len(ns.members) != len(os.members) {
			t.Errorf("statement %d: members added or removed", i)
		}
		for _, a := range ns.Action {
			if !slices.Contains(os.Action, a) && a != ActionAssumeRole && a != ActionTagSession {
				t.Errorf("statement %d: action %q added", i, a)
			}
		}
	}
	if len(nd.Statements) == len(old.Statements)+1 {
		s := nd.Statements[len(old.Statements)]
		if s.Effect != "Allow" || !onlyPodIdentityPrincipal(s.Principal) || !slices.Equal(s.Action, []string{ActionAssumeRole, ActionTagSession}) ||
			s.NotAction != nil || s.Resource != nil || s.NotResource != nil || s.NotPrincipal != nil {
			t.Errorf("appended statement is wider than the service's two actions: %+v", s)
		}
		edited++
	}
	if edited != 1 {
		t.Errorf("fixed doc changes %d statements, want exactly 1", edited)
	}
}

func sameMembers(a, b object) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !bytes.Equal([]byte(compact(a[i].Value)), []byte(compact(b[i].Value))) {
			return false
		}
	}
	return true
}

func TestNewTrustPolicy(t *testing.T) {
	t.Parallel()
	plain := NewTrustPolicy(workshopReq, false)
	if diff := cmp.Diff(mustPretty(workshopTrustWithSid), plain); diff != "" {
		t.Errorf("NewTrustPolicy(unscoped) (-want +got):\n%s", diff)
	}
	scoped := NewTrustPolicy(workshopReq, true)
	if diff := cmp.Diff(mustPretty(scopedTrust), scoped); diff != "" {
		t.Errorf("NewTrustPolicy(scoped) (-want +got):\n%s", diff)
	}
	for _, doc := range []string{plain, scoped} {
		d, err := Parse(doc)
		if err != nil {
			t.Fatal(err)
		}
		if rep := Evaluate(d, workshopReq); !rep.OK() {
			t.Errorf("new trust policy is not OK: %+v", rep)
		}
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(scoped), &v); err != nil {
		t.Errorf("scoped policy is not JSON: %v", err)
	}
	d, _ := Parse(scoped)
	if rep := Evaluate(d, Request{Cluster: "eks-workshop", Namespace: "orders", ServiceAccount: "carts", Account: "111122223333"}); rep.OK() {
		t.Errorf("scoped policy admits another namespace")
	}
}

const workshopTrustWithSid = `{"Version":"2012-10-17","Statement":[{"Sid":"AllowEksAuthToAssumeRoleForPodIdentity","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`

func TestDiff(t *testing.T) {
	t.Parallel()
	lines := func(n int, f func(i int) string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(f(i) + "\n")
		}
		return b.String()
	}
	num := func(i int) string { return string(rune('a' + i)) }
	tests := []struct {
		name, old, new, want string
	}{
		{"equal", "a\nb\n", "a\nb\n", ""},
		{"append", "a\nb\n", "a\nb\nc\n", "--- current\n+++ fixed\n@@ -1,2 +1,3 @@\n a\n b\n+c\n"},
		{"from empty", "", "a\n", "--- current\n+++ fixed\n@@ -0,0 +1 @@\n+a\n"},
		{"to empty", "a\n", "", "--- current\n+++ fixed\n@@ -1 +0,0 @@\n-a\n"},
		{"replace in the middle", lines(9, num), strings.Replace(lines(9, num), "e\n", "E\n", 1),
			"--- current\n+++ fixed\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"},
		{"two hunks", lines(20, num), strings.Replace(strings.Replace(lines(20, num), "b\n", "B\n", 1), "s\n", "", 1),
			"--- current\n+++ fixed\n@@ -1,5 +1,5 @@\n a\n-b\n+B\n c\n d\n e\n@@ -16,5 +16,4 @@\n p\n q\n r\n-s\n t\n"},
		{"close changes share a hunk", lines(10, num), strings.Replace(strings.Replace(lines(10, num), "b\n", "B\n", 1), "h\n", "H\n", 1),
			"--- current\n+++ fixed\n@@ -1,10 +1,10 @@\n a\n-b\n+B\n c\n d\n e\n f\n g\n-h\n+H\n i\n j\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, Diff(tt.old, tt.new)); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
		})
	}
}
