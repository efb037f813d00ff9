// Package dbserver runs real database servers from Debian's packages as
// processes for tests and benchmarks: PostgreSQL (postgresql), MariaDB
// (mariadb-server) and Redis (redis-server), each on a free loopback port with
// its data in a private temporary directory, and password authentication
// over TCP. A missing server binary fails the test with the apt-get line to
// run (CI installs the packages in .ci/run); it never skips.
package dbserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"trove.dev/trove/test/objectstore"
)

// AptPackages is what the servers and their client tools need.
const AptPackages = "postgresql mariadb-server redis-server"

// Server is one running database server.
type Server struct {
	Host     string
	Port     int32
	User     string
	Password string
	// Dir holds the server's data and sockets.
	Dir string
	// Socket is the Unix socket directory (PostgreSQL) or file (MariaDB).
	Socket string

	cmd  *exec.Cmd
	log  *bytes.Buffer
	stop func()
}

// Stop kills the server and waits for it; its data stays until the test ends.
func (s *Server) Stop() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// Log is the server's output so far.
func (s *Server) Log() string { return s.log.String() }

func need(t testing.TB, path, what string) string {
	t.Helper()
	if strings.Contains(path, "*") {
		m, _ := filepath.Glob(path)
		if len(m) == 0 {
			t.Fatalf("%s is not installed (no %s): run `apt-get install -y %s` (make test installs it)", what, path, AptPackages)
		}
		return m[len(m)-1]
	}
	p, err := exec.LookPath(path)
	if err != nil {
		t.Fatalf("%s is not installed (%s not found): run `apt-get install -y %s` (make test installs it)", what, path, AptPackages)
	}
	return p
}

// Tool returns the path of a client tool, failing the test with the package to
// install when it is missing.
func Tool(t testing.TB, name string) string { return need(t, name, name) }

func password() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	// Characters that need quoting in option files and URLs, on purpose.
	return "Pw\"" + hex.EncodeToString(b) + `\'x`
}

// dir makes a private data directory that owner (nil: root) can use.
func dir(t testing.TB, name string, owner *user.User) string {
	t.Helper()
	d, err := os.MkdirTemp("", "trove-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if owner != nil {
		uid, _ := strconv.Atoi(owner.Uid)
		gid, _ := strconv.Atoi(owner.Gid)
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func credential(u *user.User) *syscall.Credential {
	if u == nil {
		return nil
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// run runs a setup command and fails the test with its output on error.
func run(t testing.TB, as *user.User, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: credential(as)}
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// start runs the server in its own process group, killed with the test
// process and at cleanup, and waits until ready() succeeds.
func start(t testing.TB, s *Server, as *user.User, ready func() error, name string, args ...string) {
	t.Helper()
	s.log = &bytes.Buffer{}
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: credential(as)}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd = cmd
	s.stop = func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := ready()
		if err == nil {
			return
		}
		select {
		case <-done:
			t.Fatalf("%s exited during startup: %v\n%s", name, err, s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60s: %v\n%s", name, err, s.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freePort(t testing.TB) int32 {
	p, err := objectstore.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return int32(p)
}

// Postgres starts a PostgreSQL server (as the postgres user: it refuses root)
// with scram-sha-256 password authentication on 127.0.0.1. extra are
// postgres -c settings.
func Postgres(t testing.TB, extra ...string) *Server {
	t.Helper()
	initdb := need(t, "/usr/lib/postgresql/*/bin/initdb", "PostgreSQL (package postgresql)")
	bin := filepath.Dir(initdb)
	pg, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("no postgres user: run `apt-get install -y %s`", AptPackages)
	}
	s := &Server{Host: "127.0.0.1", Port: freePort(t), User: "postgres", Password: password()}
	s.Dir = dir(t, "postgres", pg)
	s.Socket = s.Dir
	pwfile := filepath.Join(s.Dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(pg.Uid)
	_ = os.Chown(pwfile, uid, -1)
	data := filepath.Join(s.Dir, "data")
	run(t, pg, nil, initdb, "-D", data, "-U", "postgres", "--auth-host=scram-sha-256", "--auth-local=trust",
		"--pwfile="+pwfile, "--no-sync", "--encoding=UTF8", "--locale=C")
	_ = os.Remove(pwfile)
	args := []string{"-D", data, "-p", strconv.Itoa(int(s.Port)), "-k", s.Dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"}
	for _, e := range extra {
		args = append(args, "-c", e)
	}
	start(t, s, pg, func() error {
		return exec.Command(filepath.Join(bin, "pg_isready"), "-q", "-h", s.Dir, "-p", strconv.Itoa(int(s.Port))).Run()
	}, filepath.Join(bin, "postgres"), args...)
	return s
}

// PSQL runs SQL as the superuser over the socket (no password) and returns
// the unaligned, tuples-only output.
func (s *Server) PSQL(t testing.TB, db, sql string) string {
	t.Helper()
	return run(t, nil, nil, Tool(t, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", s.Dir,
		"-p", strconv.Itoa(int(s.Port)), "-U", "postgres", "-d", db, "-c", sql)
}

// MariaDB starts mariadbd with a user trove@% (all privileges) whose
// password is s.Password; root logs in over the socket.
func MariaDB(t testing.TB) *Server {
	t.Helper()
	mariadbd := need(t, "mariadbd", "MariaDB (package mariadb-server)")
	install := need(t, "mariadb-install-db", "MariaDB (package mariadb-server)")
	s := &Server{Host: "127.0.0.1", Port: freePort(t), User: "trove", Password: password()}
	s.Dir = dir(t, "mariadb", nil)
	s.Socket = filepath.Join(s.Dir, "mysqld.sock")
	data := filepath.Join(s.Dir, "data")
	run(t, nil, nil, install, "--no-defaults", "--datadir="+data, "--user=root", "--auth-root-authentication-method=socket",
		"--skip-test-db")
	start(t, s, nil, func() error {
		return exec.Command(Tool(t, "mariadb"), "--no-defaults", "--socket="+s.Socket, "-uroot", "-e", "SELECT 1").Run()
	}, mariadbd, "--no-defaults", "--datadir="+data, "--user=root", "--port="+strconv.Itoa(int(s.Port)),
		"--bind-address=127.0.0.1", "--socket="+s.Socket, "--pid-file="+filepath.Join(s.Dir, "pid"),
		"--innodb-flush-log-at-trx-commit=0", "--skip-log-bin", "--log-error="+filepath.Join(s.Dir, "error.log"))
	q := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s.Password)
	s.SQL(t, "", "CREATE USER 'trove'@'%' IDENTIFIED BY '"+q+"'; GRANT ALL PRIVILEGES ON *.* TO 'trove'@'%' WITH GRANT OPTION;")
	return s
}

// SQL runs SQL as root over the socket and returns the batch output.
func (s *Server) SQL(t testing.TB, db, sql string) string {
	t.Helper()
	args := []string{"--no-defaults", "--socket=" + s.Socket, "-uroot", "-N", "-B", "-e", sql}
	if db != "" {
		args = append(args, db)
	}
	return run(t, nil, nil, Tool(t, "mariadb"), args...)
}

// Redis starts redis-server with requirepass and persistence off, its
// working directory (where it loads dump.rdb from) at dataDir (empty: a new
// one).
func Redis(t testing.TB, dataDir string) *Server {
	t.Helper()
	bin := need(t, "redis-server", "Redis (package redis-server)")
	s := &Server{Host: "127.0.0.1", Port: freePort(t), User: "default", Password: password()}
	if dataDir == "" {
		dataDir = dir(t, "redis", nil)
	}
	s.Dir = dataDir
	conf := filepath.Join(s.Dir, "redis.conf")
	quoted := strconv.Quote(s.Password)
	cfg := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\ndbfilename dump.rdb\nsave \"\"\nappendonly no\nrequirepass %s\n", s.Port, s.Dir, quoted)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, s, nil, func() error {
		out, err := s.redisCLI(context.Background(), "PING")
		if err == nil && strings.TrimSpace(out) != "PONG" {
			return fmt.Errorf("PING answered %q", out)
		}
		return err
	}, bin, conf)
	return s
}

func (s *Server) redisCLI(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "redis-cli", append([]string{"-h", s.Host, "-p", strconv.Itoa(int(s.Port))}, args...)...)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+s.Password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("redis-cli %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// RedisCLI runs a redis-cli command and returns its output.
func (s *Server) RedisCLI(t testing.TB, args ...string) string {
	t.Helper()
	Tool(t, "redis-cli")
	out, err := s.redisCLI(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
