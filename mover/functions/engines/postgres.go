package engines

import (
	"fmt"
	"slices"
	"strings"

	"trove.dev/trove/mover/stream"
)

// Stream names in the snapshot. The name tells a restore which tool reads
// the stream back.
const (
	PostgresPlainFile   = "dumpfile.sql"  // pg_dump, plain SQL: psql
	PostgresArchiveFile = "dumpfile.dump" // pg_dump --format=custom or tar: pg_restore
	PostgresAllFile     = "dumpall.sql"   // pg_dumpall: psql
)

// Postgres backs up one database with pg_dump when the arguments name it
// (--dbname=x or -d x), every database and the roles with pg_dumpall
// otherwise. Restores use psql, or pg_restore for pg_dump's custom and tar
// formats.
type Postgres struct{}

// Name implements Engine.
func (Postgres) Name() string { return "postgres" }

func (Postgres) conn(c Conn) (args, env []string) {
	args = []string{"--host=" + c.Host, "--port=" + port(c.Port)}
	if c.Username != "" {
		args = append(args, "--username="+c.Username)
	}
	args = append(args, "--no-password")
	if c.Password != "" {
		env = append(env, "PGPASSWORD="+c.Password)
	}
	if m := c.Params["sslmode"]; m != "" {
		env = append(env, "PGSSLMODE="+m)
	}
	return args, env
}

// Backup implements Engine.
func (p Postgres) Backup(c Conn, args []string, _ Env) (Plan, error) {
	connArgs, env := p.conn(c)
	tool := stream.Tool{Path: "pg_dumpall", Env: env, Secrets: []string{c.Password}}
	file := PostgresAllFile
	if _, one := flagValue(args, "--dbname", "-d"); one {
		tool.Path, file = "pg_dump", PostgresPlainFile
		format, _ := flagValue(args, "--format", "-F")
		switch strings.ToLower(format) {
		case "", "p", "plain":
		case "c", "custom", "t", "tar":
			file = PostgresArchiveFile
		default:
			return Plan{}, fmt.Errorf("pg_dump --format=%s cannot be streamed: use plain (default), custom or tar", format)
		}
	} else if c.Database != "" {
		// pg_dumpall connects to this database to read the others.
		if _, set := flagValue(args, "--database", "-l"); !set {
			connArgs = append(connArgs, "--database="+c.Database)
		}
	}
	tool.Args = append(connArgs, args...)
	return Plan{Tool: tool, StdinFilename: file}, nil
}

// Restore implements Engine.
func (p Postgres) Restore(c Conn, args []string, snapshotFile string, _ Env) (Plan, error) {
	connArgs, env := p.conn(c)
	db := c.Database
	if db == "" {
		db = "postgres"
	}
	if _, set := flagValue(args, "--dbname", "-d"); !set {
		connArgs = append(connArgs, "--dbname="+db)
	}
	tool := stream.Tool{Env: env, Secrets: []string{c.Password}}
	switch strings.TrimPrefix(snapshotFile, "/") {
	case PostgresArchiveFile:
		tool.Path = "pg_restore"
		tool.Args = append(connArgs, args...)
	case PostgresPlainFile, PostgresAllFile:
		tool.Path = "psql"
		tool.Args = append(connArgs, "--no-psqlrc", "--quiet")
		// A single database's dump stops at its first error, so a failed
		// restore is not reported as done. pg_dumpall's output always
		// meets roles that exist already (the one psql connects as), so
		// its errors are reported on stderr but do not stop it.
		if strings.TrimPrefix(snapshotFile, "/") == PostgresPlainFile && !slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, "ON_ERROR_STOP") }) {
			tool.Args = append(tool.Args, "--set=ON_ERROR_STOP=1")
		}
		tool.Args = append(tool.Args, args...)
	default:
		return Plan{}, fmt.Errorf("snapshot file %q is not a PostgreSQL dump made by Trove (%s, %s or %s)", snapshotFile,
			PostgresPlainFile, PostgresArchiveFile, PostgresAllFile)
	}
	return Plan{Tool: tool}, nil
}
