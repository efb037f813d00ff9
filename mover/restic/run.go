package restic

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"trove.dev/trove/mover"
	"trove.dev/trove/mover/trampoline"
)

// invocation is one run of restic.
type invocation struct {
	cmd Command
	// stdin feeds `backup --stdin`.
	stdin io.Reader
	// onMessage receives each JSON line of stdout; when nil, stdout goes to
	// rawOut or is collected into runOutput.stdout.
	onMessage func(message)
	rawOut    io.Writer
	// onStart is called with restic's pid once it runs.
	onStart func(pid int)
	// progress is how often restic prints status lines; zero means rarely.
	progress time.Duration
}

// runOutput is what a finished restic run left behind.
type runOutput struct {
	exitCode int // -1 when killed by a signal
	stdout   []byte
	// stderr is restic's plain-text diagnostics, redacted and bounded.
	stderr string
	// exitMessage is the message of restic's exit_error line, redacted.
	exitMessage string
	// errors are restic's JSON error lines (unreadable items), redacted.
	errors []mover.ItemError
	// backendGaveUp is set when the mover stopped restic because the backend
	// failed for longer than Config.BackendTimeout (KindBackendUnreachable)
	// or with an error that retrying cannot fix (e.g. KindRepositoryMissing).
	backendGaveUp mover.Kind
	interrupted   bool
	// writeErr is the error of the writer that received stdout (rawOut).
	writeErr error
}

const maxStderr = 64 << 10

// run starts restic, feeds it, parses its output and waits for it. On ctx
// cancellation it sends SIGINT to restic's process group, waits the grace
// period, then SIGKILLs the group. It returns only after the process and every
// goroutine it started are gone.
func (m *Restic) run(ctx context.Context, env *Environment, inv invocation) (*runOutput, error) {
	path, argv, extraEnv, err := trampoline.Command(m.cfg.spec(), m.cfg.Binary, inv.cmd.Args)
	if err != nil {
		return nil, &mover.Error{Kind: mover.KindInvalid, Op: inv.cmd.Name, ExitCode: -1, Err: err}
	}
	redact := NewRedactor(env.Secrets)
	cmd := &exec.Cmd{
		Path: path,
		Args: argv,
		Env:  m.processEnv(env, extraEnv, inv.progress),
		// Its own process group (cancellation signals the group); killed with its
		// parent, so an agent that dies leaves no restic behind to race its retry.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
		// Safety net: if a pipe stays open after restic exits (a grandchild
		// such as ssh), stop waiting for it.
		WaitDelay: m.cfg.InterruptGrace + 5*time.Second,
	}
	if inv.cmd.Stdin {
		cmd.Stdin = inv.stdin
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	m.log.V(1).Info("running restic", "command", inv.cmd.Name, "args", redact.String(strings.Join(inv.cmd.Args, " ")))
	if err := cmd.Start(); err != nil {
		return nil, &mover.Error{Kind: mover.KindFatal, Op: inv.cmd.Name, ExitCode: -1, Err: fmt.Errorf("starting restic: %w", err)}
	}
	pid := cmd.Process.Pid
	if inv.onStart != nil {
		inv.onStart(pid)
	}
	if m.cfg.OnStart != nil {
		m.cfg.OnStart(inv.cmd.Name, pid)
	}

	out := &runOutput{}
	var (
		mu         sync.Mutex
		firstRetry time.Time // start of the current run of backend failures
	)
	abort := make(chan struct{})
	var abortOnce sync.Once
	abortKind := mover.KindBackendUnreachable
	stopBackend := func(k mover.Kind) {
		abortOnce.Do(func() {
			mu.Lock()
			abortKind = k
			mu.Unlock()
			close(abort)
		})
	}

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // stdout
		defer wg.Done()
		switch {
		case inv.onMessage != nil:
			r := bufio.NewReaderSize(stdout, 64<<10)
			for {
				line, err := r.ReadBytes('\n')
				if msg, ok := parseMessage(bytes.TrimSpace(line)); ok {
					if msg.MessageType == msgError {
						ie := msg.itemError()
						ie.Message, ie.Item = redact.String(ie.Message), redact.String(ie.Item)
						mu.Lock()
						out.errors = append(out.errors, ie)
						mu.Unlock()
					}
					inv.onMessage(msg)
				}
				if err != nil {
					return
				}
			}
		case inv.rawOut != nil:
			if _, err := io.Copy(inv.rawOut, stdout); err != nil {
				// The reader is gone (a restore tool that failed): stop restic
				// with SIGINT so it releases its lock, and drain its output so
				// it is not blocked writing meanwhile.
				mu.Lock()
				out.writeErr = err
				mu.Unlock()
				_ = syscall.Kill(-pid, syscall.SIGINT)
				_, _ = io.Copy(io.Discard, stdout)
			}
		default:
			out.stdout, _ = io.ReadAll(stdout)
		}
	}()
	go func() { // stderr
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		var buf strings.Builder
		for sc.Scan() {
			line := sc.Bytes()
			if msg, ok := parseMessage(line); ok {
				switch msg.MessageType {
				case msgExitError:
					mu.Lock()
					out.exitMessage = redact.String(msg.Message)
					mu.Unlock()
					continue
				case msgError:
					ie := msg.itemError()
					ie.Message, ie.Item = redact.String(ie.Message), redact.String(ie.Item)
					mu.Lock()
					out.errors = append(out.errors, ie)
					mu.Unlock()
					continue
				}
			}
			// restic clears the terminal line even when it is not a terminal.
			text := redact.String(strings.ReplaceAll(string(line), "\x1b[2K", ""))
			m.log.V(1).Info("restic", "command", inv.cmd.Name, "stderr", text)
			if buf.Len() < maxStderr {
				buf.WriteString(text)
				buf.WriteByte('\n')
			}
			mu.Lock()
			switch {
			case strings.Contains(text, "returned error, retrying after"):
				if firstRetry.IsZero() {
					firstRetry = time.Now()
				}
				if k := permanentBackendError(text); k != "" {
					mu.Unlock()
					stopBackend(k)
					mu.Lock()
				}
			case strings.Contains(text, "operation successful after"):
				firstRetry = time.Time{}
			}
			mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
		mu.Lock()
		out.stderr = buf.String()
		mu.Unlock()
	}()

	// Backend watchdog: the retry lines above only arrive when restic retries,
	// so also check the clock while restic is silent.
	done := make(chan struct{})
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				mu.Lock()
				gaveUp := m.cfg.BackendTimeout > 0 && !firstRetry.IsZero() && time.Since(firstRetry) > m.cfg.BackendTimeout
				mu.Unlock()
				if gaveUp {
					stopBackend(mover.KindBackendUnreachable)
				}
				continue
			case <-ctx.Done():
				mu.Lock()
				out.interrupted = true
				mu.Unlock()
			case <-abort:
				mu.Lock()
				out.backendGaveUp = abortKind
				mu.Unlock()
			}
			_ = syscall.Kill(-pid, syscall.SIGINT)
			select {
			case <-done:
			case <-time.After(m.cfg.InterruptGrace):
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
			return
		}
	}()

	wg.Wait()
	werr := cmd.Wait()
	close(done)
	<-killerDone
	// Whatever restic started in its group (ssh for sftp) goes with it.
	_ = syscall.Kill(-pid, syscall.SIGKILL)

	out.exitCode = 0
	if werr != nil {
		var ee *exec.ExitError
		if !errors.As(werr, &ee) {
			return out, &mover.Error{Kind: mover.KindFatal, Op: inv.cmd.Name, ExitCode: -1, Err: werr}
		}
		out.exitCode = ee.ExitCode()
	}
	if out.exitCode != 0 {
		m.log.Info("restic failed", "command", inv.cmd.Name, "exitCode", out.exitCode,
			"message", out.exitMessage, "interrupted", out.interrupted, "stoppedForBackend", string(out.backendGaveUp))
	}
	return out, nil
}

// processEnv is restic's whole environment: a small allow-list of the
// parent's (no stray credentials leak into restic) plus the backend's.
func (m *Restic) processEnv(env *Environment, extra []string, progress time.Duration) []string {
	vars := []string{"RESTIC_REPOSITORY=" + env.Repository}
	for _, k := range []string{"PATH", "TMPDIR", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"} {
		if v, ok := os.LookupEnv(k); ok {
			vars = append(vars, k+"="+v)
		}
	}
	// HOME is the private directory: nothing of the agent's home is read.
	vars = append(vars, "HOME="+env.Dir())
	// restic prints JSON status 60 times a second unless told otherwise.
	if progress <= 0 {
		progress = time.Minute
	}
	vars = append(vars, fmt.Sprintf("RESTIC_PROGRESS_FPS=%g", float64(time.Second)/float64(progress)))
	vars = append(vars, env.Vars...)
	return append(vars, extra...)
}

// classify turns a finished run into a typed error (nil on success).
func classify(op string, out *runOutput) error {
	msg := out.exitMessage
	if msg == "" {
		msg = strings.TrimSpace(lastLines(out.stderr, 10))
	}
	e := &mover.Error{Op: op, ExitCode: out.exitCode, Message: msg}
	switch {
	case out.backendGaveUp == mover.KindBackendUnreachable:
		e.Kind = mover.KindBackendUnreachable
		e.Message = "backend failed for longer than the backend timeout: " + strings.TrimSpace(lastLines(out.stderr, 3))
		return e
	case out.backendGaveUp != "":
		e.Kind = out.backendGaveUp
		e.Message = "backend error that retrying cannot fix: " + strings.TrimSpace(lastLines(out.stderr, 3))
		return e
	case out.interrupted:
		e.Kind = mover.KindInterrupted
		return e
	}
	switch out.exitCode {
	case 0:
		return nil
	case 3:
		e.Kind = mover.KindPartial
	case 10:
		e.Kind = mover.KindRepositoryMissing
	case 11:
		e.Kind = mover.KindLocked
	case 12:
		e.Kind = mover.KindWrongPassword
	case 130:
		e.Kind = mover.KindInterrupted
	default:
		e.Kind = kindFromText(msg + "\n" + out.stderr)
	}
	return e
}

// permanentBackendError recognizes, in one of restic's retry lines, a backend
// answer that retrying will not change, so the mover stops restic at once
// instead of letting it retry for 15 minutes.
func permanentBackendError(line string) mover.Kind {
	l := strings.ToLower(line)
	switch {
	case strings.Contains(l, "bucket does not exist"), strings.Contains(l, "nosuchbucket"):
		return mover.KindRepositoryMissing
	case strings.Contains(l, "access denied"), strings.Contains(l, "accessdenied"),
		strings.Contains(l, "invalidaccesskeyid"), strings.Contains(l, "access key id you provided does not exist"),
		strings.Contains(l, "signaturedoesnotmatch"), strings.Contains(l, "signature we calculated does not match"),
		strings.Contains(l, "401 unauthorized"):
		return mover.KindPermissionDenied
	}
	return ""
}

// kindFromText classifies restic's exit code 1 by its message.
func kindFromText(s string) mover.Kind {
	l := strings.ToLower(s)
	has := func(subs ...string) bool {
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				return true
			}
		}
		return false
	}
	switch {
	case has("wrong password", "no key found"):
		return mover.KindWrongPassword
	case has("repository does not exist", "unable to open config file", "nosuchbucket", "bucket does not exist"):
		return mover.KindRepositoryMissing
	case has("no space left on device", "disk quota exceeded", "xminiostoragefull", "storage full"):
		return mover.KindNoSpace
	case has("already locked", "unable to create lock"):
		return mover.KindLocked
	case has("permission denied", "access denied", "accessdenied", "forbidden", "invalidaccesskeyid", "signaturedoesnotmatch", "401 unauthorized"):
		return mover.KindPermissionDenied
	case has("connection refused", "no such host", "i/o timeout", "network is unreachable", "connection reset",
		"tls handshake", "dial tcp", "server misbehaving", "deadline exceeded", "unexpected eof"):
		return mover.KindBackendUnreachable
	}
	return mover.KindFatal
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
