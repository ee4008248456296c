// Package credcheck proves the credentials a pod will really get: the same
// exchange the EKS Pod Identity agent makes on the pod's node. For one pod
// of each workload it requests a service account token bound to that pod
// (audience pods.eks.amazonaws.com), calls EKS Auth
// AssumeRoleForPodIdentity with the caller's AWS credentials, then STS
// GetCallerIdentity with the credentials EKS Auth returned.
//
// The outcome of each exchange is one of:
//   - proven: the pod will hold the expected role's session;
//   - denied: EKS Auth or STS refused, or the identity is not the expected
//     one (a verification failure: every pod of the workload would fail);
//   - not proven: the caller itself may not make the exchange (no
//     eks-auth:AssumeRoleForPodIdentity, or no right to create service
//     account tokens); a warning, unless the proof is required.
//
// Tokens and credentials never leave this package: a Proof carries ARNs,
// IDs and the expiry, never a secret.
package credcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	eatypes "github.com/aws/aws-sdk-go-v2/service/eksauth/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	authv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Audience is the audience EKS Auth accepts on a pod's token.
const Audience = "pods.eks.amazonaws.com"

// tokenSeconds is the bound token's lifetime: the Kubernetes minimum (the
// token is used at once and never stored).
const tokenSeconds int64 = 600

// Mode is --credentials: auto proves when the caller may, require fails
// when it cannot, off skips the proof.
type Mode string

const (
	ModeAuto    Mode = "auto"
	ModeRequire Mode = "require"
	ModeOff     Mode = "off"
)

// ParseMode validates a --credentials value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeRequire, ModeOff:
		return m, nil
	}
	return "", fmt.Errorf("invalid --credentials %q: use auto, require or off", s)
}

// Outcome of one exchange.
type Outcome string

const (
	Proven    Outcome = "proven"
	Denied    Outcome = "denied"
	NotProven Outcome = "notProven"
)

// EKSAuthAPI is the one EKS Auth call the check makes.
type EKSAuthAPI interface {
	AssumeRoleForPodIdentity(ctx context.Context, in *eksauth.AssumeRoleForPodIdentityInput, optFns ...func(*eksauth.Options)) (*eksauth.AssumeRoleForPodIdentityOutput, error)
}

// STSAPI is the call made with the pod's credentials.
type STSAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Subject is one pod whose credentials are proven (one per workload).
type Subject struct {
	Workload string    // e.g. deployment/carts
	Pod      string    // pod name
	UID      types.UID // pod UID; "" = read it from the API
	Node     string
}

// Expected is what the association says the pods will get.
type Expected struct {
	Cluster        string
	ClusterArn     string // for messages; "" = arn:aws:eks:<region>:<account>:cluster/NAME
	Namespace      string
	ServiceAccount string
	AssociationID  string // "" = any
	// RoleArn is the association's role; TargetRoleArn, when set, is the
	// role EKS chains to and whose credentials the pod holds.
	RoleArn            string
	TargetRoleArn      string
	DisableSessionTags bool
}

// EffectiveRoleArn is the role whose session the pod holds.
func (e Expected) EffectiveRoleArn() string {
	if e.TargetRoleArn != "" {
		return e.TargetRoleArn
	}
	return e.RoleArn
}

// Proof is the outcome of the exchange for one pod. It holds no secret.
type Proof struct {
	Workload string  `json:"workload"`
	Pod      string  `json:"pod"`
	Outcome  Outcome `json:"outcome"`
	// Identity is the assumed-role ARN GetCallerIdentity answered with the
	// pod's credentials; Account its account.
	Identity      string `json:"identity,omitempty"`
	Account       string `json:"account,omitempty"`
	AssociationID string `json:"associationId,omitempty"`
	// RoleArn is the role of the session (the target role when chained);
	// ChainedFrom the association's role when EKS chained to a target.
	RoleArn     string     `json:"roleArn,omitempty"`
	ChainedFrom string     `json:"chainedFrom,omitempty"`
	SessionTags bool       `json:"sessionTags"`
	Expiration  *time.Time `json:"expiration,omitempty"`
	// Problem and Fix say what failed and what to run (denied, not proven).
	Problem string `json:"problem,omitempty"`
	Fix     string `json:"fix,omitempty"`
	// Missing names the caller's missing permission (not proven).
	Missing string `json:"missingPermission,omitempty"`
	// Link names the failing link of a denial: token, association, trust,
	// target, identity.
	Link string `json:"link,omitempty"`
}

// Explainer names, for a denial by EKS Auth, the failing link and its fix
// from the static analysis of the trust and the association (verify-role's
// model of the request). ok=false when the static model finds nothing.
type Explainer func(ctx context.Context) (problem, fix string, ok bool)

// Checker makes the exchange; one per run. Proofs are cached by pod UID, so
// the commands of one run (restart, then verify) pay for each pod once.
type Checker struct {
	Kube    kubernetes.Interface
	EKSAuth EKSAuthAPI
	// NewSTS returns an STS client signing with the given credentials.
	NewSTS func(creds aws.CredentialsProvider) STSAPI
	// Explain, optional, names the failing link of a trust denial.
	Explain Explainer

	mu    sync.Mutex
	cache map[types.UID]Proof
}

// NewSTSFromConfig returns a NewSTS that builds clients from cfg (its
// region, endpoint, retryer and middleware) with other credentials.
func NewSTSFromConfig(cfg aws.Config) func(aws.CredentialsProvider) STSAPI {
	return func(creds aws.CredentialsProvider) STSAPI {
		c := cfg.Copy()
		c.Credentials = aws.NewCredentialsCache(creds)
		return sts.NewFromConfig(c)
	}
}

// Prove makes the exchange for every subject, in order. It returns an
// error only for failures that are neither a denial nor a missing
// permission of the caller (the network, a canceled context).
func (c *Checker) Prove(ctx context.Context, exp Expected, subjects []Subject) ([]Proof, error) {
	out := make([]Proof, 0, len(subjects))
	for _, s := range subjects {
		p, err := c.proveOne(ctx, exp, s)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (c *Checker) proveOne(ctx context.Context, exp Expected, s Subject) (Proof, error) {
	uid := s.UID
	if uid == "" {
		pod, err := c.Kube.CoreV1().Pods(exp.Namespace).Get(ctx, s.Pod, metav1.GetOptions{})
		if err != nil {
			return Proof{}, fmt.Errorf("read pod %s/%s to bind a token to it: %w", exp.Namespace, s.Pod, err)
		}
		uid = pod.UID
	}
	c.mu.Lock()
	if p, ok := c.cache[uid]; ok {
		c.mu.Unlock()
		return p, nil
	}
	c.mu.Unlock()

	p, err := c.exchange(ctx, exp, s, uid)
	if err != nil {
		return p, err
	}
	c.mu.Lock()
	if c.cache == nil {
		c.cache = map[types.UID]Proof{}
	}
	c.cache[uid] = p
	c.mu.Unlock()
	return p, nil
}

func (c *Checker) exchange(ctx context.Context, exp Expected, s Subject, uid types.UID) (Proof, error) {
	p := Proof{Workload: s.Workload, Pod: s.Pod}
	target := fmt.Sprintf("%s/%s", exp.Namespace, exp.ServiceAccount)

	// 1. A token for the service account, bound to the pod, as the kubelet
	// projects it (the agent forwards it verbatim).
	tr, err := c.Kube.CoreV1().ServiceAccounts(exp.Namespace).CreateToken(ctx, exp.ServiceAccount, &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{
			Audiences:         []string{Audience},
			ExpirationSeconds: ptr(tokenSeconds),
			BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: s.Pod, UID: uid},
		},
	}, metav1.CreateOptions{})
	switch {
	case apierrors.IsForbidden(err):
		p.Outcome, p.Link = NotProven, "token"
		p.Missing = fmt.Sprintf("RBAC: create serviceaccounts/token in namespace %s", exp.Namespace)
		p.Problem = fmt.Sprintf("podid may not create a token for service account %s", target)
		p.Fix = fmt.Sprintf("grant create on serviceaccounts/token in namespace %s (README: least privilege), or pass --credentials off", exp.Namespace)
		return p, nil
	case apierrors.IsNotFound(err):
		p.Outcome, p.Link = Denied, "token"
		p.Problem = fmt.Sprintf("service account %s or pod %s no longer exists", target, s.Pod)
		p.Fix = "run the command again: the pods changed while podid checked them"
		return p, nil
	case err != nil:
		return p, fmt.Errorf("create a token for service account %s bound to pod %s: %w", target, s.Pod, err)
	}
	token := tr.Status.Token

	// 2. The agent's call.
	res, err := c.EKSAuth.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{
		ClusterName: aws.String(exp.Cluster), Token: aws.String(token),
	})
	if err != nil {
		return c.denial(ctx, p, exp, err)
	}
	if res.Credentials == nil || res.AssumedRoleUser == nil {
		return p, fmt.Errorf("EKS Auth answered without credentials or assumed-role user for %s", target)
	}
	if res.PodIdentityAssociation != nil {
		p.AssociationID = aws.ToString(res.PodIdentityAssociation.AssociationId)
	}
	p.SessionTags = !exp.DisableSessionTags
	if exp.TargetRoleArn != "" {
		p.ChainedFrom = exp.RoleArn
	}
	if res.Credentials.Expiration != nil {
		t := res.Credentials.Expiration.UTC()
		p.Expiration = &t
	}
	if sub := res.Subject; sub != nil && (aws.ToString(sub.Namespace) != exp.Namespace || aws.ToString(sub.ServiceAccount) != exp.ServiceAccount) {
		p.Outcome, p.Link = Denied, "token"
		p.Problem = fmt.Sprintf("EKS Auth read the token as %s/%s, not %s", aws.ToString(sub.Namespace), aws.ToString(sub.ServiceAccount), target)
		p.Fix = "check the cluster's service account issuer; report this to the cluster's operators"
		return p, nil
	}

	// 3. Who the pod will be.
	creds := credentials.NewStaticCredentialsProvider(aws.ToString(res.Credentials.AccessKeyId), aws.ToString(res.Credentials.SecretAccessKey), aws.ToString(res.Credentials.SessionToken))
	id, err := c.NewSTS(creds).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			p.Outcome, p.Link = Denied, "identity"
			p.Problem = fmt.Sprintf("the credentials EKS Auth issued are refused by STS: %s", ae.ErrorMessage())
			p.Fix = "run the check again; if it persists, the role's session may be revoked (aws iam get-role)"
			return p, nil
		}
		return p, fmt.Errorf("sts get-caller-identity with the credentials issued for %s: %w", target, err)
	}
	p.Identity, p.Account = aws.ToString(id.Arn), aws.ToString(id.Account)
	p.RoleArn = exp.EffectiveRoleArn()

	// The session must be the expected role's, named by EKS.
	wantRole := roleName(exp.EffectiveRoleArn())
	gotRole, session := assumedRole(p.Identity)
	switch {
	case exp.AssociationID != "" && p.AssociationID != "" && p.AssociationID != exp.AssociationID:
		p.Outcome, p.Link = Denied, "association"
		p.Problem = fmt.Sprintf("EKS Auth used association %s, not %s: the association was replaced after podid checked it", p.AssociationID, exp.AssociationID)
		p.Fix = fmt.Sprintf("run `podid verify --cluster %s --ns %s --sa %s` to review the association now in place", exp.Cluster, exp.Namespace, exp.ServiceAccount)
	case wantRole != "" && gotRole != wantRole:
		p.Outcome, p.Link = Denied, "identity"
		p.Problem = fmt.Sprintf("the pod will hold role %s, not %s: the association changed after podid checked it", orNone(gotRole), wantRole)
		p.Fix = fmt.Sprintf("run `podid enable --cluster %s --ns %s --sa %s` again (it verifies the role now associated), or restore the association's role", exp.Cluster, exp.Namespace, exp.ServiceAccount)
	case !strings.HasPrefix(session, "eks-"):
		p.Outcome, p.Link = Denied, "identity"
		p.Problem = fmt.Sprintf("the session %s is not one EKS Pod Identity names (eks-<cluster>-<pod>-<uuid>)", orNone(session))
		p.Fix = "check the EKS Auth endpoint podid used (AWS_ENDPOINT_URL_EKS_AUTH)"
	default:
		p.Outcome = Proven
	}
	return p, nil
}

// denial turns an EKS Auth error into a Proof, or returns it when it is
// neither the service's answer nor the caller's missing permission.
func (c *Checker) denial(ctx context.Context, p Proof, exp Expected, err error) (Proof, error) {
	target := fmt.Sprintf("%s/%s", exp.Namespace, exp.ServiceAccount)
	var (
		ad  *eatypes.AccessDeniedException
		nf  *eatypes.ResourceNotFoundException
		et  *eatypes.ExpiredTokenException
		it  *eatypes.InvalidTokenException
		ip  *eatypes.InvalidParameterException
		ir  *eatypes.InvalidRequestException
		api smithy.APIError
	)
	switch {
	case errors.As(err, &ad) && strings.Contains(ad.ErrorMessage(), "eks-auth:AssumeRoleForPodIdentity"):
		// The caller, not the pod's role: EKS Auth is the node's API.
		p.Outcome, p.Link = NotProven, "caller"
		clusterArn := exp.ClusterArn
		if clusterArn == "" {
			clusterArn = "arn:aws:eks:<region>:<account>:cluster/" + exp.Cluster
		}
		p.Missing = "eks-auth:AssumeRoleForPodIdentity on " + clusterArn
		p.Problem = "your AWS identity may not call eks-auth:AssumeRoleForPodIdentity, so podid cannot make the agent's exchange"
		p.Fix = "allow eks-auth:AssumeRoleForPodIdentity on the cluster for the identity running podid (README: least privilege), or pass --credentials off"
		return p, nil
	case errors.As(err, &ad):
		p.Outcome, p.Link = Denied, "trust"
		p.Problem = fmt.Sprintf("EKS Auth refused the credentials for %s: %s", target, ad.ErrorMessage())
		p.Fix = fmt.Sprintf("review the role's trust: podid verify-role --cluster %s --ns %s --sa %s", exp.Cluster, exp.Namespace, exp.ServiceAccount)
		if c.Explain != nil {
			if problem, fix, ok := c.Explain(ctx); ok {
				p.Problem, p.Fix = problem, fix
			}
		}
		if exp.TargetRoleArn != "" && p.Link == "trust" && strings.Contains(ad.ErrorMessage(), roleName(exp.TargetRoleArn)) {
			p.Link = "target"
		}
		return p, nil
	case errors.As(err, &nf):
		p.Outcome, p.Link = Denied, "association"
		p.Problem = fmt.Sprintf("EKS Auth finds no pod identity association for %s on cluster %s: %s", target, exp.Cluster, nf.ErrorMessage())
		p.Fix = fmt.Sprintf("the association was deleted or has not propagated: podid associate --cluster %s --ns %s --sa %s --role ROLE", exp.Cluster, exp.Namespace, exp.ServiceAccount)
		return p, nil
	case errors.As(err, &et), errors.As(err, &it):
		p.Outcome, p.Link = Denied, "token"
		var msg string
		if et != nil {
			msg = et.ErrorMessage()
		} else {
			msg = it.ErrorMessage()
		}
		p.Problem = fmt.Sprintf("EKS Auth refused the service account token of %s: %s", target, msg)
		p.Fix = "check that the cluster's service account issuer is the one EKS knows (the kubeconfig may point at another cluster)"
		return p, nil
	case errors.As(err, &ip), errors.As(err, &ir):
		p.Outcome, p.Link = Denied, "request"
		p.Problem = fmt.Sprintf("EKS Auth rejected the request for %s: %s", target, err)
		p.Fix = "check --cluster"
		return p, nil
	case errors.As(err, &api):
		return p, fmt.Errorf("eks-auth assume-role-for-pod-identity for %s on cluster %s: %w", target, exp.Cluster, err)
	}
	return p, fmt.Errorf("eks-auth assume-role-for-pod-identity for %s on cluster %s: %w", target, exp.Cluster, err)
}

// roleName is the last path element of a role ARN ("" if not a role ARN).
func roleName(arn string) string {
	_, rest, ok := strings.Cut(arn, ":role/")
	if !ok {
		return ""
	}
	if i := strings.LastIndex(rest, "/"); i >= 0 {
		rest = rest[i+1:]
	}
	return rest
}

// assumedRole splits arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.
func assumedRole(arn string) (role, session string) {
	_, rest, ok := strings.Cut(arn, ":assumed-role/")
	if !ok {
		return "", ""
	}
	role, session, _ = strings.Cut(rest, "/")
	return role, session
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func ptr[T any](v T) *T { return &v }
