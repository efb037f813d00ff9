package restic_test

import (
	"context"
	"io"
	"math/rand"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trove.dev/trove/mover"
	"trove.dev/trove/mover/restic"
	"trove.dev/trove/test/objectstore"
)

func TestS3ErrorsAreTyped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s3(t) // MinIO runs
	quick := func(c *restic.Config) { c.BackendTimeout = 3 * time.Second; c.InterruptGrace = 2 * time.Second }

	t.Run("bucket missing", func(t *testing.T) {
		m := newMover(t, s3Spec("no-such-bucket"), s3Secret(minio), quick)
		_, err := m.Snapshots(ctx, mover.SnapshotFilter{})
		assert.ErrorIs(t, err, mover.ErrRepositoryMissing)
	})
	t.Run("wrong secret key", func(t *testing.T) {
		secret := s3Secret(minio)
		secret[restic.KeyAWSSecretAccessKey] = []byte("wrong-secret-key-123456")
		m := newMover(t, s3Spec("suite"), secret, quick)
		_, err := m.Snapshots(ctx, mover.SnapshotFilter{})
		assert.ErrorIs(t, err, mover.ErrPermissionDenied)
		assert.NotContains(t, err.Error(), "wrong-secret-key-123456")
	})
	t.Run("wrong restic password", func(t *testing.T) {
		secret := s3Secret(minio)
		secret[restic.KeyResticPassword] = []byte("nope-nope-nope")
		m := newMover(t, s3Spec("suite"), secret, quick)
		_, err := m.Snapshots(ctx, mover.SnapshotFilter{})
		assert.ErrorIs(t, err, mover.ErrWrongPassword)
	})
	t.Run("backend unreachable", func(t *testing.T) {
		port, err := objectstore.FreePort()
		require.NoError(t, err)
		spec := restic.BackendSpec{S3: &restic.S3Backend{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), Bucket: "b"}}
		m := newMover(t, spec, s3Secret(minio), quick)
		start := time.Now()
		_, err = m.Snapshots(ctx, mover.SnapshotFilter{})
		assert.ErrorIs(t, err, mover.ErrBackendUnreachable)
		assert.Less(t, time.Since(start), 20*time.Second)
	})
}

// TestBackendStoppedMidBackup kills MinIO during a backup of a few hundred
// MB, expects a typed error, restarts MinIO on the same port and data, and
// expects the next backup and a check to succeed.
func TestBackendStoppedMidBackup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mi, err := objectstore.StartMinIO(mkdir(t, "minio-crash"))
	require.NoError(t, err)
	defer mi.Stop()
	spec := restic.BackendSpec{S3: &restic.S3Backend{Endpoint: mi.Endpoint, Bucket: "crash"}}
	m := newMover(t, spec, s3Secret(mi), func(c *restic.Config) {
		c.BackendTimeout = 5 * time.Second
		c.InterruptGrace = 3 * time.Second
	})
	ensure(t, m)

	var once sync.Once
	killed := make(chan struct{})
	res, err := m.Backup(ctx, mover.BackupRequest{
		Stdin: io.LimitReader(rand.New(rand.NewSource(9)), 400<<20), StdinFilename: "big.bin", Host: "crash",
		Progress: mover.ProgressOptions{Interval: 50 * time.Millisecond, Func: func(p mover.Progress) {
			if p.BytesDone > 40<<20 {
				once.Do(func() { go func() { mi.Kill(); close(killed) }() })
			}
		}},
	})
	select {
	case <-killed:
	default:
		t.Fatalf("backup ended before MinIO was killed: %v %+v", err, res)
	}
	assert.Nil(t, res)
	assert.ErrorIs(t, err, mover.ErrBackendUnreachable)
	t.Logf("backup with MinIO down: %v", err)

	require.NoError(t, mi.Restart())
	// The killed backup left its lock (same host, restic gone): remove it.
	ur, err := m.UnlockStale(ctx, mover.UnlockRequest{})
	require.NoError(t, err)
	assert.Empty(t, ur.Kept)
	res, err = m.Backup(ctx, mover.BackupRequest{Stdin: io.LimitReader(rand.New(rand.NewSource(10)), 50<<20), StdinFilename: "after.bin", Host: "crash"})
	require.NoError(t, err)
	assert.Equal(t, uint64(50<<20), res.TotalBytesProcessed)
	cr, err := m.Check(ctx, mover.CheckRequest{})
	require.NoError(t, err)
	assert.True(t, cr.Healthy, cr.Output)
}
