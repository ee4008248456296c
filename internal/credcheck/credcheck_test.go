package credcheck

import "testing"

func TestParseMode(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"", ModeAuto, false}, {"auto", ModeAuto, false}, {"REQUIRE", ModeRequire, false}, {" off ", ModeOff, false},
		{"on", "", true}, {"yes", "", true},
	} {
		got, err := ParseMode(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestARNParts(t *testing.T) {
	for _, tt := range []struct{ arn, role, session, roleOfRoleArn string }{
		{"arn:aws:sts::1234567890:assumed-role/eks-workshop-carts-dynamo/eks-eks-worksh-carts-5af5e7ac", "eks-workshop-carts-dynamo", "eks-eks-worksh-carts-5af5e7ac", ""},
		{"arn:aws:iam::1234567890:role/team/carts", "", "", "carts"},
		{"arn:aws:iam::1234567890:role/carts", "", "", "carts"},
		{"arn:aws:iam::1234567890:user/admin", "", "", ""},
	} {
		r, s := assumedRole(tt.arn)
		if r != tt.role || s != tt.session {
			t.Errorf("assumedRole(%q) = %q, %q; want %q, %q", tt.arn, r, s, tt.role, tt.session)
		}
		if got := roleName(tt.arn); got != tt.roleOfRoleArn {
			t.Errorf("roleName(%q) = %q, want %q", tt.arn, got, tt.roleOfRoleArn)
		}
	}
}
