package ui

import (
	"fmt"
	"io"
	"strings"

	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/step"
	"github.com/podid/podid/internal/trust"
)

// RoleReport writes verify-role's report on stdout: the trust decision, the
// permission policies with their statements (what the workshop reads with
// get-policy-version) and the --expect results.
func RoleReport(w io.Writer, reps []step.Report) {
	for _, r := range reps {
		d, ok := r.Details.(*podidentity.RoleDetails)
		if !ok {
			continue
		}
		if role := d.Role; role.Arn != "" {
			fmt.Fprintf(w, "Role %s (%s), %s\n", role.Name, role.Arn, map[string]string{
				podidentity.RoleFromFlag:        "as given by --role",
				podidentity.RoleFromAssociation: "the role of the existing association",
				podidentity.RoleFromPrefix:      "the one Pod Identity role named <cluster>-<service-account>*",
			}[role.Source])
		}
		{
			tr := d.Trust
			fmt.Fprintln(w, "\nTrust policy, for pods.eks.amazonaws.com:")
			for _, a := range []trust.ActionResult{tr.AssumeRole, tr.TagSession} {
				by := ""
				if a.Statement != "" {
					by = " by " + a.Statement
				}
				if a.Decision == trust.NotRequested {
					by = " (the association disables session tags)"
				}
				fmt.Fprintf(w, "  %-16s %s%s\n", a.Action, a.Decision, by)
			}
			for _, p := range tr.Problems {
				fmt.Fprintf(w, "  ✗ %s\n", p.Message)
			}
			for _, p := range tr.Warnings {
				fmt.Fprintf(w, "  ! %s\n", p.Message)
				if p.Fix != "" {
					fmt.Fprintf(w, "    %s\n", strings.ReplaceAll(p.Fix, "\n", "\n    "))
				}
			}
			for _, i := range tr.IRSA {
				fmt.Fprintf(w, "  also trusted through IRSA: %s for %s (%s)\n", i.Issuer, strings.Join(i.Subjects, ", "), i.Statement)
			}
		}
		if v := d.Request; v.TargetRole != "" {
			fmt.Fprintf(w, "\nTarget role %s (role chaining):\n", v.TargetRole)
			for _, l := range v.Links[1:] {
				what := map[trust.Link]string{trust.LinkChainPermission: "permission policies of the role", trust.LinkTargetTrust: "trust of the target"}[l.Link]
				fmt.Fprintf(w, "  %s, for %s:\n", what, l.Principal)
				for _, a := range l.Actions {
					by := ""
					if a.Statement != "" {
						by = " by " + a.Statement
					}
					fmt.Fprintf(w, "    %-16s %s%s\n", a.Action, a.Decision, by)
				}
				for _, p := range l.Problems {
					fmt.Fprintf(w, "    ✗ %s\n", p.Message)
				}
				for _, p := range l.Warnings {
					fmt.Fprintf(w, "    ! %s\n", p.Message)
				}
			}
			if v.ExternalID != "" {
				fmt.Fprintf(w, "  sts:ExternalId   %s\n", v.ExternalID)
			}
		}
		if diff := d.TrustDiff; diff != "" {
			fmt.Fprintf(w, "\nTrust policy change (--fix):\n%s\n", diff)
		}
		{
			pols := d.Policies
			fmt.Fprintln(w, "\nPermissions:")
			if len(pols) == 0 {
				fmt.Fprintln(w, "  (no attached or inline policies)")
			}
			for _, p := range pols {
				kind := "attached " + p.Arn + ", version " + p.Version
				if p.Inline {
					kind = "inline"
				}
				fmt.Fprintf(w, "  policy %s (%s)\n", p.Name, kind)
				for _, s := range p.Statements {
					name := fmt.Sprintf("statement %d", s.Index)
					if s.Sid != "" {
						name += " " + s.Sid
					}
					acts := s.Actions
					if len(s.NotActions) > 0 {
						acts = append([]string{"NOT"}, s.NotActions...)
					}
					fmt.Fprintf(w, "    %s: %s %s\n", name, s.Effect, strings.Join(acts, ", "))
					res := s.Resources
					if len(s.NotResources) > 0 {
						res = append([]string{"NOT"}, s.NotResources...)
					}
					for _, x := range res {
						fmt.Fprintf(w, "      on %s\n", x)
					}
					if s.Condition != "" {
						fmt.Fprintf(w, "      when %s\n", s.Condition)
					}
				}
			}
		}
		if ex := d.Expect; len(ex) > 0 {
			fmt.Fprintln(w, "\nExpected permissions (iam:SimulatePrincipalPolicy):")
			for _, e := range ex {
				mark := "✓"
				if !e.Allowed {
					mark = "✗"
				}
				fmt.Fprintf(w, "  %s %-13s %s on %s\n", mark, e.Decision, e.Action, e.Resource)
			}
		}
	}
}
