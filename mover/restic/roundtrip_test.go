package restic_test

import (
	"bytes"
	"context"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trove.dev/trove/mover"
	"trove.dev/trove/mover/restic"
	"trove.dev/trove/test/fstree"
)

// roundTrip backs up a generated tree, restores it into a fresh target and
// compares both manifests, then backs up again to check the incremental.
func roundTrip(t *testing.T, m *restic.Restic, o fstree.Options) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := mkdir(t, "src")
	require.NoError(t, fstree.Generate(src, o))
	// The target directory keeps its own metadata; everything in it must match.
	want, err := fstree.Manifest(src, fstree.ManifestOptions{SkipRootMeta: true})
	require.NoError(t, err)

	var mu sync.Mutex
	var reports []mover.Progress
	progress := mover.ProgressOptions{Interval: 10 * time.Millisecond, Func: func(p mover.Progress) {
		mu.Lock()
		reports = append(reports, p)
		mu.Unlock()
	}}
	host := "roundtrip-" + filepath.Base(src)
	res, err := m.Backup(ctx, mover.BackupRequest{Paths: []string{src}, Host: host, Tags: []string{"suite=roundtrip"}, Progress: progress})
	require.NoError(t, err)
	require.Len(t, res.SnapshotID, 64)
	// restic counts regular files (hardlinks included), not symlinks.
	assert.Equal(t, countType(want, "file"), res.FilesNew, "files")
	assert.Positive(t, res.DataAdded)
	assert.Positive(t, res.Duration)
	assert.Empty(t, res.Warnings)

	snaps, err := m.Snapshots(ctx, mover.SnapshotFilter{Host: host})
	require.NoError(t, err)
	require.Len(t, snaps, 1)
	assert.Equal(t, res.SnapshotID, snaps[0].ID)
	assert.Equal(t, []string{src}, snaps[0].Paths)
	assert.Equal(t, []string{"suite=roundtrip"}, snaps[0].Tags)
	require.NotNil(t, snaps[0].Summary)
	assert.Equal(t, res.FilesNew, snaps[0].Summary.FilesNew)

	target := mkdir(t, "target")
	rres, err := m.Restore(ctx, mover.RestoreRequest{SnapshotID: res.SnapshotID, SubPath: src, Target: target, Progress: progress})
	require.NoError(t, err)
	assert.Equal(t, rres.TotalBytes, rres.BytesRestored)
	assert.Positive(t, rres.FilesRestored)
	got, err := fstree.Manifest(target, fstree.ManifestOptions{SkipRootMeta: true})
	require.NoError(t, err)
	if d := fstree.Diff(want, got); len(d) > 0 {
		t.Errorf("restored tree differs in %d entries:\n%s", len(d), joinMax(d, 20))
	}

	// Incremental: one file changed, everything else unmodified.
	require.NoError(t, os.WriteFile(filepath.Join(src, "target.txt"), []byte("changed\n"), 0o644))
	res2, err := m.Backup(ctx, mover.BackupRequest{Paths: []string{src}, Host: host, Parent: res.SnapshotID})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), res2.FilesChanged)
	assert.Equal(t, uint64(0), res2.FilesNew)
	assert.Equal(t, res.FilesNew-1, res2.FilesUnmodified)

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, reports, "progress callback never called")
	last := reports[len(reports)-1]
	assert.LessOrEqual(t, last.Percent, 100.0)
	for i := 1; i < len(reports); i++ {
		assert.GreaterOrEqual(t, reports[i].Elapsed, reports[i-1].Elapsed-time.Second)
	}
}

func countType(es []fstree.Entry, typ string) uint64 {
	n := uint64(0)
	for _, e := range es {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func joinMax(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[:n]
	}
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func TestRoundTripLocal(t *testing.T) {
	roundTrip(t, local(t), fstree.DefaultOptions())
}

func TestRoundTripS3(t *testing.T) {
	o := fstree.DefaultOptions()
	o.SmallFiles, o.SparseFileMiB = 50, 16
	roundTrip(t, s3(t), o)
}

func TestRoundTripRestServer(t *testing.T) {
	o := fstree.DefaultOptions()
	o.SmallFiles, o.SparseFileMiB = 50, 16
	roundTrip(t, restServer(t), o)
}

func TestStreamBackupAndDump(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := local(t)
	data := make([]byte, 3<<20+17)
	rand.New(rand.NewSource(3)).Read(data)
	res, err := m.Backup(ctx, mover.BackupRequest{Stdin: bytes.NewReader(data), StdinFilename: "db.dump", Host: "stream-test", Tags: []string{"kind=stream"}})
	require.NoError(t, err)
	assert.Equal(t, uint64(len(data)), res.TotalBytesProcessed)
	assert.Equal(t, uint64(1), res.FilesNew)

	var out bytes.Buffer
	require.NoError(t, m.Dump(ctx, mover.DumpRequest{SnapshotID: res.SnapshotID, Path: "/db.dump"}, &out))
	assert.True(t, bytes.Equal(data, out.Bytes()), "dumped stream differs")

	// "latest" with filters finds the same snapshot.
	out.Reset()
	require.NoError(t, m.Dump(ctx, mover.DumpRequest{SnapshotID: "latest", Path: "/db.dump", Host: "stream-test", Tags: []string{"kind=stream"}}, &out))
	assert.Equal(t, len(data), out.Len())

	err = m.Dump(ctx, mover.DumpRequest{SnapshotID: res.SnapshotID, Path: "/nope"}, io.Discard)
	assert.Equal(t, mover.KindFatal, mover.KindOf(err))
}

func TestRetentionCheckStats(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m := local(t)
	host := "retention-test"
	var ids []string
	for i := 0; i < 4; i++ {
		tags := []string{"n"}
		if i == 0 {
			tags = append(tags, "gold")
		}
		res, err := m.Backup(ctx, mover.BackupRequest{Stdin: bytes.NewReader([]byte{byte(i), 1, 2, 3}), StdinFilename: "x", Host: host, Tags: tags})
		require.NoError(t, err)
		ids = append(ids, res.SnapshotID)
	}
	// Dry run changes nothing.
	fr, err := m.Forget(ctx, mover.ForgetRequest{Host: host, Policy: mover.RetentionPolicy{KeepLast: 1, KeepTags: []string{"gold"}, DryRun: true}})
	require.NoError(t, err)
	assert.True(t, fr.DryRun)
	assert.ElementsMatch(t, []string{ids[1], ids[2]}, fr.Removed)
	snaps, err := m.Snapshots(ctx, mover.SnapshotFilter{Host: host})
	require.NoError(t, err)
	assert.Len(t, snaps, 4)

	fr, err = m.Forget(ctx, mover.ForgetRequest{Host: host, Policy: mover.RetentionPolicy{KeepLast: 1, KeepTags: []string{"gold"}, Prune: true}})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{ids[0], ids[3]}, fr.Kept)
	assert.ElementsMatch(t, []string{ids[1], ids[2]}, fr.Removed)
	snaps, err = m.Snapshots(ctx, mover.SnapshotFilter{Host: host})
	require.NoError(t, err)
	assert.Len(t, snaps, 2)

	_, err = m.Forget(ctx, mover.ForgetRequest{Host: host})
	assert.ErrorIs(t, err, mover.ErrInvalid)

	require.NoError(t, m.Prune(ctx))
	cr, err := m.Check(ctx, mover.CheckRequest{ReadDataSubset: "50%"})
	require.NoError(t, err)
	assert.True(t, cr.Healthy, cr.Output)

	st, err := m.Stats(ctx, mover.StatsRequest{Mode: "raw-data"})
	require.NoError(t, err)
	assert.Positive(t, st.TotalSize)
	assert.Positive(t, st.SnapshotsCount)
	st, err = m.Stats(ctx, mover.StatsRequest{SnapshotIDs: []string{ids[3]}})
	require.NoError(t, err)
	assert.Equal(t, uint64(4), st.TotalSize)
}

func TestForgetSnapshots(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := local(t)
	host := "forget-ids-test"
	var ids []string
	for i := 0; i < 3; i++ {
		res, err := m.Backup(ctx, mover.BackupRequest{Stdin: bytes.NewReader([]byte{byte(i), 9}), StdinFilename: "x", Host: host})
		require.NoError(t, err)
		ids = append(ids, res.SnapshotID)
	}
	// A full ID and a short one; the third snapshot stays.
	require.NoError(t, m.ForgetSnapshots(ctx, []string{ids[0], ids[1][:8]}))
	snaps, err := m.Snapshots(ctx, mover.SnapshotFilter{Host: host})
	require.NoError(t, err)
	require.Len(t, snaps, 1)
	assert.Equal(t, ids[2], snaps[0].ID)
	// Idempotent: forgetting a gone snapshot again is not an error.
	require.NoError(t, m.ForgetSnapshots(ctx, []string{ids[0]}))
	require.NoError(t, m.ForgetSnapshots(ctx, nil))
	assert.ErrorIs(t, m.ForgetSnapshots(ctx, []string{"--keep-last"}), mover.ErrInvalid)
}
