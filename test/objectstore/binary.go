// Package objectstore runs real storage servers for tests: MinIO (S3) and
// restic's rest-server, on 127.0.0.1 with random free ports and data in a
// directory the caller owns. Binaries come from hack/bin.sh, which builds the
// pinned versions from the Go module proxy on a fresh machine.
package objectstore

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// RepoRoot returns the root of the Trove work tree (the directory of the
// go.mod that declares module trove.dev/trove), searching up from the
// current directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(data), []byte("module trove.dev/trove\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("objectstore: not inside the trove.dev/trove work tree")
		}
		dir = parent
	}
}

var (
	binMu    sync.Mutex
	binPaths = map[string]string{}
)

// BinaryPath returns the path of a pinned binary (restic, minio,
// rest-server, ...) by running hack/bin.sh NAME, which builds it if needed.
func BinaryPath(name string) (string, error) {
	binMu.Lock()
	defer binMu.Unlock()
	if p, ok := binPaths[name]; ok {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(root, "hack", "bin.sh"), name)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/bin.sh %s: %w: %s", name, err, stderr.String())
	}
	p := strings.TrimSpace(string(out))
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("hack/bin.sh %s printed %q: %w", name, p, err)
	}
	binPaths[name] = p
	return p, nil
}

// Binary is BinaryPath for tests: it fails the test when the binary cannot be had.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p, err := BinaryPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
