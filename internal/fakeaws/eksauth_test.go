package fakeaws

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	eatypes "github.com/aws/aws-sdk-go-v2/service/eksauth/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

const testIssuer = "https://kubernetes.default.svc.cluster.local"

// issuer is a test service account issuer: an RSA key and its JWKS.
type issuer struct {
	key *rsa.PrivateKey
	kid string
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &issuer{key: k, kid: "kid-" + randString("abcdef0123456789", 8)}
}

func (i *issuer) jwks() []byte {
	enc := base64.RawURLEncoding.EncodeToString
	b, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": i.kid,
		"n": enc(i.key.N.Bytes()), "e": enc(big.NewInt(int64(i.key.E)).Bytes()),
	}}})
	return b
}

type tokenSpec struct {
	ns, sa, pod, podUID string
	aud                 []string
	iss                 string
	exp                 time.Time
	noPod               bool
}

// sign makes a service account token like the apiserver's.
func (i *issuer) sign(t testing.TB, s tokenSpec) string {
	t.Helper()
	if s.aud == nil {
		s.aud = []string{PodIdentityAudience}
	}
	if s.iss == "" {
		s.iss = testIssuer
	}
	if s.exp.IsZero() {
		s.exp = time.Now().Add(time.Hour)
	}
	if s.pod == "" {
		s.pod = s.sa + "-7d9f8c6b5-x2k4q"
	}
	if s.podUID == "" {
		s.podUID = "5af5e7ac-5754-49ea-b28f-2c2a2eb95fbb"
	}
	k8s := map[string]any{
		"namespace":      s.ns,
		"serviceaccount": map[string]string{"name": s.sa, "uid": "sa-uid-1"},
	}
	if !s.noPod {
		k8s["pod"] = map[string]string{"name": s.pod, "uid": s.podUID}
	}
	now := time.Now()
	claims := map[string]any{
		"aud": s.aud, "iss": s.iss, "sub": "system:serviceaccount:" + s.ns + ":" + s.sa,
		"exp": s.exp.Unix(), "iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(),
		"kubernetes.io": k8s,
	}
	enc := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": i.kid})
	c, _ := json.Marshal(claims)
	signing := enc(h) + "." + enc(c)
	d := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, i.key, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + enc(sig)
}

// authLab is a fake with a cluster, a node role session and an issuer.
type authLab struct {
	*clients
	iss    *issuer
	clock  *atomic.Int64 // offset in ns added to time.Now
	node   Credentials
	auth   *eksauth.Client // signed with the node role's session
	pods   *podTable
	nodeSt *sts.Client
}

type podTable struct {
	mu   sync.Mutex
	uids map[string]string // ns/name -> uid
}

func (p *podTable) lookup(_ context.Context, _, ns, name string) (string, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	uid, ok := p.uids[ns+"/"+name]
	return uid, ok, nil
}

func quickRetryer(maxAttempts int) func() aws.Retryer {
	return func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxBackoff = time.Millisecond
			o.RateLimiter = ratelimit.None
			if maxAttempts > 0 {
				o.MaxAttempts = maxAttempts
			}
		})
	}
}

func credsConfig(c Credentials, maxAttempts int) aws.Config {
	return aws.Config{
		Region:      DefaultRegion,
		Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
		Retryer:     quickRetryer(maxAttempts),
	}
}

func (l *authLab) eksAuthFor(c Credentials, maxAttempts int) *eksauth.Client {
	return eksauth.NewFromConfig(credsConfig(c, maxAttempts), func(o *eksauth.Options) { o.BaseEndpoint = aws.String(l.url) })
}

func (l *authLab) stsFor(c Credentials) *sts.Client {
	return sts.NewFromConfig(credsConfig(c, 1), func(o *sts.Options) { o.BaseEndpoint = aws.String(l.url) })
}

func (l *authLab) iamFor(c Credentials) *iam.Client {
	return iam.NewFromConfig(credsConfig(c, 1), func(o *iam.Options) { o.BaseEndpoint = aws.String(l.url) })
}

const workerPolicy = "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"

func startAuth(t *testing.T, opts Options) *authLab {
	t.Helper()
	iss := newIssuer(t)
	clock := &atomic.Int64{}
	pods := &podTable{uids: map[string]string{}}
	opts.Now = func() time.Time { return time.Now().Add(time.Duration(clock.Load())) }
	opts.IssuerKeys = func(context.Context, string) (IssuerKeys, error) {
		return IssuerKeys{Issuer: testIssuer, JWKS: iss.jwks()}, nil
	}
	opts.PodLookup = pods.lookup
	c := start(t, opts)
	c.srv.PutRole(Role{Name: "node", TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`})
	if err := c.srv.AttachRolePolicy("node", workerPolicy); err != nil {
		t.Fatal(err)
	}
	node, err := c.srv.IssueRoleSession("node", "i-0123456789abcdef0", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	l := &authLab{clients: c, iss: iss, clock: clock, node: node, pods: pods}
	l.auth = l.eksAuthFor(node, 1)
	l.nodeSt = l.stsFor(node)
	return l
}

// associate creates an association with the admin and waits until it has
// propagated to EKS Auth.
func (l *authLab) associate(t *testing.T, in *eks.CreatePodIdentityAssociationInput) string {
	t.Helper()
	in.ClusterName = aws.String(testCluster)
	out, err := l.eks.CreatePodIdentityAssociation(context.Background(), in)
	if err != nil {
		t.Fatalf("create association %s/%s: %v", aws.ToString(in.Namespace), aws.ToString(in.ServiceAccount), err)
	}
	l.waitVisible(t, *in.Namespace, *in.ServiceAccount)
	return *out.Association.AssociationId
}

func (l *authLab) waitVisible(t *testing.T, ns, sa string) {
	t.Helper()
	eventually(t, 5*time.Second, "association "+ns+"/"+sa+" to propagate", func() bool {
		for _, id := range l.srv.Identities(testCluster) {
			if id.Namespace == ns && id.ServiceAccount == sa {
				return true
			}
		}
		return false
	})
}

func (l *authLab) assume(token string) (*eksauth.AssumeRoleForPodIdentityOutput, error) {
	return l.auth.AssumeRoleForPodIdentity(context.Background(), &eksauth.AssumeRoleForPodIdentityInput{
		ClusterName: aws.String(testCluster), Token: aws.String(token)})
}

func outCreds(out *eksauth.AssumeRoleForPodIdentityOutput) Credentials {
	c := out.Credentials
	return Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken, Expiration: *c.Expiration}
}

// wantAPIError asserts err is the typed error T with HTTP status code.
func wantAPIError[T error](t *testing.T, what string, err error, status int, msgPart string) T {
	t.Helper()
	var typed T
	if !errors.As(err, &typed) {
		t.Fatalf("%s: err = %v, want %T", what, err, typed)
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() != status {
		t.Errorf("%s: HTTP %d, want %d", what, re.HTTPStatusCode(), status)
	}
	var api smithy.APIError
	if errors.As(err, &api) && msgPart != "" && !strings.Contains(api.ErrorMessage(), msgPart) {
		t.Errorf("%s: message %q does not contain %q", what, api.ErrorMessage(), msgPart)
	}
	return typed
}

func TestEKSAuthHappyPathWithSessionTags(t *testing.T) {
	t.Parallel()
	l := startAuth(t, Options{})
	ctx := context.Background()
	id := l.associate(t, &eks.CreatePodIdentityAssociationInput{Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("carts-dynamo"))})
	pod := "carts-7d9f8c6b5-x2k4q"
	out, err := l.assume(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts", pod: pod}))
	if err != nil {
		t.Fatalf("AssumeRoleForPodIdentity: %v", err)
	}
	if *out.Subject.Namespace != "carts" || *out.Subject.ServiceAccount != "carts" || *out.Audience != PodIdentityAudience {
		t.Errorf("subject %s/%s audience %s", *out.Subject.Namespace, *out.Subject.ServiceAccount, *out.Audience)
	}
	if *out.PodIdentityAssociation.AssociationId != id || *out.PodIdentityAssociation.AssociationArn != "arn:aws:eks:us-west-2:1234567890:podidentityassociation/eks-workshop/"+id {
		t.Errorf("association %s %s, want %s", *out.PodIdentityAssociation.AssociationId, *out.PodIdentityAssociation.AssociationArn, id)
	}
	arn := *out.AssumedRoleUser.Arn
	// eks-<cluster>-<pod>-<uuid> is 70 characters here: cluster and pod
	// are cut to 11 each so that the session name has 64.
	prefix := "arn:aws:sts::1234567890:assumed-role/carts-dynamo/eks-eks-worksho-carts-7d9f8-"
	session := strings.TrimPrefix(arn, "arn:aws:sts::1234567890:assumed-role/carts-dynamo/")
	if !strings.HasPrefix(arn, prefix) || len(session) != 64 {
		t.Errorf("assumed role ARN %s: want prefix %s and a 36-char UUID, session of 64", arn, prefix)
	}
	if !strings.HasPrefix(*out.AssumedRoleUser.AssumeRoleId, "AROA") || !strings.HasSuffix(*out.AssumedRoleUser.AssumeRoleId, ":"+session) {
		t.Errorf("assumeRoleId %s", *out.AssumedRoleUser.AssumeRoleId)
	}
	creds := outCreds(out)
	if !strings.HasPrefix(creds.AccessKeyID, "ASIA") || creds.SessionToken == "" {
		t.Errorf("credentials %s / token %q", creds.AccessKeyID, creds.SessionToken)
	}
	if left := time.Until(creds.Expiration); left < 6*time.Hour-time.Minute || left > 6*time.Hour+time.Minute {
		t.Errorf("credentials expire in %v, want 6h", left)
	}
	who, err := l.stsFor(creds).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with issued credentials: %v", err)
	}
	if *who.Arn != arn || *who.Account != DefaultAccount || *who.UserId != *out.AssumedRoleUser.AssumeRoleId {
		t.Errorf("GetCallerIdentity = %s %s %s, want %s", *who.Arn, *who.Account, *who.UserId, arn)
	}
	x := l.srv.Exchanges()
	if len(x) != 1 || x[0].Outcome != "Success" || x[0].Caller != "arn:aws:sts::1234567890:assumed-role/node/i-0123456789abcdef0" {
		t.Fatalf("exchanges %+v", x)
	}
	wantTags := map[string]string{
		"eks-cluster-arn": "arn:aws:eks:us-west-2:1234567890:cluster/eks-workshop", "eks-cluster-name": testCluster,
		"kubernetes-namespace": "carts", "kubernetes-service-account": "carts", "kubernetes-pod-name": pod,
		"kubernetes-pod-uid": "5af5e7ac-5754-49ea-b28f-2c2a2eb95fbb",
	}
	if fmt.Sprint(x[0].SessionTags) != fmt.Sprint(wantTags) {
		t.Errorf("session tags %v, want %v", x[0].SessionTags, wantTags)
	}
	// A second exchange gets a new session name.
	out2, err := l.assume(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts", pod: pod}))
	if err != nil || *out2.AssumedRoleUser.Arn == arn {
		t.Errorf("second exchange: %v, same session %v", err, out2 != nil && *out2.AssumedRoleUser.Arn == arn)
	}
}

// The session tags are usable as aws:RequestTag in the trust (what
// `podid role create` writes) and as aws:PrincipalTag in the role's
// permissions (ABAC with policy variables).
func TestEKSAuthScopedTrustAndPrincipalTags(t *testing.T) {
	t.Parallel()
	l := startAuth(t, Options{})
	ctx := context.Background()
	l.srv.PutRole(Role{Name: "scoped", TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],
		"Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"carts","aws:SourceAccount":"1234567890"},"ArnLike":{"aws:SourceArn":"arn:aws:eks:us-west-2:1234567890:cluster/*"},"StringLike":{"aws:RequestTag/kubernetes-service-account":"cart*"}}}]}`})
	if err := l.srv.PutRolePolicy("scoped", "abac", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"arn:aws:iam::1234567890:role/${aws:PrincipalTag/kubernetes-namespace}-*"}]}`); err != nil {
		t.Fatal(err)
	}
	l.srv.PutRole(Role{Name: "carts-a", TrustPolicy: podsTrust})
	l.srv.PutRole(Role{Name: "orders-a", TrustPolicy: podsTrust})
	l.associate(t, &eks.CreatePodIdentityAssociationInput{Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("scoped"))})
	l.associate(t, &eks.CreatePodIdentityAssociationInput{Namespace: aws.String("orders"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("scoped"))})

	out, err := l.assume(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"}))
	if err != nil {
		t.Fatalf("scoped trust, namespace carts: %v", err)
	}
	pi := l.iamFor(outCreds(out))
	if _, err := pi.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("carts-a")}); err != nil {
		t.Errorf("ABAC: GetRole carts-a with kubernetes-namespace=carts: %v", err)
	}
	_, err = pi.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("orders-a")})
	if errorCode(err) != "AccessDenied" {
		t.Errorf("ABAC: GetRole orders-a with kubernetes-namespace=carts: %v, want AccessDenied", err)
	}
	_, err = l.assume(l.iss.sign(t, tokenSpec{ns: "orders", sa: "carts"}))
	wantAPIError[*eatypes.AccessDeniedException](t, "scoped trust, namespace orders", err, 400, "sts:AssumeRole on resource: arn:aws:iam::1234567890:role/scoped")
}

func TestEKSAuthSessionTagsDisabled(t *testing.T) {
	t.Parallel()
	l := startAuth(t, Options{})
	// A trust without TagSession works when tags are disabled (case 4).
	l.srv.PutRole(Role{Name: "no-tag", TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`})
	l.srv.PutRole(Role{Name: "scoped", TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"carts"}}}]}`})
	id := l.associate(t, &eks.CreatePodIdentityAssociationInput{Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"),
		RoleArn: aws.String(roleArn("carts-dynamo")), DisableSessionTags: aws.Bool(true)})
	out, err := l.assume(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"}))
	if err != nil {
		t.Fatalf("tags disabled: %v", err)
	}
	if x := l.srv.Exchanges(); x[0].SessionTags != nil {
		t.Errorf("tags disabled but tags sent: %v", x[0].SessionTags)
	}
	if !strings.Contains(*out.AssumedRoleUser.Arn, "assumed-role/carts-dynamo/eks-eks-worksho-carts-") {
		t.Errorf("arn %s", *out.AssumedRoleUser.Arn)
	}

	// The same association on the scoped trust: denied (issue 11's first case).
	if _, err := l.eks.UpdatePodIdentityAssociation(context.Background(), &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String(testCluster), AssociationId: aws.String(id), RoleArn: aws.String(roleArn("scoped"))}); err != nil {
		t.Fatal(err)
	}
	_, err = l.assume(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"}))
	wantAPIError[*eatypes.AccessDeniedException](t, "scoped trust, tags disabled", err, 400, "disables session tags")

	if _, err := l.eks.UpdatePodIdentityAssociation(context.Background(), &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String(testCluster), AssociationId: aws.String(id), DisableSessionTags: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.assume(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"})); err != nil {
		t.Errorf("scoped trust, tags enabled again: %v", err)
	}
}

func TestEKSAuthTrustWithoutTagSession(t *testing.T) {
	t.Parallel()
	l := startAuth(t, Options{})
	l.associate(t, &eks.CreatePodIdentityAssociationInput{Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("carts-dynamo"))})
	// Trust edited after the association was created (create checks it).
	l.srv.PutRole(Role{Name: "carts-dynamo", TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`})
	_, err := l.assume(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"}))
	wantAPIError[*eatypes.AccessDeniedException](t, "trust without TagSession", err, 400, "sts:TagSession on resource: arn:aws:iam::1234567890:role/carts-dynamo")
	// An explicit Deny wins over the Allow.
	l.srv.PutRole(Role{Name: "carts-dynamo", TrustPolicy: `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]},` +
		`{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringNotEquals":{"aws:SourceAccount":"999999999999"}}}]}`})
	_, err = l.assume(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"}))
	wantAPIError[*eatypes.AccessDeniedException](t, "explicit deny", err, 400, "denies it explicitly")
}

// chainLab makes a first role "hop1" and a target role "target".
func chainLab(t *testing.T, hop1Policy, targetTrust string, disableTags bool, policy string) (*authLab, string) {
	t.Helper()
	l := startAuth(t, Options{})
	l.srv.PutRole(Role{Name: "hop1", TrustPolicy: podsTrust})
	if hop1Policy != "" {
		if err := l.srv.PutRolePolicy("hop1", "chain", hop1Policy); err != nil {
			t.Fatal(err)
		}
	}
	l.srv.PutRole(Role{Name: "target", TrustPolicy: targetTrust})
	if err := l.srv.PutRolePolicy("target", "read", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetRole","iam:ListRoles"],"Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
	in := &eks.CreatePodIdentityAssociationInput{Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"),
		RoleArn: aws.String(roleArn("hop1")), TargetRoleArn: aws.String(roleArn("target")), DisableSessionTags: aws.Bool(disableTags)}
	if policy != "" {
		in.Policy = aws.String(policy)
	}
	return l, l.associate(t, in)
}

const (
	hop1MayChain = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"arn:aws:iam::1234567890:role/target"}]}`
	targetTrust  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1234567890:root"},"Action":["sts:AssumeRole","sts:TagSession"],
		"Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::1234567890:role/hop1"},"StringEquals":{"aws:RequestTag/kubernetes-namespace":"carts","aws:PrincipalTag/kubernetes-service-account":"carts"}}}]}`
)

func TestEKSAuthTargetRoleChaining(t *testing.T) {
	t.Parallel()
	l, _ := chainLab(t, hop1MayChain, targetTrust, false, "")
	out, err := l.assume(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"}))
	if err != nil {
		t.Fatalf("chained exchange: %v", err)
	}
	arn := *out.AssumedRoleUser.Arn
	if !strings.HasPrefix(arn, "arn:aws:sts::1234567890:assumed-role/target/eks-eks-worksho-carts-") {
		t.Errorf("assumed role %s, want the target's session", arn)
	}
	if left := time.Until(*out.Credentials.Expiration); left > time.Hour+time.Minute || left < time.Hour-time.Minute {
		t.Errorf("chained credentials expire in %v, want 1h", left)
	}
	who, err := l.stsFor(outCreds(out)).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil || *who.Arn != arn {
		t.Errorf("GetCallerIdentity = %v, %v; want %s", who, err, arn)
	}
}

func TestEKSAuthTargetRoleDenials(t *testing.T) {
	t.Parallel()
	t.Run("target does not trust the first role", func(t *testing.T) {
		t.Parallel()
		other := strings.ReplaceAll(targetTrust, "role/hop1", "role/someone-else")
		l, _ := chainLab(t, hop1MayChain, other, false, "")
		_, err := l.assume(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"}))
		wantAPIError[*eatypes.AccessDeniedException](t, "untrusting target", err, 400, "sts:AssumeRole on resource: arn:aws:iam::1234567890:role/target")
	})
	t.Run("target trust without TagSession", func(t *testing.T) {
		t.Parallel()
		noTag := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1234567890:role/hop1"},"Action":"sts:AssumeRole"}]}`
		l, _ := chainLab(t, hop1MayChain, noTag, false, "")
		_, err := l.assume(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"}))
		wantAPIError[*eatypes.AccessDeniedException](t, "target without TagSession", err, 400, "sts:TagSession on resource: arn:aws:iam::1234567890:role/target")
	})
	t.Run("first role may not assume the target", func(t *testing.T) {
		t.Parallel()
		l, _ := chainLab(t, "", targetTrust, false, "")
		_, err := l.assume(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"}))
		wantAPIError[*eatypes.AccessDeniedException](t, "hop1 without permission", err, 400, "assumed-role/hop1/eks-eks-worksho-carts-")
	})
	t.Run("external id with tags disabled", func(t *testing.T) {
		t.Parallel()
		ext := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1234567890:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"us-west-2/1234567890/eks-workshop/carts/carts"}}}]}`
		l, _ := chainLab(t, hop1MayChain, ext, true, "")
		if _, err := l.assume(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"})); err != nil {
			t.Errorf("matching external ID: %v", err)
		}
		l2, _ := chainLab(t, hop1MayChain, strings.Replace(ext, "carts/carts", "carts/other", 1), true, "")
		_, err := l2.assume(l2.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"}))
		wantAPIError[*eatypes.AccessDeniedException](t, "external id mismatch", err, 400, "")
	})
}

func TestEKSAuthSessionPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The session policy limits the target's session to GetRole on hop1.
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"arn:aws:iam::1234567890:role/hop1"}]}`
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1234567890:role/hop1"},"Action":"sts:AssumeRole"}]}`
	l, _ := chainLab(t, hop1MayChain, trust, true, policy)
	out, err := l.assume(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"}))
	if err != nil {
		t.Fatalf("exchange with session policy: %v", err)
	}
	pi := l.iamFor(outCreds(out))
	if _, err := pi.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("hop1")}); err != nil {
		t.Errorf("GetRole hop1, allowed by role and session policy: %v", err)
	}
	if _, err := pi.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("target")}); errorCode(err) != "AccessDenied" {
		t.Errorf("GetRole target, outside the session policy: %v, want AccessDenied", err)
	}
	if _, err := pi.ListRoles(ctx, &iam.ListRolesInput{}); errorCode(err) != "AccessDenied" {
		t.Errorf("ListRoles, outside the session policy: %v, want AccessDenied", err)
	}
	// IAM's simulation is authorized for the session's principal too.
	_, err = pi.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(roleArn("target")), ActionNames: []string{"iam:GetRole"}})
	if errorCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "assumed-role/target/") {
		t.Errorf("SimulatePrincipalPolicy by the session: %v, want AccessDenied for the target's session", err)
	}
	// The admin is not limited.
	if _, err := l.iam.ListRoles(ctx, &iam.ListRolesInput{}); err != nil {
		t.Errorf("admin ListRoles: %v", err)
	}
	// Sessions of a deleted role may do nothing.
	if _, err := l.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("target"), PolicyName: aws.String("read")}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("target")}); err != nil {
		t.Fatal(err)
	}
	l.srv.PutRole(Role{Name: "target", TrustPolicy: podsTrust}) // same name, new role
	if err := l.srv.PutRolePolicy("target", "read", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
	if _, err := pi.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("hop1")}); errorCode(err) != "AccessDenied" {
		t.Errorf("GetRole by a session of a deleted role: %v, want AccessDenied", err)
	}
}

func TestEKSAuthTokenChecks(t *testing.T) {
	t.Parallel()
	l := startAuth(t, Options{})
	l.associate(t, &eks.CreatePodIdentityAssociationInput{Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("carts-dynamo"))})
	other := newIssuer(t)
	other.kid = l.iss.kid // same key ID, other key: the signature decides
	expired := time.Now().Add(-time.Minute).Truncate(time.Second)
	tests := []struct {
		name  string
		token string
		check func(t *testing.T, err error)
	}{
		{"wrong audience", l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts", aud: []string{"https://kubernetes.default.svc.cluster.local"}}), func(t *testing.T, err error) {
			wantAPIError[*eatypes.InvalidTokenException](t, "wrong audience", err, 400, "does not include pods.eks.amazonaws.com")
		}},
		{"expired", l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts", exp: expired}), func(t *testing.T, err error) {
			e := wantAPIError[*eatypes.ExpiredTokenException](t, "expired", err, 400, "The token included in the request is expired: current date/time ")
			if want := "must be before the expiration date/time " + expired.UTC().Format(time.RFC3339) + "."; !strings.HasSuffix(e.ErrorMessage(), want) {
				t.Errorf("expired message %q, want suffix %q", e.ErrorMessage(), want)
			}
		}},
		{"other signer", other.sign(t, tokenSpec{ns: "carts", sa: "carts"}), func(t *testing.T, err error) {
			wantAPIError[*eatypes.InvalidTokenException](t, "other signer", err, 400, "signature is not valid")
		}},
		{"other issuer", l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts", iss: "https://oidc.example.com"}), func(t *testing.T, err error) {
			wantAPIError[*eatypes.InvalidTokenException](t, "other issuer", err, 400, "issuer")
		}},
		{"not bound to a pod", l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts", noPod: true}), func(t *testing.T, err error) {
			wantAPIError[*eatypes.InvalidTokenException](t, "unbound", err, 400, "not bound to a pod")
		}},
		{"tampered claims", func() string {
			tok := l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"})
			p := strings.Split(tok, ".")
			c, _ := base64.RawURLEncoding.DecodeString(p[1])
			c = bytes.ReplaceAll(c, []byte(`"carts"`), []byte(`"admin"`))
			return p[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + p[2]
		}(), func(t *testing.T, err error) {
			wantAPIError[*eatypes.InvalidTokenException](t, "tampered", err, 400, "signature")
		}},
		{"not a JWT", "not-a-jwt", func(t *testing.T, err error) {
			wantAPIError[*eatypes.InvalidParameterException](t, "not a JWT", err, 400, "token must match")
		}},
	}
	for _, tt := range tests {
		_, err := l.assume(tt.token)
		tt.check(t, err)
	}
	if n := len(l.srv.Exchanges()); n != len(tests) {
		t.Errorf("%d exchanges recorded, want %d", n, len(tests))
	}
}

// The namespace and service account come from the token: a token of SA
// "orders" gets orders' association, whatever the request says besides.
func TestEKSAuthServiceAccountFromToken(t *testing.T) {
	t.Parallel()
	l := startAuth(t, Options{})
	l.srv.PutRole(Role{Name: "orders-role", TrustPolicy: podsTrust})
	l.associate(t, &eks.CreatePodIdentityAssociationInput{Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("carts-dynamo"))})
	l.associate(t, &eks.CreatePodIdentityAssociationInput{Namespace: aws.String("orders"), ServiceAccount: aws.String("orders"), RoleArn: aws.String(roleArn("orders-role"))})
	ordersToken := l.iss.sign(t, tokenSpec{ns: "orders", sa: "orders"})

	// A raw request that also names carts/carts in the body (unknown members
	// are ignored, as the model allows): orders' role is used.
	body, _ := json.Marshal(map[string]any{"token": ordersToken, "namespace": "carts", "serviceAccount": "carts",
		"subject": map[string]string{"namespace": "carts", "serviceAccount": "carts"}, "eksNodeName": "node-1", "zone": "usw2-az1"})
	req, _ := http.NewRequest(http.MethodPost, l.url+"/clusters/"+testCluster+"/assume-role-for-pod-identity", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Security-Token", l.node.SessionToken)
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: l.node.AccessKeyID, SecretAccessKey: l.node.SecretAccessKey, SessionToken: l.node.SessionToken},
		req, hex.EncodeToString(sum[:]), "eks-auth", DefaultRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got struct {
		Subject         struct{ Namespace, ServiceAccount string }
		AssumedRoleUser struct{ Arn string }
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil {
		t.Fatalf("raw exchange: %d %s", resp.StatusCode, b)
	}
	if got.Subject.Namespace != "orders" || got.Subject.ServiceAccount != "orders" || !strings.Contains(got.AssumedRoleUser.Arn, "assumed-role/orders-role/") {
		t.Errorf("raw exchange answered %s, want orders/orders on orders-role", b)
	}

	// A token of a service account without an association: not found, even
	// though carts/carts has one.
	_, err = l.assume(l.iss.sign(t, tokenSpec{ns: "carts", sa: "default"}))
	wantAPIError[*eatypes.ResourceNotFoundException](t, "SA without association", err, 404, "service account default in namespace carts")
}

func TestEKSAuthCallerAndCluster(t *testing.T) {
	t.Parallel()
	l := startAuth(t, Options{})
	ctx := context.Background()
	l.associate(t, &eks.CreatePodIdentityAssociationInput{Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("carts-dynamo"))})
	tok := l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"})

	_, err := l.auth.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("nope"), Token: aws.String(tok)})
	wantAPIError[*eatypes.ResourceNotFoundException](t, "unknown cluster", err, 404, "No cluster found for name: nope.")
	_, err = l.auth.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("bad name!"), Token: aws.String(tok)})
	wantAPIError[*eatypes.InvalidParameterException](t, "bad cluster name", err, 400, "clusterName")

	// A role session without AmazonEKSWorkerNodePolicy.
	pod, err := l.srv.IssueRoleSession("carts-dynamo", "someone", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.eksAuthFor(pod, 1).AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String(testCluster), Token: aws.String(tok)})
	wantAPIError[*eatypes.AccessDeniedException](t, "caller without permission", err, 400,
		"User: arn:aws:sts::1234567890:assumed-role/carts-dynamo/someone is not authorized to perform: eks-auth:AssumeRoleForPodIdentity on resource: arn:aws:eks:us-west-2:1234567890:cluster/eks-workshop")

	// The node role loses the worker node policy.
	if _, err := l.iam.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String("node"), PolicyArn: aws.String(workerPolicy)}); err != nil {
		t.Fatal(err)
	}
	_, err = l.assume(tok)
	wantAPIError[*eatypes.AccessDeniedException](t, "node role without policy", err, 400, "eks-auth:AssumeRoleForPodIdentity")

	// The admin, with a caller policy that lacks eks-auth.
	l.srv.SetCallerPolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks:*","Resource":"*"}]}`)
	admin := eksauth.NewFromConfig(aws.Config{Region: DefaultRegion, Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), Retryer: quickRetryer(1)},
		func(o *eksauth.Options) { o.BaseEndpoint = aws.String(l.url) })
	_, err = admin.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String(testCluster), Token: aws.String(tok)})
	wantAPIError[*eatypes.AccessDeniedException](t, "admin without eks-auth", err, 400, "user/podid-lab")
	l.srv.SetCallerPolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks-auth:AssumeRoleForPodIdentity","Resource":"arn:aws:eks:us-west-2:1234567890:cluster/eks-workshop"}]}`)
	if _, err := admin.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String(testCluster), Token: aws.String(tok)}); err != nil {
		t.Errorf("admin allowed eks-auth on the cluster: %v", err)
	}
}

func TestEKSAuthAssociationVisibility(t *testing.T) {
	t.Parallel()
	l := startAuth(t, Options{PropagationDelay: 300 * time.Millisecond})
	ctx := context.Background()
	tok := l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"})
	out, err := l.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String(testCluster),
		Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("carts-dynamo"))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.assume(tok)
	wantAPIError[*eatypes.ResourceNotFoundException](t, "before propagation", err, 404, "No Pod Identity Association")
	l.waitVisible(t, "carts", "carts")
	if _, err := l.assume(tok); err != nil {
		t.Fatalf("after propagation: %v", err)
	}
	if _, err := l.eks.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String(testCluster), AssociationId: out.Association.AssociationId}); err != nil {
		t.Fatal(err)
	}
	_, err = l.assume(tok)
	wantAPIError[*eatypes.ResourceNotFoundException](t, "after delete", err, 404, "")
}

func TestEKSAuthDeletedPodSwitch(t *testing.T) {
	t.Parallel()
	l := startAuth(t, Options{})
	l.associate(t, &eks.CreatePodIdentityAssociationInput{Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("carts-dynamo"))})
	tok := l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts", pod: "carts-1", podUID: "uid-1"})
	if l.srv.EKSAuthOptions().RequireLivePod {
		t.Fatal("RequireLivePod is on by default; EKS-AUTH.md recommends off")
	}
	if _, err := l.assume(tok); err != nil {
		t.Errorf("deleted pod, switch off (default): %v", err)
	}
	l.srv.SetEKSAuthOptions(EKSAuthOptions{RequireLivePod: true})
	_, err := l.assume(tok)
	wantAPIError[*eatypes.InvalidTokenException](t, "deleted pod, switch on", err, 400, "no longer exists")
	l.pods.mu.Lock()
	l.pods.uids["carts/carts-1"] = "uid-2" // same name, new pod
	l.pods.mu.Unlock()
	_, err = l.assume(tok)
	wantAPIError[*eatypes.InvalidTokenException](t, "recreated pod, switch on", err, 400, "no longer exists")
	l.pods.mu.Lock()
	l.pods.uids["carts/carts-1"] = "uid-1"
	l.pods.mu.Unlock()
	if _, err := l.assume(tok); err != nil {
		t.Errorf("live pod, switch on: %v", err)
	}
}

func TestIssuedCredentialsGetCallerIdentity(t *testing.T) {
	t.Parallel()
	l := startAuth(t, Options{})
	ctx := context.Background()
	who, err := l.nodeSt.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || *who.Arn != "arn:aws:sts::1234567890:assumed-role/node/i-0123456789abcdef0" || !strings.HasSuffix(*who.UserId, ":i-0123456789abcdef0") {
		t.Fatalf("node session GetCallerIdentity = %v, %v", who, err)
	}
	admin, err := l.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || *admin.Arn != "arn:aws:iam::1234567890:user/podid-lab" {
		t.Fatalf("admin GetCallerIdentity = %v, %v", admin, err)
	}
	// The node session may DescribeCluster (AmazonEKSWorkerNodePolicy) and
	// nothing else of EKS; a query string is signed like the path.
	nodeEKS := eks.NewFromConfig(credsConfig(l.node, 1), func(o *eks.Options) { o.BaseEndpoint = aws.String(l.url) })
	if _, err := nodeEKS.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(testCluster)}); err != nil {
		t.Errorf("node session DescribeCluster: %v", err)
	}
	_, err = nodeEKS.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(testCluster), Namespace: aws.String("a b/c"), MaxResults: aws.Int32(5)})
	if errorCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "assumed-role/node/i-0123456789abcdef0 is not authorized to perform: eks:ListPodIdentityAssociations") {
		t.Errorf("node session ListPodIdentityAssociations: %v, want AccessDeniedException", err)
	}
	unknown := l.node
	unknown.AccessKeyID = "ASIAUNKNOWNUNKNOWN12"
	_, err = l.stsFor(unknown).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if errorCode(err) != "InvalidClientTokenId" {
		t.Errorf("unknown temporary key: %v, want InvalidClientTokenId", err)
	}
	wrongToken := l.node
	wrongToken.SessionToken = "forged"
	_, err = l.stsFor(wrongToken).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if errorCode(err) != "InvalidClientTokenId" {
		t.Errorf("wrong session token: %v, want InvalidClientTokenId", err)
	}
	wrongSecret := l.node
	wrongSecret.SecretAccessKey = "not-the-secret"
	_, err = l.stsFor(wrongSecret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if errorCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret: %v, want SignatureDoesNotMatch", err)
	}
	_, err = l.eksAuthFor(wrongSecret, 1).AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String(testCluster), Token: aws.String("a.b.c")})
	if errorCode(err) != "InvalidSignatureException" {
		t.Errorf("eks-auth with a wrong secret: %v, want InvalidSignatureException", err)
	}
	noToken := l.node
	noToken.SessionToken = ""
	_, err = l.stsFor(noToken).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if errorCode(err) != "InvalidClientTokenId" {
		t.Errorf("missing session token: %v, want InvalidClientTokenId", err)
	}
	// 25 hours later the node's 24h credentials have expired.
	l.clock.Store(int64(25 * time.Hour))
	_, err = l.nodeSt.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if errorCode(err) != "ExpiredToken" {
		t.Errorf("expired credentials: %v, want ExpiredToken", err)
	}
	_, err = l.assume("a.b.c")
	if errorCode(err) != "ExpiredTokenException" {
		t.Errorf("eks-auth with expired credentials: %v, want ExpiredTokenException", err)
	}
}

func TestAdminAccessKeys(t *testing.T) {
	t.Parallel()
	c := start(t, Options{AdminAccessKeys: []string{"AKID"}})
	ctx := context.Background()
	if _, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("admin key: %v", err)
	}
	_, _, other := clientsFor(c.url, "AKIAOTHEROTHEROTHER1", 1)
	if _, err := other.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); errorCode(err) != "InvalidClientTokenId" {
		t.Errorf("unknown long-term key: %v, want InvalidClientTokenId", err)
	}
}

func TestEKSAuthFaults(t *testing.T) {
	t.Parallel()
	l := startAuth(t, Options{})
	l.associate(t, &eks.CreatePodIdentityAssociationInput{Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("carts-dynamo"))})
	tok := l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"})

	l.srv.SetFaults(Faults{ThrottleRate: 1})
	_, err := l.assume(tok)
	wantAPIError[*eatypes.ThrottlingException](t, "throttled", err, 429, "Rate exceeded")
	l.srv.SetFaults(Faults{ServerErrorRate: 1})
	_, err = l.assume(tok)
	wantAPIError[*eatypes.InternalServerException](t, "server error", err, 500, "")
	l.srv.SetFaults(Faults{Down: []string{"eks-auth"}})
	_, err = l.assume(tok)
	wantAPIError[*eatypes.ServiceUnavailableException](t, "down", err, 503, "eks-auth is down")
	if n := len(l.srv.Exchanges()); n != 0 {
		t.Errorf("faulted calls reached the service: %d exchanges", n)
	}

	// Throttling twice then success: the SDK's retries get through.
	l.srv.SetFaults(Faults{ThrottleRate: 0.5, Seed: 3})
	retrying := l.eksAuthFor(l.node, 10)
	if _, err := retrying.AssumeRoleForPodIdentity(context.Background(), &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String(testCluster), Token: aws.String(tok)}); err != nil {
		t.Errorf("with retries under 50%% throttling: %v", err)
	}
	l.srv.SetFaults(Faults{Latency: 150 * time.Millisecond})
	t0 := time.Now()
	if _, err := l.assume(tok); err != nil || time.Since(t0) < 150*time.Millisecond {
		t.Errorf("latency: %v after %v", err, time.Since(t0))
	}
	// A per-account rate: a burst of 3 passes, the 4th is throttled, and
	// a token comes back after 1/rate seconds.
	l.srv.SetFaults(Faults{EKSAuthRateLimit: 3})
	for i := 1; i <= 3; i++ {
		if _, err := l.assume(tok); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	_, err = l.assume(tok)
	wantAPIError[*eatypes.ThrottlingException](t, "over the rate", err, 429, "")
	if _, err := l.eks.DescribeCluster(context.Background(), &eks.DescribeClusterInput{Name: aws.String(testCluster)}); err != nil {
		t.Errorf("EKS is not limited by EKS Auth's rate: %v", err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := l.assume(tok); err != nil {
		t.Errorf("after 1/rate seconds: %v", err)
	}
	if counts := l.srv.CallCounts(); counts["eks-auth:AssumeRoleForPodIdentity"] < 6 {
		t.Errorf("call counts %v", counts)
	}
}

// The AWS CLI's `aws eks-auth assume-role-for-pod-identity` against the fake.
func TestEKSAuthAWSCLI(t *testing.T) {
	t.Parallel()
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the AWS CLI is not installed (no aws in PATH)")
	}
	l := startAuth(t, Options{})
	l.associate(t, &eks.CreatePodIdentityAssociationInput{Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("carts-dynamo"))})
	run := func(token string) ([]byte, []byte, error) {
		cmd := exec.Command(awsBin, "eks-auth", "assume-role-for-pod-identity", "--cluster-name", testCluster, "--token", token, "--output", "json")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
			"AWS_ENDPOINT_URL_EKS_AUTH=" + l.url, "AWS_REGION=" + DefaultRegion, "AWS_DEFAULT_REGION=" + DefaultRegion,
			"AWS_ACCESS_KEY_ID=" + l.node.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + l.node.SecretAccessKey, "AWS_SESSION_TOKEN=" + l.node.SessionToken,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1"}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.Bytes(), stderr.Bytes(), err
	}
	stdout, stderr, err := run(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"}))
	if err != nil {
		t.Fatalf("aws eks-auth assume-role-for-pod-identity: %v\n%s", err, stderr)
	}
	var out struct {
		Subject         struct{ Namespace, ServiceAccount string } `json:"subject"`
		AssumedRoleUser struct{ Arn string }                       `json:"assumedRoleUser"`
		Credentials     struct {
			AccessKeyID     string      `json:"accessKeyId"`
			SecretAccessKey string      `json:"secretAccessKey"`
			SessionToken    string      `json:"sessionToken"`
			Expiration      json.Number `json:"expiration"` // the CLI prints the wire's epoch seconds
		} `json:"credentials"`
	}
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("CLI output %s: %v", stdout, err)
	}
	if out.Subject.Namespace != "carts" || !strings.Contains(out.AssumedRoleUser.Arn, "assumed-role/carts-dynamo/eks-eks-worksho-carts-") ||
		!strings.HasPrefix(out.Credentials.AccessKeyID, "ASIA") || out.Credentials.Expiration == "" {
		t.Errorf("CLI output %s", stdout)
	}
	if exp, err := out.Credentials.Expiration.Float64(); err != nil || time.Until(time.Unix(int64(exp), 0)) < 5*time.Hour {
		t.Errorf("CLI output %s", stdout)
	}
	// botocore signs STS's form POST with the pod's credentials.
	cmd := exec.Command(awsBin, "sts", "get-caller-identity", "--output", "json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_ENDPOINT_URL_STS=" + l.url, "AWS_REGION=" + DefaultRegion, "AWS_DEFAULT_REGION=" + DefaultRegion,
		"AWS_ACCESS_KEY_ID=" + out.Credentials.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + out.Credentials.SecretAccessKey, "AWS_SESSION_TOKEN=" + out.Credentials.SessionToken,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1"}
	who, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(who), out.AssumedRoleUser.Arn) {
		t.Errorf("aws sts get-caller-identity with the pod's credentials: %v\n%s", err, who)
	}
	_, stderr, err = run(l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts", aud: []string{"sts.amazonaws.com"}}))
	if err == nil || !strings.Contains(string(stderr), "(InvalidTokenException)") {
		t.Errorf("CLI with a wrong-audience token: %v, stderr %s", err, stderr)
	}
}

func TestSessionName(t *testing.T) {
	t.Parallel()
	uuid := "5af5e7ac-5754-49ea-b28f-2c2a2eb95fbb"
	tests := []struct{ cluster, pod, want string }{
		{"demo", "carts-1", "eks-demo-carts-1-" + uuid},
		{"eks-workshop", "carts-7d9f8c6b5-x2k4q", "eks-eks-worksho-carts-7d9f8-" + uuid},
		{"c", "a-very-long-pod-name-that-goes-on", "eks-c-a-very-long-pod-name--" + uuid},
		{"a-very-long-cluster-name-that-goes-on", "p", "eks-a-very-long-cluster-n-p-" + uuid},
	}
	for _, tt := range tests {
		got := sessionName(tt.cluster, tt.pod, uuid)
		if got != tt.want || len(got) > 64 {
			t.Errorf("sessionName(%q, %q) = %q (%d), want %q", tt.cluster, tt.pod, got, len(got), tt.want)
		}
	}
}

func TestEKSAuthAdminRoutes(t *testing.T) {
	t.Parallel()
	l := startAuth(t, Options{})
	do := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, l.url+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := do("POST", "/_fake/eks-auth", `{"requireLivePod":true,"sourceArn":"association"}`); code != 200 || !l.srv.EKSAuthOptions().RequireLivePod {
		t.Errorf("set eks-auth options: %d %s", code, b)
	}
	if o := l.srv.EKSAuthOptions(); o.SessionDuration != 6*time.Hour || o.SourceArn != "association" {
		t.Errorf("options after set: %+v", o)
	}
	if code, _ := do("POST", "/_fake/eks-auth", `{"sourceArn":"pod"}`); code != 400 {
		t.Errorf("bad sourceArn: %d, want 400", code)
	}
	if code, _ := do("POST", "/_fake/eks-auth", `{"requireLivePods":true}`); code != 400 {
		t.Errorf("unknown member: %d, want 400", code)
	}
	code, b := do("POST", "/_fake/role-session", `{"role":"node","session":"i-1","ttl":"2h"}`)
	var c Credentials
	if code != 200 || json.Unmarshal(b, &c) != nil || c.Arn != "arn:aws:sts::1234567890:assumed-role/node/i-1" {
		t.Fatalf("role-session: %d %s", code, b)
	}
	who, err := l.stsFor(c).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil || *who.Arn != c.Arn {
		t.Errorf("GetCallerIdentity with admin-issued credentials: %v %v", who, err)
	}
	if code, _ := do("POST", "/_fake/role-session", `{"role":"nope","session":"x"}`); code != 400 {
		t.Errorf("role-session of a missing role: %d, want 400", code)
	}
	_, _ = l.assume("a.b.c")
	code, b = do("GET", "/_fake/eks-auth/exchanges", "")
	var x []Exchange
	if code != 200 || json.Unmarshal(b, &x) != nil || len(x) != 1 || x[0].Outcome != "InvalidTokenException" {
		t.Errorf("exchanges: %d %s", code, b)
	}
}

// EKS Auth sees roles through IAM propagation: a trust changed through
// the IAM API a moment ago is still the old one.
func TestEKSAuthIAMPropagation(t *testing.T) {
	t.Parallel()
	l := startAuth(t, Options{})
	ctx := context.Background()
	l.associate(t, &eks.CreatePodIdentityAssociationInput{Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("carts-dynamo"))})
	tok := l.iss.sign(t, tokenSpec{ns: "carts", sa: "carts"})
	l.srv.SetFaults(Faults{IAMPropagationDelay: 400 * time.Millisecond})
	if _, err := l.iam.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("carts-dynamo"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)}); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	if _, err := l.assume(tok); err != nil && time.Since(changed) < 400*time.Millisecond {
		t.Errorf("right after the trust change (old trust still in effect): %v", err)
	}
	time.Sleep(time.Until(changed.Add(450 * time.Millisecond)))
	_, err := l.assume(tok)
	wantAPIError[*eatypes.AccessDeniedException](t, "after propagation of a trust without TagSession", err, 400, "sts:TagSession")
}

// BenchmarkEKSAuthExchange measures one AssumeRoleForPodIdentity through
// the real client (token verification, trust evaluation, minting).
func BenchmarkEKSAuthExchange(b *testing.B) {
	iss := newIssuer(b)
	s := New(Options{IssuerKeys: func(context.Context, string) (IssuerKeys, error) {
		return IssuerKeys{Issuer: testIssuer, JWKS: iss.jwks()}, nil
	}})
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	s.AddCluster(Cluster{Name: testCluster})
	s.PutRole(Role{Name: "carts-dynamo", TrustPolicy: podsTrust})
	s.PutRole(Role{Name: "node", TrustPolicy: podsTrust})
	if err := s.AttachRolePolicy("node", workerPolicy); err != nil {
		b.Fatal(err)
	}
	node, err := s.IssueRoleSession("node", "i-1", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	e, _, _ := clientsFor(url, "AKID", 1)
	if _, err := e.CreatePodIdentityAssociation(context.Background(), &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String(testCluster),
		Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"), RoleArn: aws.String(roleArn("carts-dynamo"))}); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); len(s.Identities(testCluster)) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("association did not propagate")
		}
	}
	l := &authLab{clients: &clients{srv: s, url: url}, iss: iss, node: node}
	l.auth = l.eksAuthFor(node, 1)
	tok := iss.sign(b, tokenSpec{ns: "carts", sa: "carts"})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.assume(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// The source keys EKS sends to the trust: aws:SourceAccount, aws:SourceArn
// (cluster ARN by default, the association's on request), and no
// aws:SourceOrgId unless configured.
func TestEKSAuthSourceKeysAndRegion(t *testing.T) {
	t.Parallel()
	l := startAuth(t, Options{})
	ctx := context.Background()
	trust := func(cond string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":` + cond + `}]}`
	}
	for _, sa := range []string{"by-cluster", "by-assoc", "by-org"} {
		l.srv.PutRole(Role{Name: sa, TrustPolicy: podsTrust})
		l.associate(t, &eks.CreatePodIdentityAssociationInput{Namespace: aws.String("ns"), ServiceAccount: aws.String(sa), RoleArn: aws.String(roleArn(sa))})
	}
	// Trusts edited after the associations were created (EKS's create
	// check evaluates aws:SourceArn as the cluster ARN).
	l.srv.PutRole(Role{Name: "by-cluster", TrustPolicy: trust(`{"ArnEquals":{"aws:SourceArn":"arn:aws:eks:us-west-2:1234567890:cluster/eks-workshop"}}`)})
	l.srv.PutRole(Role{Name: "by-assoc", TrustPolicy: trust(`{"ArnLike":{"aws:SourceArn":"arn:aws:eks:us-west-2:1234567890:podidentityassociation/eks-workshop/*"}}`)})
	l.srv.PutRole(Role{Name: "by-org", TrustPolicy: trust(`{"StringEquals":{"aws:SourceOrgId":"o-abc123"}}`)})
	try := func(sa string) error {
		_, err := l.assume(l.iss.sign(t, tokenSpec{ns: "ns", sa: sa}))
		return err
	}
	if err := try("by-cluster"); err != nil {
		t.Errorf("aws:SourceArn = cluster ARN (default): %v", err)
	}
	wantAPIError[*eatypes.AccessDeniedException](t, "association ARN by default", try("by-assoc"), 400, "role/by-assoc (the trust policy of role by-assoc does not allow it)")
	wantAPIError[*eatypes.AccessDeniedException](t, "no organization", try("by-org"), 400, "aws:SourceOrgId")
	l.srv.SetEKSAuthOptions(EKSAuthOptions{SourceArn: "association", SourceOrgID: "o-abc123"})
	if err := try("by-assoc"); err != nil {
		t.Errorf("aws:SourceArn = association ARN: %v", err)
	}
	if err := try("by-org"); err != nil {
		t.Errorf("aws:SourceOrgId configured: %v", err)
	}

	// EKS Auth is regional: another region has no clusters.
	other := credsConfig(l.node, 1)
	other.Region = "eu-west-1"
	_, err := eksauth.NewFromConfig(other, func(o *eksauth.Options) { o.BaseEndpoint = aws.String(l.url) }).AssumeRoleForPodIdentity(ctx,
		&eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String(testCluster), Token: aws.String(l.iss.sign(t, tokenSpec{ns: "ns", sa: "by-cluster"}))})
	wantAPIError[*eatypes.ResourceNotFoundException](t, "other region", err, 404, "No cluster found")
}
