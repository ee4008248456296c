package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Nothing of the lab may be linked into podid.
func TestNoLabInBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"/internal/lab", "/internal/fakeaws", "/internal/e2e", "/internal/bench"} {
			if strings.Contains(pkg, "github.com/podid/podid"+banned) {
				t.Errorf("podid links %s", pkg)
			}
		}
	}
}
