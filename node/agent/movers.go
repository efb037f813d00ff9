package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

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
