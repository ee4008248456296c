package reliability

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/podid/podid/internal/lab"
)

// readmePolicy is the JSON policy of README.md's "The IAM policy podid
// needs" section, as a generic document.
func readmePolicy(t *testing.T) map[string]any {
	t.Helper()
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "## IAM policy for podid")
	if i < 0 {
		t.Fatal("README.md has no section \"IAM policy for podid\"")
	}
	s = s[i:]
	start := strings.Index(s, "```json\n")
	if start < 0 {
		t.Fatal("the IAM policy section of README.md has no ```json block")
	}
	s = s[start+len("```json\n"):]
	end := strings.Index(s, "```")
	if end < 0 {
		t.Fatal("the IAM policy section's ```json block is not closed")
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(s[:end]), &doc); err != nil {
		t.Fatalf("README.md's IAM policy is not valid JSON: %v\n%s", err, s[:end])
	}
	return doc
}

func statements(doc map[string]any) []map[string]any {
	var out []map[string]any
	for _, s := range doc["Statement"].([]any) {
		out = append(out, s.(map[string]any))
	}
	return out
}

func actionsOf(st map[string]any) []string {
	switch a := st["Action"].(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

func encode(t *testing.T, doc map[string]any) string {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutStatement is the README policy less the statement with sid.
func withoutStatement(t *testing.T, sid string) string {
	t.Helper()
	doc := readmePolicy(t)
	var kept []any
	found := false
	for _, st := range statements(doc) {
		if st["Sid"] == sid {
			found = true
			continue
		}
		kept = append(kept, st)
	}
	if !found {
		t.Fatalf("README policy has no statement %s", sid)
	}
	doc["Statement"] = kept
	return encode(t, doc)
}

// withoutAction is the README policy less one action.
func withoutAction(t *testing.T, action string) string {
	t.Helper()
	doc := readmePolicy(t)
	var kept []any
	found := false
	for _, st := range statements(doc) {
		acts := actionsOf(st)
		if slices.Contains(acts, action) {
			found = true
			acts = slices.DeleteFunc(acts, func(a string) bool { return a == action })
			if len(acts) == 0 {
				continue
			}
			st["Action"] = acts
		}
		kept = append(kept, st)
	}
	if !found {
		t.Fatalf("README policy has no action %s", action)
	}
	doc["Statement"] = kept
	return encode(t, doc)
}
