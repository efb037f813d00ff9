package agent

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/mover"
	"trove.dev/trove/mover/restic"
	"trove.dev/trove/mover/trampoline"
)

// MoverRequest is what an item's mover is built from.
type MoverRequest struct {
	Repository *troveapi.Repository
	Secret     map[string][]byte
	Throttle   troveapi.Throttle
	// Mounts are shown to restic only, e.g. the volume at the item's stable path.
	Mounts []trampoline.Mount
}

// ResticMovers builds restic movers with a persistent cache per repository.
type ResticMovers struct {
	// Binary is the restic executable.
	Binary string
	// CacheDir holds one restic cache per repository (by UID).
	CacheDir string
	// Hostname judges which restic locks are this agent's own (default: the
	// host name, which is what restic writes into its locks).
	Hostname string
	// CacheMaxBytes caps the caches' total size: before an item runs, the caches
	// of other repositories used least recently are removed until it fits (0: no cap).
	CacheMaxBytes int64

	mu sync.Mutex // one trim at a time
}

// For implements MoverFactory.
func (f *ResticMovers) For(_ context.Context, req MoverRequest) (mover.Mover, error) {
	backend, err := restic.FromRepository(req.Repository)
	if err != nil {
		return nil, &reasoned{ReasonRepository, err}
	}
	cache := ""
	if f.CacheDir != "" {
		cache = filepath.Join(f.CacheDir, string(req.Repository.UID))
		if err := os.MkdirAll(cache, 0o700); err != nil {
			return nil, fmt.Errorf("creating the restic cache %s: %w", cache, err)
		}
		now := time.Now()
		_ = os.Chtimes(cache, now, now) // marks it used, for trimming
		f.trim(cache)
	}
	cfg := restic.Config{
		Binary:   f.Binary,
		Backend:  backend,
		Secret:   req.Secret,
		CacheDir: cache,
		Throttle: restic.ThrottleFromAPI(&req.Throttle),
		Hostname: f.Hostname,
		Mounts:   req.Mounts,
	}
	return restic.New(cfg)
}

// trim removes whole repository caches, least recently used first, until the caches
// fit CacheMaxBytes; the cache in use (keep) is never removed. A removed cache only
// costs a slower next backup of its repository.
func (f *ResticMovers) trim(keep string) {
	if f.CacheMaxBytes <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	type cacheDir struct {
		path string
		used time.Time
		size int64
	}
	entries, err := os.ReadDir(f.CacheDir)
	if err != nil {
		return
	}
	var dirs []cacheDir
	var total int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.IsDir() {
			continue
		}
		p := filepath.Join(f.CacheDir, e.Name())
		size := dirSize(p)
		total += size
		dirs = append(dirs, cacheDir{p, info.ModTime(), size})
	}
	sort.Slice(dirs, func(i, j int) bool { return dirs[i].used.Before(dirs[j].used) })
	for _, d := range dirs {
		if total <= f.CacheMaxBytes {
			return
		}
		if d.path == keep {
			continue
		}
		if os.RemoveAll(d.path) == nil {
			total -= d.size
		}
	}
}

// CacheBytes is the caches' total size (for the metric).
func (f *ResticMovers) CacheBytes() int64 {
	if f.CacheDir == "" {
		return 0
	}
	return dirSize(f.CacheDir)
}

func dirSize(root string) int64 {
	var n int64
	_ = filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
