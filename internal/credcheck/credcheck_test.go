package credcheck

import (
	"strings"
	"testing"

	"github.com/podid/podid/internal/fail"
)

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

func TestJudge(t *testing.T) {
	exp := Expected{Cluster: "eks-workshop", Namespace: "carts", ServiceAccount: "carts", RoleArn: "arn:aws:iam::1234567890:role/eks-workshop-carts-dynamo"}
	ok := Proof{Workload: "deployment/carts", Pod: "carts-1", Outcome: Proven, Identity: "arn:aws:sts::1234567890:assumed-role/eks-workshop-carts-dynamo/eks-eks-worksh-carts-1-x"}
	denied := Proof{Workload: "deployment/carts", Pod: "carts-1", Outcome: Denied, Link: "trust", Problem: "trust requires aws:RequestTag/kubernetes-namespace", Fix: "drop --disable-session-tags"}
	np := Proof{Workload: "deployment/carts", Pod: "carts-1", Outcome: NotProven, Missing: "eks-auth:AssumeRoleForPodIdentity on cluster", Problem: "caller may not", Fix: "allow it"}
	for _, tt := range []struct {
		name        string
		mode        Mode
		proofs      []Proof
		wantErr     bool
		wantExit3   bool
		wantSummary string
		wantWarn    bool
	}{
		{name: "proven", mode: ModeAuto, proofs: []Proof{ok}, wantSummary: "1 pod of carts/carts will hold role eks-workshop-carts-dynamo (session tags)"},
		{name: "denied fails", mode: ModeAuto, proofs: []Proof{ok, denied}, wantErr: true, wantExit3: true},
		{name: "not proven warns in auto", mode: ModeAuto, proofs: []Proof{np}, wantSummary: "not proven (eks-auth:AssumeRoleForPodIdentity on cluster)", wantWarn: true},
		{name: "not proven fails in require", mode: ModeRequire, proofs: []Proof{np}, wantErr: true, wantExit3: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Judge(&Details{Mode: tt.mode, Proofs: tt.proofs}, tt.mode, exp)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantExit3 && fail.KindOf(err) != fail.KindVerification {
				t.Errorf("error kind %v, want a verification failure", fail.KindOf(err))
			}
			if err == nil && res.Summary != tt.wantSummary {
				t.Errorf("summary %q, want %q", res.Summary, tt.wantSummary)
			}
			if (len(res.Warnings) > 0) != tt.wantWarn {
				t.Errorf("warnings %v, want some: %v", res.Warnings, tt.wantWarn)
			}
			if tt.name == "denied fails" && (!strings.Contains(err.Error(), "the role's trust policy") || fail.HintOf(err) != "drop --disable-session-tags") {
				t.Errorf("denial %q (hint %q) should name the link and carry the fix", err, fail.HintOf(err))
			}
		})
	}
}
