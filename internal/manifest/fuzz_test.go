package manifest

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParseManifest: Parse never panics, returns either a file or an
// *Error with at least one problem, never both, and every problem it
// reports points inside the input.
func FuzzParseManifest(f *testing.F) {
	if data, err := os.ReadFile("../../testdata/podid.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(head + "entries: [{namespace: a, serviceAccount: a, role: r}]\n"))
	f.Add([]byte(head + "defaults: {roleRule: discover, tags: {a: b}}\nentries:\n  - {namespace: a, serviceAccount: a, policy: '{}', disableSessionTags: true}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("f.yaml", data)
		if err == nil {
			if file == nil || len(file.Entries) == 0 {
				t.Fatalf("no error but no entries: %+v", file)
			}
			seen := map[string]bool{}
			for _, e := range file.Entries {
				if e.Namespace == "" || e.ServiceAccount == "" || (e.Role == "" && e.RoleRule != RoleRuleDiscover) {
					t.Fatalf("accepted an incomplete entry: %+v", e)
				}
				if e.Policy != "" && !e.DisableSessionTags {
					t.Fatalf("accepted a policy without disableSessionTags: %+v", e)
				}
				if seen[e.Key()] {
					t.Fatalf("accepted %s twice", e.Key())
				}
				seen[e.Key()] = true
			}
			return
		}
		var me *Error
		if !errors.As(err, &me) || len(me.Problems) == 0 || file != nil {
			t.Fatalf("Parse = %v, %v", file, err)
		}
		// YAML (like most editors) breaks lines at \n, \r\n and a lone \r.
		lines := strings.Count(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") + strings.Count(strings.ReplaceAll(string(data), "\r\n", ""), "\r") + 1
		for _, p := range me.Problems {
			if p.Line < 0 || p.Line > lines+1 || p.Col < 0 {
				t.Fatalf("problem outside the input (%d lines): %+v", lines, p)
			}
		}
	})
}
