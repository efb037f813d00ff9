package engines

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const pw = `p@ss "w\rd`

var conn = Conn{Host: "db.ns.svc", Port: 5432, Username: "admin", Password: pw, Params: map[string]string{}}

func has(tools ...string) func(string) bool {
	return func(n string) bool {
		for _, t := range tools {
			if t == n {
				return true
			}
		}
		return false
	}
}

func line(p Plan) string { return p.Tool.String() }

func TestSplitArgs(t *testing.T) {
	for in, want := range map[string][]string{
		"":                                 nil,
		"  --dbname=shop  -Fc ":            {"--dbname=shop", "-Fc"},
		`--where='id > 5' "a b" c\ d`:      {"--where=id > 5", "a b", "c d"},
		`--x="it's" ''`:                    {"--x=it's", ""},
		`--tables "db.t1 db.t2" --compact`: {"--tables", "db.t1 db.t2", "--compact"},
	} {
		got, err := SplitArgs(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := SplitArgs(`--x="open`)
	assert.Error(t, err)
}

func TestPostgres(t *testing.T) {
	pgConn := conn
	pgConn.Params = map[string]string{"sslmode": "disable"}
	for _, tc := range []struct {
		name    string
		restore string // snapshot file; empty for a backup
		c       Conn
		args    []string
		want    string
		file    string
	}{
		{"dumpall", "", pgConn, nil, "pg_dumpall --host=db.ns.svc --port=5432 --username=admin --no-password", PostgresAllFile},
		{"dumpall connects to the binding's database", "", Conn{Host: "h", Port: 1, Database: "app"}, []string{"--clean"},
			"pg_dumpall --host=h --port=1 --no-password --database=app --clean", PostgresAllFile},
		{"one database", "", pgConn, []string{"--dbname=shop"}, "pg_dump --host=db.ns.svc --port=5432 --username=admin --no-password --dbname=shop", PostgresPlainFile},
		{"one database, short flag, custom format", "", pgConn, []string{"-d", "shop", "-Fc"},
			"pg_dump --host=db.ns.svc --port=5432 --username=admin --no-password -d shop -Fc", PostgresArchiveFile},
		{"tar format", "", pgConn, []string{"--dbname=shop", "--format=tar"}, "pg_dump --host=db.ns.svc --port=5432 --username=admin --no-password --dbname=shop --format=tar", PostgresArchiveFile},
		{"restore plain", "/" + PostgresPlainFile, pgConn, []string{"--dbname=shop"},
			"psql --host=db.ns.svc --port=5432 --username=admin --no-password --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --dbname=shop", ""},
		{"restore plain default db", PostgresPlainFile, Conn{Host: "h", Port: 2}, nil,
			"psql --host=h --port=2 --no-password --dbname=postgres --no-psqlrc --quiet --set=ON_ERROR_STOP=1", ""},
		{"restore dumpall", "/" + PostgresAllFile, Conn{Host: "h", Port: 2, Database: "app"}, nil,
			"psql --host=h --port=2 --no-password --dbname=app --no-psqlrc --quiet", ""},
		{"restore archive", "/" + PostgresArchiveFile, pgConn, []string{"--clean", "--if-exists", "-d", "shop"},
			"pg_restore --host=db.ns.svc --port=5432 --username=admin --no-password --clean --if-exists -d shop", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Plan
			var err error
			if tc.restore == "" {
				p, err = Postgres{}.Backup(tc.c, tc.args, Env{})
			} else {
				p, err = Postgres{}.Restore(tc.c, tc.args, tc.restore, Env{})
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, line(p))
			assert.Equal(t, tc.file, p.StdinFilename)
			assert.NotContains(t, line(p), pw)
		})
	}
	p, err := Postgres{}.Backup(pgConn, nil, Env{})
	require.NoError(t, err)
	assert.Equal(t, []string{"PGPASSWORD=" + pw, "PGSSLMODE=disable"}, p.Tool.Env)
	assert.Equal(t, []string{pw}, p.Tool.Secrets)
	_, err = Postgres{}.Backup(pgConn, []string{"--dbname=x", "-Fd"}, Env{})
	assert.ErrorContains(t, err, "cannot be streamed")
	_, err = Postgres{}.Restore(pgConn, nil, "/other.bin", Env{})
	assert.ErrorContains(t, err, "not a PostgreSQL dump")
}

func TestMySQL(t *testing.T) {
	c := conn
	c.Port = 3306
	for _, tc := range []struct {
		name    string
		e       MySQL
		tools   []string
		restore bool
		args    []string
		want    string
	}{
		{"mariadb default args", MySQL{Flavor: "mariadb"}, []string{"mariadb-dump", "mysqldump"}, false, nil,
			"mariadb-dump --defaults-extra-file=S/backup.cnf --host=db.ns.svc --port=3306 --protocol=TCP --user=admin --all-databases --single-transaction"},
		{"mysql prefers mysqldump", MySQL{Flavor: "mysql"}, []string{"mariadb-dump", "mysqldump"}, false, []string{"shop", "--no-tablespaces"},
			"mysqldump --defaults-extra-file=S/backup.cnf --host=db.ns.svc --port=3306 --protocol=TCP --user=admin shop --no-tablespaces"},
		{"mysql falls back to mariadb-dump", MySQL{Flavor: "mysql"}, []string{"mariadb-dump"}, false, []string{"shop"},
			"mariadb-dump --defaults-extra-file=S/backup.cnf --host=db.ns.svc --port=3306 --protocol=TCP --user=admin shop"},
		{"restore", MySQL{Flavor: "mariadb"}, []string{"mariadb", "mysql"}, true, []string{"shop"},
			"mariadb --defaults-extra-file=S/restore.cnf --host=db.ns.svc --port=3306 --protocol=TCP --user=admin shop"},
		{"restore with mysql client", MySQL{Flavor: "mariadb"}, []string{"mysql"}, true, nil,
			"mysql --defaults-extra-file=S/restore.cnf --host=db.ns.svc --port=3306 --protocol=TCP --user=admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scratch := t.TempDir()
			env := Env{Scratch: scratch, Has: has(tc.tools...)}
			var p Plan
			var err error
			if tc.restore {
				p, err = tc.e.Restore(c, tc.args, MySQLFile, env)
			} else {
				p, err = tc.e.Backup(c, tc.args, env)
				assert.Equal(t, MySQLFile, p.StdinFilename)
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, strings.ReplaceAll(line(p), scratch, "S"))
			name := "backup.cnf"
			if tc.restore {
				name = "restore.cnf"
			}
			fi, err := os.Stat(filepath.Join(scratch, name))
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
			raw, _ := os.ReadFile(filepath.Join(scratch, name))
			assert.Equal(t, "[client]\npassword=\"p@ss \\\"w\\\\rd\"\n", string(raw))
		})
	}
	_, err := MySQL{}.Backup(c, nil, Env{Scratch: t.TempDir(), Has: has()})
	assert.ErrorContains(t, err, "must carry the MySQL or MariaDB client")
	// No password: no option file.
	p, err := MySQL{}.Backup(Conn{Host: "h", Port: 1}, nil, Env{Has: has("mysqldump")})
	require.NoError(t, err)
	assert.Equal(t, "mysqldump --host=h --port=1 --protocol=TCP --all-databases --single-transaction", line(p))
}

func TestMongoDB(t *testing.T) {
	c := conn
	c.Port = 27017
	scratch := t.TempDir()
	env := Env{Scratch: scratch}
	p, err := MongoDB{}.Backup(c, []string{"--db=shop", "--gzip"}, env)
	require.NoError(t, err)
	assert.Equal(t, "mongodump --archive --host=db.ns.svc --port=27017 --username=admin --authenticationDatabase=admin --config=S/mongodump.yaml --db=shop --gzip",
		strings.ReplaceAll(line(p), scratch, "S"))
	assert.Equal(t, MongoDBFile, p.StdinFilename)
	raw, err := os.ReadFile(filepath.Join(scratch, "mongodump.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "password: \"p@ss \\\"w\\\\rd\"\n", string(raw))
	p, err = MongoDB{}.Restore(c, []string{"--authenticationDatabase=users", "--drop"}, MongoDBFile, env)
	require.NoError(t, err)
	assert.Equal(t, "mongorestore --archive --host=db.ns.svc --port=27017 --username=admin --config=S/mongorestore.yaml --authenticationDatabase=users --drop",
		strings.ReplaceAll(line(p), scratch, "S"))
	p, err = MongoDB{}.Backup(Conn{Host: "m", Port: 1}, nil, Env{})
	require.NoError(t, err)
	assert.Equal(t, "mongodump --archive --host=m --port=1", line(p))
}

func TestRedis(t *testing.T) {
	c := conn
	c.Port = 6379
	p, err := Redis{}.Backup(c, []string{"-n", "0"}, Env{})
	require.NoError(t, err)
	assert.Equal(t, "redis-cli -h db.ns.svc -p 6379 --user admin -n 0 --rdb -", line(p))
	assert.Equal(t, []string{"REDISCLI_AUTH=" + pw}, p.Tool.Env)
	assert.Equal(t, RedisFile, p.StdinFilename)
	c.Username = "default"
	p, err = Redis{}.Backup(c, nil, Env{})
	require.NoError(t, err)
	assert.Equal(t, "redis-cli -h db.ns.svc -p 6379 --rdb -", line(p))
	_, err = Redis{}.Backup(c, []string{"--rdb", "/x"}, Env{})
	assert.Error(t, err)

	p, err = Redis{}.Restore(c, []string{"--rdb-file=/data/dump.rdb"}, RedisFile, Env{})
	require.NoError(t, err)
	assert.Equal(t, "/data/dump.rdb", p.File)
	_, err = Redis{}.Restore(c, nil, RedisFile, Env{})
	assert.ErrorContains(t, err, "stopped server")
	_, err = Redis{}.Restore(c, []string{"--rdb-file=data/dump.rdb"}, RedisFile, Env{})
	assert.ErrorContains(t, err, "absolute")
	_, err = Redis{}.Restore(c, []string{"--rdb-file=/d", "--pipe"}, RedisFile, Env{})
	assert.ErrorContains(t, err, "only")
}

func TestFor(t *testing.T) {
	for _, n := range []string{"postgres", "mysql", "mariadb", "mongodb", "redis"} {
		e, err := For(n)
		require.NoError(t, err)
		assert.Equal(t, n, e.Name())
	}
	_, err := For("oracle")
	assert.ErrorContains(t, err, "no built-in Function")
}
