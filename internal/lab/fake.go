package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// FakeState records the background fakeaws process of a lab started by
// `podid-lab up` (Dir/run/fake.json).
type FakeState struct {
	Process
}

const fakeFile = "fake.json"

// LoadFake reads the fake's record of the lab in dir.
func LoadFake(dir string) (*FakeState, error) {
	p := filepath.Join(RunDir(dir), fakeFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read fake AWS state %s: %w", p, err)
	}
	var f FakeState
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse fake AWS state %s: %w", p, err)
	}
	return &f, nil
}

// SaveFake records the fake's process for the lab in dir.
func SaveFake(dir string, f FakeState) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(RunDir(dir), fakeFile), b, 0o600)
}

// SpawnDetached starts bin in its own session with output appended to logPath
// (stdin from /dev/null), the way the lab starts its own processes.
func SpawnDetached(name, bin string, args []string, logPath string) (Process, error) {
	return spawn(name, bin, args, cleanEnv(), logPath)
}
