package functions_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trove.dev/trove/mover"
	"trove.dev/trove/mover/functions"
	"trove.dev/trove/mover/functions/engines"
	"trove.dev/trove/mover/restic"
	"trove.dev/trove/mover/stream"
	"trove.dev/trove/mover/trampoline"
	"trove.dev/trove/test/dbserver"
	"trove.dev/trove/test/objectstore"
)

func TestMain(m *testing.M) {
	trampoline.MaybeRun()
	code := m.Run()
	if cp != nil {
		_ = cp.Stop()
	}
	os.Exit(code)
}

const repoPassword = "functions-test-repo-password"

func localRepo(t *testing.T) mover.Mover {
	t.Helper()
	return newRepo(t, restic.BackendSpec{Local: &restic.LocalBackend{Path: filepath.Join(t.TempDir(), "repo")}}, nil)
}

func minioRepo(t *testing.T) mover.Mover {
	t.Helper()
	mi, err := objectstore.StartMinIO(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(mi.Stop)
	return newRepo(t, restic.BackendSpec{S3: &restic.S3Backend{Endpoint: mi.Endpoint, Bucket: "trove-db", Prefix: "repo"}},
		map[string][]byte{restic.KeyAWSAccessKeyID: []byte(mi.AccessKey), restic.KeyAWSSecretAccessKey: []byte(mi.SecretKey)})
}

func newRepo(t *testing.T, spec restic.BackendSpec, secret map[string][]byte) mover.Mover {
	t.Helper()
	if secret == nil {
		secret = map[string][]byte{}
	}
	secret[restic.KeyResticPassword] = []byte(repoPassword)
	m, err := restic.New(restic.Config{Binary: objectstore.Binary(t, "restic"), Backend: spec, Secret: secret,
		TempDir: t.TempDir(), InterruptGrace: 5 * time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = m.EnsureRepository(ctx)
	require.NoError(t, err)
	return m
}

func conn(s *dbserver.Server) engines.Conn {
	return engines.Conn{Host: s.Host, Port: s.Port, Username: s.User, Password: s.Password}
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

func lines(s string) int { return len(strings.Split(strings.TrimSpace(s), "\n")) }

func snapshotsOf(t *testing.T, m mover.Mover, host string) []mover.Snapshot {
	t.Helper()
	s, err := m.Snapshots(context.Background(), mover.SnapshotFilter{Host: host})
	require.NoError(t, err)
	return s
}

const pgSeed = `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, payload text, price numeric(10,2), at timestamptz);
INSERT INTO items SELECT i, 'item-' || i, md5(i::text) || repeat(chr(65 + i % 26), i % 50), i * 1.25, '2026-01-01'::timestamptz + i * interval '1 minute'
  FROM generate_series(1, 20000) i;
CREATE TABLE notes (id serial PRIMARY KEY, body text);
INSERT INTO notes (body) VALUES ('it''s "quoted"'), (E'multi\nline'), ('ünïcødé');`

// pgState is the row counts and a checksum of the content, in a fixed order.
func pgState(t *testing.T, s *dbserver.Server, db string) (rows int, checksum string) {
	t.Helper()
	items := s.PSQL(t, db, "SELECT * FROM items ORDER BY id")
	notes := s.PSQL(t, db, "SELECT * FROM notes ORDER BY id")
	n, err := strconv.Atoi(strings.TrimSpace(s.PSQL(t, db, "SELECT (SELECT count(*) FROM items) + (SELECT count(*) FROM notes)")))
	require.NoError(t, err)
	return n, sum(items + "|" + notes)
}

func TestPostgresRoundTrip(t *testing.T) {
	dbserver.Tool(t, "pg_dump")
	s := dbserver.Postgres(t)
	for _, tc := range []struct {
		name string
		repo func(*testing.T) mover.Mover
		args []string
		file string
	}{
		{"pg_dump plain, local", localRepo, []string{"--dbname=shop"}, "/" + engines.PostgresPlainFile},
		{"pg_dump custom, local, pg_restore", localRepo, []string{"--dbname=shop", "--format=custom"}, "/" + engines.PostgresArchiveFile},
		{"pg_dump plain, MinIO", minioRepo, []string{"--dbname=shop"}, "/" + engines.PostgresPlainFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			m := tc.repo(t)
			s.PSQL(t, "postgres", "DROP DATABASE IF EXISTS shop")
			s.PSQL(t, "postgres", "CREATE DATABASE shop")
			s.PSQL(t, "shop", pgSeed)
			rows, checksum := pgState(t, s, "shop")
			require.Equal(t, 20003, rows)

			db := functions.Database{Engine: engines.Postgres{}, Conn: conn(s), Args: tc.args}
			res, err := functions.BackupDatabase(ctx, m, db, functions.BackupOptions{Host: "pg", Tags: []string{"trove.dev/session=s1"},
				Priority: stream.Priority{Nice: ptr(5)}})
			require.NoError(t, err)
			assert.Positive(t, res.TotalBytesProcessed)
			snaps := snapshotsOf(t, m, "pg")
			require.Len(t, snaps, 1)
			assert.Equal(t, []string{tc.file}, snaps[0].Paths)

			// Lose the data, then restore into an empty database.
			s.PSQL(t, "postgres", "DROP DATABASE shop")
			s.PSQL(t, "postgres", "CREATE DATABASE shop")
			restoreArgs := []string{"--dbname=shop"}
			snap, err := functions.RestoreDatabase(ctx, m, functions.Database{Engine: engines.Postgres{}, Conn: conn(s), Args: restoreArgs},
				functions.RestoreOptions{Snapshot: "latest", Host: "pg"})
			require.NoError(t, err)
			assert.Equal(t, res.SnapshotID, snap.ID)
			gotRows, gotSum := pgState(t, s, "shop")
			assert.Equal(t, rows, gotRows)
			assert.Equal(t, checksum, gotSum)
		})
	}
}

// pg_dumpall (no --dbname) backs up every database and the roles; psql
// restores them, re-creating the dropped database.
func TestPostgresDumpAll(t *testing.T) {
	dbserver.Tool(t, "pg_dumpall")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := dbserver.Postgres(t)
	m := localRepo(t)
	s.PSQL(t, "postgres", "CREATE ROLE app LOGIN PASSWORD 'app-pw'")
	s.PSQL(t, "postgres", "CREATE DATABASE inventory OWNER app")
	s.PSQL(t, "inventory", pgSeed)
	rows, checksum := pgState(t, s, "inventory")

	db := functions.Database{Engine: engines.Postgres{}, Conn: conn(s)}
	_, err := functions.BackupDatabase(ctx, m, db, functions.BackupOptions{Host: "all"})
	require.NoError(t, err)
	assert.Equal(t, []string{"/" + engines.PostgresAllFile}, snapshotsOf(t, m, "all")[0].Paths)

	s.PSQL(t, "postgres", "DROP DATABASE inventory")
	s.PSQL(t, "postgres", "DROP ROLE app")
	_, err = functions.RestoreDatabase(ctx, m, db, functions.RestoreOptions{Host: "all"})
	require.NoError(t, err)
	gotRows, gotSum := pgState(t, s, "inventory")
	assert.Equal(t, rows, gotRows)
	assert.Equal(t, checksum, gotSum)
	assert.Equal(t, "app", strings.TrimSpace(s.PSQL(t, "postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'inventory'")))
}

// A dump that fails never becomes a snapshot: a missing database (pg_dump
// exits 1), a wrong password, and pg_dump killed as it starts.
func TestPostgresFailedDumpLeavesNoSnapshot(t *testing.T) {
	dbserver.Tool(t, "pg_dump")
	s := dbserver.Postgres(t)
	m := localRepo(t)
	s.PSQL(t, "postgres", "CREATE DATABASE big")
	s.PSQL(t, "big", "CREATE TABLE t AS SELECT i, repeat(md5(i::text), 20) AS pad FROM generate_series(1, 200000) i")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	bad := conn(s)
	bad.Password = "wrong-password"
	for _, tc := range []struct {
		name    string
		c       engines.Conn
		args    []string
		kill    bool
		message string
	}{
		{"missing database", conn(s), []string{"--dbname=nosuchdb"}, false, `database "nosuchdb" does not exist`},
		{"wrong password", bad, []string{"--dbname=big"}, false, "password authentication failed"},
		{"killed", conn(s), []string{"--dbname=big"}, true, "killed by signal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := strings.ReplaceAll(tc.name, " ", "-")
			o := functions.BackupOptions{Host: host}
			if tc.kill {
				o.OnStart = func(pid int) {
					go func() {
						time.Sleep(300 * time.Millisecond)
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}()
				}
			}
			_, err := functions.BackupDatabase(ctx, m, functions.Database{Engine: engines.Postgres{}, Conn: tc.c, Args: tc.args}, o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "pg_dump failed")
			assert.Contains(t, err.Error(), tc.message)
			assert.NotContains(t, err.Error(), s.Password)
			assert.Empty(t, snapshotsOf(t, m, host), "no snapshot of a failed dump")
		})
	}
	all, err := m.Snapshots(ctx, mover.SnapshotFilter{})
	require.NoError(t, err)
	assert.Empty(t, all)
}

const mariaSeed = `CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, payload TEXT, price DECIMAL(10,2)) ENGINE=InnoDB;
INSERT INTO items SELECT seq, CONCAT('item-', seq), REPEAT(MD5(seq), seq % 7), seq * 1.25 FROM seq_1_to_20000;
CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, body TEXT) ENGINE=InnoDB;
INSERT INTO notes (body) VALUES ('it''s "quoted"'), ('multi\nline'), ('ünïcødé');`

func mariaState(t *testing.T, s *dbserver.Server) (int, string) {
	t.Helper()
	items := s.SQL(t, "shop", "SELECT * FROM items ORDER BY id")
	notes := s.SQL(t, "shop", "SELECT * FROM notes ORDER BY id")
	return lines(items) + lines(notes), sum(items + "|" + notes)
}

func TestMariaDBRoundTrip(t *testing.T) {
	dbserver.Tool(t, "mariadb-dump")
	s := dbserver.MariaDB(t)
	for _, tc := range []struct {
		name string
		repo func(*testing.T) mover.Mover
	}{{"local", localRepo}, {"MinIO", minioRepo}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			m := tc.repo(t)
			s.SQL(t, "", "DROP DATABASE IF EXISTS shop; CREATE DATABASE shop")
			s.SQL(t, "shop", mariaSeed)
			rows, checksum := mariaState(t, s)
			require.Equal(t, 20003, rows)

			db := functions.Database{Engine: engines.MySQL{Flavor: "mariadb"}, Conn: conn(s), Args: []string{"--databases", "shop", "--single-transaction"}}
			_, err := functions.BackupDatabase(ctx, m, db, functions.BackupOptions{Host: "maria"})
			require.NoError(t, err)

			s.SQL(t, "", "DROP DATABASE shop")
			_, err = functions.RestoreDatabase(ctx, m, functions.Database{Engine: engines.MySQL{Flavor: "mariadb"}, Conn: conn(s)},
				functions.RestoreOptions{Host: "maria"})
			require.NoError(t, err)
			gotRows, gotSum := mariaState(t, s)
			assert.Equal(t, rows, gotRows)
			assert.Equal(t, checksum, gotSum)
		})
	}
	t.Run("default: all databases", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		m := localRepo(t)
		s.SQL(t, "", "DROP DATABASE IF EXISTS shop; CREATE DATABASE shop")
		s.SQL(t, "shop", mariaSeed)
		rows, checksum := mariaState(t, s)
		db := functions.Database{Engine: engines.MySQL{Flavor: "mariadb"}, Conn: conn(s)}
		_, err := functions.BackupDatabase(ctx, m, db, functions.BackupOptions{Host: "maria-all"})
		require.NoError(t, err)
		s.SQL(t, "", "DROP DATABASE shop")
		_, err = functions.RestoreDatabase(ctx, m, db, functions.RestoreOptions{Host: "maria-all"})
		require.NoError(t, err)
		gotRows, gotSum := mariaState(t, s)
		assert.Equal(t, rows, gotRows)
		assert.Equal(t, checksum, gotSum)
		// The restore kept the users: the Function's own login still works.
		_, err = functions.BackupDatabase(ctx, m, db, functions.BackupOptions{Host: "maria-all"})
		require.NoError(t, err)
	})
	t.Run("failed dump", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m := localRepo(t)
		_, err := functions.BackupDatabase(ctx, m, functions.Database{Engine: engines.MySQL{Flavor: "mariadb"}, Conn: conn(s), Args: []string{"--databases", "nosuchdb"}},
			functions.BackupOptions{Host: "maria-fail"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "mariadb-dump failed")
		assert.Contains(t, err.Error(), "nosuchdb")
		assert.NotContains(t, err.Error(), s.Password)
		assert.Empty(t, snapshotsOf(t, m, "maria-fail"))
	})
	t.Run("failed restore", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m := localRepo(t)
		s.SQL(t, "", "DROP DATABASE IF EXISTS shop; CREATE DATABASE shop")
		s.SQL(t, "shop", mariaSeed)
		db := functions.Database{Engine: engines.MySQL{Flavor: "mariadb"}, Conn: conn(s), Args: []string{"shop"}}
		_, err := functions.BackupDatabase(ctx, m, db, functions.BackupOptions{Host: "maria-r"})
		require.NoError(t, err)
		// No database to restore into: the client fails, and says why.
		_, err = functions.RestoreDatabase(ctx, m, functions.Database{Engine: engines.MySQL{Flavor: "mariadb"}, Conn: conn(s), Args: []string{"nosuchdb"}},
			functions.RestoreOptions{Host: "maria-r"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "mariadb failed")
		assert.Contains(t, err.Error(), "Unknown database")
	})
}

func redisState(t *testing.T, s *dbserver.Server, n int) (int, string) {
	t.Helper()
	args := []string{"MGET"}
	for i := 0; i < n; i++ {
		args = append(args, fmt.Sprintf("key:%d", i))
	}
	values := s.RedisCLI(t, args...)
	hash := s.RedisCLI(t, "HGETALL", "profile")
	list := s.RedisCLI(t, "LRANGE", "queue", "0", "-1")
	size, err := strconv.Atoi(strings.TrimSpace(s.RedisCLI(t, "DBSIZE")))
	require.NoError(t, err)
	return size, sum(values + hash + list)
}

// Redis: the RDB streamed from the live server (redis-cli --rdb -) is
// restored into the data directory of a stopped server, which loads it.
func TestRedisRoundTrip(t *testing.T) {
	dbserver.Tool(t, "redis-cli")
	t.Run("local", func(t *testing.T) { redisRoundTrip(t, localRepo) })
	t.Run("MinIO", func(t *testing.T) { redisRoundTrip(t, minioRepo) })
}

func redisRoundTrip(t *testing.T, repo func(*testing.T) mover.Mover) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := dbserver.Redis(t, "")
	const n = 2000
	var pipe strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&pipe, "SET key:%d value-%d-%s\n", i, i, strings.Repeat("x", i%40))
	}
	pipe.WriteString("HSET profile name trove lang go\nRPUSH queue a b c\n")
	// Seed through one redis-cli reading commands on stdin.
	seed := filepath.Join(t.TempDir(), "seed.txt")
	require.NoError(t, os.WriteFile(seed, []byte(pipe.String()), 0o600))
	out := runWithStdin(t, seed, []string{"REDISCLI_AUTH=" + s.Password}, "redis-cli", "-h", s.Host, "-p", strconv.Itoa(int(s.Port)))
	require.NotContains(t, out, "ERR")
	size, checksum := redisState(t, s, n)
	require.Equal(t, n+2, size)

	m := repo(t)
	db := functions.Database{Engine: engines.Redis{}, Conn: conn(s)}
	res, err := functions.BackupDatabase(ctx, m, db, functions.BackupOptions{Host: "redis"})
	require.NoError(t, err)
	assert.Positive(t, res.TotalBytesProcessed)
	s.Stop()

	// A new, stopped server's data directory receives the RDB.
	dataDir, err := os.MkdirTemp("", "trove-redis-restore-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dataDir) })
	_, err = functions.RestoreDatabase(ctx, m, functions.Database{Engine: engines.Redis{}, Conn: conn(s),
		Args: []string{engines.RedisRDBFileFlag + "=" + filepath.Join(dataDir, "dump.rdb")}}, functions.RestoreOptions{Host: "redis"})
	require.NoError(t, err)
	entries, err := os.ReadDir(dataDir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only dump.rdb, no temporary file left")
	restored := dbserver.Redis(t, dataDir)
	gotSize, gotSum := redisState(t, restored, n)
	assert.Equal(t, size, gotSize)
	assert.Equal(t, checksum, gotSum)

	// Without --rdb-file the restore explains what to do.
	_, err = functions.RestoreDatabase(ctx, m, functions.Database{Engine: engines.Redis{}, Conn: conn(s)}, functions.RestoreOptions{Host: "redis"})
	assert.ErrorContains(t, err, "--rdb-file")
}

func ptr(i int) *int { return &i }
