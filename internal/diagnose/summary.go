package diagnose

import "fmt"

// Scope names what a status run checked: "carts/carts on cluster
// eks-workshop", or "cluster eks-workshop".
func (o Options) Scope() string {
	if o.Scoped() {
		return fmt.Sprintf("%s/%s on cluster %s", o.Namespace, o.ServiceAccount, o.Cluster.Name)
	}
	return "cluster " + o.Cluster.Name
}

// Summary is the one line that sums up a status report.
func (r Report) Summary(o Options) string {
	errs, warns := len(r.Errors()), len(r.Warnings())
	if errs == 0 {
		s := fmt.Sprintf("Pod Identity works for %s", o.Scope())
		if !o.Scoped() {
			s = fmt.Sprintf("Pod Identity is ready on %s", o.Scope())
		}
		if warns > 0 {
			s += " (" + Count(warns, "warning", "warnings") + ")"
		}
		return s
	}
	return fmt.Sprintf("%s, %s for %s", Count(errs, "problem", "problems"), Count(warns, "warning", "warnings"), o.Scope())
}
