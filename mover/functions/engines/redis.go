package engines

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"

	"trove.dev/trove/mover/stream"
)

// RedisFile is the stream's name in the snapshot.
const RedisFile = "dump.rdb"

// RedisRDBFileFlag is the restore argument that names where the RDB goes.
const RedisRDBFileFlag = "--rdb-file"

// Redis backs up the server's RDB snapshot with `redis-cli --rdb -`, which
// asks the server for a fresh RDB (as a replica would) and writes it to
// stdout. The password goes in REDISCLI_AUTH.
//
// A running Redis cannot load an RDB through its protocol, so a restore
// writes the RDB file into the data directory of a stopped server:
// --redis-args=--rdb-file=/data/dump.rdb (the server's dir + dbfilename),
// e.g. from an init container or a Job that mounts the server's volume while
// it is scaled to zero. The file is written next to its final name and
// renamed into place only when complete. Redis loads it when it starts.
type Redis struct{}

// Name implements Engine.
func (Redis) Name() string { return "redis" }

func (Redis) conn(c Conn) (args, env []string) {
	args = []string{"-h", c.Host, "-p", port(c.Port)}
	if c.Username != "" && c.Username != "default" {
		args = append(args, "--user", c.Username)
	}
	if c.Password != "" {
		env = append(env, "REDISCLI_AUTH="+c.Password)
	}
	return args, env
}

// Backup implements Engine.
func (r Redis) Backup(c Conn, args []string, _ Env) (Plan, error) {
	if slices.Contains(args, "--rdb") {
		return Plan{}, errors.New("--redis-args must not set --rdb: Trove streams the RDB itself")
	}
	a, env := r.conn(c)
	a = append(append(a, args...), "--rdb", "-")
	return Plan{Tool: stream.Tool{Path: "redis-cli", Args: a, Env: env, Secrets: []string{c.Password}}, StdinFilename: RedisFile}, nil
}

// Restore implements Engine.
func (Redis) Restore(_ Conn, args []string, _ string, _ Env) (Plan, error) {
	path, ok := flagValue(args, RedisRDBFileFlag, "")
	if !ok || path == "" {
		return Plan{}, errors.New("a Redis restore writes the RDB file of a stopped server: set --redis-args=" + RedisRDBFileFlag +
			"=/path/to/dump.rdb (the server's dir and dbfilename) in a Job that mounts its data volume while the server is stopped")
	}
	for _, a := range args {
		if !strings.HasPrefix(a, RedisRDBFileFlag) && a != path {
			return Plan{}, errors.New("a Redis restore takes only " + RedisRDBFileFlag + ", not " + a)
		}
	}
	if !filepath.IsAbs(path) {
		return Plan{}, errors.New(RedisRDBFileFlag + " must be an absolute path, got " + path)
	}
	return Plan{File: filepath.Clean(path)}, nil
}
