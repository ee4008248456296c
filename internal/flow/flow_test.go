package flow

import (
	"strings"
	"testing"

	"github.com/podid/podid/internal/fail"
)

// --resolve-conflicts is checked before any API call: a bad value is a
// usage error naming it and the values that work.
func TestNewResolveConflicts(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"", "overwrite", "PRESERVE", "none"} {
		if _, err := New(Options{ResolveConflicts: ok}, false); err != nil {
			t.Errorf("--resolve-conflicts %q: %v", ok, err)
		}
	}
	_, err := New(Options{ResolveConflicts: "force"}, false)
	if fail.KindOf(err) != fail.KindUsage || !strings.Contains(err.Error(), `"force"`) || !strings.Contains(fail.HintOf(err), "overwrite") {
		t.Errorf("--resolve-conflicts force: %v (hint %q), want a usage error", err, fail.HintOf(err))
	}
}
