// Package fstree generates file trees that exercise every kind of file
// metadata a backup must keep, and compares trees by manifest. Tests of the
// mover (and later of the agent, end to end) use it to prove a round trip is
// exact.
package fstree

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Options size a generated tree.
type Options struct {
	// Seed makes the content reproducible.
	Seed int64
	// SmallFiles is the number of small regular files (1 B - 64 KiB).
	SmallFiles int
	// LargeFileMiB is the size of one dense large file; 0 for none.
	LargeFileMiB int
	// SparseFileMiB is the apparent size of one sparse file with a few data
	// extents; 0 for none.
	SparseFileMiB int
	// Depth is the nesting depth of the deep directory chain.
	Depth int
	// Owners sets uid/gid on some entries (needs root).
	Owners bool
}

// DefaultOptions is a tree of a few MiB that has every feature.
func DefaultOptions() Options {
	return Options{Seed: 1, SmallFiles: 200, LargeFileMiB: 8, SparseFileMiB: 64, Depth: 40, Owners: os.Geteuid() == 0}
}

// LongName is a 255-byte file name (the Linux limit).
var LongName = strings.Repeat("L", 251) + ".txt"

// UnicodeName is a name with multi-byte characters.
const UnicodeName = "ünïcødé-日本語-🎉.txt"

// fixedTime is the base of every mtime set by Generate (with nanoseconds).
var fixedTime = time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)

// Generate writes a tree under dir (which must exist and be empty).
func Generate(dir string, o Options) error {
	rng := rand.New(rand.NewSource(o.Seed))
	var dirs []string // dirs whose mtime is set last, deepest first
	mkdir := func(rel string, mode os.FileMode) error {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		dirs = append(dirs, rel)
		return os.Chmod(p, mode)
	}
	write := func(rel string, data []byte, mode os.FileMode) error {
		p := filepath.Join(dir, rel)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return err
		}
		return os.Chmod(p, mode)
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	steps := []func() error{
		func() error { return mkdir("small", 0o755) },
		func() error {
			for i := 0; i < o.SmallFiles; i++ {
				sub := fmt.Sprintf("small/d%02d", i%10)
				if i < 10 {
					if err := mkdir(sub, 0o755); err != nil {
						return err
					}
				}
				if err := write(fmt.Sprintf("%s/f%05d", sub, i), random(1+rng.Intn(64<<10)), 0o644); err != nil {
					return err
				}
			}
			return nil
		},
		func() error { return write("empty-file", nil, 0o644) },
		func() error { return mkdir("empty-dir", 0o755) },
		func() error {
			if o.LargeFileMiB == 0 {
				return nil
			}
			return write("large.bin", random(o.LargeFileMiB<<20), 0o644)
		},
		func() error {
			if o.SparseFileMiB == 0 {
				return nil
			}
			f, err := os.Create(filepath.Join(dir, "sparse.img"))
			if err != nil {
				return err
			}
			defer f.Close()
			size := int64(o.SparseFileMiB) << 20
			for _, off := range []int64{0, size / 3, size - 4096} {
				if _, err := f.WriteAt(random(4096), off); err != nil {
					return err
				}
			}
			return f.Truncate(size)
		},
		func() error { return write("target.txt", []byte("symlink target\n"), 0o644) },
		func() error { return os.Symlink("target.txt", filepath.Join(dir, "link-relative")) },
		func() error { return os.Symlink("/etc/hostname", filepath.Join(dir, "link-absolute")) },
		func() error { return os.Symlink("does/not/exist", filepath.Join(dir, "link-dangling")) },
		func() error { return os.Symlink("small", filepath.Join(dir, "link-to-dir")) },
		func() error { return write("hardlink-a", random(5000), 0o644) },
		func() error { return os.Link(filepath.Join(dir, "hardlink-a"), filepath.Join(dir, "hardlink-b")) },
		func() error { return mkdir("modes", 0o755) },
		func() error { return write("modes/setuid", random(10), os.ModeSetuid|0o755) },
		func() error { return write("modes/setgid", random(10), os.ModeSetgid|0o755) },
		func() error { return write("modes/private", random(10), 0o600) },
		func() error { return write("modes/readonly", random(10), 0o444) },
		func() error { return mkdir("modes/sticky", os.ModeSticky|0o777) },
		func() error { return mkdir("modes/locked-dir", 0o700) },
		func() error { return write(UnicodeName, []byte("unicode\n"), 0o644) },
		func() error { return mkdir("ünï-dïr", 0o755) },
		func() error { return write(LongName, []byte("long\n"), 0o644) },
		func() error { return write("name with spaces & 'quotes'", []byte("q\n"), 0o644) },
		func() error { return write("-leading-dash", []byte("d\n"), 0o644) },
		func() error {
			if err := write("xattrs", []byte("x\n"), 0o644); err != nil {
				return err
			}
			p := filepath.Join(dir, "xattrs")
			if err := unix.Lsetxattr(p, "user.trove.a", []byte("alpha"), 0); err != nil {
				return fmt.Errorf("setting xattr (does the file system support user xattrs?): %w", err)
			}
			return unix.Lsetxattr(p, "user.trove.b", []byte{0, 1, 2, 255}, 0)
		},
		func() error {
			if o.Depth == 0 {
				return nil
			}
			parts := make([]string, o.Depth)
			for i := range parts {
				parts[i] = fmt.Sprintf("n%02d", i)
			}
			deep := filepath.Join(append([]string{"deep"}, parts...)...)
			if err := os.MkdirAll(filepath.Join(dir, deep), 0o755); err != nil {
				return err
			}
			for i := 0; i <= len(parts); i++ {
				dirs = append(dirs, filepath.Join(append([]string{"deep"}, parts[:i]...)...))
			}
			return write(filepath.Join(deep, "bottom.txt"), []byte("deep\n"), 0o644)
		},
		func() error {
			if !o.Owners {
				return nil
			}
			for _, c := range []struct {
				rel      string
				uid, gid int
			}{{"small/d01", 1234, 5678}, {"modes/private", 1001, 1002}, {"link-relative", 4321, 8765}, {"modes/setgid", 0, 1002}} {
				if err := os.Lchown(filepath.Join(dir, c.rel), c.uid, c.gid); err != nil {
					return err
				}
			}
			// chown clears setuid/setgid: set the modes again.
			return os.Chmod(filepath.Join(dir, "modes/setgid"), os.ModeSetgid|0o755)
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	// mtimes: every non-directory first, then directories deepest first.
	i := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		i++
		return lchtimes(p, fixedTime.Add(time.Duration(i)*time.Minute))
	})
	if err != nil {
		return err
	}
	sort.Slice(dirs, func(a, b int) bool { return strings.Count(dirs[a], "/") > strings.Count(dirs[b], "/") })
	for j, d := range dirs {
		if err := lchtimes(filepath.Join(dir, d), fixedTime.Add(-time.Duration(j)*time.Hour)); err != nil {
			return err
		}
	}
	return nil
}

func lchtimes(p string, t time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// Entry is one file system object of a manifest.
type Entry struct {
	Path   string
	Type   string // file, dir, symlink, other
	Mode   fs.FileMode
	UID    uint32
	GID    uint32
	Size   int64
	Mtime  time.Time
	SHA256 string
	Link   string
	Xattrs map[string]string
	// HardlinkOf is the first path (in walk order) that shares the inode.
	HardlinkOf string
}

func (e Entry) String() string {
	return fmt.Sprintf("%s %s %v %d:%d size=%d mtime=%s sha=%.12s link=%q xattrs=%v hardlinkOf=%q",
		e.Type, e.Path, e.Mode, e.UID, e.GID, e.Size, e.Mtime.UTC().Format(time.RFC3339Nano), e.SHA256, e.Link, e.Xattrs, e.HardlinkOf)
}

// ManifestOptions select what a manifest leaves out.
type ManifestOptions struct {
	// SkipRootMeta leaves out the root directory itself.
	SkipRootMeta bool
	// SkipDirMtimes leaves out directory mtimes.
	SkipDirMtimes bool
}

// Manifest describes every entry under root, sorted by path. Paths are
// relative to root; the root itself is ".".
func Manifest(root string, o ManifestOptions) ([]Entry, error) {
	var out []Entry
	inodes := map[[2]uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." && o.SkipRootMeta {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := Entry{Path: rel, Mode: fi.Mode(), UID: st.Uid, GID: st.Gid, Mtime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec)}
		switch {
		case fi.Mode().IsRegular():
			e.Type, e.Size = "file", fi.Size()
			if e.SHA256, err = hashFile(p); err != nil {
				return err
			}
			if st.Nlink > 1 {
				key := [2]uint64{st.Dev, st.Ino}
				if first, ok := inodes[key]; ok {
					e.HardlinkOf = first
				} else {
					inodes[key] = rel
				}
			}
		case fi.IsDir():
			e.Type = "dir"
			if o.SkipDirMtimes {
				e.Mtime = time.Time{}
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Type = "symlink"
			if e.Link, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			e.Type = "other"
		}
		if e.Type != "symlink" {
			if e.Xattrs, err = xattrs(p); err != nil {
				return err
			}
		}
		out = append(out, e)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func xattrs(p string) (map[string]string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		if err == unix.ENOTSUP {
			return nil, nil
		}
		return nil, err
	}
	var out map[string]string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if !strings.HasPrefix(name, "user.") {
			continue
		}
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = hex.EncodeToString(v[:m])
	}
	return out, nil
}

// Diff lists the differences between two manifests; empty means identical.
func Diff(want, got []Entry) []string {
	var d []string
	g := map[string]Entry{}
	for _, e := range got {
		g[e.Path] = e
	}
	w := map[string]bool{}
	for _, e := range want {
		w[e.Path] = true
		o, ok := g[e.Path]
		switch {
		case !ok:
			d = append(d, "missing: "+e.String())
		case o.String() != e.String():
			d = append(d, "want "+e.String()+"\n     got  "+o.String())
		}
	}
	for _, e := range got {
		if !w[e.Path] {
			d = append(d, "extra: "+e.String())
		}
	}
	return d
}
