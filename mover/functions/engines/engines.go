// Package engines builds the commands of the built-in database Functions:
// for each engine, the dump tool whose stdout is the backup stream and the
// restore tool that reads it back on stdin. Construction is pure (no process
// runs here); package mover/stream runs what it returns.
//
// Credentials never go into argv: PostgreSQL gets PGPASSWORD, Redis
// REDISCLI_AUTH (both in the tool's environment only), MySQL/MariaDB and
// MongoDB a mode-0600 file in a private scratch directory the caller removes.
package engines

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"trove.dev/trove/mover/stream"
)

// Conn is how to reach the database, from its AppBinding and Secret.
type Conn struct {
	Host string
	Port int32
	// Username and Password come from the AppBinding's Secret; empty
	// Username uses the tool's default.
	Username string
	Password string
	// Database is the database the AppBinding names (URL path), if any.
	Database string
	// Params are the URL's or service's query parameters (e.g. sslmode).
	Params map[string]string
}

// Env is what the engine needs of the machine: a scratch directory for
// credential files (private, removed by the caller) and PATH lookups, so
// command construction is testable without the tools installed.
type Env struct {
	Scratch string
	// Has reports whether a tool is in PATH; nil means exec.LookPath.
	Has func(name string) bool
}

// Plan is one side of a backup or restore: the tool to run, and for a
// backup the file name of the stream in the snapshot.
type Plan struct {
	Tool stream.Tool
	// StdinFilename is the stream's name in the snapshot (backups).
	StdinFilename string
	// File, when set, is a restore that writes the stream to this path
	// instead of into a tool (Redis: an RDB file for a stopped server).
	File string
}

// Engine builds the plans of one database kind.
type Engine interface {
	// Name is the engine's name, as appbinding.Engine returns it.
	Name() string
	// Backup is the dump of the database; args are the Function's
	// user-supplied arguments (--pg-args etc.), already split.
	Backup(c Conn, args []string, env Env) (Plan, error)
	// Restore feeds snapshotFile (the stream's path in the snapshot) back.
	Restore(c Conn, args []string, snapshotFile string, env Env) (Plan, error)
}

// For returns the engine for a normalized name (appbinding.Engine).
func For(name string) (Engine, error) {
	switch name {
	case "postgres":
		return Postgres{}, nil
	case "mysql", "mariadb":
		return MySQL{Flavor: name}, nil
	case "mongodb":
		return MongoDB{}, nil
	case "redis":
		return Redis{}, nil
	}
	return nil, fmt.Errorf("no built-in Function for database kind %q (supported: postgres, mysql, mariadb, mongodb, redis)", name)
}

func (e Env) has(name string) bool {
	if e.Has != nil {
		return e.Has(name)
	}
	_, err := lookPath(name)
	return err == nil
}

// writeSecretFile writes content to a new 0600 file in the scratch directory.
func (e Env) writeSecretFile(name, content string) (string, error) {
	if e.Scratch == "" {
		return "", errors.New("no scratch directory for the credentials file")
	}
	p := filepath.Join(e.Scratch, name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("writing the credentials file: %w", err)
	}
	if _, err := f.WriteString(content); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("writing the credentials file: %w", err)
	}
	return p, f.Close()
}

func port(p int32) string { return strconv.Itoa(int(p)) }

// SplitArgs splits a Function's argument string (e.g. --pg-args) like a
// POSIX shell would, without expansion: whitespace separates, single and
// double quotes group, backslash escapes.
func SplitArgs(s string) ([]string, error) {
	var (
		out     []string
		cur     strings.Builder
		inWord  bool
		quote   rune
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, fmt.Errorf("unterminated quote or escape in arguments %q", s)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// flagValue finds --name=value, --name value, or a short -x value / -xvalue
// in args.
func flagValue(args []string, long, short string) (string, bool) {
	for i, a := range args {
		switch {
		case long != "" && strings.HasPrefix(a, long+"="):
			return strings.TrimPrefix(a, long+"="), true
		case (long != "" && a == long) || (short != "" && a == short):
			if i+1 < len(args) {
				return args[i+1], true
			}
			return "", true
		case short != "" && len(a) > len(short) && strings.HasPrefix(a, short) && !strings.HasPrefix(a, "--"):
			return strings.TrimPrefix(a, short), true
		}
	}
	return "", false
}
