package images

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// extract writes img's layers, lowest first, into a new directory and returns it.
func extract(t *testing.T, img Image) string {
	t.Helper()
	root := t.TempDir()
	for _, files := range [][]File{img.Base, upperFiles(img.Base, img.Files)} {
		if len(files) > 0 {
			extractLayer(t, root, files)
		}
	}
	return root
}

func extractLayer(t *testing.T, root string, files []File) {
	t.Helper()
	layer, _, err := buildLayer(files)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(h.Mode)&os.ModePerm)
			if err == nil {
				err = os.Chmod(p, os.FileMode(h.Mode)&os.ModePerm)
			}
		case tar.TypeSymlink:
			_ = os.Remove(p)
			err = os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, b, os.FileMode(h.Mode)&os.ModePerm)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func hostPostgresOrSkip(t *testing.T) PostgresInstall {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("runs the image's programs in a chroot: needs root")
	}
	pg, err := HostPostgres("15")
	if err != nil {
		t.Skip(err)
	}
	return pg
}

// TestTrovePostgresImageRunsItsTools runs every client tool of the image in a
// chroot of its layer: a missing shared library would fail here.
func TestTrovePostgresImageRunsItsTools(t *testing.T) {
	pg := hostPostgresOrSkip(t)
	start := time.Now()
	// Any static binaries stand in for trove and restic: only the layout matters here.
	img, err := TrovePostgres(t.Context(), "/bin/busybox", "/bin/busybox", "/bin/busybox", pg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d+%d files listed in %s", img.Name, len(img.Base), len(img.Files), time.Since(start).Round(time.Millisecond))
	// Its lower layer is Trove's image's, byte for byte.
	trove, err := Trove(t.Context(), "/bin/busybox", "/bin/busybox", "/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	base, baseID, err := buildLayer(img.Base)
	if err != nil {
		t.Fatal(err)
	}
	troveLayer, troveID, err := buildLayer(trove.Files)
	if err != nil {
		t.Fatal(err)
	}
	if baseID != troveID || !bytes.Equal(base, troveLayer) {
		t.Fatalf("the lower layer differs from Trove's image's layer (%s, %s)", baseID, troveID)
	}
	root := extract(t, img)
	for _, tool := range postgresClientTools {
		out, err := exec.Command("chroot", root, "/usr/local/bin/"+tool, "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "(PostgreSQL) 15.") {
			t.Errorf("%s --version in the image: %v: %s", tool, err, out)
		}
	}
}

// TestPostgresImageInitialisesAndServes runs the server image's entrypoint in a
// chroot as the postgres uid: initdb, then a server that answers psql.
func TestPostgresImageInitialisesAndServes(t *testing.T) {
	pg := hostPostgresOrSkip(t)
	img, err := Postgres(t.Context(), "/bin/busybox", pg)
	if err != nil {
		t.Fatal(err)
	}
	root := extract(t, img)
	uid := "999:999"
	env := append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "POSTGRES_PASSWORD=s3cret-pw"}, img.Env...)
	// PostgreSQL wants /dev/null and /dev/shm; the port is only used for the socket's name (in /tmp of the chroot).
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "dev"), 0o755))
	must(os.WriteFile(filepath.Join(root, "dev/null"), nil, 0o666))
	must(os.Chmod(filepath.Join(root, "dev/null"), 0o666))
	must(os.MkdirAll(filepath.Join(root, "dev/shm"), 0o777))
	must(os.Chmod(filepath.Join(root, "dev/shm"), 0o1777))
	cmd := exec.Command("chroot", "--userspec="+uid, root, "/usr/local/bin/postgres-entrypoint")
	cmd.Env = append(env, "PGPORT=55439")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	must(cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		psql := exec.Command("chroot", "--userspec="+uid, root, "/usr/local/bin/psql", "-h", "/tmp", "-p", "55439", "-U", "postgres", "-tAc", "select current_setting('server_version_num')::int / 10000")
		psql.Env = env
		out, err := psql.CombinedOutput()
		if err == nil && strings.TrimSpace(string(out)) == "15" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server in the image does not answer: %v: %s\nserver log:\n%s", err, out, log.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	if strings.Contains(log.String(), "s3cret-pw") {
		t.Fatalf("the password is in the server's output:\n%s", log.String())
	}
}
