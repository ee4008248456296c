package irsa

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const issuer = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE"

func oidcStmt(sid, op, subs string) string {
	return `{"Sid":"` + sid + `","Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/` + issuer + `"},` +
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"` + op + `":{"` + issuer + `:sub":` + subs + `,"` + issuer + `:aud":"sts.amazonaws.com"}}}`
}

const podStmt = `{"Sid":"Pods","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}`

func doc(stmts ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

func TestRemoveOIDC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		in          string
		wantRemoved []string
		wantKept    []string
		wantGone    []string // substrings that must be gone
		wantStay    []string // substrings that must stay
	}{
		{name: "only this service account: removed",
			in:          doc(oidcStmt("IRSA", "StringEquals", `"system:serviceaccount:orders:orders"`), podStmt),
			wantRemoved: []string{"IRSA"}, wantGone: []string{"oidc-provider"}, wantStay: []string{"pods.eks.amazonaws.com", `"Version": "2012-10-17"`}},
		{name: "same subject as a list: removed",
			in:          doc(podStmt, oidcStmt("", "StringEquals", `["system:serviceaccount:orders:orders"]`)),
			wantRemoved: []string{"statement 1"}, wantGone: []string{"oidc-provider"}},
		{name: "shared with another service account: kept",
			in:       doc(oidcStmt("Shared", "StringEquals", `["system:serviceaccount:orders:orders","system:serviceaccount:carts:carts"]`), podStmt),
			wantKept: []string{"Shared"}, wantStay: []string{"oidc-provider"}},
		{name: "pattern: kept",
			in:       doc(oidcStmt("Like", "StringLike", `"system:serviceaccount:orders:*"`), podStmt),
			wantKept: []string{"Like"}, wantStay: []string{"oidc-provider"}},
		{name: "another service account only: kept",
			in:       doc(oidcStmt("Other", "StringEquals", `"system:serviceaccount:carts:carts"`)),
			wantKept: []string{"Other"}, wantStay: []string{"oidc-provider"}},
		{name: "no OIDC statement",
			in:       doc(podStmt),
			wantStay: []string{"pods.eks.amazonaws.com"}},
		{name: "URL-encoded, as IAM returns it",
			in:          strings.NewReplacer("{", "%7B", "}", "%7D", `"`, "%22", ":", "%3A", ",", "%2C").Replace(doc(oidcStmt("IRSA", "StringEquals", `"system:serviceaccount:orders:orders"`), podStmt)),
			wantRemoved: []string{"IRSA"}, wantGone: []string{"oidc-provider"}, wantStay: []string{"pods.eks.amazonaws.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, removed, kept, err := RemoveOIDC(tt.in, "orders", "orders")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantRemoved, removed); diff != "" {
				t.Errorf("removed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantKept, kept); diff != "" {
				t.Errorf("kept (-want +got):\n%s", diff)
			}
			for _, g := range tt.wantGone {
				if strings.Contains(out, g) {
					t.Errorf("output still has %q:\n%s", g, out)
				}
			}
			for _, s := range tt.wantStay {
				if !strings.Contains(out, s) {
					t.Errorf("output lost %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestRemoveOIDCRejectsBadJSON(t *testing.T) {
	t.Parallel()
	if _, _, _, err := RemoveOIDC("[1,2]", "a", "b"); err == nil {
		t.Error("a JSON array was accepted as a trust policy")
	}
}
