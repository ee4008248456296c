package podidentity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/step"
)

// EKS and IAM as they really behave around a create
//
// IAM is eventually consistent: for seconds after a role is created or its
// trust policy changed, EKS may answer Create/UpdatePodIdentityAssociation
// with InvalidParameterException "Role provided in the request does not
// exist" or "Trust policy of the role provided is invalid" (the old trust).
// Terraform retries the first for 2 minutes. podid retries both, with
// backoff, until --timeout, and says what it waits for. Because the second
// message is also EKS's answer to a trust that is really wrong, podid
// retries a propagation error only when IAM itself already shows what EKS
// does not (AssociationOptions.IAMCheck); without that check it retries
// only "does not exist" (as Terraform does).
//
// Deletes are eventually consistent too: for a few seconds after an
// association is deleted, a create for the same service account is
// answered 409 "Association already exists: <the deleted ID>" while reads
// no longer show it (aws-controllers-k8s/community#2684). Such a dying
// association is not a match; podid waits for EKS to release it and
// creates again.

// EKS's messages for a role that IAM has not propagated to EKS yet
// (EKS-AUTH.md §2.10, POD-IDENTITY.md §2).
const (
	msgRoleMissing  = "Role provided in the request does not exist"
	msgTrustInvalid = "Trust policy of the role provided is invalid"
)

// RoleInIAM is what IAM itself shows of a role.
type RoleInIAM struct {
	Exists  bool
	TrustOK bool   // its trust admits EKS Pod Identity for the service account
	Why     string // why not, when Exists && !TrustOK
}

// RoleGetter is the IAM read IAMRoleCheck needs.
type RoleGetter interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
}

// IAMRoleCheck returns an AssociationOptions.IAMCheck that reads role
// roleArn from IAM and evaluates its trust for ns/sa on cluster.
func IAMRoleCheck(api RoleGetter, roleArn string, cluster ClusterInfo, ns, sa string) func(context.Context) (RoleInIAM, error) {
	return func(ctx context.Context) (RoleInIAM, error) {
		out, err := api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(RoleNameOf(roleArn))})
		var nse *iamtypes.NoSuchEntityException
		if errors.As(err, &nse) {
			return RoleInIAM{}, nil
		}
		if err != nil {
			return RoleInIAM{}, err
		}
		if got := aws.ToString(out.Role.Arn); got != "" && got != roleArn {
			return RoleInIAM{}, nil // same name, other path: not this role
		}
		ok, why := admitsPodIdentity(aws.ToString(out.Role.AssumeRolePolicyDocument), trustRequest(cluster, ns, sa))
		return RoleInIAM{Exists: true, TrustOK: ok, Why: why}, nil
	}
}

// Backoff paces podid's own retries: Initial, doubling up to Max.
type Backoff struct {
	Initial, Max time.Duration
}

// DefaultBackoff is the pacing of propagation retries: 1, 2, 4, 8, 8, … s.
func DefaultBackoff() Backoff { return Backoff{Initial: time.Second, Max: 8 * time.Second} }

func (b Backoff) next(prev time.Duration) time.Duration {
	if prev <= 0 {
		return b.Initial
	}
	return min(2*prev, b.Max)
}

// noDeadlineWait bounds the retries when the caller's context has no
// deadline (podid commands always have one: --timeout).
const noDeadlineWait = 2 * time.Minute

// newRequestToken is a fresh clientRequestToken: one per intended creation,
// reused only for retries of that creation, never derived from the inputs
// (EKS remembers a token for hours, also after the association is deleted,
// so a derived token would make a re-create replay the deleted one).
func newRequestToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "podid-" + hex.EncodeToString(b[:])
}

var existingIDRE = regexp.MustCompile(`\ba-[a-z0-9]{17}\b`)

// inUseID is the association ID in a 409 "Association already exists: a-…".
func inUseID(err error) string {
	var inUse *ekstypes.ResourceInUseException
	if !errors.As(err, &inUse) {
		return ""
	}
	return existingIDRE.FindString(aws.ToString(inUse.Message))
}

// propagationMessage returns EKS's propagation message in err, if any.
func propagationMessage(err error) string {
	var ip *ekstypes.InvalidParameterException
	if !errors.As(err, &ip) {
		return ""
	}
	msg := aws.ToString(ip.Message)
	for _, m := range []string{msgRoleMissing, msgTrustInvalid} {
		if strings.Contains(msg, m) {
			return m
		}
	}
	return ""
}

// retrier waits between attempts of one create or update and explains
// what it waited for when --timeout runs out.
type retrier struct {
	backoff  Backoff
	progress step.Progress
	deadline time.Time // without a deadline on ctx: noDeadlineWait from the start
	start    time.Time
	delay    time.Duration
	waiting  string // what the last wait was for (it names EKS's answer)
	hint     string
	iam      *RoleInIAM // what IAM showed (asked once)
}

func newRetrier(ctx context.Context, b Backoff, progress step.Progress) *retrier {
	now := time.Now()
	r := &retrier{backoff: b, progress: progress, start: now, deadline: now.Add(noDeadlineWait)}
	if d, ok := ctx.Deadline(); ok {
		r.deadline = d
	}
	return r
}

// wait sleeps before the next attempt, saying what for; it fails when ctx
// ends or the wait would pass the deadline.
func (r *retrier) wait(ctx context.Context, what string, hint string) error {
	if what != r.waiting {
		r.delay = 0 // a new reason starts the backoff again
		if r.progress != nil {
			r.progress.Waiting(what)
		}
	}
	r.waiting, r.hint = what, hint
	r.delay = r.backoff.next(r.delay)
	d := r.delay
	if left := time.Until(r.deadline); d > left {
		d = left
	}
	var err error
	if d <= 0 {
		err = context.DeadlineExceeded
	} else {
		err = sleepCtx(ctx, d)
	}
	if err == nil {
		return nil
	}
	kind := fail.KindTimeout
	if errors.Is(err, context.Canceled) {
		kind = fail.KindInterrupted
	}
	return &fail.Error{Kind: kind, Hint: hint,
		Err: fmt.Errorf("gave up after %s waiting for %s: %w", time.Since(r.start).Round(100*time.Millisecond), what, err)}
}

// interrupted explains an attempt that failed because ctx ended after podid
// had been waiting (the SDK's error says only "context deadline
// exceeded"); nil when that is not what happened.
func (r *retrier) interrupted(ctx context.Context) error {
	if ctx.Err() == nil || r.waiting == "" {
		return nil
	}
	kind := fail.KindTimeout
	if errors.Is(ctx.Err(), context.Canceled) {
		kind = fail.KindInterrupted
	}
	return &fail.Error{Kind: kind, Hint: r.hint,
		Err: fmt.Errorf("gave up after %s waiting for %s: %w", time.Since(r.start).Round(100*time.Millisecond), r.waiting, ctx.Err())}
}

// retryPropagation decides whether err is IAM propagation worth waiting
// for. It asks IAM (once) when the association has an IAMCheck; it returns
// what to wait for, or "" when err is final.
func (s *Association) retryPropagation(ctx context.Context, r *retrier, err error) (string, error) {
	msg := propagationMessage(err)
	if msg == "" {
		return "", nil
	}
	if r.iam == nil && s.opts.IAMCheck != nil {
		if v, cerr := s.opts.IAMCheck(ctx); cerr == nil {
			r.iam = &v
		} else if ctx.Err() != nil {
			return "", cerr
		}
	}
	if r.iam == nil { // no IAM view: retry only what Terraform retries
		if msg != msgRoleMissing {
			return "", nil
		}
		return fmt.Sprintf("IAM to propagate role %s to EKS (EKS says %q)", s.opts.RoleArn, msg), nil
	}
	switch {
	case !r.iam.Exists:
		return "", nil // IAM has no such role either: not propagation
	case msg == msgTrustInvalid && !r.iam.TrustOK:
		return "", nil // the trust really is wrong
	case msg == msgRoleMissing:
		return fmt.Sprintf("IAM to propagate the new role %s to EKS (EKS says %q; IAM already shows it)", s.opts.RoleArn, msg), nil
	default:
		return fmt.Sprintf("IAM to propagate the trust policy of role %s to EKS (EKS says %q; IAM already shows a trust that admits pods.eks.amazonaws.com)", s.opts.RoleArn, msg), nil
	}
}

// propagationHint is the hint when --timeout ran out waiting for IAM.
const propagationHint = "IAM changes usually reach EKS within seconds, rarely minutes: run the same command again (it is idempotent), with a larger --timeout such as --timeout 5m"

// dyingHint is the hint when --timeout ran out waiting for EKS to release a
// deleted association.
const dyingHint = "EKS keeps a deleted association's service account for a few seconds after the delete: run the same command again, with a larger --timeout if it keeps happening"
