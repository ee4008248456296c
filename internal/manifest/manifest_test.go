package manifest

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podid/podid/internal/podidentity"
)

func TestParseExampleFile(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../testdata/podid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse("podid.yaml", data)
	if err != nil {
		t.Fatalf("the example file does not parse: %v", err)
	}
	want := &File{Path: "podid.yaml", Cluster: "eks-workshop", Entries: []Entry{
		{Line: 11, Col: 5, Namespace: "carts", ServiceAccount: "carts", Role: "eks-workshop-carts-dynamo",
			Workloads: []string{"deployment/carts"}, Expect: []string{"dynamodb:Query"}, AssociationSettings: podidentity.AssociationSettings{Tags: map[string]string{"team": "retail"}}},
		{Line: 17, Col: 5, Namespace: "checkout", ServiceAccount: "checkout", RoleRule: "discover", CreateServiceAccount: true, AssociationSettings: podidentity.AssociationSettings{Tags: map[string]string{"team": "retail"}}},
		{Line: 20, Col: 5, Namespace: "orders", ServiceAccount: "orders", Role: "arn:aws:iam::111122223333:role/eks-workshop-orders", Update: true, AssociationSettings: podidentity.AssociationSettings{Tags: map[string]string{"team": "retail"}}},
	}}
	if d := cmp.Diff(want, f); d != "" {
		t.Errorf("parsed file (-want +got):\n%s", d)
	}
}

func TestDefaultsAndOverrides(t *testing.T) {
	t.Parallel()
	src := `apiVersion: podid/v1
kind: PodIdentity
defaults:
  roleRule: discover
  update: true
  disableSessionTags: true
  policy: '{"Version":"2012-10-17","Statement":[]}'
  tags: {team: a, env: dev}
  expect: [s3:GetObject]
  targetRoleArn: arn:aws:iam::222233334444:role/target
entries:
  - namespace: a
    serviceAccount: a
  - namespace: b
    serviceAccount: b
    role: r
    update: false
    disableSessionTags: true
    tags: {env: prod}
    expect: ["dynamodb:Query=arn:aws:dynamodb:us-west-2:111122223333:table/t"]
`
	f, err := Parse("x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	pol := `{"Version":"2012-10-17","Statement":[]}`
	target := "arn:aws:iam::222233334444:role/target"
	want := []Entry{
		{Line: 12, Col: 5, Namespace: "a", ServiceAccount: "a", RoleRule: "discover", Update: true, Expect: []string{"s3:GetObject"},
			AssociationSettings: podidentity.AssociationSettings{DisableSessionTags: true, Policy: pol, Tags: map[string]string{"team": "a", "env": "dev"}, TargetRoleArn: target}},
		{Line: 14, Col: 5, Namespace: "b", ServiceAccount: "b", Role: "r", Update: false, Expect: []string{"s3:GetObject", "dynamodb:Query=arn:aws:dynamodb:us-west-2:111122223333:table/t"},
			AssociationSettings: podidentity.AssociationSettings{DisableSessionTags: true, Policy: pol, Tags: map[string]string{"team": "a", "env": "prod"}, TargetRoleArn: target}},
	}
	if d := cmp.Diff(want, f.Entries); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
}

const head = "apiVersion: podid/v1\nkind: PodIdentity\n"

// Every malformed file names every problem at its line and column.
func TestParseReportsEveryProblemWithPosition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []string // "line:col: substring"
	}{
		{"empty", "", []string{"the file is empty"}},
		{"not a mapping", "- a\n- b\n", []string{"1:1: the file must be a mapping"}},
		{"syntax error", head + "entries:\n  - namespace: a\n   serviceAccount: [\n", []string{"x.yaml:3: YAML syntax: did not find expected"}},
		{"wrong apiVersion and kind", "apiVersion: podid/v2\nkind: Pod\nentries: [{namespace: a, serviceAccount: a, role: r}]\n",
			[]string{"1:13: apiVersion \"podid/v2\" is not supported", "2:7: kind \"Pod\" is not supported"}},
		{"missing entries", head, []string{"1:1: missing entries"}},
		{"unknown top-level key", head + "cluter: x\nentries: [{namespace: a, serviceAccount: a, role: r}]\n", []string{"3:1: unknown key \"cluter\""}},
		{"unknown entry key", head + "entries:\n  - namespace: a\n    serviceAccount: a\n    role: r\n    restart: always\n",
			[]string{"7:5: unknown key \"restart\" in entries[0]"}},
		{"wrong types", head + "entries:\n  - namespace: [a]\n    serviceAccount: a\n    role: r\n    update: \"yes\"\n    workloads: deployment/x\n",
			[]string{"4:16: entries[0].namespace must be a string, not a list", "7:13: entries[0].update must be true or false", "8:16: entries[0].workloads must be a list"}},
		{"invalid names and ARNs", head + "entries:\n  - namespace: Carts\n    serviceAccount: a_b\n    role: arn:aws:iam::12:role/x\n    targetRoleArn: nope\n",
			[]string{"4:16: entries[0].namespace: namespace \"Carts\"", "5:21: entries[0].serviceAccount", "6:11: entries[0].role", "7:20: entries[0].targetRoleArn"}},
		{"duplicate pair", head + "entries:\n  - {namespace: a, serviceAccount: s, role: r}\n  - {namespace: b, serviceAccount: s, role: r}\n  - {namespace: a, serviceAccount: s, role: r2}\n",
			[]string{"6:5: entries[2]: a/s is listed twice (first at line 4)"}},
		{"policy without disableSessionTags", head + "entries:\n  - namespace: a\n    serviceAccount: a\n    role: r\n    policy: '{}'\n",
			[]string{"7:13: entries[0].policy needs disableSessionTags: true"}},
		{"policy from defaults without disableSessionTags", head + "defaults:\n  policy: '{}'\nentries:\n  - {namespace: a, serviceAccount: a, role: r}\n",
			[]string{"4:11: entries[0].policy needs disableSessionTags"}},
		{"no role and no rule", head + "entries:\n  - namespace: a\n    serviceAccount: a\n", []string{"4:5: entries[0] (a/a) has no role"}},
		{"role and roleRule", head + "entries:\n  - {namespace: a, serviceAccount: a, role: r, roleRule: discover}\n", []string{"4:45: entries[0].gives both role and roleRule"}},
		{"bad role rule", head + "defaults:\n  roleRule: guess\nentries:\n  - {namespace: a, serviceAccount: a}\n", []string{"4:13: defaults.roleRule \"guess\" is not a role rule"}},
		{"bad expect and workload", head + "entries:\n  - namespace: a\n    serviceAccount: a\n    role: r\n    expect: [dynamodb, \"s3:GetObject=bucket\"]\n    workloads: [pod/x]\n",
			[]string{"7:14: entries[0].expect", "7:24: entries[0].expect", "8:17: entries[0].workloads"}},
		{"duplicate key", head + "entries:\n  - namespace: a\n    namespace: b\n    serviceAccount: a\n    role: r\n", []string{"5:5: key \"namespace\" is given twice (first at line 4)"}},
		{"missing namespace", head + "entries:\n  - serviceAccount: a\n    role: r\n", []string{"4:5: entries[0] has no namespace"}},
		{"aliases", head + "defaults: &d {update: true}\nentries:\n  - {namespace: a, serviceAccount: a, role: r}\n", []string{"3:11: anchors and aliases"}},
		{"bad tags", head + "entries:\n  - namespace: a\n    serviceAccount: a\n    role: r\n    tags: {aws:x: y, ok: [1]}\n",
			[]string{"7:12: entries[0].tags: invalid tag key \"aws:x\"", "7:26: entries[0].tags.ok must be a string"}},
		{"entries not a list", head + "entries: {namespace: a}\n", []string{"3:10: entries must be a list"}},
		{"empty entries", head + "entries: []\n", []string{"3:10: entries is empty"}},
		{"second document", head + "entries: [{namespace: a, serviceAccount: a, role: r}]\n---\nentries: []\n", []string{"a second YAML document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse("x.yaml", []byte(tt.src))
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("Parse = %+v, %v; want a *manifest.Error", f, err)
			}
			if f != nil {
				t.Errorf("Parse returned a file along with the error")
			}
			lines := me.Lines()
			for _, w := range tt.want {
				found := false
				for _, l := range lines {
					if strings.Contains(l, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem contains %q; got:\n%s", w, strings.Join(lines, "\n"))
				}
			}
			if len(lines) != len(tt.want) {
				t.Errorf("%d problems, want %d:\n%s", len(lines), len(tt.want), strings.Join(lines, "\n"))
			}
			if !strings.Contains(err.Error(), "x.yaml") {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

// workloads takes the references --workload takes, a bare name included.
func TestWorkloadReferencesAsTheFlag(t *testing.T) {
	t.Parallel()
	f, err := Parse("x.yaml", []byte(head+"entries:\n  - {namespace: a, serviceAccount: a, role: r, workloads: [carts, sts/db, Deployments.apps/web]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"carts", "sts/db", "Deployments.apps/web"}, f.Entries[0].Workloads); d != "" {
		t.Errorf("workloads (-want +got):\n%s", d)
	}
}
