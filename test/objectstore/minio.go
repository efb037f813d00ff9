package objectstore

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
)

// MinIO is a running MinIO server.
type MinIO struct {
	server
	// Endpoint is http://127.0.0.1:PORT.
	Endpoint  string
	AccessKey string
	SecretKey string
	DataDir   string
}

// StartMinIO starts MinIO on a free port with data in dataDir and fresh
// random root credentials.
func StartMinIO(dataDir string) (*MinIO, error) {
	bin, err := BinaryPath("minio")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	consolePort, err := FreePort()
	if err != nil {
		return nil, err
	}
	m := &MinIO{
		Endpoint:  fmt.Sprintf("http://127.0.0.1:%d", port),
		AccessKey: "trove-" + randomHex(6),
		SecretKey: randomHex(20),
		DataDir:   dataDir,
	}
	m.server = server{
		name: "minio",
		bin:  bin,
		args: []string{"server", "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", port),
			"--console-address", fmt.Sprintf("127.0.0.1:%d", consolePort), dataDir},
		env: []string{"MINIO_ROOT_USER=" + m.AccessKey, "MINIO_ROOT_PASSWORD=" + m.SecretKey,
			"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1"},
		// Anonymous listing is refused (403) only once IAM is up; before
		// that MinIO answers 503 even when its health checks pass.
		health: m.Endpoint + "/",
		ready:  func(code int) bool { return code == http.StatusForbidden },
	}
	if err := m.start(); err != nil {
		return nil, err
	}
	return m, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
