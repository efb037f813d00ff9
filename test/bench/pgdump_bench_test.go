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

	"trove.dev/trove/functions"
	"trove.dev/trove/functions/engines"
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
	trove := func() time.Duration {
		run++
		m, err := restic.New(restic.Config{Binary: resticBin, TempDir: scratch,
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

	var bareTimes, troveTimes []time.Duration
	for i := 0; i < reps; i++ {
		// ABBA order: each side runs first as often as second.
		if i%2 == 0 {
			bareTimes = append(bareTimes, bare())
			troveTimes = append(troveTimes, trove())
		} else {
			troveTimes = append(troveTimes, trove())
			bareTimes = append(bareTimes, bare())
		}
	}
	b, tr := median(bareTimes), median(troveTimes)
	mb := float64(dumpBytes) / 1e6
	ratio := b.Seconds() / tr.Seconds()
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "run\ttime (s)\tMB/s\tratio\truns (s)\t\n")
	fmt.Fprintf(w, "pg_dump > /dev/null\t%.2f\t%.1f\t\t%s\t\n", b.Seconds(), mb/b.Seconds(), secs(bareTimes))
	fmt.Fprintf(w, "pg_dump | Trove → restic (local)\t%.2f\t%.1f\t%.2f\t%s\t\n", tr.Seconds(), mb/tr.Seconds(), ratio, secs(troveTimes))
	_ = w.Flush()
	verdict := "met"
	if ratio < 0.90 {
		verdict = "MISSED"
	}
	fmt.Printf("dump size %.0f MB; goal ratio >= 0.90: %s\n", mb, verdict)
}

func secs(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%.1f", d.Seconds()))
	}
	return strings.Join(out, " ")
}
