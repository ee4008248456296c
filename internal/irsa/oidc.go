package irsa

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/trust"
)

// Subject is the OIDC sub claim of a service account's token.
func Subject(ns, sa string) string { return "system:serviceaccount:" + ns + ":" + sa }

// oidcStatement is the part of a statement RemoveOIDC looks at.
type oidcStatement struct {
	Sid       string                     `json:"Sid"`
	Principal map[string]json.RawMessage `json:"Principal"`
	Condition map[string]map[string]any  `json:"Condition"`
}

func stringsOf(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

func valuesOf(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// onlyFor reports whether stmt trusts an IAM OIDC provider (IRSA) and its
// sub conditions admit exactly the one subject sub (so removing it affects
// no other service account).
func onlyFor(raw json.RawMessage, sub string) (oidc, only bool) {
	var s oidcStatement
	if json.Unmarshal(raw, &s) != nil {
		return false, false
	}
	for _, p := range stringsOf(s.Principal["Federated"]) {
		if strings.Contains(p, ":oidc-provider/") {
			oidc = true
		}
	}
	if !oidc {
		return false, false
	}
	var subs []string
	for op, kv := range s.Condition {
		for k, v := range kv {
			if strings.HasSuffix(k, ":sub") {
				if op != "StringEquals" {
					return true, false // a pattern may match other subjects
				}
				subs = append(subs, valuesOf(v)...)
			}
		}
	}
	if len(subs) == 0 {
		return true, false
	}
	for _, x := range subs {
		if x != sub {
			return true, false
		}
	}
	return true, true
}

// RemoveOIDC returns doc without the OIDC (IRSA) statements that serve only
// ns/sa, pretty-printed, and the names of the removed statements and of the
// OIDC statements kept because they serve other subjects too.
func RemoveOIDC(doc, ns, sa string) (out string, removed, kept []string, err error) {
	dec, err := trust.Decode(doc)
	if err != nil {
		return "", nil, nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(dec), &top); err != nil {
		return "", nil, nil, fmt.Errorf("trust policy is not a JSON object: %w", err)
	}
	var stmts []json.RawMessage
	if err := json.Unmarshal(top["Statement"], &stmts); err != nil {
		stmts = []json.RawMessage{top["Statement"]}
	}
	sub := Subject(ns, sa)
	var keep []json.RawMessage
	for i, st := range stmts {
		oidc, only := onlyFor(st, sub)
		name := statementName(st, i)
		switch {
		case oidc && only:
			removed = append(removed, name)
		case oidc:
			kept = append(kept, name)
			keep = append(keep, st)
		default:
			keep = append(keep, st)
		}
	}
	if len(removed) == 0 {
		p, err := trust.Parse(dec)
		if err != nil {
			return "", nil, nil, err
		}
		return p.String(), nil, kept, nil
	}
	var b bytes.Buffer
	b.WriteString("{")
	if v, ok := top["Version"]; ok {
		b.WriteString(`"Version":`)
		b.Write(v)
		b.WriteString(",")
	}
	if v, ok := top["Id"]; ok {
		b.WriteString(`"Id":`)
		b.Write(v)
		b.WriteString(",")
	}
	b.WriteString(`"Statement":[`)
	for i, st := range keep {
		if i > 0 {
			b.WriteString(",")
		}
		b.Write(st)
	}
	b.WriteString("]}")
	p, err := trust.Parse(b.String())
	if err != nil {
		return "", nil, nil, fmt.Errorf("trust policy without the OIDC statement: %w", err)
	}
	return p.String(), removed, kept, nil
}

func statementName(raw json.RawMessage, i int) string {
	var s oidcStatement
	if json.Unmarshal(raw, &s) == nil && s.Sid != "" {
		return s.Sid
	}
	return fmt.Sprintf("statement %d", i)
}

// TrustAPI is what the OIDC trust step needs from IAM.
type TrustAPI interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	UpdateAssumeRolePolicy(ctx context.Context, in *iam.UpdateAssumeRolePolicyInput, optFns ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error)
}

// OIDCTrustStep removes a role's OIDC trust statement for one service
// account, after the migration to Pod Identity is verified. It refuses to
// leave a trust that no longer admits Pod Identity.
type OIDCTrustStep struct {
	API            TrustAPI
	Role           string // name
	Request        trust.Request
	Namespace      string
	ServiceAccount string
}

// Name implements step.Step.
func (s *OIDCTrustStep) Name() string { return "remove-oidc-trust" }

// Check plans the removal.
func (s *OIDCTrustStep) Check(ctx context.Context) (step.Plan, error) {
	out, err := s.API.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(s.Role)})
	if err != nil {
		return step.Plan{}, awsapi.Explain(err, "get role", s.Role)
	}
	cur, err := trust.Parse(aws.ToString(out.Role.AssumeRolePolicyDocument))
	if err != nil {
		return step.Plan{}, fmt.Errorf("trust policy of role %s: %w", s.Role, err)
	}
	fixed, removed, kept, err := RemoveOIDC(aws.ToString(out.Role.AssumeRolePolicyDocument), s.Namespace, s.ServiceAccount)
	if err != nil {
		return step.Plan{}, fmt.Errorf("trust policy of role %s: %w", s.Role, err)
	}
	var warnings []string
	for _, k := range kept {
		warnings = append(warnings, fmt.Sprintf("role %s: OIDC statement %s also serves other service accounts (or any); kept", s.Role, k))
	}
	if len(removed) == 0 {
		return step.Plan{Satisfied: true, Summary: fmt.Sprintf("role %s has no OIDC trust statement for %s/%s only", s.Role, s.Namespace, s.ServiceAccount), Warnings: warnings}, nil
	}
	diff := trust.Diff(cur.String(), fixed)
	return step.Plan{
		Summary:  fmt.Sprintf("role %s still trusts the cluster's OIDC provider for %s/%s (%s)", s.Role, s.Namespace, s.ServiceAccount, strings.Join(removed, ", ")),
		Changes:  []string{fmt.Sprintf("remove the OIDC trust %s %s from role %s:\n%s", statements(len(removed)), strings.Join(removed, ", "), s.Role, diff)},
		Warnings: warnings,
		Details:  &OIDCTrustDetails{OIDCTrustDiff: diff},
	}, nil
}

// Apply re-reads the role (an earlier step of the same run added the Pod
// Identity statement), and writes the trust without the OIDC statement
// after checking that it still admits Pod Identity.
func (s *OIDCTrustStep) Apply(ctx context.Context, _ step.Plan, _ step.Progress) (step.Result, error) {
	out, err := s.API.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(s.Role)})
	if err != nil {
		return step.Result{}, awsapi.Explain(err, "get role", s.Role)
	}
	fixed, removed, _, err := RemoveOIDC(aws.ToString(out.Role.AssumeRolePolicyDocument), s.Namespace, s.ServiceAccount)
	if err != nil {
		return step.Result{}, fmt.Errorf("trust policy of role %s: %w", s.Role, err)
	}
	if len(removed) == 0 {
		return step.Result{Summary: fmt.Sprintf("role %s has no OIDC trust statement for %s/%s only", s.Role, s.Namespace, s.ServiceAccount)}, nil
	}
	doc, err := trust.Parse(fixed)
	if err != nil {
		return step.Result{}, err
	}
	if !trust.Evaluate(doc, s.Request).OK() {
		return step.Result{}, fail.Verifyf(fmt.Sprintf("run podid verify-role --role %s --fix first", s.Role),
			"role %s: without its OIDC statement the trust would not admit Pod Identity for %s/%s; not removing it", s.Role, s.Namespace, s.ServiceAccount)
	}
	if _, err := s.API.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(s.Role), PolicyDocument: aws.String(fixed)}); err != nil {
		return step.Result{}, awsapi.Explain(err, "update trust policy", "of role "+s.Role)
	}
	return step.Result{Summary: fmt.Sprintf("removed the OIDC trust %s %s of %s/%s from role %s", statements(len(removed)), strings.Join(removed, ", "), s.Namespace, s.ServiceAccount, s.Role),
		Changes: []string{"updated the trust policy of role " + s.Role}}, nil
}

// OIDCTrustDetails are the remove-oidc-trust step's facts.
type OIDCTrustDetails struct {
	OIDCTrustDiff string `json:"oidcTrustDiff,omitempty"`
}

// statements is "statement" or "statements" for n of them.
func statements(n int) string {
	if n == 1 {
		return "statement"
	}
	return "statements"
}
