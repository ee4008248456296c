package ui

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/podid/podid/internal/credcheck"
	"github.com/podid/podid/internal/diagnose"
	"github.com/podid/podid/internal/flow"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/workload"
)

// Text writes an outcome's results on stdout, as the command's text output.
// An outcome without a result (the run stopped before it connected)
// prints nothing: its error goes to stderr.
func Text(w io.Writer, out flow.Outcome) {
	switch r := out.Result.(type) {
	case flow.Result:
		stepsText(w, out)
	case flow.StatusResult:
		StatusText(w, r.Report, r.Options)
	case diagnose.Verdict:
		VerifyText(w, r)
	case flow.VerifyResult:
		VerifyText(w, r.Verdict)
		CredentialsText(w, r.Credentials)
	case flow.ApplyResult:
		if len(r.Agent) > 0 && r.Agent[0].Status != step.Failed {
			ApplyTable(w, r)
			applySummary(w, out.DryRun, r)
		}
	case flow.MigrateResult:
		migrateText(w, out, r)
	case interface{ WriteText(io.Writer) }:
		r.WriteText(w)
	}
}

// stepsText is the text of a command made of steps for one target.
func stepsText(w io.Writer, out flow.Outcome) {
	switch out.Command {
	case "verify-role":
		RoleReport(w, out.Steps)
	case "role create":
		if stepReported(out.Steps) {
			return
		}
		if out.DryRun {
			Summary(w, out)
			return
		}
		if r := out.Result.(flow.Result); r.Role != nil && r.Role.Arn != "" {
			fmt.Fprintln(w, r.Role.Arn)
		}
	case "disable":
		Summary(w, out)
		for _, r := range out.Steps {
			if r.Name == "disassociate" && (r.Status == step.Changed || r.Status == step.Planned) {
				fmt.Fprintf(w, "note: %s\n", podidentity.CredentialsNote)
			}
		}
	default:
		Summary(w, out)
	}
}

// Summary is the default stdout text: one line saying what holds now, and
// per pod what the restart proved.
func Summary(w io.Writer, out flow.Outcome) {
	if stepReported(out.Steps) {
		printPods(w, out.Steps)
		return
	}
	var changed, planned []string
	for _, r := range out.Steps {
		switch r.Status {
		case step.Changed:
			changed = append(changed, r.Name)
		case step.Planned:
			planned = append(planned, r.Name)
		}
	}
	subject := fmt.Sprintf("%s/%s", out.Namespace, out.ServiceAccount)
	defer printPods(w, out.Steps)
	switch {
	case out.DryRun && len(planned) > 0:
		fmt.Fprintf(w, "dry run: %s would change %s; nothing was changed\n", out.Command, strings.Join(planned, ", "))
	case out.DryRun:
		fmt.Fprintf(w, "dry run: nothing to change for %s\n", subject)
	case len(changed) == 0:
		fmt.Fprintf(w, "%s: everything was already in place for %s; nothing changed\n", out.Command, subject)
	default:
		fmt.Fprintf(w, "%s: done for %s (changed: %s)\n", out.Command, subject, strings.Join(changed, ", "))
	}
}

// printPods lists, per pod, what the restart step proved.
func printPods(w io.Writer, reps []step.Report) {
	for _, r := range reps {
		d, ok := r.Details.(*workload.RestartDetails)
		if !ok || r.Status == step.Planned {
			continue
		}
		for _, p := range d.Pods {
			switch {
			case p.OK && p.Injected:
				fmt.Fprintf(w, "  ✓ pod %s (%s, node %s): AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, token volume\n", p.Pod, p.Workload, p.Node)
			case p.OK:
				fmt.Fprintf(w, "  ✓ pod %s (%s, node %s): no Pod Identity injection\n", p.Pod, p.Workload, p.Node)
			case !p.Injected && d.Want == workload.WantCredentials:
				fmt.Fprintf(w, "  ✗ pod %s (%s, node %s): lacks %s\n", p.Pod, p.Workload, p.Node, strings.Join(p.Problems, ", "))
			default:
				fmt.Fprintf(w, "  ✗ pod %s (%s, node %s): should %s: %s\n", p.Pod, p.Workload, p.Node, d.Want, strings.Join(p.Problems, ", "))
			}
			for _, warn := range p.Warnings {
				fmt.Fprintf(w, "    ! %s\n", warn)
			}
		}
	}
	for _, r := range reps {
		if d, ok := r.Details.(*credcheck.Details); ok && r.Status != step.Planned {
			CredentialsText(w, d)
		}
	}
}

// CredentialsText prints, per workload, the identity its pods will hold
// (the credentials step's proof).
func CredentialsText(w io.Writer, d *credcheck.Details) {
	if d == nil {
		return
	}
	for _, p := range d.Proofs {
		switch p.Outcome {
		case credcheck.Proven:
			fmt.Fprintf(w, "  ✓ credentials %s\n", credentialsLine(p))
		case credcheck.Denied:
			fmt.Fprintf(w, "  ✗ credentials %s (pod %s): %s\n", p.Workload, p.Pod, p.Problem)
		case credcheck.NotProven:
			fmt.Fprintf(w, "  ! credentials %s (pod %s): not proven, missing %s\n", p.Workload, p.Pod, p.Missing)
		}
	}
}

func credentialsLine(p credcheck.Proof) string {
	line := credcheck.ProofLine(p)
	var notes []string
	if p.ChainedFrom != "" {
		notes = append(notes, "chained from "+p.ChainedFrom)
	}
	if p.SessionTags {
		notes = append(notes, "session tags")
	} else {
		notes = append(notes, "no session tags")
	}
	return line + " (" + strings.Join(notes, ", ") + ")"
}

// StatusText prints status' findings as a checklist: ✓ ok, ! warn, ✗ error,
// each warn and error followed by its fix.
func StatusText(w io.Writer, rep diagnose.Report, o diagnose.Options) {
	for _, fd := range rep.Findings {
		mark := "✓"
		switch fd.Severity {
		case diagnose.Warn:
			mark = "!"
		case diagnose.Error:
			mark = "✗"
		}
		fmt.Fprintf(w, "%s %-16s %s\n", mark, fd.Area, strings.ReplaceAll(fd.Message, "\n", "\n"+strings.Repeat(" ", 19)))
		if fd.Fix != "" && fd.Severity != diagnose.OK {
			fmt.Fprintf(w, "  %-16s fix: %s\n", "", strings.ReplaceAll(fd.Fix, "\n", "\n"+strings.Repeat(" ", 24)))
		}
	}
	fmt.Fprintln(w, rep.Summary(o))
}

// VerifyText prints verify's verdict: one line per pod (✓ or ✗, its owner
// and node) and the summary, which gives each problem once, grouped by
// cause with its fix.
func VerifyText(w io.Writer, v diagnose.Verdict) {
	for _, p := range v.Pods {
		mark := "✓"
		if !p.OK {
			mark = "✗"
		}
		owner := p.Owner
		if owner == "" {
			owner = "no controller"
		}
		fmt.Fprintf(w, "%s %s (%s, node %s)\n", mark, p.Name, owner, p.Node)
	}
	fmt.Fprintln(w, v.Summary())
}

// ApplyTable prints apply's table (stdout).
func ApplyTable(w io.Writer, r flow.ApplyResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tSERVICE ACCOUNT\tROLE\tASSOCIATION\tRESTART\tRESULT\tSECONDS")
	for _, e := range r.Entries {
		assoc := e.Association
		if e.AssociationID != "" && assoc != "-" && assoc != "failed" {
			assoc += " " + e.AssociationID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.1f\n", e.Namespace, e.ServiceAccount, e.Role, assoc, e.Restart, e.Result, e.Seconds)
	}
	_ = tw.Flush()
}

func applySummary(w io.Writer, dryRun bool, r flow.ApplyResult) {
	n := map[step.Status]int{}
	for _, e := range r.Entries {
		n[e.Result]++
	}
	total := len(r.Entries)
	switch {
	case dryRun:
		fmt.Fprintf(w, "dry run: %d of %d entries would change, %d unchanged, %d failed; nothing was changed\n", n[step.Planned], total, n[step.Unchanged], n[step.Failed])
	default:
		fmt.Fprintf(w, "%d entries: %d changed, %d unchanged, %d failed\n", total, n[step.Changed], n[step.Unchanged], n[step.Failed]+n[step.Skipped])
	}
}

func migrateText(w io.Writer, out flow.Outcome, res flow.MigrateResult) {
	if len(res.ServiceAccounts) == 0 {
		where := "any namespace"
		if out.Namespace != "" {
			where = "namespace " + out.Namespace
		}
		fmt.Fprintf(w, "no service account in %s is annotated %s: nothing to migrate\n", where, kube.IRSARoleAnnotation)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tSERVICE ACCOUNT\tROLE\tSTATUS\tDETAIL")
	for _, r := range res.ServiceAccounts {
		detail := ""
		switch r.Status {
		case string(step.Failed):
			detail = r.Error
		case string(step.Planned):
			var names []string
			for _, s := range r.Steps {
				if s.Status == step.Planned {
					names = append(names, s.Name)
				}
			}
			detail = "would change: " + strings.Join(names, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Namespace, r.ServiceAccount, r.RoleArn, r.Status, firstLine(detail))
	}
	_ = tw.Flush()
	if !res.Approved {
		for _, r := range res.ServiceAccounts {
			if r.Status != string(step.Planned) {
				continue
			}
			fmt.Fprintf(w, "\nplan for %s/%s:\n", r.Namespace, r.ServiceAccount)
			for _, s := range r.Steps {
				for _, c := range s.Changes {
					fmt.Fprintf(w, "  %-18s %s\n", s.Name, strings.ReplaceAll(c, "\n", "\n"+strings.Repeat(" ", 21)))
				}
			}
		}
		fmt.Fprintf(w, "\ndry run: %d service account(s) to migrate; nothing was changed. Run again with --approve to migrate.\n", res.Summary.Planned)
		return
	}
	fmt.Fprintf(w, "\nmigrate: %d migrated, %d unchanged, %d failed\n", res.Summary.Migrated, res.Summary.Unchanged, res.Summary.Failed)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
