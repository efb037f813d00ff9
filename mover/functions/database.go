// Package functions is the library behind the built-in Functions that the
// trove binary runs as subcommands (postgres-backup, mysql-restore, ...):
// database.go streams one database into or out of a repository through
// package mover/stream with the commands of package mover/functions/engines;
// run.go reads the AppBinding, Repository and Secrets from the API, builds
// the mover like the node agent does and writes the step's output file.
package functions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"trove.dev/trove/mover"
	"trove.dev/trove/mover/functions/engines"
	"trove.dev/trove/mover/stream"
)

// Database is one database to back up or restore.
type Database struct {
	Engine engines.Engine
	Conn   engines.Conn
	// Args are the Function's user arguments (--pg-args etc.), split.
	Args []string
}

// BackupOptions say how the snapshot is made.
type BackupOptions struct {
	// Host is the snapshot's restic host.
	Host     string
	Tags     []string
	Priority stream.Priority
	Progress mover.ProgressOptions
	// OnStart is told the dump tool's pid (tests).
	OnStart func(pid int)
}

// BackupResult is a database backup's snapshot.
type BackupResult struct {
	*mover.BackupResult
	// Path is the stream's path in the snapshot, e.g. "/dumpfile.sql".
	Path string
}

// BackupDatabase streams the engine's dump into a snapshot. A dump that fails
// leaves no snapshot (see stream.Backup).
func BackupDatabase(ctx context.Context, m mover.Mover, db Database, o BackupOptions) (*BackupResult, error) {
	scratch, err := os.MkdirTemp("", "trove-"+db.Engine.Name()+"-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(scratch) }()
	plan, err := db.Engine.Backup(db.Conn, db.Args, engines.Env{Scratch: scratch})
	if err != nil {
		return nil, err
	}
	res, err := stream.Backup(ctx, m, stream.BackupRequest{
		Dump: plan.Tool, Priority: o.Priority, OnStart: o.OnStart,
		Backup: mover.BackupRequest{StdinFilename: plan.StdinFilename, Host: o.Host, Tags: o.Tags, Progress: o.Progress},
	})
	if err != nil {
		return nil, err
	}
	return &BackupResult{BackupResult: res, Path: "/" + plan.StdinFilename}, nil
}

// RestoreOptions select the snapshot to restore.
type RestoreOptions struct {
	// Snapshot is a snapshot ID or "latest" (of Host).
	Snapshot string
	// Host is the source host whose latest snapshot "latest" means.
	Host     string
	Priority stream.Priority
}

// RestoreDatabase feeds a snapshot made by BackupDatabase back into the
// database (or, for Redis, into the RDB file the arguments name). It returns
// the snapshot it restored.
func RestoreDatabase(ctx context.Context, m mover.Mover, db Database, o RestoreOptions) (mover.Snapshot, error) {
	snap, err := PickSnapshot(ctx, m, o.Snapshot, o.Host)
	if err != nil {
		return mover.Snapshot{}, err
	}
	if len(snap.Paths) != 1 {
		return snap, fmt.Errorf("snapshot %s holds %d paths, not the one stream a database backup makes", snap.ShortID, len(snap.Paths))
	}
	file := snap.Paths[0]
	scratch, err := os.MkdirTemp("", "trove-"+db.Engine.Name()+"-")
	if err != nil {
		return snap, err
	}
	defer func() { _ = os.RemoveAll(scratch) }()
	plan, err := db.Engine.Restore(db.Conn, db.Args, file, engines.Env{Scratch: scratch})
	if err != nil {
		return snap, err
	}
	req := mover.DumpRequest{SnapshotID: snap.ID, Path: file}
	if plan.File != "" {
		return snap, restoreFile(ctx, m, req, plan.File)
	}
	return snap, stream.Restore(ctx, m, stream.RestoreRequest{Dump: req, Restore: plan.Tool, Priority: o.Priority})
}

// PickSnapshot resolves "latest" (the newest snapshot of host) or a full or
// short snapshot ID.
func PickSnapshot(ctx context.Context, m mover.Mover, id, host string) (mover.Snapshot, error) {
	if id == "" {
		id = "latest"
	}
	f := mover.SnapshotFilter{}
	if id == "latest" {
		f.Host = host
	}
	snaps, err := m.Snapshots(ctx, f)
	if err != nil {
		return mover.Snapshot{}, fmt.Errorf("listing snapshots: %w", err)
	}
	if id == "latest" {
		if len(snaps) == 0 {
			return mover.Snapshot{}, fmt.Errorf("the repository has no snapshot of host %q to restore", host)
		}
		sort.Slice(snaps, func(i, j int) bool { return snaps[i].Time.Before(snaps[j].Time) })
		return snaps[len(snaps)-1], nil
	}
	var found []mover.Snapshot
	for _, s := range snaps {
		if strings.HasPrefix(s.ID, id) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return mover.Snapshot{}, fmt.Errorf("snapshot %q is not in the repository", id)
	case 1:
		return found[0], nil
	}
	return mover.Snapshot{}, fmt.Errorf("snapshot ID %q is ambiguous: give more of it", id)
}

// restoreFile writes the snapshot's file to path: into a temporary file
// beside it, synced, owned like its directory, then renamed over path, so a
// server never finds half a file.
func restoreFile(ctx context.Context, m mover.Mover, req mover.DumpRequest, path string) (err error) {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("the directory of %s: %w (mount the server's data volume there)", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".trove-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := m.Dump(ctx, req, tmp); err != nil {
		return fmt.Errorf("restic dump into %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		// The server (e.g. the redis user) must read it.
		if err := tmp.Chown(int(sys.Uid), int(sys.Gid)); err != nil {
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return errors.Join(fmt.Errorf("moving the restored file into place: %w", err))
	}
	return nil
}
