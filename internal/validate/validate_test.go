package validate

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestClusterName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		ok bool
	}{
		{"eks-workshop", true},
		{"a", true},
		{"0cluster_1", true},
		{"My-Cluster", true},
		{strings.Repeat("a", 100), true},
		{strings.Repeat("a", 101), false},
		{"", false},
		{"-start", false},
		{"_start", false},
		{"has space", false},
		{"dot.name", false},
		{"ünïcode", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			err := ClusterName(tt.in)
			checkErr(t, err, tt.ok, "cluster name", tt.in, "eks-workshop")
		})
	}
}

// checkErr asserts the outcome and that an error names the value, the rule and an example.
func checkErr(t *testing.T, err error, ok bool, what, value, example string) {
	t.Helper()
	if ok {
		if err != nil {
			t.Fatalf("%q: unexpected error: %v", value, err)
		}
		return
	}
	if err == nil {
		t.Fatalf("%q: want an error, got nil", value)
	}
	msg := err.Error()
	for _, want := range []string{what, strconv.Quote(value), "for example", example} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
}

func TestNamespaceAndServiceAccount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in         string
		nsOK, saOK bool
	}{
		{"carts", true, true},
		{"kube-system", true, true},
		{"a", true, true},
		{"0abc", true, true},
		{"a.b", false, true}, // namespaces are labels; SA names are subdomains
		{"Carts", false, false},
		{"", false, false},
		{"-carts", false, false},
		{"carts-", false, false},
		{"carts_dynamo", false, false},
		{strings.Repeat("a", 63), true, true},
		{strings.Repeat("a", 64), false, true},
		{strings.Repeat("a", 253), false, true},
		{strings.Repeat("a", 254), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			checkErr(t, Namespace(tt.in), tt.nsOK, "namespace", tt.in, "carts")
			checkErr(t, ServiceAccount(tt.in), tt.saOK, "service account", tt.in, "carts")
		})
	}
}

func TestRoleArn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want RoleARN
		ok   bool
	}{
		{"arn:aws:iam::111122223333:role/carts-dynamo", RoleARN{"aws", "111122223333", "/", "carts-dynamo"}, true},
		{"arn:aws-cn:iam::111122223333:role/a/b/r+=,.@_-", RoleARN{"aws-cn", "111122223333", "/a/b/", "r+=,.@_-"}, true},
		{"arn:aws-us-gov:iam::111122223333:role/service-role/x", RoleARN{"aws-us-gov", "111122223333", "/service-role/", "x"}, true},
		{"arn:aws-eusc:iam::111122223333:role/x", RoleARN{"aws-eusc", "111122223333", "/", "x"}, true},
		{"arn:aws-iso-b:iam::111122223333:role/x", RoleARN{"aws-iso-b", "111122223333", "/", "x"}, true},
		{"arn:aws:iam::111122223:role/x", RoleARN{}, false},
		{"arn:aws:iam::1111222233334:role/x", RoleARN{}, false},
		{"arn:aws:iam::1234567890:role/eks-workshop-carts-dynamo", RoleARN{Partition: "aws", Account: "1234567890", Path: "/", Name: "eks-workshop-carts-dynamo"}, true},
		{"arn:aws:iam::1111222233334:role/x", RoleARN{}, false},
		{"arn:aws:iam::abcdabcdabcd:role/x", RoleARN{}, false},
		{"arn:aws-eu:iam::111122223333:role/x", RoleARN{}, false},
		{"arn:aws:iam:us-east-1:111122223333:role/x", RoleARN{}, false},
		{"arn:aws:sts::111122223333:role/x", RoleARN{}, false},
		{"arn:aws:iam::111122223333:user/x", RoleARN{}, false},
		{"arn:aws:iam::111122223333:role/", RoleARN{}, false},
		{"arn:aws:iam::111122223333:role/a//", RoleARN{}, false},
		{"arn:aws:iam::111122223333:role/" + strings.Repeat("r", 65), RoleARN{}, false},
		{"arn:aws:iam::111122223333:role/bad name", RoleARN{}, false},
		{"carts-dynamo", RoleARN{}, false},
		{"", RoleARN{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := RoleArn(tt.in)
			checkErr(t, err, tt.ok, "role ARN", tt.in, "arn:aws:iam::111122223333:role/carts-dynamo")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RoleArn(%q) (-want +got):\n%s", tt.in, diff)
			}
			if tt.ok && got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestRoleNameAndRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		name   string
		arn    string
		nameOK bool
		refOK  bool
	}{
		{"carts-dynamo", "carts-dynamo", "", true, true},
		{"a+=,.@_-9", "a+=,.@_-9", "", true, true},
		{strings.Repeat("r", 64), strings.Repeat("r", 64), "", true, true},
		{strings.Repeat("r", 65), "", "", false, false},
		{"", "", "", false, false},
		{"bad/name", "", "", false, false},
		{"bad name", "", "", false, false},
		{"arn:aws:iam::111122223333:role/p/carts", "carts", "arn:aws:iam::111122223333:role/p/carts", false, true},
		{"arn:aws:iam::111122223333:policy/carts", "", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			checkErr(t, RoleName(tt.in), tt.nameOK, "role name", tt.in, "carts-dynamo")
			name, arn, err := RoleRef(tt.in)
			if (err == nil) != tt.refOK {
				t.Fatalf("RoleRef(%q) error = %v, want ok=%v", tt.in, err, tt.refOK)
			}
			if err != nil && !strings.Contains(err.Error(), "for example") {
				t.Errorf("RoleRef error %q gives no example", err)
			}
			if diff := cmp.Diff([]string{tt.name, tt.arn}, []string{name, arn}); diff != "" {
				t.Errorf("RoleRef(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestPolicyArn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		ok bool
	}{
		{"arn:aws:iam::111122223333:policy/carts-dynamo", true},
		{"arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess", true},
		{"arn:aws:iam::aws:policy/service-role/AmazonEKSClusterPolicy", true},
		{"arn:aws-cn:iam::111122223333:policy/a/b/c", true},
		{"arn:aws:iam::" + "111122223333" + ":policy/" + strings.Repeat("p", 128), true},
		{"arn:aws:iam::111122223333:policy/" + strings.Repeat("p", 129), false},
		{"arn:aws:iam::111122223333:role/carts", false},
		{"arn:aws:iam::amazon:policy/x", false},
		{"arn:aws:s3:::bucket", false},
		{"policy/x", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			checkErr(t, PolicyArn(tt.in), tt.ok, "policy ARN", tt.in, "arn:aws:iam::111122223333:policy/carts-dynamo")
		})
	}
}

func TestRegion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in                  string
		partition, endpoint string // "" = invalid
	}{
		{"us-west-2", "aws", "https://eks.us-west-2.amazonaws.com"},
		{"us-east-1", "aws", "https://eks.us-east-1.amazonaws.com"},
		{"eu-central-2", "aws", "https://eks.eu-central-2.amazonaws.com"},
		{"ap-southeast-4", "aws", "https://eks.ap-southeast-4.amazonaws.com"},
		{"il-central-1", "aws", "https://eks.il-central-1.amazonaws.com"},
		{"us-gov-west-1", "aws-us-gov", "https://eks.us-gov-west-1.amazonaws.com"},
		{"cn-north-1", "aws-cn", "https://eks.cn-north-1.amazonaws.com.cn"},
		{"us-iso-east-1", "aws-iso", "https://eks.us-iso-east-1.c2s.ic.gov"},
		{"us-isob-east-1", "aws-iso-b", "https://eks.us-isob-east-1.sc2s.sgov.gov"},
		// The European Sovereign Cloud: its own partition and DNS suffix.
		{"eusc-de-east-1", "aws-eusc", "https://eks.eusc-de-east-1.amazonaws.eu"},
		// A future region of the same form in a partition this SDK does not
		// know yet goes where the SDK puts it, not rejected by podid.
		{"xy-newland-north-1", "aws", "https://eks.xy-newland-north-1.amazonaws.com"},

		{"US-WEST-2", "", ""}, {"us-west", "", ""}, {"uswest2", "", ""}, {"", "", ""},
		{"us-west-2a", "", ""}, {"us west 2", "", ""}, {" us-west-2", "", ""}, {"us-west-2.", "", ""},
		{"-us-west-2", "", ""}, {"us--west-2", "", ""}, {"us-west-2/", "", ""}, {"us_west_2", "", ""},
		{"eks.us-west-2.amazonaws.com", "", ""}, {strings.Repeat("ab-", 21) + "north-1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			info, err := RegionPartition(tt.in)
			checkErr(t, err, tt.partition != "", "region", tt.in, "us-west-2")
			checkErr(t, Region(tt.in), tt.partition != "", "region", tt.in, "us-west-2")
			if tt.partition != "" && (info.Partition != tt.partition || info.EKSEndpoint != tt.endpoint) {
				t.Errorf("RegionPartition(%q) = %+v, want partition %s, endpoint %s", tt.in, info, tt.partition, tt.endpoint)
			}
		})
	}
}

func TestWorkload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in         string
		kind, name string
		ok         bool
	}{
		{"deployment/carts", KindDeployment, "carts", true},
		{"deploy/carts", KindDeployment, "carts", true},
		{"deployments/carts", KindDeployment, "carts", true},
		{"deployment.apps/carts", KindDeployment, "carts", true},
		{"Deployment/carts", KindDeployment, "carts", true},
		{"statefulset/x", KindStatefulSet, "x", true},
		{"sts/x", KindStatefulSet, "x", true},
		{"daemonset/x", KindDaemonSet, "x", true},
		{"ds/x", KindDaemonSet, "x", true},
		{"carts", "", "carts", true},
		{" carts ", "", "carts", true},
		{"Deployments.apps/carts", KindDeployment, "carts", true},
		{"sts.apps/x", KindStatefulSet, "x", true},
		{"pod/carts", "", "", false},
		{"job/carts", "", "", false},
		{"Carts", "", "", false},
		{"/carts", "", "", false},
		{"deployment/", "", "", false},
		{"deployment/Carts", "", "", false},
		{"deployment/a/b", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			kind, name, err := Workload(tt.in)
			checkErr(t, err, tt.ok, "workload", tt.in, "deployment/carts")
			if diff := cmp.Diff([]string{tt.kind, tt.name}, []string{kind, name}); diff != "" {
				t.Errorf("Workload(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestPartitionsMatchSDK: every partition the SDK places a region in is one
// an ARN may name.
func TestPartitionsMatchSDK(t *testing.T) {
	t.Parallel()
	for _, r := range []string{"us-west-2", "cn-north-1", "us-gov-west-1", "eusc-de-east-1", "us-iso-east-1", "us-isob-east-1", "eu-isoe-west-1", "us-isof-south-1"} {
		info, err := RegionPartition(r)
		if err != nil {
			t.Fatal(err)
		}
		if !partitions[info.Partition] {
			t.Errorf("region %s is in partition %s, which role ARNs may not name", r, info.Partition)
		}
	}
}
