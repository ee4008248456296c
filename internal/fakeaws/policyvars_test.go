package fakeaws

import "testing"

func TestPolicyVariables(t *testing.T) {
	t.Parallel()
	ctx := map[string][]string{"aws:principaltag/kubernetes-namespace": {"carts"}, "aws:tagkeys": {"a", "b"}}
	tests := []struct {
		pattern, want string
		ok            bool
	}{
		{"table/${aws:PrincipalTag/kubernetes-namespace}-*", "table/carts-*", true},
		{"table/${aws:PrincipalTag/missing}", "", false},
		{"table/${aws:PrincipalTag/missing, 'dflt'}", "table/dflt", true},
		{"table/${aws:TagKeys}", "", false}, // multi-valued
		{"a${*}b${?}c${$}", "a*b?c$", true},
		{"no variables", "no variables", true},
	}
	for _, tt := range tests {
		got, ok := expandVariables(tt.pattern, ctx)
		if got != tt.want || ok != tt.ok {
			t.Errorf("expandVariables(%q) = %q, %v; want %q, %v", tt.pattern, got, ok, tt.want, tt.ok)
		}
	}
	// Only 2012-10-17 documents expand variables.
	for version, want := range map[string]string{"2012-10-17": decisionAllowed, "2008-10-17": decisionImplicitDeny} {
		doc, err := parsePolicy(`{"Version":"` + version + `","Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"arn:aws:dynamodb:us-west-2:1:table/${aws:PrincipalTag/kubernetes-namespace}"}]}`)
		if err != nil {
			t.Fatal(err)
		}
		res := evaluate([]namedPolicy{{id: "p", doc: doc}}, nil, evalRequest{action: "dynamodb:GetItem", resource: "arn:aws:dynamodb:us-west-2:1:table/carts", context: ctx})
		if res.decision != want {
			t.Errorf("version %s: %s, want %s", version, res.decision, want)
		}
	}
}

func TestPrincipalAliases(t *testing.T) {
	t.Parallel()
	who := principalRef{typ: "AWS", id: "arn:aws:sts::1:assumed-role/hop1/s", also: []string{"arn:aws:iam::1:role/hop1", "arn:aws:iam::1:root", "1"}}
	for p, want := range map[string]bool{
		`{"AWS":"arn:aws:iam::1:root"}`:                true,
		`{"AWS":"1"}`:                                  true,
		`{"AWS":"arn:aws:iam::1:role/hop1"}`:           true,
		`{"AWS":"arn:aws:sts::1:assumed-role/hop1/s"}`: true,
		`{"AWS":"arn:aws:iam::1:role/other"}`:          false,
		`{"AWS":"arn:aws:iam::2:root"}`:                false,
		`{"AWS":"arn:aws:iam::1:role/hop*"}`:           false, // no wildcards in AWS principals
		`{"Service":"pods.eks.amazonaws.com"}`:         false,
		`{"AWS":"*"}`:                                  true,
	} {
		doc, err := parsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":` + p + `,"Action":"sts:AssumeRole"}]}`)
		if err != nil {
			t.Fatal(err)
		}
		res := evaluate([]namedPolicy{{id: "trust", doc: doc}}, nil, evalRequest{action: "sts:AssumeRole", principal: &who})
		if (res.decision == decisionAllowed) != want {
			t.Errorf("principal %s: %s, want allowed=%v", p, res.decision, want)
		}
	}
}
