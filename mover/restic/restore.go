package restic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"syscall"

	"trove.dev/trove/mover"
)

// stagingPrefix names the private directory a restore goes through.
const stagingPrefix = ".trove-restore-"

// Restore implements mover.Mover.
//
// Guarantee: nothing is written outside req.Target, whatever the snapshot
// holds and whatever symlinks already exist in the target. restic restores
// into a fresh private directory (0700) inside the target, which nothing else
// knows about, and the result is then moved into place with os.Root, whose
// operations refuse any path that leaves the target (a symlink on the way
// that points outside is an error, never followed). An existing entry whose
// type differs from the snapshot's (a symlink where the snapshot has a
// directory) is replaced, not followed. See docs/mover.md, "Restore safety".
func (m *Restic) Restore(ctx context.Context, req mover.RestoreRequest) (*mover.RestoreResult, error) {
	if req.SnapshotID == "" || req.Target == "" {
		return nil, &mover.Error{Kind: mover.KindInvalid, Op: "restore", ExitCode: -1, Message: "snapshot and target are required"}
	}
	if err := os.MkdirAll(req.Target, 0o755); err != nil {
		return nil, &mover.Error{Kind: kindOfOSError(err), Op: "restore", ExitCode: -1, Err: err}
	}
	fi, err := os.Lstat(req.Target)
	if err != nil {
		return nil, &mover.Error{Kind: kindOfOSError(err), Op: "restore", ExitCode: -1, Err: err}
	}
	if !fi.IsDir() {
		return nil, &mover.Error{Kind: mover.KindUnsafeTarget, Op: "restore", ExitCode: -1,
			Message: fmt.Sprintf("target %s is not a directory (a symlink is refused too)", req.Target)}
	}
	root, err := os.OpenRoot(req.Target)
	if err != nil {
		return nil, &mover.Error{Kind: kindOfOSError(err), Op: "restore", ExitCode: -1, Err: err}
	}
	defer func() { _ = root.Close() }()
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	staging := stagingPrefix + hex.EncodeToString(rnd[:])
	if err := root.Mkdir(staging, 0o700); err != nil {
		return nil, &mover.Error{Kind: kindOfOSError(err), Op: "restore", ExitCode: -1, Err: err}
	}
	defer func() { _ = root.RemoveAll(staging) }()

	env, err := m.environment("restore")
	if err != nil {
		return nil, err
	}
	defer func() { _ = env.Close() }()
	cmd := RestoreCmd(m.globals(env), RestoreArgs{
		Snapshot: req.SnapshotID, SubPath: req.SubPath, Target: path.Join(req.Target, staging),
		Includes: req.Includes, Excludes: req.Excludes,
		Filter: Filter{Host: req.Host, Tags: req.Tags, Paths: req.Paths},
	})
	gate := &progressGate{opts: req.Progress}
	var res *mover.RestoreResult
	out, err := m.run(ctx, env, invocation{
		cmd:      cmd,
		progress: progressEvery(req.Progress),
		onMessage: func(msg message) {
			switch msg.MessageType {
			case msgStatus:
				gate.send(msg.restoreProgress())
			case msgSummary:
				res = &mover.RestoreResult{TotalFiles: msg.TotalFiles, FilesRestored: msg.FilesRestored,
					FilesSkipped: msg.FilesSkipped, TotalBytes: msg.TotalBytes, BytesRestored: msg.BytesRestored,
					Duration: secondsToDuration(msg.SecondsElapsed)}
			}
		},
	})
	if err != nil {
		return nil, err
	}
	rerr := classify("restore", out)
	if rerr != nil && mover.KindOf(rerr) != mover.KindPartial {
		return nil, rerr
	}
	if res == nil {
		res = &mover.RestoreResult{}
	}
	res.Warnings = out.errors
	if err := moveInto(root, staging); err != nil {
		return nil, &mover.Error{Kind: kindOfOSError(err), Op: "restore", ExitCode: -1, Err: fmt.Errorf("moving restored files into the target: %w", err)}
	}
	if len(res.Warnings) > 0 && rerr == nil {
		rerr = &mover.Error{Kind: mover.KindPartial, Op: "restore", Message: fmt.Sprintf("%d items could not be restored", len(res.Warnings))}
	}
	return res, rerr
}

// moveInto moves the restored tree from staging into the root. The target
// directory itself keeps its own metadata, as with a plain restic restore.
func moveInto(root *os.Root, staging string) error {
	if err := merge(root, staging, "."); err != nil {
		return err
	}
	return root.Remove(staging)
}

// merge moves every entry of src over dst, both relative to root. Directories
// present on both sides are merged; anything else in dst is replaced.
func merge(root *os.Root, src, dst string) error {
	d, err := root.Open(src)
	if err != nil {
		return err
	}
	entries, err := d.ReadDir(-1)
	_ = d.Close()
	if err != nil {
		return err
	}
	for _, e := range entries {
		s, t := path.Join(src, e.Name()), path.Join(dst, e.Name())
		sfi, err := root.Lstat(s)
		if err != nil {
			return err
		}
		tfi, err := root.Lstat(t)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Rename never follows the last element of t, and os.Root refuses
			// an escaping parent.
		case err != nil:
			return err
		case sfi.IsDir() && tfi.IsDir():
			if err := merge(root, s, t); err != nil {
				return err
			}
			if err := copyDirMeta(root, sfi, t); err != nil {
				return err
			}
			continue
		case tfi.IsDir():
			if err := root.RemoveAll(t); err != nil {
				return err
			}
		default:
			if err := root.Remove(t); err != nil {
				return err
			}
		}
		if err := root.Rename(s, t); err != nil {
			return err
		}
	}
	return nil
}

// copyDirMeta gives directory dst the mode, owner and times of fi.
func copyDirMeta(root *os.Root, fi fs.FileInfo, dst string) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := root.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil && !errors.Is(err, fs.ErrPermission) {
			return err
		}
	}
	if err := root.Chmod(dst, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	return root.Chtimes(dst, fi.ModTime(), fi.ModTime())
}

func kindOfOSError(err error) mover.Kind {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return mover.KindNoSpace
	case errors.Is(err, fs.ErrPermission):
		return mover.KindPermissionDenied
	case errors.Is(err, syscall.ELOOP), errors.Is(err, syscall.EXDEV):
		return mover.KindUnsafeTarget
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent" {
		return mover.KindUnsafeTarget
	}
	return mover.KindFatal
}
