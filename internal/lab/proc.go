package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is one process of a running lab, as recorded in the state file.
type Process struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Exe  string `json:"exe"` // absolute path of the binary started; guards against PID reuse
	Log  string `json:"log,omitempty"`
	URL  string `json:"url,omitempty"` // where it serves, if anywhere
}

// spawn starts bin detached in its own session, with stdin from /dev/null and
// stdout/stderr appended to logPath. The child is reaped in the background so
// it never lingers as a zombie of this process.
func spawn(name, bin string, args, env []string, logPath string) (Process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Process{}, fmt.Errorf("open log of %s: %w", name, err)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return Process{}, err
	}
	defer devnull.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Process{}, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	go func() { _ = cmd.Wait() }()
	return Process{Name: name, PID: cmd.Process.Pid, Exe: bin, Log: logPath}, nil
}

// Alive reports whether p still runs the binary it was started with. A
// zombie counts as dead; so does a PID that now belongs to another program.
func (p Process) Alive() bool {
	if p.PID <= 0 {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.PID))
	if err != nil {
		return false // gone, or a zombie (whose exe link cannot be read)
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	if p.Exe != "" && filepath.Clean(exe) != filepath.Clean(p.Exe) {
		return false
	}
	return procState(p.PID) != 'Z'
}

// RSS returns the resident set size in bytes, or 0 when unknown.
func (p Process) RSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// procState returns the state letter of /proc/<pid>/stat, or 0.
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// stopProcesses sends TERM to each live process in reverse order, waits up to
// grace for all of them, then KILLs what is left and waits for it to vanish.
// Processes that are gone or that now run another binary are left alone.
func stopProcesses(ctx context.Context, procs []Process, grace time.Duration) error {
	var live []Process
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if !p.Alive() {
			continue
		}
		if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop %s (pid %d): %w", p.Name, p.PID, err)
		}
		live = append(live, p)
	}
	deadline := time.Now().Add(grace)
	for len(live) > 0 {
		var still []Process
		for _, p := range live {
			if p.Alive() {
				still = append(still, p)
			}
		}
		live = still
		if len(live) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, p := range live {
				_ = syscall.Kill(p.PID, syscall.SIGKILL)
			}
			deadline = time.Now().Add(5 * time.Second)
			grace = 0
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stop lab processes: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if grace == 0 && time.Now().After(deadline) {
			var names []string
			for _, p := range live {
				names = append(names, fmt.Sprintf("%s (pid %d)", p.Name, p.PID))
			}
			return fmt.Errorf("lab processes survived SIGKILL: %s", strings.Join(names, ", "))
		}
	}
	return nil
}

// cleanEnv is the environment for lab processes: ours without any ETCD_*
// variable (etcd reads them as flags) and without KUBECONFIG.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ETCD_") || strings.HasPrefix(kv, "KUBECONFIG=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
