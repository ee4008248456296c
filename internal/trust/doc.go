// Package trust parses IAM policy documents and decides whether a role's
// trust policy lets EKS Pod Identity (the service principal
// pods.eks.amazonaws.com) assume it with session tags, for one cluster,
// namespace and service account. It can also propose the smallest fix, a new
// scoped trust policy, and flatten permission policies for printing.
//
// The package is pure: no AWS calls, no I/O.
//
// Typical use by `podid verify-role`:
//
//	doc, err := trust.Parse(aws.ToString(role.AssumeRolePolicyDocument)) // URL-encoded is fine
//	if err != nil {
//		return fmt.Errorf("role %s: trust policy: %w", name, err)
//	}
//	req := trust.Request{Cluster: "eks-workshop", Namespace: "carts", ServiceAccount: "carts", Account: "111122223333"}
//	rep := trust.Evaluate(doc, req)
//	if !rep.OK() {
//		for _, p := range rep.Problems {
//			fmt.Println(p.Message, "—", p.Why, "— fix:", p.Fix)
//		}
//		fixed, changed, err := trust.Fix(doc, req, trust.FixOptions{Scoped: true})
//		if err == nil && changed {
//			fmt.Print(trust.Diff(doc.String(), fixed)) // then iam UpdateAssumeRolePolicy with fixed
//		}
//	}
//
// Decisions follow IAM's evaluation logic for the two actions sts:AssumeRole
// and sts:TagSession: an explicit Deny wins over an Allow, NotAction and
// NotPrincipal are honoured, actions match case-insensitively with * and ?
// wildcards.
//
// # One model of the request
//
// Request describes the request EKS Auth really makes for an association,
// and contextValues is the one place that decides, per condition key,
// whether podid knows its value, knows it is absent, or cannot know it:
//
//   - the six session tags (aws:RequestTag/…, aws:TagKeys) are sent unless
//     the association disables session tags; then they are absent and
//     sts:TagSession is not requested (Decision NotRequested); the pod name
//     and UID tags differ per pod and are unknown;
//   - on the first hop the caller is the service principal: aws:SourceAccount
//     and aws:SourceArn are the cluster's account and ARN, IAM principal keys
//     (aws:PrincipalOrgID, aws:PrincipalArn, …) are absent,
//     aws:SourceOrgId is unknown (EKS passes the account's organization);
//   - on the second hop (Request.CallerRoleArn set: the association role's
//     session assumes the target role) aws:PrincipalArn is that role,
//     sts:ExternalId is region/account/cluster/namespace/service-account when
//     session tags are disabled, source keys are absent.
//
// Absent keys follow IAM's missing-key rules (IfExists, ForAllValues and
// negated operators hold; Null is evaluated). Unknown keys make a decision
// Conditional: a pass with a warning naming the condition. Report.Admits is
// the single pass/fail rule: the check, ResolveRole and Fix all use it, so
// Fix rewrites a trust exactly when the check fails it.
//
// EvaluatePodIdentityRequest judges every link of the exchange (the role's
// trust; with a target role, the role's permission to assume it and the
// target's trust) and names the first failing link with its fix.
package trust
