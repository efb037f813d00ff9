package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCommonDir(t *testing.T) {
	for _, tc := range []struct {
		paths []string
		want  string
	}{
		{[]string{"/trove/ns/pvc-a/data"}, "/trove/ns/pvc-a/data"},
		{[]string{"/trove/ns/pvc-a/data/x", "/trove/ns/pvc-a/data/y/z"}, "/trove/ns/pvc-a/data"},
		{[]string{"/trove/ns/a/data/x", "/trove/ns/a/database"}, "/trove/ns/a"},
		{nil, "/"},
	} {
		assert.Equal(t, tc.want, commonDir(tc.paths), "%v", tc.paths)
	}
}

func TestCacheTrimRemovesLeastRecentlyUsedFirst(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, size int, age time.Duration) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(p, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(p, "data"), make([]byte, size), 0o600))
		when := time.Now().Add(-age)
		require.NoError(t, os.Chtimes(p, when, when))
		return p
	}
	oldest := mk("repo-a", 4000, 3*time.Hour)
	older := mk("repo-b", 4000, 2*time.Hour)
	inUse := mk("repo-c", 4000, 4*time.Hour) // the oldest, but in use: kept
	recent := mk("repo-d", 4000, time.Hour)
	f := &ResticMovers{CacheDir: dir, CacheMaxBytes: 9000}
	assert.Equal(t, int64(16000), f.CacheBytes())
	f.trim(inUse)
	for p, want := range map[string]bool{oldest: false, older: false, inUse: true, recent: true} {
		_, err := os.Stat(p)
		assert.Equal(t, want, err == nil, p)
	}
	assert.Equal(t, int64(8000), f.CacheBytes())
}
