//go:build bench

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"trove.dev/trove/mover/functions"
	"trove.dev/trove/mover/functions/engines"
	"trove.dev/trove/mover/restic"
	"trove.dev/trove/test/dbserver"
	"trove.dev/trove/test/objectstore"
)

// pgRows makes a table whose plain pg_dump is ~1 GB (TROVE_BENCH_PG_ROWS).
var pgRows = func() int {
	if n, err := strconv.Atoi(os.Getenv("TROVE_BENCH_PG_ROWS")); err == nil && n > 0 {
		return n
	}
	return 5_600_000
}()

// TestPgDumpBench compares `pg_dump > /dev/null` with the same pg_dump
// streamed through Trove (functions.BackupDatabase: mover/stream into restic
// backup --stdin) into a fresh local repository per run, side by side in
// ABBA order. The goal is a throughput ratio of at least 0.90.
func TestPgDumpBench(t *testing.T) {
	pgDump := dbserver.Tool(t, "pg_dump")
	s := dbserver.Postgres(t, "shared_buffers=256MB")
	gen := time.Now()
	s.PSQL(t, "postgres", "CREATE DATABASE bench")
	s.PSQL(t, "bench", fmt.Sprintf(`CREATE TABLE events (id bigint, kind text, body text, at timestamptz);
INSERT INTO events SELECT i, 'kind-' || (i %% 17), md5(random()::text) || ' ' || md5(random()::text) || ' ' || md5((i * 7)::text) || ' ' || repeat(chr(97 + (i %% 26)), 20 + i %% 40), '2026-01-01'::timestamptz + i * interval '1 second'
  FROM generate_series(1, %d) i;`, pgRows))
	s.PSQL(t, "bench", "VACUUM ANALYZE events")
	t.Logf("generated %d rows in %s; table size %s", pgRows, time.Since(gen).Round(time.Second),
		strings.TrimSpace(s.PSQL(t, "bench", "SELECT pg_size_pretty(pg_total_relation_size('events'))")))

	resticBin := objectstore.Binary(t, "restic")
	scratch, err := os.MkdirTemp("", "trove-pgbench-")
	require.NoError(t, err)
	defer os.RemoveAll(scratch)
	conn := engines.Conn{Host: s.Host, Port: s.Port, Username: s.User, Password: s.Password}
	db := functions.Database{Engine: engines.Postgres{}, Conn: conn, Args: []string{"--dbname=bench"}}

	var dumpBytes int64
	bare := func() time.Duration {
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		require.NoError(t, err)
		defer devnull.Close()
		plan, err := engines.Postgres{}.Backup(conn, db.Args, engines.Env{})
		require.NoError(t, err)
		cmd := exec.Command(pgDump, plan.Tool.Args...)
		cmd.Env = append(os.Environ(), plan.Tool.Env...)
		cmd.Stdout = devnull
		unix.Sync()
		start := time.Now()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err = cmd.Run()
		d := time.Since(start)
		require.NoError(t, err, stderr.String())
		return d
	}
	run := 0
	trove := func(compression string) time.Duration {
		run++
		m, err := restic.New(restic.Config{Binary: resticBin, TempDir: scratch, Compression: compression,
			Backend: restic.BackendSpec{Local: &restic.LocalBackend{Path: filepath.Join(scratch, fmt.Sprintf("repo-%d", run))}},
			Secret:  map[string][]byte{restic.KeyResticPassword: []byte(password)}})
		require.NoError(t, err)
		_, err = m.EnsureRepository(context.Background())
		require.NoError(t, err)
		unix.Sync()
		start := time.Now()
		res, err := functions.BackupDatabase(context.Background(), m, db, functions.BackupOptions{Host: "bench"})
		d := time.Since(start)
		require.NoError(t, err)
		dumpBytes = int64(res.TotalBytesProcessed)
		require.NoError(t, os.RemoveAll(filepath.Join(scratch, fmt.Sprintf("repo-%d", run))))
		return d
	}

	// The same pipe without Trove: pg_dump | restic backup --stdin in a
	// shell, with the argv Trove's mover builds.
	pipe := func() time.Duration {
		run++
		repo := filepath.Join(scratch, fmt.Sprintf("repo-%d", run))
		env := append(os.Environ(), "RESTIC_PASSWORD="+password, "RESTIC_REPOSITORY="+repo)
		init := exec.Command(resticBin, "init", "-q")
		init.Env = env
		out, err := init.CombinedOutput()
		require.NoError(t, err, string(out))
		plan, err := engines.Postgres{}.Backup(conn, db.Args, engines.Env{})
		require.NoError(t, err)
		bk := restic.BackupCmd(restic.Globals{}, restic.BackupArgs{Stdin: true, StdinFilename: plan.StdinFilename, Host: "bench"})
		script := "set -o pipefail; \"$0\" \"$@\" | " + shellQuote(append([]string{resticBin}, bk.Args...)) + " >/dev/null"
		cmd := exec.Command("bash", append([]string{"-c", script, pgDump}, plan.Tool.Args...)...)
		cmd.Env = append(env, plan.Tool.Env...)
		unix.Sync()
		start := time.Now()
		out, err = cmd.CombinedOutput()
		d := time.Since(start)
		require.NoError(t, err, string(out))
		require.NoError(t, os.RemoveAll(repo))
		return d
	}

	sides := []struct {
		name  string
		run   func() time.Duration
		times []time.Duration
	}{
		{name: "pg_dump > /dev/null", run: bare},
		{name: "pg_dump | restic backup --stdin (shell pipe, no Trove)", run: pipe},
		{name: "pg_dump | Trove → restic (local)", run: func() time.Duration { return trove("") }},
		{name: "pg_dump | Trove → restic (local, compression off)", run: func() time.Duration { return trove("off") }},
	}
	for i := 0; i < reps; i++ {
		// ABCD DCBA: each side runs in each position equally often.
		for j := range sides {
			k := j
			if i%2 == 1 {
				k = len(sides) - 1 - j
			}
			sides[k].times = append(sides[k].times, sides[k].run())
		}
	}
	base := median(sides[0].times)
	mb := float64(dumpBytes) / 1e6
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "run\ttime (s)\tMB/s\tratio\truns (s)\t\n")
	for _, sd := range sides {
		m := median(sd.times)
		fmt.Fprintf(w, "%s\t%.2f\t%.1f\t%.2f\t%s\t\n", sd.name, m.Seconds(), mb/m.Seconds(), base.Seconds()/m.Seconds(), secs(sd.times))
	}
	_ = w.Flush()
	ratio := base.Seconds() / median(sides[2].times).Seconds()
	verdict := "met"
	if ratio < 0.90 {
		verdict = "MISSED"
	}
	fmt.Printf("dump size %.0f MB; Trove vs pg_dump > /dev/null: %.2f, goal >= 0.90: %s; Trove vs the bare shell pipe: %.2f\n",
		mb, ratio, verdict, median(sides[1].times).Seconds()/median(sides[2].times).Seconds())
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func secs(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%.1f", d.Seconds()))
	}
	return strings.Join(out, " ")
}
