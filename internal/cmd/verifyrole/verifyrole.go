// Package verifyrole implements `podid verify-role`.
package verifyrole

import (
	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/flow"
)

// Options are verify-role's inputs.
type Options = cmdutil.StepsOptions

// NewCmd returns the verify-role command; runF replaces the run in tests.
func NewCmd(f *cmdutil.Factory, runF func(*cobra.Command, *Options) error) *cobra.Command {
	return cmdutil.NewStepsCommand(f, cmdutil.StepsSpec{
		Use:   "verify-role --cluster NAME --ns NAMESPACE --sa SERVICE_ACCOUNT [--role ROLE]",
		Short: "Check the IAM role's trust policy and permissions for Pod Identity",
		Long: `Check the IAM role a service account will use:

  trust        pods.eks.amazonaws.com may sts:AssumeRole and sts:TagSession, with conditions on the session
               tags (eks-cluster-name, kubernetes-namespace, kubernetes-service-account) evaluated for this
               cluster, namespace and service account; Deny statements and wildcards count
  permissions  the attached and inline policies and their statements
  --expect     ACTION[=RESOURCE] pairs the role must be allowed (iam:SimulatePrincipalPolicy)

Without --role, the role of the existing association wins; otherwise podid looks for the one role whose
trust admits pods.eks.amazonaws.com and whose name starts with <cluster>-<service-account>.
--fix adds the missing trust statement (scoped to this cluster, namespace and service account), keeps
every other statement and shows the diff; nothing is changed without it.`,
		Example: `  podid verify-role --cluster eks-workshop --ns carts --sa carts
  podid verify-role --ns carts --sa carts --role eks-workshop-carts-dynamo \
      --expect dynamodb:Query=arn:aws:dynamodb:us-west-2:1234567890:table/eks-workshop-carts
  podid verify-role --ns carts --sa carts --role my-role --fix`,
		Flags: func(cmd *cobra.Command, o *Options) {
			cmdutil.AddRoleFlags(cmd, &o.Flow)
		},
		Job: flow.VerifyRole,
	}, runF)
}
