// Package stream moves a database dump between a dump tool and a repository
// without a copy on disk: Backup pipes the tool's stdout straight into
// `restic backup --stdin` (restic reads the pipe itself), and Restore pipes
// `restic dump` into the restore tool's stdin.
//
// Both wait for both processes and check both exit statuses. A dump that
// fails (non-zero exit, killed) never becomes a snapshot: restic has saved
// whatever the truncated stream held by then, so that snapshot is forgotten
// before Backup returns its error.
//
// The tools run with the same CPU and I/O priorities as restic (package
// mover/trampoline), in their own process group, and are killed with their
// parent. Secrets reach them only through the environment (Tool.Env) or
// files the caller writes with mode 0600, never argv; the tools' stderr is
// redacted before it appears in an error.
package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"trove.dev/trove/mover"
	"trove.dev/trove/mover/restic"
	"trove.dev/trove/mover/trampoline"
)

// Tool is one run of a dump or restore tool.
type Tool struct {
	// Path is the executable (a name is looked up in PATH).
	Path string
	Args []string
	// Env is added to the process environment; secrets go here.
	Env []string
	// Secrets are values removed from the tool's stderr before it is shown.
	Secrets []string
	// Stdout receives a restore tool's output (nil discards it); a dump
	// tool's stdout is the stream.
	Stdout io.Writer
}

// Name is the tool's base name, for messages.
func (t Tool) Name() string { return filepath.Base(t.Path) }

// String is the command line, for logs and tests (argv holds no secret).
func (t Tool) String() string { return strings.Join(append([]string{t.Name()}, t.Args...), " ") }

// Priority is the CPU and I/O priority of the tool (nil fields leave the
// caller's); the mover's restic gets the same through restic.Throttle.
type Priority struct {
	Nice        *int
	IOClass     *int
	IOClassData int
}

// ToolError is a tool that failed: its exit code (-1 when killed by a signal)
// and the end of its stderr, redacted.
type ToolError struct {
	Tool     string
	ExitCode int
	Signal   string
	Stderr   string
	Err      error
}

func (e *ToolError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s failed", e.Tool)
	switch {
	case e.Signal != "":
		fmt.Fprintf(&b, ": killed by signal %s", e.Signal)
	case e.ExitCode >= 0:
		fmt.Fprintf(&b, ": exit status %d", e.ExitCode)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		fmt.Fprintf(&b, ": %s", s)
	}
	return b.String()
}

func (e *ToolError) Unwrap() error { return e.Err }

// BackupRequest is a dump streamed into a snapshot.
type BackupRequest struct {
	Dump     Tool
	Priority Priority
	// Backup says how the snapshot is made (StdinFilename, Host, Tags,
	// Progress); its Stdin and Paths are set by Backup.
	Backup mover.BackupRequest
	// OnStart is told the dump tool's pid (for tests).
	OnStart func(pid int)
}

// Backup runs the dump tool with its stdout piped into m.Backup. It returns
// the snapshot only when both the tool and restic succeeded. When the tool
// failed, the error is a *ToolError and the snapshot restic made from the
// truncated stream has been forgotten (if forgetting failed too, the error
// says so and names the snapshot).
func Backup(ctx context.Context, m mover.Mover, req BackupRequest) (*mover.BackupResult, error) {
	if req.Backup.StdinFilename == "" {
		return nil, errors.New("stream: StdinFilename is required")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	toolCtx, stopTool := context.WithCancel(ctx)
	defer stopTool()
	cmd, stderr, err := command(toolCtx, req.Dump, req.Priority)
	if err != nil {
		_ = pr.Close()
		_ = pw.Close()
		return nil, err
	}
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		_ = pr.Close()
		_ = pw.Close()
		return nil, &ToolError{Tool: req.Dump.Name(), ExitCode: -1, Err: err}
	}
	// Only the tool writes: restic sees EOF when the tool exits.
	_ = pw.Close()
	if req.OnStart != nil {
		req.OnStart(cmd.Process.Pid)
	}
	toolDone := make(chan error, 1)
	go func() { toolDone <- cmd.Wait() }()

	breq := req.Backup
	breq.Stdin, breq.Paths = pr, nil
	res, backupErr := m.Backup(ctx, breq)
	// restic is gone: a tool still writing gets EPIPE instead of blocking.
	_ = pr.Close()
	resticFailed := backupErr != nil && mover.KindOf(backupErr) != mover.KindPartial
	if resticFailed {
		stopTool()
	}
	toolErr := toolError(req.Dump, <-toolDone, stderr, ctx)

	if toolErr == nil && backupErr == nil {
		return res, nil
	}
	switch {
	case resticFailed:
		// The tool's failure, if any, is only the broken pipe or our stop.
		err = fmt.Errorf("restic backup of the %s stream: %w", req.Dump.Name(), backupErr)
	case toolErr != nil:
		err = toolErr
	default:
		err = fmt.Errorf("restic backup of the %s stream: %w", req.Dump.Name(), backupErr)
	}
	if res != nil && res.SnapshotID != "" {
		// A snapshot of an incomplete or failed stream must not look like a backup.
		if ferr := m.ForgetSnapshots(context.WithoutCancel(ctx), []string{res.SnapshotID}); ferr != nil {
			return nil, errors.Join(err,
				fmt.Errorf("the incomplete snapshot %s could not be removed, forget it by hand: %w", res.SnapshotID, ferr))
		}
	}
	return nil, err
}

// RestoreRequest is a snapshot's file streamed into a restore tool.
type RestoreRequest struct {
	Dump     mover.DumpRequest
	Restore  Tool
	Priority Priority
	OnStart  func(pid int)
}

// Restore pipes m.Dump into the restore tool's stdin and waits for both. A
// tool that fails is reported as a *ToolError (before restic's error, which
// then is only the broken pipe).
func Restore(ctx context.Context, m mover.Mover, req RestoreRequest) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	toolCtx, stopTool := context.WithCancel(ctx)
	defer stopTool()
	cmd, stderr, err := command(toolCtx, req.Restore, req.Priority)
	if err != nil {
		_ = pr.Close()
		_ = pw.Close()
		return err
	}
	cmd.Stdin = pr
	if req.Restore.Stdout != nil {
		cmd.Stdout = req.Restore.Stdout
	}
	if err := cmd.Start(); err != nil {
		_ = pr.Close()
		_ = pw.Close()
		return &ToolError{Tool: req.Restore.Name(), ExitCode: -1, Err: err}
	}
	_ = pr.Close()
	if req.OnStart != nil {
		req.OnStart(cmd.Process.Pid)
	}
	toolDone := make(chan error, 1)
	go func() { toolDone <- cmd.Wait() }()

	dumpErr := m.Dump(ctx, req.Dump, pw)
	// EOF for the tool: it finishes its input.
	_ = pw.Close()
	stopped := dumpErr != nil && !isBrokenPipe(dumpErr)
	if stopped {
		// What the tool got is incomplete; stop it rather than let it commit.
		stopTool()
	}
	toolErr := toolError(req.Restore, <-toolDone, stderr, ctx)
	switch {
	case stopped:
		return fmt.Errorf("restic dump into %s: %w", req.Restore.Name(), dumpErr)
	case toolErr != nil:
		// restic's error, if any, is the pipe the failed tool closed.
		return toolErr
	case dumpErr != nil:
		return fmt.Errorf("restic dump into %s: %w", req.Restore.Name(), dumpErr)
	}
	return nil
}

func isBrokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE) || strings.Contains(err.Error(), "broken pipe")
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.ToValidUTF8(t.b, nil))
}

// command builds the tool's process: through the trampoline when a priority
// is set, in its own process group, killed with its parent, SIGTERM then
// SIGKILL on cancellation.
func command(ctx context.Context, t Tool, p Priority) (*exec.Cmd, *tailBuffer, error) {
	bin := t.Path
	if !strings.Contains(bin, "/") {
		found, err := exec.LookPath(bin)
		if err != nil {
			return nil, nil, &ToolError{Tool: t.Name(), ExitCode: -1,
				Err: fmt.Errorf("not found in PATH: the image running this Function must carry %s: %w", t.Name(), err)}
		}
		bin = found
	}
	path, argv, extraEnv, err := trampoline.Command(trampoline.Spec{Nice: p.Nice, IOClass: p.IOClass, IOClassData: p.IOClassData}, bin, t.Args)
	if err != nil {
		return nil, nil, fmt.Errorf("running %s: %w", t.Name(), err)
	}
	stderr := &tailBuffer{max: 16 << 10}
	cmd := exec.CommandContext(ctx, path)
	cmd.Args = argv
	cmd.Env = append(append(os.Environ(), t.Env...), extraEnv...)
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd, stderr, nil
}

func toolError(t Tool, err error, stderr *tailBuffer, ctx context.Context) error {
	if err == nil {
		return nil
	}
	te := &ToolError{Tool: t.Name(), ExitCode: -1, Stderr: lastLines(restic.NewRedactor(t.Secrets).String(stderr.String()), 10)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			te.Signal = ws.Signal().String()
		} else {
			te.ExitCode = ee.ExitCode()
		}
	} else {
		te.Err = err
	}
	if ctx.Err() != nil {
		te.Err = errors.Join(te.Err, ctx.Err())
	}
	return te
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
