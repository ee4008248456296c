// Package lab runs a real Kubernetes control plane on 127.0.0.1 (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kwok fake nodes
// and the real amazon-eks-pod-identity-webhook) for podid's tests and demos,
// and connects it to internal/fakeaws as that fake's ClusterBackend.
package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Versions of the lab's components. They must match the go.mod files under
// internal/lab/tools; the cache key also hashes those files.
const (
	KubernetesVersion = "v1.35.4"
	EtcdVersion       = "v3.6.5"
	KwokVersion       = "v0.8.0"
	WebhookVersion    = "v0.6.17"
)

// Binary names inside a bin directory.
const (
	BinEtcd       = "etcd"
	BinAPIServer  = "kube-apiserver"
	BinController = "kube-controller-manager"
	BinScheduler  = "kube-scheduler"
	BinKwok       = "kwok"
	BinWebhook    = "amazon-eks-pod-identity-webhook"
	// KwokStagesFile is the kwok stage configuration made from the kwok module.
	KwokStagesFile = "kwok-stages.yaml"
)

// target is one binary to build.
type target struct {
	name    string // binary name
	tool    string // tools/<tool> module
	pkg     string // package to build
	ldflags string
}

func targets() []target {
	const v = "k8s.io/component-base/version"
	k8sLDF := fmt.Sprintf("-s -w -X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=35 -X %s.gitTreeState=clean",
		v, KubernetesVersion, v, v, v)
	return []target{
		{BinAPIServer, "k8s", "k8s.io/kubernetes/cmd/kube-apiserver", k8sLDF},
		{BinController, "k8s", "k8s.io/kubernetes/cmd/kube-controller-manager", k8sLDF},
		{BinScheduler, "k8s", "k8s.io/kubernetes/cmd/kube-scheduler", k8sLDF},
		{BinEtcd, "etcd", "go.etcd.io/etcd/server/v3", "-s -w"},
		{BinKwok, "kwok", "sigs.k8s.io/kwok/cmd/kwok", "-s -w"},
		{BinWebhook, "webhook", "github.com/aws/amazon-eks-pod-identity-webhook", "-s -w"},
	}
}

// kwokStages are the files of the kwok module's kustomize/stage folder that
// make up the stage file, in order.
var kwokStages = []string{
	"node/fast/node-initialize.yaml",
	"node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
	"pod/fast/pod-ready.yaml",
	"pod/fast/pod-complete.yaml",
	"pod/fast/pod-delete.yaml",
}

// RepoRoot finds the checkout of github.com/podid/podid: it walks up from the
// working directory to a go.mod of that module, then tries the directory of
// this source file (works for binaries built without -trimpath).
func RepoRoot() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			b, err := os.ReadFile(filepath.Join(d, "go.mod"))
			if err == nil && isPodidModule(b) {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", errors.New("find the podid checkout: no go.mod of module github.com/podid/podid above the working directory; run from inside the repository")
}

func isPodidModule(gomod []byte) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "module" && f[1] == "github.com/podid/podid" {
			return true
		}
	}
	return false
}

// ToolsDir is the folder of the nested tool modules inside the checkout.
func ToolsDir(repoRoot string) string {
	return filepath.Join(repoRoot, "internal", "lab", "tools")
}

// CacheKey names the per-version bin cache: component versions, the Go
// version and a hash of the tool modules' go.mod and go.sum files.
func CacheKey(toolsDir string) (string, error) {
	h := sha256.New()
	for _, tool := range []string{"etcd", "k8s", "kwok", "webhook"} {
		for _, f := range []string{"go.mod", "go.sum"} {
			p := filepath.Join(toolsDir, tool, f)
			b, err := os.ReadFile(p)
			if err != nil {
				return "", fmt.Errorf("read lab tool module file %s: %w (the checkout is incomplete; restore internal/lab/tools)", p, err)
			}
			fmt.Fprintf(h, "%s/%s %d\n", tool, f, len(b))
			h.Write(b)
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))[:12]
	return fmt.Sprintf("k8s%s-etcd%s-kwok%s-webhook%s-%s-%s",
		KubernetesVersion, EtcdVersion, KwokVersion, WebhookVersion, runtime.Version(), sum), nil
}

// CacheBinDir is os.UserCacheDir()/podid-lab/<key>/bin.
func CacheBinDir(toolsDir string) (string, error) {
	key, err := CacheKey(toolsDir)
	if err != nil {
		return "", err
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the user cache folder for the lab binaries: %w (set XDG_CACHE_HOME or HOME)", err)
	}
	return filepath.Join(base, "podid-lab", key, "bin"), nil
}

// Missing lists the files of binDir that a lab needs and that do not exist yet.
func Missing(binDir string) []string {
	var missing []string
	for _, t := range targets() {
		if !nonEmpty(filepath.Join(binDir, t.name)) {
			missing = append(missing, t.name)
		}
	}
	if !nonEmpty(filepath.Join(binDir, KwokStagesFile)) {
		missing = append(missing, KwokStagesFile)
	}
	return missing
}

func nonEmpty(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Size() > 0
}

// Build makes sure the per-version cache holds every lab binary and the kwok
// stage file, building what is missing with the local Go toolchain. Progress
// goes to progress (may be nil). It returns the bin folder. Concurrent callers
// (two test binaries, a test and `podid-lab up`) serialise on a file lock, so
// nothing is built twice.
func Build(ctx context.Context, progress io.Writer, repoRoot string) (string, error) {
	if progress == nil {
		progress = io.Discard
	}
	toolsDir := ToolsDir(repoRoot)
	binDir, err := CacheBinDir(toolsDir)
	if err != nil {
		return "", err
	}
	if len(Missing(binDir)) == 0 {
		return binDir, nil
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", fmt.Errorf("create lab bin cache %s: %w", binDir, err)
	}
	unlock, err := lockFile(ctx, progress, filepath.Join(filepath.Dir(binDir), "lock"))
	if err != nil {
		return "", err
	}
	defer unlock()

	missing := map[string]bool{}
	for _, m := range Missing(binDir) {
		missing[m] = true
	}
	if len(missing) == 0 {
		return binDir, nil // someone else built it while we waited
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("lab binaries missing from %s and no go command on PATH to build them: %w (install Go ≥ 1.26.5)", binDir, err)
	}
	all := targets()
	start := time.Now()
	for i, t := range all {
		if !missing[t.name] {
			continue
		}
		label := fmt.Sprintf("building %s (%d/%d)", t.name, i+1, len(all))
		args := []string{"build", "-trimpath", "-ldflags", t.ldflags, "-o", filepath.Join(binDir, "."+t.name+".tmp"), t.pkg}
		err := runWithProgress(ctx, progress, label, filepath.Join(toolsDir, t.tool), goBin, args...)
		if err != nil {
			return "", fmt.Errorf("build lab binary %s from %s: %w", t.name, filepath.Join(toolsDir, t.tool), err)
		}
		if err := os.Rename(filepath.Join(binDir, "."+t.name+".tmp"), filepath.Join(binDir, t.name)); err != nil {
			return "", fmt.Errorf("install lab binary %s: %w", t.name, err)
		}
	}
	if missing[KwokStagesFile] {
		if err := writeKwokStages(ctx, goBin, filepath.Join(toolsDir, "kwok"), binDir); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(progress, "lab binaries ready in %s (%s)\n", binDir, time.Since(start).Round(time.Second))
	return binDir, nil
}

// buildEnv is the environment of every go command the lab runs.
func buildEnv() []string {
	env := []string{"GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOFLAGS=-modcacherw -buildvcs=false"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOTOOLCHAIN", "CGO_ENABLED", "GOFLAGS", "GOWORK", "GOOS", "GOARCH":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOWORK=off")
}

// runWithProgress runs a go command and prints label with the elapsed time
// every 10 s until it ends.
func runWithProgress(ctx context.Context, w io.Writer, label, dir, name string, args ...string) error {
	fmt.Fprintf(w, "%s…\n", label)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = buildEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("%w\n%s", err, tail(out.String(), 4000))
			}
			fmt.Fprintf(w, "%s… done in %s\n", label, time.Since(start).Round(time.Second))
			return nil
		case <-tick.C:
			fmt.Fprintf(w, "%s… %s\n", label, time.Since(start).Round(time.Second))
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// writeKwokStages concatenates the kwok module's stage files into
// binDir/kwok-stages.yaml.
func writeKwokStages(ctx context.Context, goBin, kwokTool, binDir string) error {
	dir, err := moduleDir(ctx, goBin, kwokTool, "sigs.k8s.io/kwok")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, f := range kwokStages {
		p := filepath.Join(dir, "kustomize", "stage", filepath.FromSlash(f))
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read kwok stage %s: %w (the kwok module in the module cache is incomplete; run `go mod download sigs.k8s.io/kwok` in %s)", p, err, kwokTool)
		}
		buf.WriteString("---\n")
		buf.Write(b)
		if !bytes.HasSuffix(b, []byte("\n")) {
			buf.WriteByte('\n')
		}
	}
	return writeFileAtomic(filepath.Join(binDir, KwokStagesFile), buf.Bytes(), 0o644)
}

// moduleDir finds a dependency's folder in the module cache, downloading it if needed.
func moduleDir(ctx context.Context, goBin, dir, module string) (string, error) {
	var mod struct{ Dir string }
	for _, args := range [][]string{{"list", "-m", "-json", module}, {"mod", "download", "-json", module}} {
		cmd := exec.CommandContext(ctx, goBin, args...)
		cmd.Dir = dir
		cmd.Env = buildEnv()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("go %s in %s: %w: %s", strings.Join(args, " "), dir, err, stderr.String())
		}
		if err := json.Unmarshal(out, &mod); err != nil {
			return "", fmt.Errorf("parse output of go %s: %w", strings.Join(args, " "), err)
		}
		if mod.Dir != "" {
			return mod.Dir, nil
		}
	}
	return "", fmt.Errorf("module %s has no folder in the module cache after go mod download (in %s)", module, dir)
}

// lockFile takes an exclusive flock on path, telling w when it has to wait.
func lockFile(ctx context.Context, w io.Writer, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lab build lock %s: %w", path, err)
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock lab build cache %s: %w", path, err)
		}
		if !told {
			fmt.Fprintf(w, "another process is building the lab binaries (lock %s); waiting…\n", path)
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lab build lock %s: %w", path, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// writeFileAtomic writes data to a temp file next to path and renames it over path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp, perm)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
