package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/podid/podid/internal/fakeaws"
)

// What the fake's EKS Auth needs from the lab: the apiserver's service
// account issuer keys (to verify pod tokens), a pod lookup (for the
// deleted-pod switch), and credentials of the node role for the agent.

// NodeInstanceID is the session name of the node role's credentials (an
// EC2 instance profile's session is named after the instance).
const NodeInstanceID = "i-0a1b2c3d4e5f60718"

// NodeCredentialsTTL is how long the node role's credentials last.
const NodeCredentialsTTL = 24 * time.Hour

// IssuerKeysSource returns a fakeaws.Options.IssuerKeys that reads the lab
// apiserver's OIDC discovery document and its JWKS through client (every
// EKS cluster of the fake is this one lab cluster).
func IssuerKeysSource(client kubernetes.Interface) func(ctx context.Context, cluster string) (fakeaws.IssuerKeys, error) {
	return func(ctx context.Context, _ string) (fakeaws.IssuerKeys, error) {
		rc := client.CoreV1().RESTClient()
		b, err := rc.Get().AbsPath("/.well-known/openid-configuration").DoRaw(ctx)
		if err != nil {
			return fakeaws.IssuerKeys{}, fmt.Errorf("read the apiserver's OIDC discovery document: %w", err)
		}
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := json.Unmarshal(b, &doc); err != nil || doc.Issuer == "" || doc.JWKSURI == "" {
			return fakeaws.IssuerKeys{}, fmt.Errorf("the apiserver's OIDC discovery document has no issuer or jwks_uri: %s", b)
		}
		// The jwks_uri names the apiserver's external address, which the
		// lab does not serve; ask the apiserver we know for its path.
		u, err := url.Parse(doc.JWKSURI)
		if err != nil {
			return fakeaws.IssuerKeys{}, fmt.Errorf("jwks_uri %q: %w", doc.JWKSURI, err)
		}
		jwks, err := rc.Get().AbsPath(u.Path).DoRaw(ctx)
		if err != nil {
			return fakeaws.IssuerKeys{}, fmt.Errorf("read the apiserver's JWKS %s: %w", u.Path, err)
		}
		return fakeaws.IssuerKeys{Issuer: doc.Issuer, JWKS: jwks}, nil
	}
}

// PodLookup returns a fakeaws.Options.PodLookup on the lab cluster.
func PodLookup(client kubernetes.Interface) func(ctx context.Context, cluster, namespace, name string) (string, bool, error) {
	return func(ctx context.Context, _, namespace, name string) (string, bool, error) {
		p, err := client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("get pod %s/%s: %w", namespace, name, err)
		}
		if p.DeletionTimestamp != nil {
			return string(p.UID), false, nil // being deleted: its tokens are being invalidated too
		}
		return string(p.UID), true, nil
	}
}

// WireEKSAuth fills the EKS Auth hooks of opts that are unset with the
// lab's (issuer keys and pod lookup through client).
func WireEKSAuth(opts *fakeaws.Options, client kubernetes.Interface) {
	if opts.IssuerKeys == nil {
		opts.IssuerKeys = IssuerKeysSource(client)
	}
	if opts.PodLookup == nil {
		opts.PodLookup = PodLookup(client)
	}
}

// NodeRoleCredentials issues credentials of the workshop's node role
// (session NodeInstanceID, valid NodeCredentialsTTL): what the Pod
// Identity agent on a node signs its EKS Auth calls with. The role must be
// seeded (SeedWorkshopAWS).
func NodeRoleCredentials(fake *fakeaws.Server) (fakeaws.Credentials, error) {
	c, err := fake.IssueRoleSession(WorkshopNodeRole, NodeInstanceID, NodeCredentialsTTL)
	if err != nil {
		return fakeaws.Credentials{}, fmt.Errorf("node role credentials: %w", err)
	}
	return c, nil
}

// NodeCredentials is <dir>/run/node-role.json: the node role's
// credentials and where EKS Auth is, for the lab's agent.
type NodeCredentials struct {
	fakeaws.Credentials
	Endpoint string `json:"endpoint"` // the fake's URL (EKS Auth, STS, …)
	Region   string `json:"region"`
	Cluster  string `json:"cluster"`
}

const nodeCredentialsFile = "node-role.json"

// NodeCredentialsPath is where a lab in dir keeps the node role's credentials.
func NodeCredentialsPath(dir string) string {
	return filepath.Join(RunDir(dir), nodeCredentialsFile)
}

// SaveNodeCredentials writes c for the lab in dir (mode 0600).
func SaveNodeCredentials(dir string, c NodeCredentials) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(RunDir(dir), 0o700); err != nil {
		return fmt.Errorf("write node role credentials: %w", err)
	}
	if err := writeFileAtomic(NodeCredentialsPath(dir), b, 0o600); err != nil {
		return fmt.Errorf("write node role credentials: %w", err)
	}
	return nil
}

// LoadNodeCredentials reads the node role's credentials of the lab in dir.
func LoadNodeCredentials(dir string) (*NodeCredentials, error) {
	p := NodeCredentialsPath(dir)
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no node role credentials in %s: the lab's fake AWS writes them when it starts (podid-lab up): %w", p, err)
		}
		return nil, fmt.Errorf("read node role credentials %s: %w", p, err)
	}
	var c NodeCredentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parse node role credentials %s: %w", p, err)
	}
	if c.AccessKeyID == "" || c.SessionToken == "" || c.Endpoint == "" {
		return nil, fmt.Errorf("node role credentials %s lack accessKeyId, sessionToken or endpoint; restart the lab (podid-lab down; podid-lab up)", p)
	}
	return &c, nil
}
