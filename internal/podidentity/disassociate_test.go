package podidentity

import (
	"strings"
	"testing"

	"github.com/podid/podid/internal/fail"
)

func TestAddonOwner(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"arn:aws:eks:us-west-2:111122223333:addon/eks-workshop/aws-ebs-csi-driver/a1b2c3", "aws-ebs-csi-driver"},
		{"arn:aws-cn:eks:cn-north-1:111122223333:addon/c/vpc-cni/x", "vpc-cni"},
		{"arn:aws:eks:us-west-2:111122223333:cluster/eks-workshop", ""},
		{"arn:aws:eks:us-west-2:111122223333:addon/only-cluster", ""},
		{"not an arn", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := AddonOwner(tt.in); got != tt.want {
			t.Errorf("AddonOwner(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The add-on refusal cannot be driven through the fake (it does not let a
// test seed an association's ownerArn), so the decision is tested here.
func TestDecideDisassociation(t *testing.T) {
	t.Parallel()
	owned := &AssociationInfo{ID: "a-1", Namespace: "kube-system", ServiceAccount: "ebs-csi-controller-sa",
		OwnerArn: "arn:aws:eks:us-west-2:111122223333:addon/eks-workshop/aws-ebs-csi-driver/uuid"}
	tests := []struct {
		name     string
		a        *AssociationInfo
		wantDel  bool
		wantKind fail.Kind
		wantText []string
	}{
		{name: "none: nothing to do", a: nil},
		{name: "plain association: delete", a: &AssociationInfo{ID: "a-2", Namespace: "carts", ServiceAccount: "carts"}, wantDel: true},
		{name: "owned by an add-on: refuse", a: owned, wantKind: fail.KindVerification,
			wantText: []string{"a-1", "owned by", "aws-ebs-csi-driver", "aws eks update-addon --cluster-name eks-workshop --addon-name aws-ebs-csi-driver --pod-identity-associations"}},
		{name: "owned by something unknown: refuse", a: &AssociationInfo{ID: "a-3", OwnerArn: "arn:aws:iam::1:role/x"}, wantKind: fail.KindVerification,
			wantText: []string{"--addon-name ADDON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			del, err := DecideDisassociation(tt.a, "eks-workshop", "kube-system", "ebs-csi-controller-sa")
			if del != tt.wantDel {
				t.Errorf("delete = %v, want %v", del, tt.wantDel)
			}
			if got := fail.KindOf(err); got != tt.wantKind {
				t.Fatalf("kind %v, want %v (err %v)", got, tt.wantKind, err)
			}
			text := ""
			if err != nil {
				text = err.Error() + " | " + fail.HintOf(err)
			}
			for _, w := range tt.wantText {
				if !strings.Contains(text, w) {
					t.Errorf("%q lacks %q", text, w)
				}
			}
		})
	}
}

func TestRoleArnFor(t *testing.T) {
	t.Parallel()
	c := ClusterInfo{Arn: "arn:aws-us-gov:eks:us-gov-west-1:111122223333:cluster/x", Account: "111122223333"}
	if got, want := RoleArnFor(c, "/team/", "r"), "arn:aws-us-gov:iam::111122223333:role/team/r"; got != want {
		t.Errorf("RoleArnFor = %s, want %s", got, want)
	}
	if got, want := RoleArnFor(ClusterInfo{Account: "1"}, "", "r"), "arn:aws:iam::1:role/r"; got != want {
		t.Errorf("RoleArnFor = %s, want %s", got, want)
	}
}
