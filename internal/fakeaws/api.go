// Package fakeaws is an in-process HTTP fake of the parts of Amazon EKS, IAM
// and STS that podid calls. The real aws-sdk-go-v2 clients talk to it through
// an endpoint override. It is used by tests and by podid-lab; it must never be
// imported by the podid binary.
//
// One HTTP server on 127.0.0.1 answers all four services (EKS Auth too:
// AssumeRoleForPodIdentity, eksauth.go). Requests are
// routed by the service in the SigV4 credential scope of the Authorization
// header (Credential=AKID/date/region/<service>/aws4_request); signatures
// are checked only for credentials the fake issued (identity.go). EKS speaks restJson1 (server.go, eks.go), IAM and STS
// speak awsQuery (iam.go, sts.go). IAM policies, trust policies and the
// optional caller policy (SetCallerPolicy) are evaluated by one evaluator
// (policy.go): explicit Deny wins, then Allow, else implicit deny, with
// wildcards, NotAction/NotResource and the common condition operators.
// Faults (throttling, 5xx, latency, an EKS token bucket, services down) are
// decided before a handler runs, so a faulted call never changes state
// (faults.go). Add-on status and association propagation follow the
// ClusterBackend on timers. Plain-HTTP admin routes under /_fake/ serve the
// audit log, call counts, faults and state to a separate process; see
// admin.go for the list.
//
// Access keys starting with EXPIRED or INVALID are answered with the
// services' expired-token and invalid-token errors. Each access key maps
// to a principal (identity.go): the admin user, or a role session the fake
// issued (IssueRoleSession, EKS Auth), whose session token and expiry are
// checked and whose role policies, session tags and session policy decide
// what it may do.
//
// This file fixes the package's public API (shared with internal/lab and the
// tests). Implementations live in the other files of the package.
package fakeaws

import (
	"context"
	"log/slog"
	"time"
)

// Defaults of the seeded world.
const (
	DefaultAccount = "1234567890"
	DefaultRegion  = "us-west-2"
)

// Identity is one (namespace, service account) pair that has a pod identity
// association which has taken effect.
type Identity struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
}

// AgentSpec describes the agent add-on that the backend must deploy.
type AgentSpec struct {
	Cluster       string
	Version       string // add-on version, e.g. v1.3.10-eksbuild.1
	Configuration string // configurationValues JSON (may be empty)
	// Preserve are conflicting fields (as AgentConflictChecker names them)
	// whose current values the backend keeps: resolveConflicts PRESERVE.
	Preserve []string
}

// AgentConflictChecker is an optional part of a ClusterBackend: the fields
// of the agent's resources that someone other than EKS owns with values
// other than spec's (a self-managed install of the agent), named as EKS
// names them in a ConfigurationConflict issue. The fake adds them to the
// conflicts SetAddonConflicts records.
type AgentConflictChecker interface {
	AgentConflicts(ctx context.Context, spec AgentSpec) ([]string, error)
}

// AgentHealth is what the backend reports about the agent DaemonSet.
type AgentHealth struct {
	Ready  bool   // rolled out and ready on every eligible node
	Detail string // why not, e.g. "2 of 3 pods ready; kwok-node-2 has no ready agent pod"
}

// ClusterBackend is the real cluster behind a fake EKS cluster (implemented by
// internal/lab on the lab's control plane). A nil backend means no Kubernetes
// side effects: add-ons become ACTIVE after the add-on delay, associations
// take effect after the propagation delay, and nothing else happens.
type ClusterBackend interface {
	// ApplyAgent creates or updates the kube-system/eks-pod-identity-agent DaemonSet.
	ApplyAgent(ctx context.Context, spec AgentSpec) error
	// AgentHealth reports whether the DaemonSet is ready.
	AgentHealth(ctx context.Context, cluster string) (AgentHealth, error)
	// DeleteAgent removes the DaemonSet (DeleteAddon without preserve).
	DeleteAgent(ctx context.Context, cluster string) error
	// SetIdentities replaces the webhook's identities with ids (write, then rename).
	SetIdentities(ctx context.Context, cluster string, ids []Identity) error
}

// Faults are injected into answers. Rates are fractions in [0,1].
type Faults struct {
	ThrottleRate    float64       `json:"throttleRate"`    // answered with the service's throttling error
	ServerErrorRate float64       `json:"serverErrorRate"` // answered with a 5xx
	Latency         time.Duration `json:"latency"`         // added to every answer
	EKSRateLimit    float64       `json:"eksRateLimit"`    // EKS requests per second (token bucket, burst = limit); 0 = unlimited
	// EKSAuthRateLimit is EKS Auth's own rate (AssumeRoleForPodIdentity per
	// second, token bucket, burst = limit); 0 = unlimited.
	EKSAuthRateLimit float64  `json:"eksAuthRateLimit"`
	Down             []string `json:"down"` // services ("eks", "eks-auth", "iam", "sts") that answer every call with 503
	Seed             int64    `json:"seed"` // random seed; 0 = time based
	// IAMPropagationDelay is how long a role created, or a trust policy
	// changed, through the IAM API stays invisible to EKS and EKS Auth
	// (IAM's eventual consistency; see iamprop.go). 0 = at once.
	IAMPropagationDelay time.Duration `json:"iamPropagationDelay"`
}

// Options configure a Server.
type Options struct {
	Account string // default DefaultAccount
	Region  string // default DefaultRegion

	Backend ClusterBackend

	// AddonDelay is how long a new add-on stays CREATING before the backend
	// applies the agent DaemonSet.
	AddonDelay time.Duration
	// AddonReadyTimeout is how long after ApplyAgent the DaemonSet may take to
	// become ready before the add-on goes DEGRADED (default 2m).
	AddonReadyTimeout time.Duration
	// PropagationDelay is how long after Create/Update/DeletePodIdentityAssociation
	// the change reaches the backend (the webhook).
	PropagationDelay time.Duration
	// AssociationDeleteLag is how long a deleted pod identity association
	// keeps its (namespace, service account): a create for it is answered
	// 409 "Association already exists: <deleted id>" until then, as EKS
	// does after a delete (eventual consistency). 0 = none; podid-lab uses
	// a few seconds. SetAssociationDeleteLag changes it.
	AssociationDeleteLag time.Duration

	Faults Faults

	// IssuerKeys returns a cluster's service account issuer and its keys
	// (the apiserver's OIDC discovery); EKS Auth verifies tokens with them.
	// Nil: every token is refused with InvalidTokenException.
	IssuerKeys func(ctx context.Context, cluster string) (IssuerKeys, error)
	// PodLookup returns the UID of a pod (found=false when it does not
	// exist); EKS Auth uses it when EKSAuth.RequireLivePod is on.
	PodLookup func(ctx context.Context, cluster, namespace, name string) (uid string, found bool, err error)
	// EKSAuth tunes AssumeRoleForPodIdentity (see EKSAuthOptions).
	EKSAuth EKSAuthOptions
	// AdminAccessKeys, when set, are the only long-term access keys that
	// act as the lab's admin; other keys are refused (InvalidClientTokenId).
	// Empty: every key the fake did not issue is the admin.
	AdminAccessKeys []string
	// Now is the fake's clock for token and credential expiry (nil = time.Now).
	Now func() time.Time

	// Logger receives debug logs of every call (nil = discard). The fake
	// never writes to stdout.
	Logger *slog.Logger
}

// EKSAuthOptions tune the fake's EKS Auth (AssumeRoleForPodIdentity).
type EKSAuthOptions struct {
	// RequireLivePod refuses tokens whose pod no longer exists (or has
	// another UID) with InvalidTokenException; it needs Options.PodLookup.
	// Default off, as EKS-AUTH.md §2.2 recommends: field reports show EKS
	// Auth renewing credentials for deleted pods until the token expires.
	RequireLivePod bool `json:"requireLivePod"`
	// SessionDuration is the lifetime of credentials without a target
	// role (default 6h); ChainedSessionDuration with one (default and at
	// most 1h, the role chaining limit).
	SessionDuration        time.Duration `json:"sessionDuration"`
	ChainedSessionDuration time.Duration `json:"chainedSessionDuration"`
	// SourceArn is the aws:SourceArn sent to the role's trust policy:
	// "cluster" (default, the cluster ARN) or "association" (its ARN).
	SourceArn string `json:"sourceArn"`
	// SourceOrgID is sent as aws:SourceOrgId when set; unset, the key is
	// absent (the lab's account is in no organization).
	SourceOrgID string `json:"sourceOrgId"`
}

// Exchange records one AssumeRoleForPodIdentity call that reached the
// service (after faults and credential checks).
type Exchange struct {
	Time           time.Time         `json:"time"`
	Caller         string            `json:"caller"` // ARN of the signer
	Cluster        string            `json:"cluster"`
	Namespace      string            `json:"namespace,omitempty"` // from the token
	ServiceAccount string            `json:"serviceAccount,omitempty"`
	Pod            string            `json:"pod,omitempty"`
	PodUID         string            `json:"podUID,omitempty"`
	AssociationID  string            `json:"associationId,omitempty"`
	RoleArn        string            `json:"roleArn,omitempty"`
	TargetRoleArn  string            `json:"targetRoleArn,omitempty"`
	SessionTags    map[string]string `json:"sessionTags,omitempty"` // as sent to STS; nil when disabled
	SessionPolicy  bool              `json:"sessionPolicy,omitempty"`
	AssumedRoleArn string            `json:"assumedRoleArn,omitempty"`
	Expiration     time.Time         `json:"expiration,omitzero"`
	Outcome        string            `json:"outcome"` // "Success" or the error code
	Message        string            `json:"message,omitempty"`
}

// Cluster seeds an EKS cluster.
type Cluster struct {
	Name            string
	Version         string // Kubernetes minor, e.g. "1.35"
	PlatformVersion string // e.g. "eks.5"
	Status          string // default ACTIVE
	Endpoint        string // API server URL, as the kubeconfig has it
	CAData          string // base64 PEM of the cluster CA, as DescribeCluster returns it
	AutoMode        bool   // computeConfig.enabled
	Nodegroups      []Nodegroup
}

// Nodegroup seeds a managed node group.
type Nodegroup struct {
	Name     string
	NodeRole string // role ARN
	Labels   map[string]string
}

// Role seeds an IAM role.
type Role struct {
	Name                string
	Path                string // default "/"
	TrustPolicy         string // JSON document (plain, not URL-encoded)
	Description         string
	PermissionsBoundary string // policy ARN
	Tags                map[string]string
}

// Policy seeds a managed policy (customer managed, or AWS managed when Arn
// starts with arn:aws:iam::aws:policy/).
type Policy struct {
	Name     string
	Arn      string // default arn:aws:iam::<account>:policy<path><name>
	Path     string
	Document string // JSON of the default version (v1)
}

// AuditEntry is one mutating call that the fake accepted (2xx).
type AuditEntry struct {
	Time      time.Time `json:"time"`
	Service   string    `json:"service"`   // eks, iam, sts
	Operation string    `json:"operation"` // e.g. CreatePodIdentityAssociation
	Target    string    `json:"target"`    // the object changed, e.g. "eks-workshop/a-abc..." or "role/carts"
}

// Public API (implemented in server.go and friends):
//
//	func New(opts Options) *Server
//	func (s *Server) Start(addr string) (string, error) // listen ("127.0.0.1:0"), serve, return base URL
//	func (s *Server) URL() string
//	func (s *Server) Handler() http.Handler
//	func (s *Server) Close() error                        // stops serving and background timers
//	func (s *Server) AddCluster(c Cluster)
//	func (s *Server) PutRole(r Role) (arn string)
//	func (s *Server) PutPolicy(p Policy) (arn string)
//	func (s *Server) AttachRolePolicy(roleName, policyArn string) error
//	func (s *Server) PutRolePolicy(roleName, policyName, document string) error
//	func (s *Server) ForceAddonStatus(cluster, addon, status string, issues ...HealthIssue) // DEGRADED, CREATE_FAILED, …
//	func (s *Server) SetFaults(f Faults)
//	func (s *Server) SetCallerPolicy(document string)     // "" = caller may do anything (least-privilege tests)
//	func (s *Server) Audit() []AuditEntry                 // mutating calls, in order
//	func (s *Server) CallCounts() map[string]int          // "eks:DescribeAddon" -> n, every call incl. failed ones
//	func (s *Server) ResetCounts()
//
// EKS Auth and identities (eksauth.go, identity.go, token.go):
//
//	func (s *Server) IssueRoleSession(role, session string, ttl time.Duration) (Credentials, error)
//	func (s *Server) SetEKSAuthOptions(o EKSAuthOptions)
//	func (s *Server) EKSAuthOptions() EKSAuthOptions
//	func (s *Server) Exchanges() []Exchange            // AssumeRoleForPodIdentity calls, oldest first
//
// Added beyond the fixed list: Options.Logger, HealthIssue, AgentAddonName,
// (s *Server) Identities(cluster) (identities in effect after propagation),
// (s *Server) Faults(), (s *Server) State() StateSnapshot,
// (s *Server) SetAddonConflicts / AddonConflicts (fields a self-managed
// install owns, resolved by resolveConflicts).
