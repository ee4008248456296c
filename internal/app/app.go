// Package app is podid's entry point: signals, the root command, and the one
// place where errors become exit codes and hints.
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/podid/podid/internal/cmd/root"
	"github.com/podid/podid/internal/cmdutil"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/flow"
	"github.com/podid/podid/internal/iostreams"
	"github.com/podid/podid/internal/ui"
)

// Version is set at build time with -ldflags "-X github.com/podid/podid/internal/app.Version=…".
var Version = "dev"

// Commit is the source commit, set at build time with -ldflags "-X github.com/podid/podid/internal/app.Commit=…".
var Commit = ""

// Main runs podid and returns the process exit code.
func Main() int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		cancel(fmt.Errorf("%w by %s", errInterrupted, s))
		// A second signal kills at once.
		if _, ok := <-sigs; ok {
			os.Exit(int(fail.KindInterrupted))
		}
	}()
	defer signal.Stop(sigs)
	return Run(ctx, iostreams.System(), os.Args[1:])
}

var errInterrupted = errors.New("interrupted")

// Run runs podid with args and returns the exit code. It is Main without the
// process: tests call it directly.
func Run(ctx context.Context, ios *iostreams.IOStreams, args []string) int {
	f := cmdutil.NewFactory(ios, Version)
	f.Commit = Commit
	return RunWith(ctx, f, args)
}

// RunWith runs podid with a prepared factory (tests inject AWS clients that
// point at the fake).
func RunWith(ctx context.Context, f *cmdutil.Factory, args []string) int {
	ios := f.IO
	cmd := root.NewCmd(f)
	cmd.SetArgs(args)
	cmd.SetOut(ios.Out)
	cmd.SetErr(ios.ErrOut)
	ran, err := cmd.ExecuteContextC(ctx)
	if err != nil && context.Cause(ctx) != nil && errors.Is(context.Cause(ctx), errInterrupted) {
		err = fail.WithKind(err, fail.KindInterrupted)
	}
	if err == nil {
		return 0
	}
	err = classify(err)
	if !cmdutil.IsShown(err) {
		// An error before the command's run (flags, input): shown here,
		// keeping the one-document rule for -o json.
		name := ""
		if ran != nil {
			name = ran.Name()
		}
		ui.Render(ios, f.Globals.JSON(), flow.Outcome{Command: name, Cluster: f.Globals.Cluster, Err: err})
	}
	return fail.ExitCode(err)
}

// classify turns cobra's own argument errors into usage errors.
func classify(err error) error {
	var fe *fail.Error
	if errors.As(err, &fe) {
		return err
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.HasPrefix(msg, p) || strings.Contains(msg, " "+p) {
			return fail.Usagef("run podid --help (or podid COMMAND --help) for the usage", "%s", msg)
		}
	}
	return err
}
