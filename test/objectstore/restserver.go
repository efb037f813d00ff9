package objectstore

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"golang.org/x/crypto/bcrypt"
)

// RestServer is a running restic rest-server with basic auth.
type RestServer struct {
	server
	// URL is http://127.0.0.1:PORT/ (repositories live at URL/<name>).
	URL      string
	Username string
	Password string
	DataDir  string
}

// StartRestServer starts rest-server on a free port, storing repositories in
// dataDir, with one user (random password) in an htpasswd file.
func StartRestServer(dataDir string) (*RestServer, error) {
	bin, err := BinaryPath("rest-server")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	r := &RestServer{
		URL:      fmt.Sprintf("http://127.0.0.1:%d/", port),
		Username: "trove",
		Password: randomHex(16),
		DataDir:  dataDir,
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	htpasswd := filepath.Join(dataDir, ".htpasswd")
	if err := os.WriteFile(htpasswd, []byte(r.Username+":"+string(hash)+"\n"), 0o600); err != nil {
		return nil, err
	}
	r.server = server{
		name:   "rest-server",
		bin:    bin,
		args:   []string{"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--path", dataDir, "--htpasswd-file", htpasswd},
		health: r.URL,
		ready:  func(code int) bool { return code == http.StatusUnauthorized },
	}
	if err := r.start(); err != nil {
		return nil, err
	}
	return r, nil
}
