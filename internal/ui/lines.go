package ui

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/podid/podid/internal/step"
)

// Lines returns the step-line renderer of commands whose entries run at the
// same time (apply): one plain line per step, prefixed with the entry, one
// line at a time on w.
func Lines(w io.Writer, color bool) func(prefix string) step.Sink {
	mu := &sync.Mutex{}
	return func(prefix string) step.Sink { return &prefixSink{w: w, mu: mu, prefix: prefix, color: color} }
}

type prefixSink struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
	color  bool
}

func (s *prefixSink) Start(name string) step.Line { return &prefixLine{s: s, name: name} }

type prefixLine struct {
	s       *prefixSink
	name    string
	waiting string
}

func (l *prefixLine) Waiting(what string) {
	if what == l.waiting {
		return
	}
	l.waiting = what
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	fmt.Fprintf(l.s.w, "%s • %-14s %s\n", l.s.prefix, l.name, what)
}

func (l *prefixLine) Done(r step.Report) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	fmt.Fprintf(l.s.w, "%s %s\n", l.s.prefix, FormatReport(r, l.s.color))
	for _, c := range r.Changes {
		fmt.Fprintf(l.s.w, "%s     %s\n", l.s.prefix, strings.ReplaceAll(c, "\n", "\n"+l.s.prefix+"     "))
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(l.s.w, "%s     ! %s\n", l.s.prefix, w)
	}
	if r.Status == step.Failed && r.Hint != "" {
		fmt.Fprintf(l.s.w, "%s     hint: %s\n", l.s.prefix, r.Hint)
	}
}
