package fstree

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGenerateHasEveryFeature(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, Generate(dir, Options{Seed: 7, SmallFiles: 20, LargeFileMiB: 1, SparseFileMiB: 4, Depth: 10, Owners: os.Geteuid() == 0}))
	m, err := Manifest(dir, ManifestOptions{})
	require.NoError(t, err)
	byPath := map[string]Entry{}
	for _, e := range m {
		byPath[e.Path] = e
	}
	assert.Equal(t, "symlink", byPath["link-dangling"].Type)
	assert.Equal(t, "hardlink-a", byPath["hardlink-b"].HardlinkOf)
	assert.NotZero(t, byPath["modes/setuid"].Mode&os.ModeSetuid)
	assert.NotZero(t, byPath["modes/sticky"].Mode&os.ModeSticky)
	assert.Equal(t, "616c706861", byPath["xattrs"].Xattrs["user.trove.a"])
	assert.Len(t, LongName, 255)
	assert.Contains(t, byPath, LongName)
	assert.Contains(t, byPath, UnicodeName)
	assert.Equal(t, int64(4<<20), byPath["sparse.img"].Size)
	assert.Equal(t, "file", byPath[filepath.Join("deep", "n00", "n01", "n02", "n03", "n04", "n05", "n06", "n07", "n08", "n09", "bottom.txt")].Type)
	if os.Geteuid() == 0 {
		assert.Equal(t, uint32(1234), byPath["small/d01"].UID)
		assert.NotZero(t, byPath["modes/setgid"].Mode&os.ModeSetgid)
	}
	assert.Equal(t, 2021, byPath["target.txt"].Mtime.Year())

	// A manifest sees every change.
	again, err := Manifest(dir, ManifestOptions{})
	require.NoError(t, err)
	assert.Empty(t, Diff(m, again))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "target.txt"), []byte("changed"), 0o644))
	require.NoError(t, os.Chmod(filepath.Join(dir, "modes/private"), 0o640))
	changed, err := Manifest(dir, ManifestOptions{})
	require.NoError(t, err)
	assert.Len(t, Diff(m, changed), 2)
}
