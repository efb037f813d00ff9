//go:build bench

package bench

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"trove.dev/trove/mover"
	"trove.dev/trove/mover/restic"
	"trove.dev/trove/mover/trampoline"
	"trove.dev/trove/test/objectstore"
)

func TestMain(m *testing.M) {
	trampoline.MaybeRun()
	os.Exit(m.Run())
}

const (
	mediumFiles = 800 // 1 MiB each
	smallFiles  = 20000
	largeMiB    = 256
	password    = "bench-password-not-secret"
)

// reps is how many times each side runs (TROVE_BENCH_REPS, default 4).
var reps = func() int {
	if n, err := strconv.Atoi(os.Getenv("TROVE_BENCH_REPS")); err == nil && n > 0 {
		return n
	}
	return 4
}()

// dataset generates (once, cached under the system temp dir) >= 1 GiB of
// incompressible data: 800 files of 1 MiB, 20,000 small files, one large file.
func dataset(t *testing.T) (dir string, files int, bytes int64) {
	dir = filepath.Join(os.TempDir(), "trove-bench-dataset-v1")
	done := filepath.Join(dir, ".complete")
	if _, err := os.Stat(done); err != nil {
		require.NoError(t, os.RemoveAll(dir))
		rng := rand.New(rand.NewSource(42))
		buf := make([]byte, 1<<20)
		write := func(p string, n int) {
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			f, err := os.Create(p)
			require.NoError(t, err)
			for n > 0 {
				k := min(n, len(buf))
				rng.Read(buf[:k])
				_, err := f.Write(buf[:k])
				require.NoError(t, err)
				n -= k
			}
			require.NoError(t, f.Close())
		}
		for i := 0; i < mediumFiles; i++ {
			write(filepath.Join(dir, "data", "medium", fmt.Sprintf("d%02d", i%40), fmt.Sprintf("m%04d.bin", i)), 1<<20)
		}
		for i := 0; i < smallFiles; i++ {
			write(filepath.Join(dir, "data", "small", fmt.Sprintf("d%03d", i%200), fmt.Sprintf("s%05d.txt", i)), 512+rng.Intn(7<<10))
		}
		write(filepath.Join(dir, "data", "large.img"), largeMiB<<20)
		require.NoError(t, os.WriteFile(done, nil, 0o644))
	}
	require.NoError(t, filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files++
		bytes += fi.Size()
		return nil
	}))
	return filepath.Join(dir, "data"), files, bytes
}

type result struct {
	name     string
	dur      time.Duration
	bytes    int64
	files    int
	baseline string // name of the result this one is compared with
	minRatio float64
}

type bench struct {
	t       *testing.T
	bin     string
	scratch string
	results []result
}

// pair runs base and other in ABBA order, reps times each, and keeps the
// median run of each (the best run is too sensitive to one lucky outlier). Before every run the page cache's dirty data is
// written back (sync), so no run pays for the writes of the one before.
func (b *bench) pair(baseName string, base func() time.Duration, otherName string, other func() time.Duration, bytes int64, files int, minRatio float64) {
	var bd, od []time.Duration
	runBase := func() { unix.Sync(); bd = append(bd, base()) }
	runOther := func() { unix.Sync(); od = append(od, other()) }
	for i := 0; i < reps; i++ {
		// ABBA order: each side runs first as often as second.
		if i%2 == 0 {
			runBase()
			runOther()
		} else {
			runOther()
			runBase()
		}
	}
	bm, om := median(bd), median(od)
	b.t.Logf("%s: median %v (runs %v)", baseName, bm.Round(time.Millisecond), bd)
	b.t.Logf("%s: median %v (runs %v)", otherName, om.Round(time.Millisecond), od)
	b.add(result{name: baseName, dur: bm, bytes: bytes, files: files}, "", 0)
	b.add(result{name: otherName, dur: om, bytes: bytes, files: files}, baseName, minRatio)
}

func (b *bench) add(r result, baseline string, minRatio float64) {
	r.baseline, r.minRatio = baseline, minRatio
	b.results = append(b.results, r)
}

func (b *bench) find(name string) result {
	for _, r := range b.results {
		if r.name == name {
			return r
		}
	}
	return result{}
}

// bare runs the restic CLI directly with the given environment and argv.
func (b *bench) bare(env []string, args []string) time.Duration {
	cmd := exec.Command(b.bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	start := time.Now()
	require.NoError(b.t, cmd.Run(), strings.Join(args, " "))
	return time.Since(start)
}

type repo struct {
	spec   restic.BackendSpec
	secret map[string][]byte
}

func (b *bench) mover(r repo, cache string) *restic.Restic {
	m, err := restic.New(restic.Config{Binary: b.bin, Backend: r.spec, Secret: r.secret, CacheDir: cache, TempDir: b.scratch})
	require.NoError(b.t, err)
	return m
}

// bareEnv is the environment the mover gives restic, for the bare CLI.
func (b *bench) bareEnv(r repo) ([]string, restic.Globals, func()) {
	env, err := restic.NewEnvironment(r.spec, r.secret, b.scratch)
	require.NoError(b.t, err)
	vars := append([]string{"RESTIC_REPOSITORY=" + env.Repository, "PATH=" + os.Getenv("PATH"), "HOME=" + env.Dir()}, env.Vars...)
	return vars, env.Globals, func() { _ = env.Close() }
}

func TestMoverBench(t *testing.T) {
	ctx := context.Background()
	dir, files, size := dataset(t)
	b := &bench{t: t, bin: objectstore.Binary(t, "restic")}
	scratch, err := os.MkdirTemp("", "trove-bench-")
	require.NoError(t, err)
	defer os.RemoveAll(scratch)
	b.scratch = scratch
	mi, err := objectstore.StartMinIO(filepath.Join(scratch, "minio"))
	require.NoError(t, err)
	defer mi.Stop()
	s3secret := map[string][]byte{restic.KeyResticPassword: []byte(password),
		restic.KeyAWSAccessKeyID: []byte(mi.AccessKey), restic.KeyAWSSecretAccessKey: []byte(mi.SecretKey)}
	n := 0
	newRepo := func(kind string) repo {
		n++
		var r repo
		if kind == "local" {
			r = repo{spec: restic.BackendSpec{Local: &restic.LocalBackend{Path: filepath.Join(scratch, fmt.Sprintf("repo-%d", n))}},
				secret: map[string][]byte{restic.KeyResticPassword: []byte(password)}}
		} else {
			r = repo{spec: restic.BackendSpec{S3: &restic.S3Backend{Endpoint: mi.Endpoint, Bucket: fmt.Sprintf("bench-%d", n)}}, secret: s3secret}
		}
		_, err := b.mover(r, "").EnsureRepository(ctx)
		require.NoError(t, err)
		return r
	}
	progress := mover.ProgressOptions{Interval: time.Second, Func: func(mover.Progress) {}}

	// Backups: fresh repository per run, no cache for either, same flags.
	var lastLocal repo
	var lastSnapshot string
	for _, kind := range []string{"local", "minio"} {
		b.pair("backup "+kind+" bare restic", func() time.Duration {
			r := newRepo(kind)
			env, g, done := b.bareEnv(r)
			defer done()
			return b.bare(env, restic.BackupCmd(g, restic.BackupArgs{Paths: []string{dir}, Host: "bench"}).Args)
		}, "backup "+kind+" trove mover", func() time.Duration {
			r := newRepo(kind)
			start := time.Now()
			res, err := b.mover(r, "").Backup(ctx, mover.BackupRequest{Paths: []string{dir}, Host: "bench", Progress: progress})
			require.NoError(t, err)
			d := time.Since(start)
			if kind == "local" {
				lastLocal, lastSnapshot = r, res.SnapshotID
			}
			return d
		}, size, files, 0.97)
	}

	// Restores from the local repository into fresh directories.
	restoreDir := func() string {
		d, err := os.MkdirTemp(scratch, "restore-")
		require.NoError(t, err)
		return d
	}
	b.pair("restore local bare restic", func() time.Duration {
		target := restoreDir()
		defer os.RemoveAll(target)
		env, g, done := b.bareEnv(lastLocal)
		defer done()
		return b.bare(env, restic.RestoreCmd(g, restic.RestoreArgs{Snapshot: lastSnapshot, SubPath: dir, Target: target}).Args)
	}, "restore local trove mover", func() time.Duration {
		target := restoreDir()
		defer os.RemoveAll(target)
		start := time.Now()
		_, err := b.mover(lastLocal, "").Restore(ctx, mover.RestoreRequest{SnapshotID: lastSnapshot, SubPath: dir, Target: target, Progress: progress})
		require.NoError(t, err)
		return time.Since(start)
	}, size, files, 0.97)

	// Incremental on MinIO: before every run 1% of the files (not the large
	// one) get new content, so each run reads and uploads the same amount;
	// parent is always the first snapshot. Persistent cache vs none.
	r := newRepo("minio")
	cache := filepath.Join(scratch, "cache")
	first, err := b.mover(r, cache).Backup(ctx, mover.BackupRequest{Paths: []string{dir}, Host: "bench"})
	require.NoError(t, err)
	var originals []changedFile
	defer func() { restoreChanged(t, originals) }()
	var changedFiles int
	var changedBytes int64
	incr := func(cacheDir string) func() time.Duration {
		return func() time.Duration {
			cs := changeOnePercent(t, dir)
			if originals == nil {
				originals = cs
			}
			changedFiles, changedBytes = len(cs), 0
			for _, c := range cs {
				changedBytes += int64(len(c.data))
			}
			unix.Sync()
			start := time.Now()
			res, err := b.mover(r, cacheDir).Backup(ctx, mover.BackupRequest{Paths: []string{dir}, Host: "bench", Parent: first.SnapshotID, Progress: progress})
			require.NoError(t, err)
			require.Equal(t, uint64(len(cs)), res.FilesChanged)
			return time.Since(start)
		}
	}
	b.pair("incremental minio 1% no cache", incr(""), "incremental minio 1% persistent cache", incr(cache), size, files, 3)
	t.Logf("incremental: %d files changed per run (%d bytes)", changedFiles, changedBytes)

	b.report(files, size)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type changedFile struct {
	path string
	data []byte
	mode fs.FileMode
	mt   time.Time
}

// changeOnePercent gives every 100th file (all but the large one) new
// content of the same size, and returns the previous content.
func changeOnePercent(t *testing.T, dir string) []changedFile {
	var all []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != "large.img" {
			all = append(all, p)
		}
		return err
	}))
	sort.Strings(all)
	var out []changedFile
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := 0; i < len(all); i += 100 {
		p := all[i]
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		fi, err := os.Stat(p)
		require.NoError(t, err)
		out = append(out, changedFile{path: p, data: data, mode: fi.Mode(), mt: fi.ModTime()})
		fresh := make([]byte, len(data))
		rng.Read(fresh)
		require.NoError(t, os.WriteFile(p, fresh, fi.Mode()))
	}
	return out
}

func restoreChanged(t *testing.T, cs []changedFile) {
	for _, c := range cs {
		require.NoError(t, os.WriteFile(c.path, c.data, c.mode))
		require.NoError(t, os.Chtimes(c.path, c.mt, c.mt))
	}
}

func (b *bench) report(files int, size int64) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nTrove mover benchmark — %s, %d CPUs, restic 0.18.1, dataset %d files, %.2f GiB (median of %d runs each, ABBA order)\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), files, float64(size)/(1<<30), reps)
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(w, "run\ttime (s)\tMB/s\tfiles/s\tratio\tgoal\t")
	for _, r := range b.results {
		secs := r.dur.Seconds()
		ratio, goal := "", ""
		if r.baseline != "" {
			base := b.find(r.baseline)
			ratio = fmt.Sprintf("%.2f", base.dur.Seconds()/secs)
			ok := "met"
			if base.dur.Seconds()/secs < r.minRatio {
				ok = "MISSED"
			}
			goal = fmt.Sprintf(">= %.2f %s", r.minRatio, ok)
		}
		fmt.Fprintf(w, "%s\t%.2f\t%.1f\t%.0f\t%s\t%s\t\n", r.name, secs, float64(r.bytes)/1e6/secs, float64(r.files)/secs, ratio, goal)
	}
	_ = w.Flush()
	b.t.Log(sb.String())
	fmt.Print(sb.String())
}
