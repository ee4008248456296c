// Package ui renders podid's progress on stderr (one line per step, live on a
// smart terminal, plain lines elsewhere) and its results on stdout.
package ui

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/podid/podid/internal/iostreams"
	"github.com/podid/podid/internal/step"
)

// Status writes step lines to stderr. It implements step.Sink.
type Status struct {
	w      io.Writer
	live   bool
	color  bool
	now    func() time.Time
	tick   time.Duration
	mu     sync.Mutex
	active *line
}

// NewStatus returns a Status for io's stderr.
func NewStatus(ios *iostreams.IOStreams) *Status {
	return &Status{w: ios.ErrOut, live: ios.SmartStderr(), color: ios.ColorEnabled(), now: time.Now, tick: 100 * time.Millisecond}
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

type line struct {
	s       *Status
	name    string
	start   time.Time
	waiting string
	frame   int
	stop    chan struct{}
	done    chan struct{}
}

// Start begins a step's line.
func (s *Status) Start(name string) step.Line {
	l := &line{s: s, name: name, start: s.now()}
	s.mu.Lock()
	s.active = l
	s.mu.Unlock()
	if s.live {
		l.stop, l.done = make(chan struct{}), make(chan struct{})
		go l.animate()
	}
	return l
}

func (l *line) animate() {
	defer close(l.done)
	t := time.NewTicker(l.s.tick)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.s.mu.Lock()
			l.frame++
			l.redraw()
			l.s.mu.Unlock()
		}
	}
}

// redraw must be called with s.mu held.
func (l *line) redraw() {
	what := l.waiting
	if what == "" {
		what = "working"
	}
	fmt.Fprintf(l.s.w, "\r\033[K%s %-14s %s (%s)", spinner[l.frame%len(spinner)], l.name, what, round(l.s.now().Sub(l.start)))
}

// Waiting shows what the step waits for. Plain output prints a line only
// when the message changes.
func (l *line) Waiting(what string) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if what == l.waiting {
		return
	}
	l.waiting = what
	if l.s.live {
		l.redraw()
		return
	}
	fmt.Fprintf(l.s.w, "• %-14s waiting: %s (%s)\n", l.name, what, round(l.s.now().Sub(l.start)))
}

// Done prints the step's final line.
func (l *line) Done(r step.Report) {
	if l.s.live {
		close(l.stop)
		<-l.done
	}
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.s.live {
		fmt.Fprint(l.s.w, "\r\033[K")
	}
	fmt.Fprintln(l.s.w, FormatReport(r, l.s.color))
	for _, c := range r.Changes {
		fmt.Fprintf(l.s.w, "    %s %s\n", changeMark(r.Status), c)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(l.s.w, "    ! %s\n", w)
	}
	if r.Status == step.Failed && r.Hint != "" {
		fmt.Fprintf(l.s.w, "    hint: %s\n", indent(r.Hint, "          "))
	}
	l.s.active = nil
}

func changeMark(s step.Status) string {
	if s == step.Planned {
		return "+"
	}
	return "-"
}

// FormatReport is the one-line form of a step report.
func FormatReport(r step.Report, color bool) string {
	mark, status := "✓", string(r.Status)
	switch r.Status {
	case step.Failed:
		mark = "✗"
	case step.Planned:
		mark, status = "•", "would change"
	case step.Skipped:
		mark = "-"
	}
	if color {
		switch r.Status {
		case step.Failed:
			mark = "\033[31m" + mark + "\033[0m"
		case step.Changed:
			mark = "\033[32m" + mark + "\033[0m"
		case step.Unchanged:
			mark = "\033[2m" + mark + "\033[0m"
		}
	}
	msg := r.Message
	if r.Status == step.Failed {
		msg = r.Error
	}
	s := fmt.Sprintf("%s %-14s %-9s %s", mark, r.Name, status, indent(msg, strings.Repeat(" ", 27)))
	if r.Status != step.Skipped {
		s += fmt.Sprintf(" (%s)", round(r.Duration))
	}
	return strings.TrimRight(s, " ")
}

func indent(s, prefix string) string { return strings.ReplaceAll(s, "\n", "\n"+prefix) }

func round(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(10 * time.Millisecond).String()
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}

// Warnf prints a warning line on stderr.
func (s *Status) Warnf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live && s.active != nil {
		fmt.Fprint(s.w, "\r\033[K")
	}
	fmt.Fprintf(s.w, "! "+format+"\n", args...)
}

// Infof prints an informational line on stderr.
func (s *Status) Infof(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live && s.active != nil {
		fmt.Fprint(s.w, "\r\033[K")
	}
	fmt.Fprintf(s.w, format+"\n", args...)
}
