package podidentity

// AssociationSettings are the settings of a pod identity association besides
// its role: the one type that carries them from the flags (flow.Options)
// and from podid.yaml (manifest.Entry) to the EKS call (AssociationOptions).
// A new association setting is a field here, its flag in cmdutil, its key in
// manifest, and its use in Association's create, update and diff.
type AssociationSettings struct {
	TargetRoleArn      string // role chaining (optional)
	DisableSessionTags bool
	Policy             string // session policy JSON; requires DisableSessionTags
	Tags               map[string]string
}
