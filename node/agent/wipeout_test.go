package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/mover"
	"trove.dev/trove/mover/restic"
)

// TestWipeOutForgetsEverySnapshotAndPrunes runs a wipe-out maintenance item on a
// repository of its own with snapshots of two hosts: none is left, and the data is gone.
func TestWipeOutForgetsEverySnapshotAndPrunes(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(filepath.Dir(repoDir), "wipe")
	m, err := restic.New(restic.Config{Binary: resticBin, Backend: restic.BackendSpec{Local: &restic.LocalBackend{Path: dir}},
		Secret: map[string][]byte{"RESTIC_PASSWORD": []byte(password)}})
	require.NoError(t, err)
	_, err = m.EnsureRepository(ctx)
	require.NoError(t, err)
	src := t.TempDir()
	for _, host := range []string{"host-0", "host-1"} {
		randomFile(t, filepath.Join(src, host+".bin"), 2<<20)
		_, err := m.Backup(ctx, mover.BackupRequest{Paths: []string{src}, Host: host})
		require.NoError(t, err)
	}
	sizeBefore := dirSize(t, filepath.Join(dir, "data"))
	require.Greater(t, sizeBefore, int64(4<<20))

	require.NoError(t, c.Create(ctx, &troveapi.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wipe"}, Spec: troveapi.RepositorySpec{Backend: troveapi.Backend{
		StorageSecretName: "repo", Local: &troveapi.LocalSpec{MountPath: dir, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}}}}}))
	item := &troveapi.RepositoryMaintenance{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wipe-out"},
		Spec: troveapi.RepositoryMaintenanceSpec{NodeName: node, Repository: troveapi.ObjectRef{Namespace: ns, Name: "wipe"},
			CredentialsSecretName: "creds", UnlockStale: true, WipeOut: true, Prune: true, Stats: true},
	}
	require.NoError(t, c.Create(ctx, item))
	require.Eventually(t, func() bool {
		return c.Get(ctx, ctrl.ObjectKeyFromObject(item), item) == nil && (item.Status.Phase == troveapi.WorkSucceeded || item.Status.Phase == troveapi.WorkFailed)
	}, 2*time.Minute, 100*time.Millisecond)
	require.Equal(t, troveapi.WorkSucceeded, item.Status.Phase, "%+v", item.Status)
	assert.Equal(t, int32(2), item.Status.Forgotten)
	require.NotNil(t, item.Status.SnapshotCount)
	assert.Zero(t, *item.Status.SnapshotCount)

	snaps, err := m.Snapshots(ctx, mover.SnapshotFilter{})
	require.NoError(t, err)
	assert.Empty(t, snaps)
	assert.Less(t, dirSize(t, filepath.Join(dir, "data")), sizeBefore/10, "prune removed the data")
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return err
	}))
	return n
}
