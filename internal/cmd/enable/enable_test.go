package enable

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/flow"
	"github.com/podid/podid/internal/iostreams"
	"github.com/podid/podid/internal/podidentity"
)

// Flag parsing, through runF: what each flag puts into Options.
func TestFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    flow.Options
		dryRun  bool
		wantErr fail.Kind
	}{
		{
			name: "workshop",
			args: []string{"--ns", "carts", "--sa", "carts"},
			want: flow.Options{Target: flow.Target{Namespace: "carts", ServiceAccount: "carts"}, Credentials: "auto"},
		},
		{
			name: "long aliases and everything",
			args: []string{"--namespace", "carts", "--service-account", "carts", "--role", "r", "--fix", "--expect", "dynamodb:Query", "--expect", "s3:GetObject=arn:aws:s3:::b/k",
				"--addon-version", "v1", "--resolve-conflicts", "overwrite", "--update", "--target-role-arn", "arn:aws:iam::111122223333:role/t", "--disable-session-tags", "--policy", "{}",
				"--tags", "a=1,b=2", "--tags", "c=3", "--create-service-account", "--workload", "deployment/carts", "--force", "--dry-run"},
			want: flow.Options{Target: flow.Target{Namespace: "carts", ServiceAccount: "carts"}, AddonVersion: "v1", ResolveConflicts: "overwrite", Role: "r", Fix: true,
				Expect: []string{"dynamodb:Query", "s3:GetObject=arn:aws:s3:::b/k"}, Update: true, AssociationSettings: podidentity.AssociationSettings{TargetRoleArn: "arn:aws:iam::111122223333:role/t",
					DisableSessionTags: true, Policy: "{}", Tags: map[string]string{"a": "1", "b": "2", "c": "3"}}, CreateSA: true,
				Workloads: []string{"deployment/carts"}, Force: true, Credentials: "auto"},
			dryRun: true,
		},
		{name: "bad tag", args: []string{"--tags", "x"}, wantErr: fail.KindUsage},
		{name: "aws: tag prefix", args: []string{"--tags", "aws:x=1"}, wantErr: fail.KindUsage},
		{name: "positional", args: []string{"carts"}, wantErr: fail.KindUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			f := cmdutil.NewFactory(ios, "test")
			var got *Options
			cmd := NewCmd(f, func(_ *cobra.Command, o *Options) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			err := cmd.Execute()
			if tt.wantErr != 0 {
				if fail.KindOf(err) != tt.wantErr {
					t.Fatalf("err = %v (kind %d), want kind %d", err, fail.KindOf(err), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.Flow); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if got.DryRun != tt.dryRun {
				t.Errorf("dry run = %v", got.DryRun)
			}
		})
	}
}
