package podidentity

import "github.com/podid/podid/internal/trust"

// The typed details of podidentity's steps: each step's Check returns one in
// step.Plan.Details and its Apply one in step.Result.Details. They are the
// steps' "details" objects in `-o json` (documented in the JSON Schema,
// internal/render/schema) and what other packages read, by type.

// Actions a plan may carry.
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionWait   = "wait"
	ActionDelete = "delete"
)

// AddonDetails are the install-agent step's facts.
type AddonDetails struct {
	Cluster      string `json:"cluster"`
	Addon        string `json:"addon"`
	AutoMode     bool   `json:"autoMode,omitempty"`
	Action       string `json:"action,omitempty"` // create, update, wait; empty when ACTIVE
	AddonVersion string `json:"addonVersion,omitempty"`
	Status       string `json:"status,omitempty"`
	// ResolveConflicts is what a create or update sends: NONE, OVERWRITE
	// or PRESERVE (--resolve-conflicts).
	ResolveConflicts string `json:"resolveConflicts,omitempty"`
	// NodesNeedingAgent are, on an Auto Mode cluster, the nodes that are not
	// Auto Mode nodes: they need the add-on's DaemonSet.
	NodesNeedingAgent []string `json:"nodesNeedingAgent,omitempty"`
}

// RoleDetails are the verify-role step's facts.
type RoleDetails struct {
	Role       RoleRef      `json:"role"`
	RoleSource string       `json:"roleSource"`
	Trust      trust.Report `json:"trust"`
	// Request is the verdict on the whole request EKS makes for the
	// association (session tags, target role): its links, the failing one,
	// and the fix.
	Request  trust.Verdict  `json:"request"`
	Policies []PolicyInfo   `json:"policies"`
	Expect   []ExpectResult `json:"expect,omitempty"`
	// TrustDiff and FixedTrust are set when --fix will write a new trust
	// policy: the diff shown, and the document Apply writes.
	TrustDiff  string `json:"trustDiff,omitempty"`
	FixedTrust string `json:"fixedTrust,omitempty"`
}

// AssociationDetails are the associate step's facts: the association wanted
// and, when one exists (or was written), the association.
type AssociationDetails struct {
	Cluster            string           `json:"cluster"`
	Namespace          string           `json:"namespace"`
	ServiceAccount     string           `json:"serviceAccount"`
	RoleArn            string           `json:"roleArn"`
	Action             string           `json:"action,omitempty"` // create, update; empty when satisfied
	ClientRequestToken string           `json:"clientRequestToken,omitempty"`
	AssociationID      string           `json:"associationId,omitempty"`
	Association        *AssociationInfo `json:"association,omitempty"`
	// CreateServiceAccount is set when the step also creates (or created)
	// the service account.
	CreateServiceAccount bool `json:"createServiceAccount,omitempty"`
}

// DisassociationDetails are the disassociate step's facts.
type DisassociationDetails struct {
	Association *AssociationInfo `json:"association"`       // nil: there is none
	Action      string           `json:"action,omitempty"`  // delete
	Deleted     *AssociationInfo `json:"deleted,omitempty"` // after Apply
	Note        string           `json:"note,omitempty"`
}

// RoleCreateDetails are the role create step's facts.
type RoleCreateDetails struct {
	Role             RoleRef  `json:"role"`
	Trust            string   `json:"trust"` // the trust policy wanted
	Scoped           bool     `json:"scoped"`
	TrustDiff        string   `json:"trustDiff,omitempty"`
	AttachedPolicies []string `json:"attachedPolicies,omitempty"`
}
