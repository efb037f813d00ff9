package images

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Image references of the PostgreSQL images, assembled from this machine's
// Debian packages (see Postgres and TrovePostgres).
const (
	// TrovePostgresRef is the image the default postgres-* Functions name
	// (deploy/functions/postgres.yaml): trove, restic and the client tools.
	TrovePostgresRef = "trove.dev/trove-postgres:dev"
	// PostgresRef is a PostgreSQL server for tests (initdb on first start).
	PostgresRef = "trove.dev/postgres:dev"
)

// PostgresUID is the uid (and gid) the server image's user "postgres" has; pods
// running PostgresRef set runAsUser to it.
const PostgresUID = 999

// PostgresInstall is a PostgreSQL installation of Debian's layout: programs in
// Bin (/usr/lib/postgresql/<major>/bin), loadable modules in Lib, SQL and
// timezone-set files in Share (/usr/share/postgresql/<major>). Its programs find
// Share and Lib relative to their own path, so the images keep these paths.
type PostgresInstall struct {
	Major           string
	Bin, Lib, Share string
}

// HostPostgres finds Debian's PostgreSQL <major> on this machine, with every
// program the images need; the error says what to install.
func HostPostgres(major string) (PostgresInstall, error) {
	pg := PostgresInstall{
		Major: major,
		Bin:   "/usr/lib/postgresql/" + major + "/bin",
		Lib:   "/usr/lib/postgresql/" + major + "/lib",
		Share: "/usr/share/postgresql/" + major,
	}
	need := append(pg.programs(postgresClientTools), pg.programs(postgresServerTools)...)
	need = append(need, filepath.Join(pg.Lib, "plpgsql.so"), filepath.Join(pg.Share, "postgres.bki"), "/usr/share/zoneinfo/UTC")
	for _, p := range need {
		if _, err := os.Stat(p); err != nil {
			return PostgresInstall{}, fmt.Errorf("PostgreSQL %s is not installed on this machine (%s is missing): run `apt-get install -y postgresql` (Debian 12 installs PostgreSQL 15)", major, p)
		}
	}
	return pg, nil
}

// What `trove postgres-backup/-restore` exec, and what the server image runs.
var (
	postgresClientTools = []string{"pg_dump", "pg_dumpall", "pg_restore", "psql"}
	postgresServerTools = []string{"initdb", "postgres", "psql", "pg_isready"}
)

func (pg PostgresInstall) programs(names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, filepath.Join(pg.Bin, n))
	}
	return out
}

// pathLinks puts a symlink in /usr/local/bin for each program, so that they are
// found through PATH (Debian's /usr/bin/pg_dump is a Perl wrapper; the images
// have no Perl).
func (pg PostgresInstall) pathLinks(names []string) []File {
	var files []File
	for _, n := range names {
		files = append(files, File{Path: "/usr/local/bin/" + n, Link: filepath.Join(pg.Bin, n)})
	}
	return files
}

// TrovePostgres is the image of the built-in PostgreSQL Functions: Trove's image
// (trove, restic, busybox) as its lower layer, plus pg_dump, pg_dumpall,
// pg_restore and psql with their shared libraries.
func TrovePostgres(ctx context.Context, troveBin, resticBin, busybox string, pg PostgresInstall) (Image, error) {
	// Trove's image is the lower layer, identical to TroveRef's: containerd
	// stores and unpacks it once.
	trove, err := Trove(ctx, troveBin, resticBin, busybox)
	if err != nil {
		return Image{}, err
	}
	extra := pg.pathLinks(postgresClientTools)
	img, err := FromHostBinaries(ctx, TrovePostgresRef, busybox, pg.programs(postgresClientTools), extra, []string{"/usr/local/bin/trove"})
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", TrovePostgresRef, err)
	}
	img.Base = trove.Files
	return img, nil
}

// postgresEntrypoint initialises the data directory on first start (superuser
// POSTGRES_USER, default postgres, with POSTGRES_PASSWORD; password
// authentication over TCP, trust on the local socket in /tmp) and runs the
// server in the foreground. Locale C, UTF-8, UTC.
const postgresEntrypoint = `#!/bin/sh
set -eu
: "${PGDATA:=/var/lib/postgresql/data/pgdata}"
export PGDATA TZ=UTC
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo "postgres: set POSTGRES_PASSWORD (the superuser's password)" >&2
		exit 1
	fi
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
	initdb --username="${POSTGRES_USER:-postgres}" --pwfile="$pwfile" --no-locale --encoding=UTF8 \
		--auth-local=trust --auth-host=scram-sha-256 >/dev/null
	rm -f "$pwfile"
	cat >> "$PGDATA/postgresql.conf" <<EOF
listen_addresses = '*'
unix_socket_directories = '/tmp'
jit = off
EOF
	echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
fi
exec postgres
`

// Postgres is a PostgreSQL server image: initdb, postgres, psql and pg_isready
// with their libraries, the modules initdb loads (plpgsql, snowball
// dictionaries, encoding conversions), the share directory, UTC's timezone
// data, and a user postgres (uid PostgresUID). Run it as that uid with an
// emptyDir (or a volume it may write) at /var/lib/postgresql/data.
func Postgres(ctx context.Context, busybox string, pg PostgresInstall) (Image, error) {
	programs := pg.programs(postgresServerTools)
	modules, err := filepath.Glob(filepath.Join(pg.Lib, "*.so"))
	if err != nil {
		return Image{}, err
	}
	for _, m := range modules {
		base := filepath.Base(m)
		if base == "plpgsql.so" || base == "dict_snowball.so" || strings.Contains(base, "_and_") {
			programs = append(programs, m)
		}
	}
	share, err := hostTree(pg.Share, func(rel string) bool { return rel == "man" || strings.HasPrefix(rel, "man/") })
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", PostgresRef, err)
	}
	uid := fmt.Sprint(PostgresUID)
	extra := append(share,
		File{Path: "/usr/share/zoneinfo/UTC", HostPath: "/usr/share/zoneinfo/UTC"},
		File{Path: "/usr/share/zoneinfo/Etc/UTC", HostPath: "/usr/share/zoneinfo/UTC"},
		File{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/bin/sh\npostgres:x:" + uid + ":" + uid + ":PostgreSQL:/var/lib/postgresql:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		File{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\npostgres:x:" + uid + ":\nnogroup:x:65534:\n")},
		File{Path: "/var/lib/postgresql/data", Mode: 0o777},
		File{Path: "/usr/local/bin/postgres-entrypoint", Mode: 0o755, Data: []byte(postgresEntrypoint)},
	)
	extra = append(extra, pg.pathLinks(postgresServerTools)...)
	img, err := FromHostBinaries(ctx, PostgresRef, busybox, programs, extra, []string{"/usr/local/bin/postgres-entrypoint"})
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", PostgresRef, err)
	}
	img.Env = []string{"PGDATA=/var/lib/postgresql/data/pgdata", "TZ=UTC"}
	return img, nil
}

// hostTree lists the regular files under dir (symlinks followed) as Files at
// the same paths, except those whose path relative to dir skip says to leave out.
func hostTree(dir string, skip func(rel string) bool) ([]File, error) {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel != "." && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		info, err := os.Stat(p)
		if err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			files = append(files, File{Path: p, HostPath: p, Mode: info.Mode().Perm()})
		}
		return nil
	})
	return files, err
}
