package stream_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trove.dev/trove/mover"
	"trove.dev/trove/mover/restic"
	"trove.dev/trove/mover/stream"
	"trove.dev/trove/mover/trampoline"
	"trove.dev/trove/test/objectstore"
)

func TestMain(m *testing.M) {
	trampoline.MaybeRun()
	os.Exit(m.Run())
}

func intp(i int) *int { return &i }

// repo is a fresh local restic repository.
func repo(t *testing.T) *restic.Restic {
	t.Helper()
	m, err := restic.New(restic.Config{Binary: objectstore.Binary(t, "restic"),
		Backend: restic.BackendSpec{Local: &restic.LocalBackend{Path: filepath.Join(t.TempDir(), "repo")}},
		Secret:  map[string][]byte{restic.KeyResticPassword: []byte("stream-test-password")}, TempDir: t.TempDir(),
		InterruptGrace: 5 * time.Second})
	require.NoError(t, err)
	_, err = m.EnsureRepository(context.Background())
	require.NoError(t, err)
	return m
}

// payload writes n random bytes to a file and returns its path and content.
func payload(t *testing.T, n int) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	rand.New(rand.NewSource(int64(n))).Read(data)
	p := filepath.Join(t.TempDir(), "payload")
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p, data
}

func sh(script string, env ...string) stream.Tool {
	return stream.Tool{Path: "/bin/sh", Args: []string{"-c", script}, Env: env}
}

func snapshots(t *testing.T, m mover.Mover, host string) []mover.Snapshot {
	t.Helper()
	s, err := m.Snapshots(context.Background(), mover.SnapshotFilter{Host: host})
	require.NoError(t, err)
	return s
}

func TestBackupAndRestoreRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m := repo(t)
	src, data := payload(t, 8<<20+5)
	prio := filepath.Join(t.TempDir(), "prio")
	// The dump tool records its own nice value and I/O priority, then streams.
	dump := sh(`cut -d' ' -f19 /proc/$$/stat > "$PRIO"; ionice -p $$ >> "$PRIO"; exec cat "$SRC"`, "SRC="+src, "PRIO="+prio)
	var pid int
	res, err := stream.Backup(ctx, m, stream.BackupRequest{
		Dump:     dump,
		Priority: stream.Priority{Nice: intp(11), IOClass: intp(trampoline.IOClassIdle)},
		Backup:   mover.BackupRequest{StdinFilename: "db.dump", Host: "roundtrip", Tags: []string{"trove.dev/session=s1"}},
		OnStart:  func(p int) { pid = p },
	})
	require.NoError(t, err)
	assert.Positive(t, pid)
	assert.Equal(t, uint64(len(data)), res.TotalBytesProcessed)
	got, err := os.ReadFile(prio)
	require.NoError(t, err)
	assert.Equal(t, "11\nidle\n", string(got), "the dump tool ran at the requested CPU and I/O priority")

	out := filepath.Join(t.TempDir(), "restored")
	err = stream.Restore(ctx, m, stream.RestoreRequest{
		Dump:     mover.DumpRequest{SnapshotID: "latest", Path: "/db.dump", Host: "roundtrip"},
		Restore:  sh(`cut -d' ' -f19 /proc/$$/stat > "$PRIO"; exec cat > "$OUT"`, "OUT="+out, "PRIO="+prio),
		Priority: stream.Priority{Nice: intp(7)},
	})
	require.NoError(t, err)
	restored, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(data), sha256.Sum256(restored))
	got, err = os.ReadFile(prio)
	require.NoError(t, err)
	assert.Equal(t, "7\n", string(got))
}

// A dump that fails after part of its output leaves no snapshot behind.
func TestFailedDumpLeavesNoSnapshot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m := repo(t)
	src, _ := payload(t, 4<<20)
	for _, tc := range []struct {
		name, script, want string
	}{
		{"exit status", `head -c 1000000 "$SRC"; echo "pg_dump: error: connection to server lost" >&2; exit 3`, "exit status 3: pg_dump: error: connection to server lost"},
		{"killed", `head -c 2000000 "$SRC"; kill -KILL $$`, "killed by signal killed"},
		{"nothing written", `exit 1`, "exit status 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := "fail-" + strings.ReplaceAll(tc.name, " ", "-")
			_, err := stream.Backup(ctx, m, stream.BackupRequest{Dump: sh(tc.script, "SRC="+src),
				Backup: mover.BackupRequest{StdinFilename: "db.dump", Host: host}})
			require.Error(t, err)
			var te *stream.ToolError
			require.ErrorAs(t, err, &te, "%v", err)
			assert.Contains(t, err.Error(), "sh failed: "+tc.want)
			assert.Empty(t, snapshots(t, m, host), "the truncated stream's snapshot was forgotten")
		})
	}
	// The repository is still sound.
	cr, err := m.Check(ctx, mover.CheckRequest{})
	require.NoError(t, err)
	assert.True(t, cr.Healthy, cr.Output)
}

// restic failing (a wrong password) stops the dump tool instead of leaving it
// blocked on a pipe nobody reads, and the error is restic's.
func TestResticFailureStopsTheDump(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bad, err := restic.New(restic.Config{Binary: objectstore.Binary(t, "restic"),
		Backend: restic.BackendSpec{Local: &restic.LocalBackend{Path: filepath.Join(t.TempDir(), "missing")}},
		Secret:  map[string][]byte{restic.KeyResticPassword: []byte("x")}, TempDir: t.TempDir()})
	require.NoError(t, err)
	start := time.Now()
	_, err = stream.Backup(ctx, bad, stream.BackupRequest{Dump: sh(`exec cat /dev/zero`),
		Backup: mover.BackupRequest{StdinFilename: "db.dump", Host: "h"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "restic backup of the sh stream")
	assert.Equal(t, mover.KindRepositoryMissing, mover.KindOf(err), "%v", err)
	assert.Less(t, time.Since(start), 30*time.Second)
}

func TestRestoreToolFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m := repo(t)
	src, _ := payload(t, 16<<20)
	_, err := stream.Backup(ctx, m, stream.BackupRequest{Dump: sh(`exec cat "$SRC"`, "SRC="+src),
		Backup: mover.BackupRequest{StdinFilename: "db.dump", Host: "r"}})
	require.NoError(t, err)
	// The tool stops reading early and fails: its error is reported, and
	// restic dump does not hang on the pipe.
	err = stream.Restore(ctx, m, stream.RestoreRequest{
		Dump:    mover.DumpRequest{SnapshotID: "latest", Path: "/db.dump", Host: "r"},
		Restore: sh(`head -c 1000 >/dev/null; echo "ERROR: relation already exists" >&2; exit 4`)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sh failed: exit status 4: ERROR: relation already exists")
	// Stale locks would block the next forget: restic left none.
	ul, err := m.UnlockStale(ctx, mover.UnlockRequest{})
	require.NoError(t, err)
	assert.Empty(t, ul.Kept)
	assert.Empty(t, ul.Removed)

	// A file that is not in the snapshot: restic's error.
	err = stream.Restore(ctx, m, stream.RestoreRequest{
		Dump:    mover.DumpRequest{SnapshotID: "latest", Path: "/nope", Host: "r"},
		Restore: sh(`cat >/dev/null`)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "restic dump into sh")
}

func TestSecretsStayOutOfArgvAndErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := repo(t)
	secret := fmt.Sprintf("pw-%d-s3cr3t", time.Now().UnixNano())
	tool := sh(`echo "auth failed for password $PGPASSWORD" >&2; exit 2`, "PGPASSWORD="+secret)
	tool.Secrets = []string{secret}
	assert.NotContains(t, tool.String(), secret)
	_, err := stream.Backup(ctx, m, stream.BackupRequest{Dump: tool, Backup: mover.BackupRequest{StdinFilename: "x", Host: "s"}})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
	assert.Contains(t, err.Error(), "auth failed for password "+restic.Redacted)
}

func TestMissingTool(t *testing.T) {
	m := repo(t)
	_, err := stream.Backup(context.Background(), m, stream.BackupRequest{Dump: stream.Tool{Path: "pg_dump_does_not_exist"},
		Backup: mover.BackupRequest{StdinFilename: "x", Host: "s"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "must carry pg_dump_does_not_exist")
}
