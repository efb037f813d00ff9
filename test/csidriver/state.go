package csidriver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// state is the index of volumes and snapshots, persisted as index.json next to the
// volumes/ and snapshots/ directories. A directory is complete before the index names it.
type state struct {
	dir       string
	Volumes   map[string]*volume   `json:"volumes"`
	Snapshots map[string]*snapshot `json:"snapshots"`
}

type volume struct {
	Name          string `json:"name"`
	CapacityBytes int64  `json:"capacityBytes"`
	// SourceSnapshot is the snapshot the volume was created from, if any.
	SourceSnapshot string `json:"sourceSnapshot,omitempty"`
}

type snapshot struct {
	Name         string    `json:"name"`
	SourceVolume string    `json:"sourceVolume"`
	SizeBytes    int64     `json:"sizeBytes"`
	CreatedAt    time.Time `json:"createdAt"`
}

func loadState(dir string) (*state, error) {
	st := &state{dir: dir, Volumes: map[string]*volume{}, Snapshots: map[string]*snapshot{}}
	for _, sub := range []string{"volumes", "snapshots"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, err
		}
	}
	b, err := os.ReadFile(st.indexPath())
	if os.IsNotExist(err) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("reading %s: %w", st.indexPath(), err)
	}
	if st.Volumes == nil {
		st.Volumes = map[string]*volume{}
	}
	if st.Snapshots == nil {
		st.Snapshots = map[string]*snapshot{}
	}
	return st, nil
}

func (s *state) indexPath() string { return filepath.Join(s.dir, "index.json") }

func (s *state) volumeDir(id string) string   { return filepath.Join(s.dir, "volumes", id) }
func (s *state) snapshotDir(id string) string { return filepath.Join(s.dir, "snapshots", id) }

// save writes the index atomically (temporary file, fsync, rename).
func (s *state) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.indexPath() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, s.indexPath())
}

// id derives a stable ID from a CO-given name, so a retried create finds its object.
func id(prefix, name string) string {
	sum := sha256.Sum256([]byte(name))
	return prefix + hex.EncodeToString(sum[:])[:20]
}

// copyTree copies the directory src to a new directory dst (which must not exist),
// keeping modes, owners, times and symlinks. It copies into dst.tmp and renames, so dst
// exists only complete. It returns the bytes of regular files copied.
func copyTree(src, dst string) (int64, error) {
	tmp := dst + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return 0, err
	}
	var size int64
	err := filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(tmp, rel)
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil {
				return err
			}
		case info.Mode()&os.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			n, err := copyFile(path, target, info.Mode().Perm())
			if err != nil {
				return err
			}
			size += n
		default:
			return nil // sockets, devices, fifos are not copied
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			if err := os.Lchown(target, int(st.Uid), int(st.Gid)); err != nil && !os.IsPermission(err) {
				return err
			}
		}
		if info.Mode()&os.ModeSymlink == 0 {
			if err := os.Chmod(target, info.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
				return err
			}
			return os.Chtimes(target, info.ModTime(), info.ModTime())
		}
		return nil
	})
	if err != nil {
		_ = os.RemoveAll(tmp)
		return 0, fmt.Errorf("copying %s: %w", src, err)
	}
	// Directory times last, as copying their entries changed them.
	_ = filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			if info, err := e.Info(); err == nil {
				rel, _ := filepath.Rel(src, path)
				_ = os.Chtimes(filepath.Join(tmp, rel), info.ModTime(), info.ModTime())
			}
		}
		return nil
	})
	return size, os.Rename(tmp, dst)
}

func copyFile(src, dst string, perm os.FileMode) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if err != nil {
		out.Close()
		return n, err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return n, err
	}
	return n, out.Close()
}
