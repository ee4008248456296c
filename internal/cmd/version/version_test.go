package version

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCollect(t *testing.T) {
	t.Parallel()
	deps := []*debug.Module{
		{Path: ModuleAWSSDK, Version: "v1.48.0"},
		{Path: ModuleEKS, Version: "v1.105.6"},
		{Path: ModuleClientGo, Version: "v0.35.4", Replace: &debug.Module{Path: "example.com/client-go", Version: "v0.35.5"}},
		{Path: "github.com/spf13/cobra", Version: "v1.10.2"},
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            Info
	}{
		{
			name: "release build", version: "v0.4.0", commit: "abc123",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Deps: deps, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "ignored"}}},
			want: Info{Version: "v0.4.0", Commit: "abc123", GoVersion: "go1.26.8", Platform: platform, AWSSDKVersion: "v1.48.0",
				EKSClientVersion: "v1.105.6", ClientGoVersion: "v0.35.5 (replaces v0.35.4)"},
		},
		{
			name: "commit from the VCS stamp", version: "dev",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Deps: deps[:1], Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "deadbeef"}}},
			want: Info{Version: "dev", Commit: "deadbeef", GoVersion: "go1.26.8", Platform: platform, AWSSDKVersion: "v1.48.0",
				EKSClientVersion: "unknown", ClientGoVersion: "unknown"},
		},
		{
			name: "no build information", version: "dev",
			want: Info{Version: "dev", Commit: "unknown", GoVersion: runtime.Version(), Platform: platform, AWSSDKVersion: "unknown",
				EKSClientVersion: "unknown", ClientGoVersion: "unknown"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, Collect(tt.version, tt.commit, tt.bi)); diff != "" {
				t.Errorf("Collect (-want +got):\n%s", diff)
			}
		})
	}
}

// requiredVersions reads the versions go.mod requires.
func requiredVersions(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(f) >= 2 && strings.HasPrefix(f[1], "v") {
			out[f[0]] = f[1]
		}
	}
	return out
}

// TestVersionBinary builds podid as the Makefile does (version and commit
// through -ldflags) and checks what `podid version` reports against go.mod.
func TestVersionBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the podid build")
	}
	bin := filepath.Join(t.TempDir(), "podid")
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X github.com/podid/podid/internal/app.Version=v9.8.7 -X github.com/podid/podid/internal/app.Commit=0123abcd",
		"github.com/podid/podid/cmd/podid")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	req := requiredVersions(t)
	goVersion, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Version: "v9.8.7", Commit: "0123abcd", GoVersion: strings.TrimSpace(string(goVersion)), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		AWSSDKVersion: req[ModuleAWSSDK], EKSClientVersion: req[ModuleEKS], ClientGoVersion: req[ModuleClientGo]}
	if want.AWSSDKVersion == "" || want.ClientGoVersion == "" || want.EKSClientVersion == "" {
		t.Fatalf("go.mod lacks a module: %v", want)
	}

	out, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("podid version -o json: %v", err)
	}
	var doc struct {
		Command  string `json:"command"`
		Status   string `json:"status"`
		ExitCode int    `json:"exitCode"`
		Result   Info   `json:"result"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	if doc.Command != "version" || doc.Status != "succeeded" || doc.ExitCode != 0 {
		t.Errorf("document %+v", doc)
	}
	if diff := cmp.Diff(want, doc.Result); diff != "" {
		t.Errorf("podid version -o json (-want +got):\n%s", diff)
	}

	out, err = exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("podid version: %v", err)
	}
	for _, s := range []string{"podid v9.8.7 (commit 0123abcd)", want.GoVersion, "aws-sdk-go-v2  " + want.AWSSDKVersion, "service/eks " + want.EKSClientVersion, "client-go      " + want.ClientGoVersion} {
		if !strings.Contains(string(out), s) {
			t.Errorf("podid version does not say %q:\n%s", s, out)
		}
	}
	out, err = exec.Command(bin, "--version").Output()
	if err != nil || string(out) != "podid v9.8.7\n" {
		t.Errorf("podid --version = %q, %v", out, err)
	}
	if out, err := exec.Command(bin, "version", "extra").CombinedOutput(); err == nil {
		t.Errorf("podid version extra succeeded: %s", out)
	} else if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("podid version extra: %v, want exit 2\n%s", err, out)
	}
}
