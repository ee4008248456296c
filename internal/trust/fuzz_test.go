package trust

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzParse: Parse never panics, and an accepted document re-serialises to
// text that parses to the same document and serialises identically.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, doc string) {
		d, err := Parse(doc)
		if err != nil {
			return
		}
		s1 := d.String()
		d2, err := Parse(s1)
		if err != nil {
			t.Fatalf("Parse(String()) failed: %v\ninput: %q\nserialised: %s", err, doc, s1)
		}
		if diff := cmp.Diff(d, d2, cmpopts.IgnoreUnexported(Document{}, Statement{})); diff != "" {
			t.Fatalf("round trip changed the document (-first +second):\n%s", diff)
		}
		if s2 := d2.String(); s1 != s2 {
			t.Fatalf("String not stable:\n%s\n---\n%s", s1, s2)
		}
		_ = Statements(d)
	})
}

// FuzzEvaluate: Evaluate never panics, its report is consistent, and when
// Fix succeeds its output parses, admits the request and is a fixed point.
func FuzzEvaluate(f *testing.F) {
	f.Fuzz(func(t *testing.T, doc, cluster, namespace, sa, account string, scoped bool) {
		for _, noTags := range []bool{false, true} {
			fuzzEvaluate(t, doc, Request{Cluster: cluster, Namespace: namespace, ServiceAccount: sa, Account: account, NoSessionTags: noTags}, scoped)
		}
	})
}

// fuzzEvaluate checks one document and request for FuzzEvaluate.
func fuzzEvaluate(t *testing.T, doc string, req Request, scoped bool) {
	t.Helper()
	noTags := req.NoSessionTags
	d, err := Parse(doc)
	if err != nil {
		return
	}
	rep := Evaluate(d, req)
	for _, r := range []ActionResult{rep.AssumeRole, rep.TagSession} {
		switch r.Decision {
		case Allowed, ImplicitDeny, ExplicitDeny, Conditional:
		case NotRequested:
			if !noTags || r.Action != ActionTagSession {
				t.Fatalf("%s NotRequested with session tags %v", r.Action, !noTags)
			}
			continue
		default:
			t.Fatalf("decision %q", r.Decision)
		}
		if (r.Decision == ImplicitDeny) != (r.StatementIndex == -1) || r.StatementIndex >= len(d.Statements) {
			t.Fatalf("%s: decision %s with statement index %d of %d", r.Action, r.Decision, r.StatementIndex, len(d.Statements))
		}
	}
	if rep.OK() != (rep.AssumeRole.Decision == Allowed && (rep.TagSession.Decision == Allowed || noTags)) {
		t.Fatalf("OK() disagrees with the decisions")
	}
	if rep.OK() && len(rep.Problems) > 0 {
		t.Fatalf("OK report has problems: %+v", rep.Problems)
	}
	if !rep.OK() && len(rep.Problems) == 0 && len(rep.Warnings) == 0 {
		t.Fatalf("failed report explains nothing: %+v", rep)
	}
	fixed, changed, err := Fix(d, req, FixOptions{Scoped: scoped})
	if err != nil {
		return
	}
	if changed == rep.Admits() {
		t.Fatalf("Fix changed %v but the check admits %v", changed, rep.Admits())
	}
	checkNotWider(t, d, fixed, changed)
	fd, err := Parse(fixed)
	if err != nil {
		t.Fatalf("fixed does not parse: %v\n%s", err, fixed)
	}
	if !Evaluate(fd, req).Admits() {
		t.Fatalf("fixed does not admit the request:\n%s", fixed)
	}
	if again, ch, err := Fix(fd, req, FixOptions{Scoped: scoped}); err != nil || ch || again != fixed {
		t.Fatalf("Fix not idempotent: changed %v err %v", ch, err)
	}
}
