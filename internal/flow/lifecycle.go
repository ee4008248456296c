package flow

import "github.com/podid/podid/internal/cmdutil"

// Session is the run's connection (cluster, AWS clients, Kubernetes client),
// for commands that build their own steps (disable, role create).
func (f *Flow) Session() *cmdutil.Session { return f.sess }

// Options are the run's options.
func (f *Flow) Options() Options { return f.opts }
