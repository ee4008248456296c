package credcheck

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/step"
)

// StepName is the credentials step's name in reports.
const StepName = "credentials"

// Details are the credentials step's plan and result (`details` in -o json).
type Details struct {
	Mode   Mode    `json:"mode"`
	Proofs []Proof `json:"proofs,omitempty"`
}

// Count returns how many proofs have outcome o.
func (d *Details) Count(o Outcome) int {
	n := 0
	for _, p := range d.Proofs {
		if p.Outcome == o {
			n++
		}
	}
	return n
}

// Target is what a run knows once its earlier steps ran: the association
// the pods will use and one pod per workload to prove. ok=false when there
// is nothing to prove (no association, no running pod): the step then says
// so and passes, since the earlier steps already report those problems.
type Target func(ctx context.Context) (exp Expected, subjects []Subject, why string, ok bool, err error)

// Step proves the credentials of the pods Target names. It changes nothing
// (a token request is not stored), so it reports "unchanged" and runs in
// every run that gets that far, after the restart it depends on.
type Step struct {
	Checker *Checker
	Mode    Mode
	Target  Target
}

func (s *Step) Name() string { return StepName }

// Check plans the proof; it cannot make it yet (the pods come from the
// restart).
func (s *Step) Check(context.Context) (step.Plan, error) {
	d := &Details{Mode: s.Mode}
	if s.Mode == ModeOff {
		return step.Plan{Satisfied: true, Summary: "not checked (--credentials off)", Details: d}, nil
	}
	return step.Plan{Satisfied: true, Summary: "the agent's exchange (EKS Auth AssumeRoleForPodIdentity) for one new pod of each workload", Details: d}, nil
}

// Apply is never needed: the plan is always satisfied.
func (s *Step) Apply(ctx context.Context, p step.Plan, progress step.Progress) (step.Result, error) {
	return s.Verify(ctx, p, progress)
}

// Verify makes the exchange and judges it.
func (s *Step) Verify(ctx context.Context, _ step.Plan, progress step.Progress) (step.Result, error) {
	d := &Details{Mode: s.Mode}
	if s.Mode == ModeOff {
		return step.Result{Summary: "not checked (--credentials off)", Details: d}, nil
	}
	exp, subjects, why, ok, err := s.Target(ctx)
	if err != nil {
		return step.Result{Details: d}, err
	}
	if !ok || len(subjects) == 0 {
		if why == "" {
			why = "no running pod to prove"
		}
		if s.Mode == ModeRequire {
			return step.Result{Details: d}, fail.Verifyf("start a pod of the service account, then run the command again", "credentials not proven: %s (--credentials require)", why)
		}
		return step.Result{Summary: "not proven: " + why, Details: d}, nil
	}
	if progress != nil {
		progress.Waiting(fmt.Sprintf("EKS Auth AssumeRoleForPodIdentity for %d %s", len(subjects), plural(len(subjects), "pod", "pods")))
	}
	proofs, err := s.Checker.Prove(ctx, exp, subjects)
	d.Proofs = proofs
	if err != nil {
		return step.Result{Details: d}, err
	}
	return Judge(d, s.Mode, exp)
}

// Judge turns the proofs into the step's result: a denial is a
// verification failure naming the link and the fix; a proof the caller
// could not make is a warning (or a failure with require).
func Judge(d *Details, mode Mode, exp Expected) (step.Result, error) {
	res := step.Result{Details: d}
	var denied, notProven, proven []Proof
	for _, p := range d.Proofs {
		switch p.Outcome {
		case Denied:
			denied = append(denied, p)
		case NotProven:
			notProven = append(notProven, p)
		default:
			proven = append(proven, p)
		}
	}
	if len(denied) > 0 {
		first := denied[0]
		var names []string
		for _, p := range denied {
			names = append(names, p.Workload)
		}
		return res, fail.Verifyf(first.Fix, "the pods of %s would get no credentials: %s (%s)", strings.Join(uniq(names), ", "), first.Problem, linkName(first.Link))
	}
	if len(notProven) > 0 {
		first := notProven[0]
		msg := fmt.Sprintf("credentials not proven: %s; missing %s", first.Problem, first.Missing)
		if mode == ModeRequire {
			return res, fail.Verifyf(first.Fix, "%s (--credentials require)", msg)
		}
		res.Warnings = append(res.Warnings, msg+"; "+first.Fix)
		res.Summary = "not proven (" + first.Missing + ")"
		return res, nil
	}
	res.Summary = Summary(proven, exp)
	return res, nil
}

// Summary is the one line of a proven step.
func Summary(proven []Proof, exp Expected) string {
	if len(proven) == 0 {
		return "nothing to prove"
	}
	ids := map[string]bool{}
	for _, p := range proven {
		ids[sessionRole(p.Identity)] = true
	}
	var roles []string
	for r := range ids {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	tags := "session tags"
	if exp.DisableSessionTags {
		tags = "no session tags"
	}
	chain := ""
	if exp.TargetRoleArn != "" {
		chain = fmt.Sprintf(", chained from %s", roleName(exp.RoleArn))
	}
	return fmt.Sprintf("%d %s of %s/%s will hold role %s (%s%s)", len(proven), plural(len(proven), "pod", "pods"), exp.Namespace, exp.ServiceAccount, strings.Join(roles, ", "), tags, chain)
}

// ProofLine is one proven pod, for the step's change lines and the text
// output.
func ProofLine(p Proof) string {
	line := fmt.Sprintf("%s (pod %s): %s", p.Workload, p.Pod, p.Identity)
	if p.Expiration != nil {
		line += fmt.Sprintf(", expires %s", p.Expiration.UTC().Format(time.RFC3339))
	}
	return line
}

func sessionRole(identity string) string {
	r, _ := assumedRole(identity)
	return orNone(r)
}

func linkName(l string) string {
	switch l {
	case "trust":
		return "the role's trust policy"
	case "target":
		return "the target role"
	case "association":
		return "the pod identity association"
	case "token":
		return "the service account token"
	case "identity":
		return "the identity EKS Auth issued"
	case "caller":
		return "your AWS identity"
	}
	return l
}

func uniq(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
