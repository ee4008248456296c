package trust

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParse(t *testing.T) {
	t.Parallel()
	podsPrincipal := &Principal{Values: map[string][]string{"Service": {"pods.eks.amazonaws.com"}}}
	tests := []struct {
		name string
		doc  string
		want *Document
	}{
		{
			name: "workshop trust, statement list",
			doc:  workshopTrust,
			want: &Document{Version: "2012-10-17", Statements: []*Statement{{
				Effect: "Allow", Principal: podsPrincipal, Action: []string{"sts:AssumeRole", "sts:TagSession"},
			}}},
		},
		{
			name: "statement object, string action",
			doc:  assumeOnlyTrust,
			want: &Document{Version: "2012-10-17", Statements: []*Statement{{
				Sid: "Pods", Effect: "Allow", Principal: podsPrincipal, Action: []string{"sts:AssumeRole"},
			}}},
		},
		{
			name: "URL-encoded as IAM returns it",
			doc:  strings.ReplaceAll(url.QueryEscape(workshopTrust), "+", "%20"),
			want: &Document{Version: "2012-10-17", Statements: []*Statement{{
				Effect: "Allow", Principal: podsPrincipal, Action: []string{"sts:AssumeRole", "sts:TagSession"},
			}}},
		},
		{
			name: "URL-encoded with lower-case escapes and plus for space",
			doc:  "%7b%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C+%22Principal%22%3A%22*%22%2C%22Action%22%3A%22sts%3A*%22%7D%7D",
			want: &Document{Statements: []*Statement{{Effect: "Allow", Principal: &Principal{Wildcard: true}, Action: []string{"sts:*"}}}},
		},
		{
			name: "principal list, AWS and Federated, conditions of every scalar type",
			doc: `{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:root","*"],"Federated":"cognito-identity.amazonaws.com"},
"NotAction":["iam:*"],"NotResource":"arn:aws:s3:::b",
"Condition":{"Bool":{"aws:SecureTransport":false},"NumericLessThan":{"aws:MultiFactorAuthAge":3600},"StringLike":{"k":["a*",true,1.5]}}}]}`,
			want: &Document{Statements: []*Statement{{
				Effect:       "Deny",
				NotPrincipal: &Principal{Values: map[string][]string{"AWS": {"arn:aws:iam::111122223333:root", "*"}, "Federated": {"cognito-identity.amazonaws.com"}}},
				NotAction:    []string{"iam:*"},
				NotResource:  []string{"arn:aws:s3:::b"},
				Condition: map[string]map[string][]string{
					"Bool":            {"aws:SecureTransport": {"false"}},
					"NumericLessThan": {"aws:MultiFactorAuthAge": {"3600"}},
					"StringLike":      {"k": {"a*", "true", "1.5"}},
				},
			}}},
		},
		{
			name: "permission policy with resources",
			doc:  `{"Version":"2012-10-17","Statement":[{"Sid":"AllAPIActionsOnCart","Effect":"Allow","Action":"dynamodb:*","Resource":["arn:aws:dynamodb:us-west-2:111122223333:table/eks-workshop-carts","arn:aws:dynamodb:us-west-2:111122223333:table/eks-workshop-carts/index/*"]}]}`,
			want: &Document{Version: "2012-10-17", Statements: []*Statement{{
				Sid: "AllAPIActionsOnCart", Effect: "Allow", Action: []string{"dynamodb:*"},
				Resource: []string{"arn:aws:dynamodb:us-west-2:111122223333:table/eks-workshop-carts", "arn:aws:dynamodb:us-west-2:111122223333:table/eks-workshop-carts/index/*"},
			}}},
		},
		{
			name: "empty statement list",
			doc:  `{"Version":"2012-10-17","Statement":[]}`,
			want: &Document{Version: "2012-10-17"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.doc)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			for i, s := range tt.want.Statements {
				s.Index = i
			}
			opts := cmp.Options{cmpopts.IgnoreUnexported(Document{}, Statement{})}
			if diff := cmp.Diff(tt.want, got, opts); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
			// Re-serialising and parsing again gives the same document and the same text.
			again, err := Parse(got.String())
			if err != nil {
				t.Fatalf("Parse(String()): %v\n%s", err, got.String())
			}
			if diff := cmp.Diff(got, again, opts); diff != "" {
				t.Errorf("round trip (-first +second):\n%s", diff)
			}
			if got.String() != again.String() {
				t.Errorf("String not stable:\n%s\n%s", got.String(), again.String())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want string // substring of the error
	}{
		{"empty", "", "empty"},
		{"not JSON", "Version: 2012", "not a JSON object"},
		{"a list", `[{"Effect":"Allow"}]`, "not a JSON object"},
		{"trailing data", `{"Statement":[]} {}`, "unexpected data"},
		{"no statement", `{"Version":"2012-10-17"}`, "no Statement"},
		{"statement string", `{"Statement":"x"}`, "Statement must be an object or a list"},
		{"version number", `{"Version":2012,"Statement":[]}`, "Version must be a string"},
		{"statement not object", `{"Statement":[{"Effect":"Allow","Action":"a"}, 3]}`, "statement 1"},
		{"missing effect", `{"Statement":[{"Action":"sts:AssumeRole"}]}`, "statement 0: Effect is missing"},
		{"bad effect", `{"Statement":[{"Effect":"allow","Action":"sts:AssumeRole"}]}`, `statement 0: Effect must be "Allow" or "Deny"`},
		{"no action", `{"Statement":[{"Effect":"Allow","Principal":"*"}]}`, "statement 0: has neither Action nor NotAction"},
		{"both actions", `{"Statement":[{"Effect":"Allow","Action":"a","NotAction":"b"}]}`, "both Action and NotAction"},
		{"both principals", `{"Statement":[{"Effect":"Allow","Action":"a","Principal":"*","NotPrincipal":"*"}]}`, "both Principal and NotPrincipal"},
		{"both resources", `{"Statement":[{"Effect":"Allow","Action":"a","Resource":"*","NotResource":"x"}]}`, "both Resource and NotResource"},
		{"action number", `{"Statement":[{"Effect":"Allow","Action":5}]}`, "statement 0: Action must be a string or a list of strings, got a number"},
		{"action list of objects", `{"Statement":[{"Effect":"Allow","Action":[{}]}]}`, "Action must be a string or a list of strings"},
		{"principal service string", `{"Statement":[{"Effect":"Allow","Action":"a","Principal":"pods.eks.amazonaws.com"}]}`, `Principal must be "*" or an object`},
		{"principal value number", `{"Statement":[{"Effect":"Allow","Action":"a","Principal":{"Service":1}}]}`, "Principal.Service must be a string or a list"},
		{"condition not object", `{"Statement":[{"Effect":"Allow","Action":"a","Condition":"x"}]}`, "statement 0: Condition must be an object"},
		{"condition operator not object", `{"Statement":[{"Effect":"Allow","Action":"a","Condition":{"StringEquals":"x"}}]}`, "StringEquals must be an object"},
		{"condition value object", `{"Statement":[{"Effect":"Allow","Action":"a","Condition":{"StringEquals":{"k":{}}}}]}`, "StringEquals.k must be a string, boolean, number or a list"},
		{"condition list of lists", `{"Statement":[{"Effect":"Allow","Action":"a","Condition":{"StringEquals":{"k":[[]]}}}]}`, "a list holding a list"},
		{"duplicate member", `{"Statement":[{"Effect":"Allow","Effect":"Deny","Action":"a"}]}`, `member "Effect" appears twice`},
		{"sid number", `{"Statement":[{"Sid":1,"Effect":"Allow","Action":"a"}]}`, "Sid must be a string"},
		{"bad URL encoding", "%7B%ZZ", "does not decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.doc)
			if err == nil {
				t.Fatalf("Parse(%s): want an error containing %q, got nil", tt.doc, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestStringKeepsUnknownMembersAndOrder(t *testing.T) {
	t.Parallel()
	doc, err := Parse(bothTrust)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "Version": "2012-10-17",
  "Id": "keep-me",
  "Statement": [
    {
      "Sid": "Irsa",
      "Effect": "Allow",
      "Principal": {
        "Federated": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC"
      },
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {
        "StringLike": {
          "oidc.eks.us-west-2.amazonaws.com/id/ABC:sub": "system:serviceaccount:carts:*"
        }
      },
      "X-Custom": {
        "b": 1,
        "a": [
          true,
          null
        ]
      }
    },
    {
      "Sid": "Pods",
      "Effect": "Allow",
      "Principal": {
        "Service": [
          "pods.eks.amazonaws.com"
        ]
      },
      "Action": [
        "sts:AssumeRole",
        "sts:TagSession"
      ],
      "Condition": {
        "StringEquals": {
          "aws:SourceAccount": "111122223333"
        }
      }
    }
  ]
}
`
	if diff := cmp.Diff(want, doc.String()); diff != "" {
		t.Errorf("String (-want +got):\n%s", diff)
	}
}

func TestStatements(t *testing.T) {
	t.Parallel()
	doc, err := Parse(`{"Version":"2012-10-17","Statement":[
{"Sid":"AllAPIActionsOnCart","Effect":"Allow","Action":"dynamodb:*","Resource":["arn:aws:dynamodb:us-west-2:111122223333:table/eks-workshop-carts","arn:aws:dynamodb:us-west-2:111122223333:table/eks-workshop-carts/index/*"]},
{"Effect":"Deny","NotAction":["dynamodb:Get*"],"NotResource":"*","Condition":{ "Bool" : {"aws:SecureTransport": false}}},
{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:GetObject","Resource":"*"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	want := []StatementSummary{
		{Index: 0, Sid: "AllAPIActionsOnCart", Effect: "Allow", Actions: []string{"dynamodb:*"},
			Resources: []string{"arn:aws:dynamodb:us-west-2:111122223333:table/eks-workshop-carts", "arn:aws:dynamodb:us-west-2:111122223333:table/eks-workshop-carts/index/*"}},
		{Index: 1, Effect: "Deny", NotActions: []string{"dynamodb:Get*"}, NotResources: []string{"*"}, Condition: `{"Bool":{"aws:SecureTransport":false}}`},
		{Index: 2, Effect: "Allow", Principal: `not {"AWS":"arn:aws:iam::111122223333:root"}`, Actions: []string{"s3:GetObject"}, Resources: []string{"*"}},
	}
	if diff := cmp.Diff(want, Statements(doc)); diff != "" {
		t.Errorf("Statements (-want +got):\n%s", diff)
	}
}
