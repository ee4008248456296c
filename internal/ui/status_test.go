package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/iostreams"
	"github.com/podid/podid/internal/step"
)

func TestPlainLines(t *testing.T) {
	ios, _, _, errOut := iostreams.Test()
	s := NewStatus(ios)
	l := s.Start("install-agent")
	l.Waiting("add-on CREATING")
	l.Waiting("add-on CREATING") // repeated: printed once
	l.Waiting("DaemonSet 2/3 ready")
	l.Done(step.Report{Name: "install-agent", Status: step.Changed, Message: "ACTIVE", Changes: []string{"created add-on"}, Duration: 1500 * time.Millisecond})
	got := errOut.String()
	if strings.Count(got, "add-on CREATING") != 1 {
		t.Errorf("a repeated waiting message was printed again:\n%s", got)
	}
	for _, want := range []string{"• install-agent  waiting: DaemonSet 2/3 ready", "✓ install-agent  changed   ACTIVE (1.5s)", "    - created add-on"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\r") || strings.Contains(got, "\033") {
		t.Errorf("plain output has terminal control characters: %q", got)
	}
}

func TestLiveLines(t *testing.T) {
	ios, _, _, errOut := iostreams.Test()
	ios.SetTTY(true, true)
	s := NewStatus(ios)
	s.tick = time.Millisecond
	l := s.Start("restart")
	l.Waiting("rollout 1 of 2")
	time.Sleep(20 * time.Millisecond) // let the spinner redraw a few frames
	l.Done(step.Report{Name: "restart", Status: step.Failed, Error: "boom", Hint: "do this"})
	got := errOut.String()
	if !strings.Contains(got, "\r\033[K") {
		t.Errorf("live output does not redraw the line: %q", got)
	}
	if !strings.Contains(got, "✗") || !strings.Contains(got, "hint: do this") {
		t.Errorf("failure line or hint missing: %q", got)
	}
}

func TestFormatReport(t *testing.T) {
	tests := []struct {
		r    step.Report
		want string
	}{
		{step.Report{Name: "associate", Status: step.Unchanged, Message: "ok", Duration: 10 * time.Millisecond}, "✓ associate      unchanged ok (10ms)"},
		{step.Report{Name: "restart", Status: step.Planned, Message: "1 to restart"}, "• restart        would change 1 to restart (0s)"},
		{step.Report{Name: "restart", Status: step.Skipped}, "- restart        skipped"},
		{step.Report{Name: "x", Status: step.Failed, Error: fail.Verifyf("h", "bad").Error()}, "✗ x              failed    bad (0s)"},
	}
	for _, tt := range tests {
		if got := FormatReport(tt.r, false); got != tt.want {
			t.Errorf("FormatReport(%+v) = %q, want %q", tt.r, got, tt.want)
		}
	}
}
