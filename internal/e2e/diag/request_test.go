package diag

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/credcheck"
	"github.com/podid/podid/internal/diagnose"
	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

// The static check judges the request EKS really makes for the
// association (issue 11, "One model of the request"): verify-role and
// status fail with exit 3, naming the failing link and the fix, and
// associate refuses to set up such an association.

// expectCaught runs verify-role and status for the world's service account
// and wants each to fail with exit 3 and to name the failing link (every
// want) and a fix (every hint, in verify-role's hint line and status's
// fix), and the fake's EKS Auth to deny the exchange.
func expectCaught(t *testing.T, w *world, wants, hints []string) {
	t.Helper()
	r := w.Podid(t, append([]string{"verify-role"}, w.Target()...)...)
	if r.Code != 3 {
		t.Fatalf("verify-role: exit %d, want 3\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	mustContainAll(t, "verify-role stderr", r.Stderr, wants...)
	mustContainAll(t, "verify-role hint", hintLine(r.Stderr), hints...)

	r = w.Podid(t, append([]string{"status", "-o", "json"}, w.Target()...)...)
	if r.Code != 3 {
		t.Fatalf("status: exit %d, want 3\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	rep := report(t, r)
	everyProblemHasFix(t, rep)
	f := mustFind(t, rep, diagnose.AreaRole, diagnose.Error, wants...)
	mustContainAll(t, "status fix", f.Fix, hints...)
	// `podid verify` proves the running pods' credentials with the live
	// exchange (internal/credcheck): EKS Auth denies it, and podid names
	// the failing link and the fix from the static model.
	r = w.Podid(t, append([]string{"verify"}, w.Target()...)...)
	if r.Code != 3 {
		t.Fatalf("verify: exit %d, want 3\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	mustContainAll(t, "verify stderr", r.Stderr, wants...)
	mustContainAll(t, "verify hint", hintLine(r.Stderr), hints...)

	// The fake's EKS Auth, an independent implementation, denies it too.
	if p := exchange(t, w); p.Outcome != credcheck.Denied {
		t.Errorf("the fake's EKS Auth: %s (%s), want denied like the static check", p.Outcome, p.Problem)
	}
}

// exchange makes the agent's exchange with the fake's EKS Auth for one pod
// of the world's Deployment, with the association as it is now.
func exchange(t *testing.T, w *world) credcheck.Proof {
	t.Helper()
	ctx := context.Background()
	as := w.Associations(w.App.Namespace)
	if len(as) != 1 {
		t.Fatalf("associations: %+v", as)
	}
	a := as[0]
	pods, err := w.Env.Client.CoreV1().Pods(w.App.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("pods of %s: %v (%d)", w.App.Namespace, err, len(pods.Items))
	}
	pod := pods.Items[0]
	cfg := labtest.AWSConfig(w.Fake.URL())
	c := &credcheck.Checker{
		Kube:    w.Env.Client,
		EKSAuth: eksauth.NewFromConfig(cfg, func(o *eksauth.Options) { o.RetryMaxAttempts = 1 }),
		NewSTS:  credcheck.NewSTSFromConfig(cfg),
	}
	proofs, err := c.Prove(ctx, credcheck.Expected{
		Cluster: lab.WorkshopCluster, Namespace: w.App.Namespace, ServiceAccount: w.App.ServiceAccount,
		AssociationID: a.ID, RoleArn: a.RoleArn, TargetRoleArn: a.TargetRoleArn, DisableSessionTags: a.DisableSessionTags,
	}, []credcheck.Subject{{Workload: "deployment/" + w.App.Deployment, Pod: pod.Name, UID: pod.UID}})
	if err != nil || len(proofs) != 1 {
		t.Fatalf("prove: %v (%d proofs)", err, len(proofs))
	}
	return proofs[0]
}

// expectPasses runs verify-role and wants it to pass, and the fake's EKS
// Auth to issue credentials.
func expectPasses(t *testing.T, w *world, args ...string) {
	t.Helper()
	r := w.Podid(t, append(append([]string{"verify-role"}, args...), w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("verify-role %s: exit %d, want 0\n%s\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	if p := exchange(t, w); p.Outcome != credcheck.Proven {
		t.Errorf("the fake's EKS Auth: %s (%s), want proven like the static check", p.Outcome, p.Problem)
	}
}

// setSessionTags changes the association's disableSessionTags behind
// podid's back, as `aws eks update-pod-identity-association` would.
func setSessionTags(t *testing.T, w *world, disable bool) {
	t.Helper()
	a := w.Associations(w.App.Namespace)
	if len(a) != 1 {
		t.Fatalf("associations: %+v", a)
	}
	client := eks.NewFromConfig(labtest.AWSConfig(w.Fake.URL()))
	if _, err := client.UpdatePodIdentityAssociation(context.Background(), &eks.UpdatePodIdentityAssociationInput{
		ClusterName: aws.String(lab.WorkshopCluster), AssociationId: aws.String(a[0].ID), DisableSessionTags: aws.Bool(disable)}); err != nil {
		t.Fatal(err)
	}
}

// associateRefused runs associate with args and wants exit 3, every want
// in stderr, and no change to the association.
func associateRefused(t *testing.T, w *world, wants []string, args ...string) {
	t.Helper()
	before := w.Associations(w.App.Namespace)
	r := w.Podid(t, append(append([]string{"associate"}, args...), w.Target()...)...)
	if r.Code != 3 {
		t.Fatalf("associate %s: exit %d, want 3\n%s", strings.Join(args, " "), r.Code, r.Stderr)
	}
	mustContainAll(t, "associate stderr", r.Stderr, wants...)
	if after := w.Associations(w.App.Namespace); len(after) != len(before) || len(after) == 1 && after[0] != before[0] {
		t.Errorf("a refused associate changed the association: %+v → %+v", before, after)
	}
}

func hintLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "hint:") {
			return l
		}
	}
	return ""
}

func mustContainAll(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, s)
		}
	}
}

// Session tags: a trust scoped by aws:RequestTag/kubernetes-namespace (what
// `podid role create` writes) with `associate --update
// --disable-session-tags`, fixed by --fix; a trust without sts:TagSession,
// which is fine without session tags and caught once they are back on.
func TestRequestSessionTags(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ns := w.App.Namespace
	mustRun(t, w, "enable")

	scoped := `{"Version":"2012-10-17","Statement":[{"Sid":"AllowEksAuthToAssumeRoleForPodIdentity","Effect":"Allow",
 "Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],
 "Condition":{"StringEquals":{"aws:RequestTag/eks-cluster-name":"eks-workshop","aws:RequestTag/kubernetes-namespace":"` + ns + `",
  "aws:RequestTag/kubernetes-service-account":"carts","aws:SourceAccount":"` + lab.WorkshopAccount + `"}}}]}`
	w.Fake.PutRole(fakeaws.Role{Name: lab.CartsRole, TrustPolicy: scoped})
	expectPasses(t, w)

	// The case: associate refuses to stop sending session tags…
	noTagsMsg := []string{"the trust of `eks-workshop-carts-dynamo` requires `aws:RequestTag/kubernetes-namespace`, but the association disables session tags",
		"drop `--disable-session-tags`, or rescope the trust"}
	associateRefused(t, w, noTagsMsg, "--update", "--disable-session-tags")
	// …and when it is done behind podid's back, the checks catch it.
	setSessionTags(t, w, true)
	expectCaught(t, w, noTagsMsg, []string{"--update (without --disable-session-tags)", "--role eks-workshop-carts-dynamo --fix"})

	// --fix rescopes the trust for a request without tags; then it passes.
	audit := len(w.Fake.Audit())
	r := w.Podid(t, append([]string{"verify-role", "--fix"}, w.Target()...)...)
	if r.Code != 0 {
		t.Fatalf("verify-role --fix: exit %d\n%s", r.Code, r.Stderr)
	}
	if got := w.Fake.Audit()[audit:]; len(got) != 1 || got[0].Operation != "UpdateAssumeRolePolicy" {
		t.Fatalf("--fix wrote %+v, want one UpdateAssumeRolePolicy", got)
	}
	fixed, _ := w.Role(lab.CartsRole)
	if !strings.Contains(fixed.TrustPolicy, `"aws:SourceAccount"`) || strings.Count(fixed.TrustPolicy, "aws:RequestTag/kubernetes-namespace") != 1 {
		t.Errorf("--fix did not append a statement scoped by the account only:\n%s", fixed.TrustPolicy)
	}
	expectPasses(t, w)
	if r := w.Podid(t, append([]string{"status"}, w.Target()...)...); r.Code != 0 {
		t.Errorf("status after --fix: exit %d\n%s", r.Code, r.Stdout)
	}

	// A trust without sts:TagSession: fine while session tags are disabled…
	w.Fake.PutRole(fakeaws.Role{Name: lab.CartsRole, TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`})
	expectPasses(t, w)
	// …refused and caught when they are back on.
	tagMsg := []string{"the trust of `eks-workshop-carts-dynamo` does not allow `sts:TagSession` for pods.eks.amazonaws.com, but the association sends session tags"}
	associateRefused(t, w, tagMsg, "--update")
	setSessionTags(t, w, false)
	expectCaught(t, w, tagMsg, []string{"--role eks-workshop-carts-dynamo --fix"})
	if a := w.Associations(ns); len(a) != 1 || a[0].DisableSessionTags {
		t.Fatalf("associations: %+v", a)
	}
}

// Target role: a target whose trust does not admit the first role's
// session, and a first role whose permissions do not allow assuming the
// target (EKS-AUTH.md §2.6).
func TestRequestTargetRole(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ns := w.App.Namespace
	first := lab.RoleARN(lab.CartsRole)
	const target = "carts-dynamo-target"
	targetArn := lab.RoleARN(target)
	trustsOther := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + lab.RoleARN("someone-else") + `"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	trustsFirst := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + first + `"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	mayChain := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"` + targetArn + `"}]}`
	w.Fake.PutRole(fakeaws.Role{Name: target, TrustPolicy: trustsOther})
	if err := w.Fake.PutRolePolicy(lab.CartsRole, "chain", mayChain); err != nil {
		t.Fatal(err)
	}

	// enable refuses before changing anything: verify-role runs first.
	r := w.Podid(t, append([]string{"enable", "--target-role-arn", targetArn}, w.Target()...)...)
	if r.Code != 3 || len(w.Associations(ns)) != 0 {
		t.Fatalf("enable with a target that does not trust the role: exit %d, associations %+v\n%s", r.Code, w.Associations(ns), r.Stderr)
	}
	targetMsg := "the trust of the target role `" + target + "` does not allow `sts:AssumeRole` and `sts:TagSession` for the session of `eks-workshop-carts-dynamo`"
	mustContainAll(t, "enable stderr", r.Stderr, targetMsg)
	// associate alone refuses too.
	associateRefused(t, w, []string{targetMsg}, "--role", lab.CartsRole, "--target-role-arn", targetArn)

	w.Fake.PutRole(fakeaws.Role{Name: target, TrustPolicy: trustsFirst})
	mustRun(t, w, "enable", "--target-role-arn", targetArn)
	expectPasses(t, w)

	// The target's trust changes afterwards.
	w.Fake.PutRole(fakeaws.Role{Name: target, TrustPolicy: trustsOther})
	expectCaught(t, w,
		[]string{"the trust of the target role `" + target + "` does not allow `sts:AssumeRole` and `sts:TagSession` for the session of `eks-workshop-carts-dynamo`"},
		[]string{`add this statement to the trust of ` + target, `"Principal":{"AWS":"` + first + `"}`})

	// The first role loses its permission to assume the target.
	w.Fake.PutRole(fakeaws.Role{Name: target, TrustPolicy: trustsFirst})
	expectPasses(t, w)
	if err := w.Fake.PutRolePolicy(lab.CartsRole, "chain", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"`+lab.RoleARN("someone-else")+`"}]}`); err != nil {
		t.Fatal(err)
	}
	expectCaught(t, w,
		[]string{"the permission policies of `eks-workshop-carts-dynamo` do not allow `sts:AssumeRole` and `sts:TagSession` on the target role `" + target + "`"},
		[]string{"aws iam put-role-policy --role-name eks-workshop-carts-dynamo", targetArn})
}
