package ui_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/diagnose"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/flow"
	"github.com/podid/podid/internal/iostreams"
	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/trust"
	"github.com/podid/podid/internal/ui"
	"github.com/podid/podid/internal/ui/schemacheck"
	"github.com/podid/podid/internal/workload"
)

func render(t *testing.T, out flow.Outcome) []byte {
	t.Helper()
	ios, _, stdout, _ := iostreams.Test()
	ui.Render(ios, true, out)
	return stdout.Bytes()
}

// Documents of typical outcomes validate; each carries apiVersion podid/v1.
func TestDocumentsMatchSchema(t *testing.T) {
	assoc := &podidentity.AssociationInfo{Cluster: "c", Namespace: "n", ServiceAccount: "s", ID: "a-1", Arn: "arn", RoleArn: "arn:aws:iam::1:role/r", CreatedAt: time.Unix(0, 0)}
	steps := []step.Report{
		{Name: "cluster", Status: step.Unchanged, Message: "c"},
		{Name: "install-agent", Status: step.Changed, Details: &podidentity.AddonDetails{Cluster: "c", Addon: "eks-pod-identity-agent", Action: podidentity.ActionCreate}},
		{Name: "verify-role", Status: step.Unchanged, Details: &podidentity.RoleDetails{Role: podidentity.RoleRef{Name: "r", Arn: "arn", Source: "flag"}, RoleSource: "flag",
			Trust: trust.Report{AssumeRole: trust.ActionResult{Action: "sts:AssumeRole", Decision: trust.Allowed}, TagSession: trust.ActionResult{Action: "sts:TagSession", Decision: trust.Allowed}}}},
		{Name: "associate", Status: step.Changed, Details: &podidentity.AssociationDetails{Cluster: "c", Namespace: "n", ServiceAccount: "s", RoleArn: "arn", Action: podidentity.ActionCreate, Association: assoc}},
		{Name: "propagation", Status: step.Changed, Details: &workload.PropagationDetails{Injected: true, Probes: 3}},
		{Name: "restart", Status: step.Changed, Details: &workload.RestartDetails{Want: "have Pod Identity credentials", Restarted: []string{"deployment/x"},
			Pods: []workload.PodReport{{Workload: "deployment/x", Pod: "x-1", Injected: true, OK: true}}}},
	}
	tests := []struct {
		name string
		out  flow.Outcome
	}{
		{"enable", flow.Outcome{Command: "enable", Cluster: "c", Namespace: "n", ServiceAccount: "s", Steps: steps, Result: flow.ResultOf(steps)}},
		{"usage error", flow.Outcome{Command: "enable", Err: fail.Usagef("pass --ns", "no namespace given")}},
		{"disable", flow.Outcome{Command: "disable", Steps: []step.Report{{Name: "disassociate", Status: step.Unchanged, Details: &podidentity.DisassociationDetails{}}}, Result: flow.Result{}}},
		{"status failing", flow.Outcome{Command: "status", Steps: []step.Report{{Name: "status", Status: step.Unchanged}},
			Result: flow.StatusResult{Report: diagnose.Report{Findings: []diagnose.Finding{{Area: "cluster", Severity: diagnose.Error, Message: "m", Fix: "f"}}}},
			Err:    fail.Verifyf("fix", "1 problem")}},
		{"verify", flow.Outcome{Command: "verify", Result: diagnose.Verdict{Namespace: "n", ServiceAccount: "s", Pods: []diagnose.PodVerdict{{Name: "p", OK: true}}}}},
		{"apply", flow.Outcome{Command: "apply", Result: flow.ApplyResult{File: "f", Entries: []flow.ApplyEntry{{EntryReport: flow.EntryReport{Namespace: "n", ServiceAccount: "s", Result: step.Unchanged, Steps: steps[2:]}, Role: "r", Association: "exists", Restart: "not needed"}}}}},
		{"migrate", flow.Outcome{Command: "migrate", DryRun: true, Result: flow.MigrateResult{ServiceAccounts: []flow.SAResult{{Namespace: "n", ServiceAccount: "s", RoleArn: "arn", Status: "planned", Steps: steps[2:3]}}, Summary: flow.MigrateSummary{Total: 1, Planned: 1}}}},
		{"interrupted", flow.Outcome{Command: "restart", Err: fail.WithKind(errors.New("stop"), fail.KindInterrupted)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := render(t, tt.out)
			if err := schemacheck.Validate(b); err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			var d map[string]any
			if err := json.Unmarshal(b, &d); err != nil || d["apiVersion"] != ui.APIVersion {
				t.Errorf("apiVersion = %v (%v)", d["apiVersion"], err)
			}
		})
	}
}

// The schema refuses what podid must not print.
func TestSchemaRefuses(t *testing.T) {
	good := string(render(t, flow.Outcome{Command: "verify", Result: diagnose.Verdict{Namespace: "n", ServiceAccount: "s"}}))
	tests := []struct{ name, from, to string }{
		{"another apiVersion", `"podid/v1"`, `"podid/v2"`},
		{"an unknown top-level field", `"command":`, `"commandd": "x", "command":`},
		{"a failed status with exit 0", `"status": "succeeded"`, `"status": "failed"`},
		{"an unknown step status", `"steps": []`, `"steps": [{"name": "x", "status": "done", "seconds": 0}]`},
		{"restart details of another shape", `"steps": []`, `"steps": [{"name": "restart", "status": "changed", "seconds": 0, "details": {"pods": [{"pod": "p", "good": true}]}}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.Replace(good, tt.from, tt.to, 1)
			if bad == good {
				t.Fatalf("%q not in %s", tt.from, good)
			}
			if err := schemacheck.Validate([]byte(bad)); err == nil {
				t.Errorf("accepted:\n%s", bad)
			}
		})
	}
	if err := schemacheck.Validate([]byte(good + good)); err == nil {
		t.Error("two documents accepted")
	}
}
