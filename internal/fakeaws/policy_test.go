package fakeaws

import (
	"testing"
)

func TestWildcardMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, value string
		want           bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"sts:*", "sts:AssumeRole", true},
		{"sts:*", "sts", false},
		{"s3:Get*Object", "s3:GetObject", true},
		{"s3:Get*Object", "s3:GetSomeObject", true},
		{"s3:Get*Object", "s3:GetObjects", false},
		{"secret-?", "secret-1", true},
		{"secret-?", "secret-12", false},
		{"secret-?", "secret-", false},
		{"a*b*c", "abxbc", true},
		{"a*b*c", "acb", false},
		{"arn:aws:iam::*:role/*", "arn:aws:iam::1:role/x/y", true},
		{"exact", "exact", true},
		{"exact", "Exact", false},
	}
	for _, tt := range tests {
		if got := wildcardMatch(tt.pattern, tt.value); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tt.pattern, tt.value, got, tt.want)
		}
	}
}

func TestParsePolicyRejects(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"not json":         `{"Version":`,
		"trailing data":    `{"Version":"2012-10-17","Statement":[]} x`,
		"no statement":     `{"Version":"2012-10-17"}`,
		"bad effect":       `{"Statement":{"Effect":"Maybe","Action":"*","Resource":"*"}}`,
		"no action":        `{"Statement":{"Effect":"Allow","Resource":"*"}}`,
		"action object":    `{"Statement":{"Effect":"Allow","Action":{"a":1},"Resource":"*"}}`,
		"string principal": `{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":"pods.eks.amazonaws.com"}}`,
	} {
		if _, err := parsePolicy(doc); err == nil {
			t.Errorf("%s: parsePolicy accepted %s", name, doc)
		}
	}
}

func TestTrustAllowsPodIdentity(t *testing.T) {
	t.Parallel()
	ctx := map[string][]string{"aws:sourceaccount": {"1234567890"}, "aws:sourcearn": {"arn:aws:eks:us-west-2:1234567890:cluster/eks-workshop"}}
	tests := []struct {
		name string
		doc  string
		want bool
	}{
		{"standard", podsTrust, true},
		{"single statement object", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}}`, true},
		{"two statements", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":{"Service":["pods.eks.amazonaws.com"]},"Action":"sts:TagSession"}]}`, true},
		{"sts:*", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:*"}]}`, true},
		{"action case-insensitive", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["STS:assumerole","sts:tagsession"]}]}`, true},
		{"principal star", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":["sts:AssumeRole","sts:TagSession"]}]}`, true},
		{"AWS star", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`, true},
		{"matching SourceAccount condition", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:SourceAccount":"1234567890"},"ArnLike":{"aws:SourceArn":"arn:aws:eks:us-west-2:1234567890:cluster/*"}}}]}`, true},
		{"other SourceAccount condition", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:SourceAccount":"999"}}}]}`, false},
		{"session-tag scoped (decided when pods ask, not at create)", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"other"}}}]}`, true},
		{"deny on a session tag does not apply at create", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:*"},{"Effect":"Deny","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"carts"}}}]}`, true},
		{"only AssumeRole", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`, false},
		{"other service", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`, false},
		{"irsa", irsaTrust, false},
		{"explicit deny", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:*"},{"Effect":"Deny","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`, false},
		{"NotPrincipal deny of others", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:*"},{"Effect":"Deny","NotPrincipal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:*"}]}`, true},
		{"NotAction", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"NotAction":"sts:AssumeRoleWithWebIdentity"}]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := parsePolicy(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			if got := trustAllowsPodIdentity(doc, ctx); got != tt.want {
				t.Errorf("trustAllowsPodIdentity = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConditionOperators(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		c           condition
		ctx         map[string][]string
		want        bool
		wantMissing bool
	}{
		{"IfExists absent", condition{"StringEqualsIfExists", "aws:x", []string{"a"}}, nil, true, false},
		{"IfExists present mismatch", condition{"StringEqualsIfExists", "aws:x", []string{"a"}}, map[string][]string{"aws:x": {"b"}}, false, false},
		{"absent reported", condition{"StringEquals", "aws:X", []string{"a"}}, nil, false, true},
		{"key case-insensitive", condition{"StringEquals", "AWS:X", []string{"a"}}, map[string][]string{"aws:x": {"a"}}, true, false},
		{"ForAnyValue", condition{"ForAnyValue:StringLike", "aws:TagKeys", []string{"team*"}}, map[string][]string{"aws:tagkeys": {"env", "team-a"}}, true, false},
		{"ForAllValues fails", condition{"ForAllValues:StringEquals", "aws:TagKeys", []string{"env"}}, map[string][]string{"aws:tagkeys": {"env", "team"}}, false, false},
		{"ForAllValues absent", condition{"ForAllValues:StringEquals", "aws:TagKeys", []string{"env"}}, nil, true, false},
		{"Null true when absent", condition{"Null", "aws:x", []string{"true"}}, nil, true, false},
		{"Null false when present", condition{"Null", "aws:x", []string{"false"}}, map[string][]string{"aws:x": {"1"}}, true, false},
		{"StringNotLike", condition{"StringNotLike", "aws:x", []string{"a*"}}, map[string][]string{"aws:x": {"abc"}}, false, false},
		{"IgnoreCase", condition{"StringEqualsIgnoreCase", "aws:x", []string{"ABC"}}, map[string][]string{"aws:x": {"abc"}}, true, false},
		{"NumericLessThan", condition{"NumericLessThan", "aws:n", []string{"10"}}, map[string][]string{"aws:n": {"3"}}, true, false},
		{"unknown operator", condition{"DateLessThan", "aws:CurrentTime", []string{"2030-01-01"}}, map[string][]string{"aws:currenttime": {"2026-01-01"}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			missing := map[string]bool{}
			if got := conditionHolds(tt.c, tt.ctx, missing); got != tt.want {
				t.Errorf("conditionHolds = %v, want %v", got, tt.want)
			}
			if (len(missing) > 0) != tt.wantMissing {
				t.Errorf("missing = %v, want reported: %v", missing, tt.wantMissing)
			}
		})
	}
}
