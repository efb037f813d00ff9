// Package trampoline launches restic (or any tool) with the process settings
// a work item asks for, applied by a re-exec of the current binary before the
// tool's own code runs.
//
// The parent starts os.Executable() with the environment variable EnvSpec
// holding a JSON Spec and argv = [tool, args...]. MaybeRun, called first thing
// by every main (and by the TestMain of every package that runs restic
// through the mover), notices the variable, applies each step of the Spec to
// its own thread, and execve()s the tool, which keeps the pid and the settings.
//
// Steps run in order (see steps below): today the CPU priority (nice) and the
// I/O priority (ioprio). The extension point for the mount isolation of a
// later issue (unshare a private mount namespace, bind-mount the volume
// read-only at a stable path) is a new step in that list, fed by a new field
// of Spec; nothing else changes.
package trampoline

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// EnvSpec is the environment variable that marks a trampoline run.
const EnvSpec = "TROVE_TRAMPOLINE"

// I/O scheduling classes (linux/ioprio.h).
const (
	IOClassRealtime   = 1
	IOClassBestEffort = 2
	IOClassIdle       = 3
)

const (
	ioprioWhoProcess = 1
	ioprioClassShift = 13
)

// Spec is what the trampoline applies before it executes the tool.
type Spec struct {
	// Nice is the CPU nice value (-20..19); nil leaves it unchanged.
	Nice *int `json:"nice,omitempty"`
	// IOClass (1 realtime, 2 best-effort, 3 idle) and IOClassData (0..7);
	// nil IOClass leaves the I/O priority unchanged.
	IOClass     *int `json:"ioClass,omitempty"`
	IOClassData int  `json:"ioClassData,omitempty"`
	// Mounts are presented to the tool only, in its own mount namespace.
	Mounts []Mount `json:"mounts,omitempty"`
}

// Empty reports whether the Spec changes nothing (the tool can run directly).
func (s Spec) Empty() bool { return s.Nice == nil && s.IOClass == nil && len(s.Mounts) == 0 }

// Validate checks the ranges the kernel accepts.
func (s Spec) Validate() error {
	if s.Nice != nil && (*s.Nice < -20 || *s.Nice > 19) {
		return fmt.Errorf("nice %d out of range -20..19", *s.Nice)
	}
	if err := validateMounts(s.Mounts); err != nil {
		return err
	}
	if s.IOClass != nil {
		if *s.IOClass < IOClassRealtime || *s.IOClass > IOClassIdle {
			return fmt.Errorf("I/O class %d out of range 1..3", *s.IOClass)
		}
		if s.IOClassData < 0 || s.IOClassData > 7 {
			return fmt.Errorf("I/O class data %d out of range 0..7", s.IOClassData)
		}
	}
	return nil
}

// step changes the calling thread; the tool inherits it through execve.
type step func(Spec) error

// steps run in this order: the mounts first, then the priorities.
var steps = []step{isolate, setNice, setIOPriority}

func setNice(s Spec) error {
	if s.Nice == nil {
		return nil
	}
	if err := unix.Setpriority(unix.PRIO_PROCESS, 0, *s.Nice); err != nil {
		return fmt.Errorf("setpriority %d: %w", *s.Nice, err)
	}
	return nil
}

func setIOPriority(s Spec) error {
	if s.IOClass == nil {
		return nil
	}
	if err := SetIOPriority(0, *s.IOClass, s.IOClassData); err != nil {
		return fmt.Errorf("ioprio_set class %d data %d: %w", *s.IOClass, s.IOClassData, err)
	}
	return nil
}

// SetIOPriority calls ioprio_set(IOPRIO_WHO_PROCESS, pid, class<<13|data);
// pid 0 is the calling thread.
func SetIOPriority(pid, class, data int) error {
	v := class<<ioprioClassShift | data
	if _, _, errno := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(pid), uintptr(v)); errno != 0 {
		return errno
	}
	return nil
}

// IOPriority returns the I/O class and data of a thread or process (ioprio_get).
func IOPriority(pid int) (class, data int, err error) {
	r, _, errno := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(pid), 0)
	if errno != 0 {
		return 0, 0, errno
	}
	return int(r) >> ioprioClassShift, int(r) & (1<<ioprioClassShift - 1), nil
}

var ready atomic.Bool

// MaybeRun turns the process into the trampoline when EnvSpec is set: it
// applies the Spec and execs the tool, and never returns. Otherwise it records
// that this binary can serve as a trampoline and returns.
func MaybeRun() {
	raw, ok := os.LookupEnv(EnvSpec)
	if !ok {
		ready.Store(true)
		return
	}
	if err := run(raw, os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "trove trampoline: %v\n", err)
		os.Exit(127)
	}
}

func run(raw string, args []string) error {
	if len(args) < 2 {
		return errors.New("no tool to run")
	}
	var spec Spec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return fmt.Errorf("bad %s: %w", EnvSpec, err)
	}
	// Priorities are per thread on Linux: apply them on the thread that execs.
	runtime.LockOSThread()
	for _, s := range steps {
		if err := s(spec); err != nil {
			return err
		}
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if len(kv) > len(EnvSpec) && kv[:len(EnvSpec)+1] == EnvSpec+"=" {
			continue
		}
		env = append(env, kv)
	}
	if err := unix.Exec(args[1], args[1:], env); err != nil {
		return fmt.Errorf("exec %s: %w", args[1], err)
	}
	return nil
}

// ErrNotReady means MaybeRun was never called in this process, so re-executing
// it would not reach the trampoline.
var ErrNotReady = errors.New("trampoline: MaybeRun was not called by this binary's main (or TestMain)")

// Command returns the path, argv and extra environment that run tool with
// args under spec. With an empty spec the tool runs directly.
func Command(spec Spec, tool string, args []string) (path string, argv []string, env []string, err error) {
	if err := spec.Validate(); err != nil {
		return "", nil, nil, err
	}
	if spec.Empty() {
		return tool, append([]string{tool}, args...), nil, nil
	}
	if !ready.Load() {
		return "", nil, nil, ErrNotReady
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, nil, fmt.Errorf("trampoline: %w", err)
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return "", nil, nil, err
	}
	return self, append([]string{self, tool}, args...), []string{EnvSpec + "=" + string(raw)}, nil
}
