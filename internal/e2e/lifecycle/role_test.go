package lifecycle

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab/labtest"
	"github.com/podid/podid/internal/trust"
)

// role create makes a role with the scoped trust and the policies, a rerun
// changes nothing, and enable accepts the printed ARN.
func TestRoleCreateThenEnable(t *testing.T) {
	t.Parallel()
	w := newWorld(t, labtest.ServiceAccount("carts"), labtest.Replicas(1))
	policy := w.Fake.PutPolicy(fakeaws.Policy{Name: "carts-ddb", Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:Query","Resource":"*"}]}`})
	inline := filepath.Join(t.TempDir(), "carts-extra.json")
	if err := os.WriteFile(inline, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"role", "create", "--policy-arn", policy, "--inline-policy", inline, "--tag", "team=carts", "--description", "carts on Pod Identity"}, w.Target()...)

	// Dry run: nothing.
	r := w.Podid(t, append(args, "--dry-run")...)
	if r.Code != 0 || w.AuditLen() != 0 {
		t.Fatalf("dry run: exit %d, audit %+v\n%s", r.Code, w.Fake.Audit(), r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "create role eks-workshop-carts-pod-identity", "attach policy "+policy)

	r = w.Podid(t, append(args, "-o", "json")...)
	if r.Code != 0 {
		t.Fatalf("role create: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	d := r.Raw(t)
	roleRes, _ := d["result"].(map[string]any)["role"].(map[string]any)
	arn, _ := roleRes["arn"].(string)
	want := fmt.Sprintf("arn:aws:iam::%s:role/eks-workshop-carts-pod-identity", account)
	if arn != want {
		t.Fatalf("result.role.arn %q, want %q", arn, want)
	}
	role, ok := w.Role("eks-workshop-carts-pod-identity")
	if !ok {
		t.Fatal("the role does not exist in IAM")
	}
	if !slices.Contains(role.AttachedPolicies, policy) {
		t.Errorf("attached policies %v lack %s", role.AttachedPolicies, policy)
	}
	if _, ok := role.InlinePolicies["carts-extra"]; !ok {
		t.Errorf("inline policies %v lack carts-extra", role.InlinePolicies)
	}
	doc, err := trust.Parse(role.TrustPolicy)
	if err != nil {
		t.Fatal(err)
	}
	req := trust.Request{Cluster: "eks-workshop", Namespace: w.App.Namespace, ServiceAccount: "carts", Account: account}
	if !trust.Evaluate(doc, req).OK() {
		t.Errorf("trust does not admit %s/carts: %s", w.App.Namespace, role.TrustPolicy)
	}
	other := req
	other.Namespace = "elsewhere"
	if trust.Evaluate(doc, other).OK() {
		t.Errorf("trust is not scoped: it admits namespace elsewhere: %s", role.TrustPolicy)
	}

	// Rerun, text: unchanged, the ARN alone on stdout.
	audit := w.AuditLen()
	r = w.Podid(t, args...)
	if r.Code != 0 {
		t.Fatalf("second role create: exit %d\n%s", r.Code, r.Stderr)
	}
	if strings.TrimSpace(r.Stdout) != want {
		t.Errorf("stdout %q, want the ARN", r.Stdout)
	}
	if w.AuditLen() != audit {
		t.Errorf("rerun changed IAM: %+v", w.Fake.Audit()[audit:])
	}

	// A policy added later is attached; nothing else changes.
	more := w.Fake.PutPolicy(fakeaws.Policy{Name: "carts-more", Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`})
	r = w.Podid(t, append(args, "--policy-arn", more)...)
	if r.Code != 0 {
		t.Fatalf("role create with one more policy: exit %d\n%s", r.Code, r.Stderr)
	}
	if ops := w.Fake.Audit()[audit:]; len(ops) != 1 || ops[0].Operation != "AttachRolePolicy" {
		t.Errorf("changes for one more policy: %+v", ops)
	}

	// enable accepts the ARN.
	r = w.Podid(t, append([]string{"enable", "--role", arn}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("enable --role %s: exit %d\n%s", arn, r.Code, r.Stderr)
	}
	if as := w.Associations(w.App.Namespace); len(as) != 1 || as[0].RoleArn != arn {
		t.Errorf("associations: %+v", as)
	}
}

// An existing role with another trust is refused with the difference and
// the verify-role --fix hint; nothing changes.
func TestRoleCreateRefusesOtherTrust(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Fake.PutRole(fakeaws.Role{Name: "carts-taken", TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`})
	r := w.Podid(t, "role", "create", "--ns", "carts", "--sa", "carts", "--name", "carts-taken", "-o", "json")
	if r.Code != 3 {
		t.Fatalf("exit %d, want 3\n%s", r.Code, r.Stdout)
	}
	d := r.Raw(t)
	mustContain(t, "error", fmt.Sprint(d["error"]), "carts-taken already exists with another trust policy", "-        \"Service\": \"ec2.amazonaws.com\"", "+++ wanted")
	mustContain(t, "hint", fmt.Sprint(d["hint"]), "podid verify-role", "--fix")
	if w.AuditLen() != 0 {
		t.Errorf("refusal changed IAM: %+v", w.Fake.Audit())
	}
}

// --unscoped writes a trust without conditions and warns.
func TestRoleCreateUnscopedWarns(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.Podid(t, "role", "create", "--ns", "carts", "--sa", "carts", "--name", "carts-any", "--unscoped")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "ANY pod of ANY cluster")
	role, _ := w.Role("carts-any")
	if strings.Contains(role.TrustPolicy, "Condition") {
		t.Errorf("unscoped trust has conditions: %s", role.TrustPolicy)
	}
}

// Bad input: exit 2, one JSON document, and no AWS or Kubernetes change.
func TestBadInputsChangeNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "bad.json")
	noStatement := filepath.Join(dir, "nostmt.json")
	_ = os.WriteFile(notJSON, []byte("{not json"), 0o600)
	_ = os.WriteFile(noStatement, []byte(`{"Version":"2012-10-17"}`), 0o600)
	tests := []struct {
		name string
		args []string
	}{
		{"role create without --sa", []string{"role", "create", "--ns", "carts"}},
		{"role create bad --name", []string{"role", "create", "--ns", "carts", "--sa", "carts", "--name", "bad name!"}},
		{"role create too long default name", []string{"role", "create", "--ns", "carts", "--sa", strings.Repeat("s", 60)}},
		{"role create bad --policy-arn", []string{"role", "create", "--ns", "carts", "--sa", "carts", "--policy-arn", "arn:aws:s3:::bucket"}},
		{"role create bad --permissions-boundary", []string{"role", "create", "--ns", "carts", "--sa", "carts", "--permissions-boundary", "boundary"}},
		{"role create --inline-policy not JSON", []string{"role", "create", "--ns", "carts", "--sa", "carts", "--inline-policy", notJSON}},
		{"role create --inline-policy without Statement", []string{"role", "create", "--ns", "carts", "--sa", "carts", "--inline-policy", noStatement}},
		{"role create --inline-policy missing file", []string{"role", "create", "--ns", "carts", "--sa", "carts", "--inline-policy", filepath.Join(dir, "nope.json")}},
		{"role create bad --tag", []string{"role", "create", "--ns", "carts", "--sa", "carts", "--tag", "novalue"}},
		{"role create aws: tag", []string{"role", "create", "--ns", "carts", "--sa", "carts", "--tag", "aws:x=y"}},
		{"role create bad --path", []string{"role", "create", "--ns", "carts", "--sa", "carts", "--path", "no-slashes"}},
		{"role create argument", []string{"role", "create", "--ns", "carts", "--sa", "carts", "extra"}},
		{"role without subcommand", []string{"role"}},
		{"disable without --ns", []string{"disable", "--sa", "carts"}},
		{"disable bad --sa", []string{"disable", "--ns", "carts", "--sa", "Carts"}},
		{"migrate bad --ns", []string{"migrate", "--ns", "Not_A_Namespace", "--approve"}},
		{"migrate bad --output", []string{"migrate", "--approve", "-o", "yaml"}},
		{"migrate bad --timeout", []string{"migrate", "--approve", "--timeout", "0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !slices.Contains(args, "-o") {
				args = append(args, "-o", "json")
			}
			r := w.Podid(t, args...)
			if r.Code != 2 {
				t.Fatalf("exit %d, want 2\n%s\n%s", r.Code, r.Stdout, r.Stderr)
			}
			if slices.Contains(tt.args, "yaml") {
				return // no JSON asked for
			}
			var d map[string]any
			dec := json.NewDecoder(strings.NewReader(r.Stdout))
			if err := dec.Decode(&d); err != nil || dec.More() {
				t.Fatalf("stdout is not exactly one JSON document (%v):\n%s", err, r.Stdout)
			}
			if d["exitCode"] != float64(2) || d["error"] == "" || d["hint"] == "" {
				t.Errorf("document: %v", d)
			}
		})
	}
	if n := w.AuditLen(); n != 0 {
		t.Errorf("bad inputs changed AWS: %+v", w.Fake.Audit())
	}
	if c := w.Fake.CallCounts(); len(c) != 0 {
		t.Errorf("bad inputs called AWS: %v", c)
	}
}
