package restic_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trove.dev/trove/mover"
	"trove.dev/trove/mover/restic"
)

func TestEnsureRepositoryConcurrent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	repo := filepath.Join(mkdir(t, "race"), "repo")
	spec := restic.BackendSpec{Local: &restic.LocalBackend{Path: repo}}
	movers := []*restic.Restic{newMover(t, spec, nil), newMover(t, spec, nil)}
	created := make([]bool, len(movers))
	errs := make([]error, len(movers))
	var wg sync.WaitGroup
	for i, m := range movers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			created[i], errs[i] = m.EnsureRepository(ctx)
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	assert.True(t, created[0] != created[1], "exactly one caller creates the repository: %v", created)
	keys, err := os.ReadDir(filepath.Join(repo, "keys"))
	require.NoError(t, err)
	assert.Len(t, keys, 1, "one key, from one init")
	_, err = os.Stat(filepath.Join(repo, "config"))
	require.NoError(t, err)
	for _, m := range movers {
		_, err := m.Snapshots(ctx, mover.SnapshotFilter{})
		require.NoError(t, err)
	}
	// Again: nothing to create.
	again, err := movers[0].EnsureRepository(ctx)
	require.NoError(t, err)
	assert.False(t, again)
}

func TestUnlockStaleRemovesOnlyDeadHolders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	live, m := startHeldBackup(ctx, t)
	livePID := live.waitRestic(t)
	require.Eventually(t, func() bool { return lockFiles(t) == 1 }, 10*time.Second, 20*time.Millisecond)

	// A restic killed with SIGKILL leaves its lock behind.
	deadPID := startRawBackup(t, localRepo, false)
	// A lock of another host (own UTS namespace with another hostname) whose
	// holder is also gone.
	otherPID := startRawBackup(t, localRepo, true)
	require.Eventually(t, func() bool { return lockFiles(t) == 3 }, 20*time.Second, 20*time.Millisecond)
	for _, pid := range []int{deadPID, otherPID} {
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	}
	require.Eventually(t, func() bool { return procGone(deadPID) && procGone(otherPID) }, 10*time.Second, 20*time.Millisecond)

	// Without knowledge about the other host, its lock is kept.
	res, err := m.UnlockStale(ctx, mover.UnlockRequest{})
	require.NoError(t, err)
	t.Logf("live %d, dead %d, other host %d: %+v", livePID, deadPID, otherPID, res)
	require.Len(t, res.Removed, 1)
	assert.Equal(t, deadPID, res.Removed[0].PID)
	assert.ElementsMatch(t, []int{livePID, otherPID}, pids(res.Kept))
	assert.Empty(t, res.Deferred)

	// With a liveness oracle that says the other holder is gone, that lock is
	// known stale, but restic would not remove it yet: deferred, not removed.
	res, err = m.UnlockStale(ctx, mover.UnlockRequest{Alive: func(l mover.Lock) (bool, bool) { return false, true }})
	require.NoError(t, err)
	assert.Empty(t, res.Removed)
	assert.Equal(t, []int{livePID}, pids(res.Kept))
	assert.Equal(t, []int{otherPID}, pids(res.Deferred))

	locks, err := m.Locks(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []int{livePID, otherPID}, pids(locks))

	// The live backup was never disturbed.
	live.finish(t)
	require.NoError(t, live.err)
	assert.Equal(t, uint64(1), live.res.FilesNew)

	cleanupForeignLocks(t)
}

// lockFiles counts the complete lock files of the suite's local repository
// (cheaper than asking restic, which derives the key on every run). restic
// writes a temporary file first and renames it to the 64-hex-digit ID.
func lockFiles(t *testing.T) int {
	entries, err := os.ReadDir(filepath.Join(localRepo, "locks"))
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		if len(e.Name()) == 64 && !strings.Contains(e.Name(), "-") {
			n++
		}
	}
	return n
}

func pids(ls []mover.Lock) []int {
	out := []int{}
	for _, l := range ls {
		out = append(out, l.PID)
	}
	return out
}

// startRawBackup runs restic directly (not through the mover) on a held
// stdin and returns its pid once it holds a lock. otherHost runs it in its own
// UTS namespace under another hostname.
func startRawBackup(t *testing.T, repo string, otherHost bool) int {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	args := []string{bin(t), "-r", repo, "--no-cache", "backup", "--stdin", "--stdin-filename", "raw"}
	if otherHost {
		args = append([]string{"unshare", "--uts", "sh", "-c", `hostname other-node && exec "$@"`, "sh"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "RESTIC_PASSWORD="+password)
	cmd.Stdin = r
	require.NoError(t, cmd.Start())
	_ = r.Close()
	go func() { _ = cmd.Wait() }()
	_, _ = w.Write([]byte("x"))
	return cmd.Process.Pid
}

// cleanupForeignLocks removes the other host's lock file from the local
// repository so later tests start clean (a file system backend allows that).
func cleanupForeignLocks(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(localRepo, "locks"))
	require.NoError(t, err)
	for _, e := range entries {
		require.NoError(t, os.Remove(filepath.Join(localRepo, "locks", e.Name())))
	}
}

func TestErrorsAreTyped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := local(t) // the suite repository exists
	_ = base

	t.Run("wrong password", func(t *testing.T) {
		m := newMover(t, restic.BackendSpec{Local: &restic.LocalBackend{Path: localRepo}},
			map[string][]byte{restic.KeyResticPassword: []byte("not-the-password")})
		_, err := m.Snapshots(ctx, mover.SnapshotFilter{})
		assert.ErrorIs(t, err, mover.ErrWrongPassword)
		var me *mover.Error
		require.ErrorAs(t, err, &me)
		assert.Equal(t, 12, me.ExitCode)
		assert.Equal(t, "snapshots", me.Op)
	})
	t.Run("repository missing", func(t *testing.T) {
		m := newMover(t, restic.BackendSpec{Local: &restic.LocalBackend{Path: filepath.Join(scratch, "nothing-here")}}, nil)
		_, err := m.Backup(ctx, mover.BackupRequest{Stdin: strings.NewReader("x"), StdinFilename: "x"})
		assert.ErrorIs(t, err, mover.ErrRepositoryMissing)
	})
	t.Run("locked", func(t *testing.T) {
		h, m := startHeldBackup(ctx, t)
		h.waitRestic(t)
		require.Eventually(t, func() bool { return lockFiles(t) == 1 }, 10*time.Second, 20*time.Millisecond)
		err := m.Prune(ctx) // needs an exclusive lock
		assert.ErrorIs(t, err, mover.ErrLocked)
		h.finish(t)
		require.NoError(t, h.err)
	})
	t.Run("partial", func(t *testing.T) {
		// We run as root, so file modes cannot make a file unreadable; the
		// memory of another process can be listed but not read (EIO).
		src := mkdir(t, "partial")
		require.NoError(t, os.WriteFile(filepath.Join(src, "ok"), []byte("ok"), 0o644))
		sleeper := exec.Command("sleep", "60")
		require.NoError(t, sleeper.Start())
		defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
		unreadable := fmt.Sprintf("/proc/%d/mem", sleeper.Process.Pid)
		res, err := local(t).Backup(ctx, mover.BackupRequest{Paths: []string{src, unreadable}, Host: "partial"})
		assert.ErrorIs(t, err, mover.ErrPartial)
		require.NotNil(t, res, "a partial backup still returns its result")
		assert.Len(t, res.SnapshotID, 64)
		require.NotEmpty(t, res.Warnings)
		assert.Equal(t, unreadable, res.Warnings[0].Item)
		assert.Contains(t, res.Warnings[0].Message, "input/output error")
	})
	t.Run("invalid request", func(t *testing.T) {
		_, err := local(t).Backup(ctx, mover.BackupRequest{})
		assert.ErrorIs(t, err, mover.ErrInvalid)
	})
	t.Run("secrets are redacted from errors and logs", func(t *testing.T) {
		secret := "Sup3r-S3cret-" + strings.Repeat("x", 8)
		var log testLogger
		// The path holds the secret, so restic's own error message echoes it.
		m := newMover(t, restic.BackendSpec{Local: &restic.LocalBackend{Path: filepath.Join(scratch, "missing-"+secret)}},
			map[string][]byte{restic.KeyResticPassword: []byte(secret)},
			func(c *restic.Config) { c.Logger = log.logger() })
		_, err := m.Snapshots(ctx, mover.SnapshotFilter{})
		require.Error(t, err)
		assert.ErrorIs(t, err, mover.ErrRepositoryMissing)
		assert.NotContains(t, err.Error(), secret)
		assert.Contains(t, err.Error(), restic.Redacted)
		assert.NotEmpty(t, log.text())
		assert.NotContains(t, log.text(), secret)
		assert.Contains(t, log.text(), restic.Redacted)
	})
}

func TestRestoreNeverWritesOutsideTarget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := local(t)
	outside := mkdir(t, "outside")
	require.NoError(t, os.WriteFile(filepath.Join(outside, "precious"), []byte("keep me"), 0o644))
	outsideFile := filepath.Join(mkdir(t, "outside-file"), "file")
	require.NoError(t, os.WriteFile(outsideFile, []byte("keep me too"), 0o644))
	before := snapshotDir(t, filepath.Dir(outside))

	// The snapshot: real directories and files where the target will have
	// symlinks, and a symlink of its own pointing outside.
	src := mkdir(t, "crafted")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "escape", "deeper"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "escape", "pwned"), []byte("pwned"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "escape", "deeper", "pwned"), []byte("pwned"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "file"), []byte("snapshot content"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "precious"), []byte("pwned"), 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(src, "link")))
	require.NoError(t, os.Mkdir(filepath.Join(src, "dir"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "dir", "precious"), []byte("pwned"), 0o644))
	res, err := m.Backup(ctx, mover.BackupRequest{Paths: []string{src}, Host: "crafted"})
	require.NoError(t, err)

	// The target: symlinks to the outside at every name the snapshot uses.
	target := mkdir(t, "hostile-target")
	require.NoError(t, os.Symlink(outside, filepath.Join(target, "escape")))
	require.NoError(t, os.Symlink(outsideFile, filepath.Join(target, "file")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "precious"), filepath.Join(target, "precious")))
	require.NoError(t, os.Symlink(outside, filepath.Join(target, "dir")))
	_, err = m.Restore(ctx, mover.RestoreRequest{SnapshotID: res.SnapshotID, SubPath: src, Target: target})
	require.NoError(t, err)

	assert.Equal(t, before, snapshotDir(t, filepath.Dir(outside)), "something outside the target changed")
	for _, p := range []string{"escape/pwned", "escape/deeper/pwned", "dir/precious", "precious"} {
		data, err := os.ReadFile(filepath.Join(target, p))
		require.NoError(t, err, p)
		assert.Equal(t, "pwned", string(data), p)
	}
	fi, err := os.Lstat(filepath.Join(target, "escape"))
	require.NoError(t, err)
	assert.True(t, fi.IsDir(), "the symlink was replaced by the snapshot's directory")
	link, err := os.Readlink(filepath.Join(target, "link"))
	require.NoError(t, err)
	assert.Equal(t, outside, link, "the snapshot's own symlink is restored as a symlink")
	entries, err := os.ReadDir(target)
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasPrefix(e.Name(), ".trove-restore-"), "staging directory left behind")
	}

	// A target that is itself a symlink is refused.
	linkTarget := filepath.Join(mkdir(t, "via-link"), "t")
	require.NoError(t, os.Symlink(outside, linkTarget))
	_, err = m.Restore(ctx, mover.RestoreRequest{SnapshotID: res.SnapshotID, SubPath: src, Target: linkTarget})
	assert.ErrorIs(t, err, mover.ErrUnsafeTarget)
	assert.Equal(t, before, snapshotDir(t, filepath.Dir(outside)))
}

// snapshotDir renders every path, mode and content under dir (not following
// symlinks), skipping the test's own targets.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if fi.IsDir() && (strings.HasPrefix(rel, "hostile-target") || strings.HasPrefix(rel, "crafted") || strings.HasPrefix(rel, "via-link")) {
			return filepath.SkipDir
		}
		if !strings.HasPrefix(rel, "outside") {
			if fi.IsDir() && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		b.WriteString(rel + " " + fi.Mode().String())
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b.WriteString(" " + string(data))
		}
		b.WriteString("\n")
		return nil
	}))
	return b.String()
}
