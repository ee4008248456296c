// Package validate checks user input (cluster, namespace, service account,
// role and policy ARNs, region, workload) before podid calls AWS or
// Kubernetes. Each error names the value, the rule it breaks and an example
// of a valid value.
package validate

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/eks"
	"k8s.io/apimachinery/pkg/util/validation"
)

func invalid(what, value, rule, example string) error {
	return fmt.Errorf("%s %q is not valid: %s (for example %q)", what, value, rule, example)
}

var clusterNameRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9\-_]*$`)

// ClusterName checks an EKS cluster name: 1–100 characters, letters, digits,
// hyphens and underscores, starting with a letter or digit.
func ClusterName(s string) error {
	if len(s) < 1 || len(s) > 100 || !clusterNameRE.MatchString(s) {
		return invalid("cluster name", s, "an EKS cluster name has 1–100 letters, digits, hyphens or underscores and starts with a letter or digit", "eks-workshop")
	}
	return nil
}

// Namespace checks a Kubernetes namespace name (an RFC 1123 label).
func Namespace(s string) error {
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
		return invalid("namespace", s, "a namespace is a lowercase RFC 1123 label: "+strings.Join(errs, "; "), "carts")
	}
	return nil
}

// ServiceAccount checks a Kubernetes service account name (an RFC 1123
// subdomain, as the API server validates it).
func ServiceAccount(s string) error {
	if errs := validation.IsDNS1123Subdomain(s); len(errs) > 0 {
		return invalid("service account", s, "a service account name is a lowercase RFC 1123 subdomain: "+strings.Join(errs, "; "), "carts")
	}
	return nil
}

var (
	// AWS account IDs are 12 digits. The EKS workshop's own transcripts (and
	// so the lab) use the 10-digit 1234567890, so 10 and 11 digits pass too:
	// rejecting the workshop's ARNs would only get in a learner's way, and
	// IAM itself answers a wrong account with NoSuchEntity.
	accountRE = regexp.MustCompile(`^[0-9]{10,12}$`)
	iamNameRE = regexp.MustCompile(`^[\w+=,.@-]+$`)
	iamPathRE = regexp.MustCompile(`^/([\x21-\x7e]*/)?$`)
	// regionShapeRE is what every AWS region code has in common, whatever
	// its partition: lowercase words joined by hyphens, ending in a number
	// (us-west-2, us-gov-west-1, cn-north-1, eusc-de-east-1). Which
	// partition a region belongs to is the SDK's knowledge (RegionPartition).
	regionShapeRE = regexp.MustCompile(`^[a-z]{2,}(-[a-z]+)+-[0-9]+$`)
	// partitions are the partition IDs of the SDK's partition data (see
	// RegionPartition), which an ARN's partition must be one of.
	partitions = map[string]bool{"aws": true, "aws-cn": true, "aws-us-gov": true, "aws-eusc": true,
		"aws-iso": true, "aws-iso-b": true, "aws-iso-e": true, "aws-iso-f": true}
)

// RoleARN is a parsed IAM role ARN.
type RoleARN struct {
	Partition string // aws, aws-cn, aws-us-gov, aws-eusc, aws-iso…
	Account   string // 12 digits
	Path      string // "/" or "/a/b/"
	Name      string
}

// String returns the ARN.
func (r RoleARN) String() string {
	return fmt.Sprintf("arn:%s:iam::%s:role%s%s", r.Partition, r.Account, r.Path, r.Name)
}

const roleArnExample = "arn:aws:iam::111122223333:role/carts-dynamo"

// RoleArn parses arn:<partition>:iam::<account>:role/<path/>name.
func RoleArn(s string) (RoleARN, error) {
	a, rule := parseIAMArn(s, "role", false)
	if rule == "" && RoleName(a.Name) != nil {
		rule = "the role name must have 1–64 letters, digits or +=,.@_- characters"
	}
	if rule != "" {
		return RoleARN{}, invalid("role ARN", s, rule, roleArnExample)
	}
	return a, nil
}

// parseIAMArn splits arn:<partition>:iam::<account>:<kind>/<path/>name
// (kind is role or policy; awsManaged admits the account "aws"). rule says
// why s is not such an ARN, or is "" when it is; the name itself is the
// caller's to check.
func parseIAMArn(s, kind string, awsManaged bool) (a RoleARN, rule string) {
	account := "<account>"
	if awsManaged {
		account = "<account or aws>"
	}
	parts := strings.SplitN(s, ":", 6)
	switch {
	case len(parts) != 6 || parts[0] != "arn":
		return a, fmt.Sprintf("a %s ARN has the form arn:<partition>:iam::%s:%s/<name>", kind, account, kind)
	case !partitions[parts[1]]:
		return a, "the partition must be aws, aws-cn, aws-us-gov, aws-eusc or an aws-iso partition"
	case parts[2] != "iam" || parts[3] != "":
		return a, "the service must be iam and the region empty (arn:aws:iam::…)"
	case awsManaged && parts[4] != "aws" && !accountRE.MatchString(parts[4]):
		return a, "the account must be 12 digits, or aws for AWS managed policies"
	case !awsManaged && !accountRE.MatchString(parts[4]):
		return a, "the account must be 12 digits (the EKS workshop's 10-digit 1234567890 is accepted too)"
	}
	res, ok := strings.CutPrefix(parts[5], kind+"/")
	if !ok {
		return a, "the resource must start with " + kind + "/"
	}
	path, name := "/", res
	if i := strings.LastIndex(res, "/"); i >= 0 {
		path, name = "/"+res[:i+1], res[i+1:]
	}
	if len(path) > 512 || !iamPathRE.MatchString(path) {
		return a, "the " + kind + " path must be printable ASCII between slashes, at most 512 characters"
	}
	return RoleARN{Partition: parts[1], Account: parts[4], Path: path, Name: name}, ""
}

// RoleName checks an IAM role name: 1–64 characters of letters, digits and +=,.@_-.
func RoleName(s string) error {
	if len(s) < 1 || len(s) > 64 || !iamNameRE.MatchString(s) {
		return invalid("role name", s, "an IAM role name has 1–64 letters, digits or +=,.@_- characters", "carts-dynamo")
	}
	return nil
}

// RoleRef accepts a role name or a role ARN. For a name, arn is empty (the
// caller resolves it with iam GetRole); for an ARN, name is its last segment.
func RoleRef(s string) (name, arn string, err error) {
	if strings.HasPrefix(s, "arn:") {
		r, err := RoleArn(s)
		if err != nil {
			return "", "", err
		}
		return r.Name, s, nil
	}
	if err := RoleName(s); err != nil {
		return "", "", invalid("role", s, "give a role name (1–64 letters, digits or +=,.@_- characters) or a role ARN", "carts-dynamo")
	}
	return s, "", nil
}

// PolicyArn checks arn:<partition>:iam::<account or aws>:policy/<path/>name.
func PolicyArn(s string) error {
	a, rule := parseIAMArn(s, "policy", true)
	if rule == "" && (len(a.Name) < 1 || len(a.Name) > 128 || !iamNameRE.MatchString(a.Name)) {
		rule = "the policy name must have 1–128 letters, digits or +=,.@_- characters"
	}
	if rule != "" {
		return invalid("policy ARN", s, rule, "arn:aws:iam::111122223333:policy/carts-dynamo")
	}
	return nil
}

// RegionInfo is where the AWS SDK places a region.
type RegionInfo struct {
	Partition   string // aws, aws-cn, aws-us-gov, aws-eusc, aws-iso, …
	EKSEndpoint string // the EKS endpoint the SDK resolves for the region
}

// RegionPartition checks a region code such as us-west-2, us-gov-west-1,
// cn-north-1 or eusc-de-east-1 and returns its partition and EKS endpoint
// from the SDK's own partition data (the EKS endpoint rules), so that a
// region of a partition the SDK knows is accepted without podid knowing its
// form. The code must be a DNS label of lowercase words and a number, as
// every region code is; a code of a form no partition claims is placed in
// the aws partition, as the SDK does.
func RegionPartition(s string) (RegionInfo, error) {
	const rule = "a region code is lowercase words and a number joined by hyphens"
	if len(s) > 63 || !regionShapeRE.MatchString(s) {
		return RegionInfo{}, invalid("region", s, rule, "us-west-2")
	}
	ep, err := eks.NewDefaultEndpointResolverV2().ResolveEndpoint(context.Background(), eks.EndpointParameters{Region: &s})
	if err != nil {
		return RegionInfo{}, invalid("region", s, "the AWS SDK resolves no EKS endpoint for it: "+err.Error(), "us-west-2")
	}
	legacy, err := eks.NewDefaultEndpointResolver().ResolveEndpoint(s, eks.EndpointResolverOptions{})
	if err != nil {
		return RegionInfo{}, invalid("region", s, "the AWS SDK places it in no partition: "+err.Error(), "us-west-2")
	}
	return RegionInfo{Partition: legacy.PartitionID, EKSEndpoint: ep.URI.String()}, nil
}

// Region checks an AWS region code (see RegionPartition).
func Region(s string) error {
	_, err := RegionPartition(s)
	return err
}

// Workload kinds returned by Workload.
const (
	KindDeployment  = "deployment"
	KindStatefulSet = "statefulset"
	KindDaemonSet   = "daemonset"
)

// workloadKinds maps kubectl's spellings of a kind (lower case, without the
// ".apps" group) to the kind.
var workloadKinds = map[string]string{
	"deployment": KindDeployment, "deployments": KindDeployment, "deploy": KindDeployment,
	"statefulset": KindStatefulSet, "statefulsets": KindStatefulSet, "sts": KindStatefulSet,
	"daemonset": KindDaemonSet, "daemonsets": KindDaemonSet, "ds": KindDaemonSet,
}

// Workload parses a workload reference, the one parser behind --workload
// and podid.yaml's workloads: KIND/NAME with kubectl's kind spellings (any
// case, optional ".apps" group: deployment/carts, deploy/carts,
// Deployments.apps/carts, sts/db, ds/agent) or a bare NAME, which names the
// workload called NAME whatever its kind (kind is then ""). kind is
// returned as deployment, statefulset or daemonset.
func Workload(s string) (kind, name string, err error) {
	const example = "deployment/carts"
	t := strings.TrimSpace(s)
	k, n, hasKind := strings.Cut(t, "/")
	if !hasKind {
		k, n = "", k
	}
	if n == "" || strings.Contains(n, "/") {
		return "", "", invalid("workload", s, "a workload is NAME or KIND/NAME with kind deployment (deploy), statefulset (sts) or daemonset (ds)", example)
	}
	if hasKind {
		var known bool
		if kind, known = workloadKinds[strings.TrimSuffix(strings.ToLower(k), ".apps")]; !known {
			return "", "", invalid("workload", s, fmt.Sprintf("kind %q is not one of deployment (deploy), statefulset (sts), daemonset (ds), the kinds podid restarts", k), example)
		}
	}
	if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
		return "", "", invalid("workload", s, "the name is a lowercase RFC 1123 subdomain: "+strings.Join(errs, "; "), example)
	}
	return kind, n, nil
}
