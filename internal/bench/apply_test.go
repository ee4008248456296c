package bench

import (
	"fmt"
	"strings"
	"testing"
)

// applyAvailable reports whether the podid binary has the apply command.
func applyAvailable(b *testing.B) (bool, string) {
	res := execute(benchCtx(b), nil, podidBinary(b), "apply", "--help")
	if res.Code != 0 || !strings.Contains(res.Stdout+res.Stderr, "apply") || strings.Contains(res.Stdout+res.Stderr, "unknown command") {
		return false, fmt.Sprintf("apply not available: `podid apply --help` exited %d", res.Code)
	}
	return true, ""
}

func benchApply(b *testing.B, r *rig, rep *report) {
	const target = "wall ≤ 3× one enable, 0 throttling failures, EKS calls ≤ 2/workload + 2/namespace"
	if ok, why := applyAvailable(b); !ok {
		rep.add(row{Scenario: "apply", Target: target, Skip: why,
			Measures: "`podid apply` of 50 workloads in 10 namespaces under EKSRateLimit 10/s",
			Anchor:   "the same 50 entries as sequential `podid enable` runs"})
		b.Skip(why)
	}
	b.Skip("apply is available but its benchmark is not written yet")
}
