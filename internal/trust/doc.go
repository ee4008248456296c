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
// wildcards. Conditions on the session tags (aws:RequestTag/eks-cluster-name,
// kubernetes-namespace, kubernetes-service-account, eks-cluster-arn),
// aws:SourceAccount, aws:SourceArn and aws:TagKeys are evaluated against the
// Request; any other key (aws:PrincipalOrgID, the pod name, …) makes the
// outcome Conditional rather than failed.
package trust
