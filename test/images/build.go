package images

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// DevOptions says where BuildDev finds its inputs and writes its outputs.
type DevOptions struct {
	// ModuleRoot is the root of Trove's module (./cmd/trove and ./test/images/pause live there).
	ModuleRoot string
	// OutDir receives the built binaries and the OCI archives.
	OutDir string
	// Restic is the restic binary (hack/bin.sh restic).
	Restic string
	// Busybox is a static busybox; Debian's busybox-static installs /bin/busybox.
	Busybox string
	// Postgres, when set, also builds TrovePostgresRef and PostgresRef from
	// this PostgreSQL installation (HostPostgres).
	Postgres *PostgresInstall
}

// BuildDev builds the static trove and pause binaries and writes the dev node's
// images (pause, busybox, trove, and with o.Postgres trove-postgres and
// postgres) as OCI archives, returning their paths.
func BuildDev(ctx context.Context, o DevOptions) ([]string, error) {
	bin := filepath.Join(o.OutDir, "bin")
	troveBin, pauseBin := filepath.Join(bin, "trove"), filepath.Join(bin, "pause")
	if err := GoBuild(ctx, o.ModuleRoot, "./cmd/trove", troveBin); err != nil {
		return nil, err
	}
	if err := GoBuild(ctx, o.ModuleRoot, "./test/images/pause", pauseBin); err != nil {
		return nil, err
	}
	busybox, err := Busybox(ctx, o.Busybox)
	if err != nil {
		return nil, err
	}
	trove, err := Trove(ctx, troveBin, o.Restic, o.Busybox)
	if err != nil {
		return nil, err
	}
	imgs := []Image{Pause(pauseBin), busybox, trove}
	if o.Postgres != nil {
		tp, err := TrovePostgres(ctx, troveBin, o.Restic, o.Busybox, *o.Postgres)
		if err != nil {
			return nil, err
		}
		server, err := Postgres(ctx, o.Busybox, *o.Postgres)
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, tp, server)
	}
	var files []string
	for _, img := range imgs {
		repo, _, _ := strings.Cut(img.Name, ":")
		file := filepath.Join(o.OutDir, "oci", path.Base(repo)+".tar")
		if err := WriteFile(img, file); err != nil {
			return nil, fmt.Errorf("writing %s: %w", img.Name, err)
		}
		files = append(files, file)
	}
	return files, nil
}
