package restic_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/require"

	"trove.dev/trove/mover/restic"
	"trove.dev/trove/mover/trampoline"
	"trove.dev/trove/test/objectstore"
)

// The suite shares one scratch directory, one local repository, and (started
// on first use) one MinIO and one rest-server with one repository each:
// restic init costs ~2.5 s of key derivation.
var (
	scratch    string
	resticPath string

	localOnce sync.Once
	localRepo string
	localErr  error

	minioOnce sync.Once
	minio     *objectstore.MinIO
	minioErr  error

	restOnce sync.Once
	rest     *objectstore.RestServer
	restErr  error
)

const password = "correct-horse-battery-staple-42"

func TestMain(m *testing.M) {
	trampoline.MaybeRun()
	var err error
	scratch, err = os.MkdirTemp("", "trove-mover-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if minio != nil {
		minio.Stop()
	}
	if rest != nil {
		rest.Stop()
	}
	_ = os.RemoveAll(scratch)
	os.Exit(code)
}

func bin(t *testing.T) string {
	t.Helper()
	if resticPath == "" {
		resticPath = objectstore.Binary(t, "restic")
	}
	return resticPath
}

func mkdir(t *testing.T, name string) string {
	t.Helper()
	d, err := os.MkdirTemp(scratch, name+"-")
	require.NoError(t, err)
	return d
}

// testLogger collects every logged line so tests can look for secrets.
type testLogger struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLogger) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		l.lines = append(l.lines, prefix+" "+args)
		l.mu.Unlock()
	}, funcr.Options{Verbosity: 9})
}

func (l *testLogger) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func newMover(t *testing.T, spec restic.BackendSpec, secret map[string][]byte, tweak ...func(*restic.Config)) *restic.Restic {
	t.Helper()
	if secret == nil {
		secret = map[string][]byte{}
	}
	if _, ok := secret[restic.KeyResticPassword]; !ok {
		secret[restic.KeyResticPassword] = []byte(password)
	}
	cfg := restic.Config{Binary: bin(t), Backend: spec, Secret: secret, TempDir: scratch, InterruptGrace: 5 * time.Second}
	for _, f := range tweak {
		f(&cfg)
	}
	m, err := restic.New(cfg)
	require.NoError(t, err)
	return m
}

func ensure(t *testing.T, m *restic.Restic) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := m.EnsureRepository(ctx)
	require.NoError(t, err)
}

// local returns a Mover on the suite's local repository (created once).
func local(t *testing.T, tweak ...func(*restic.Config)) *restic.Restic {
	t.Helper()
	localOnce.Do(func() {
		localRepo = filepath.Join(scratch, "local-repo")
		m := newMover(t, restic.BackendSpec{Local: &restic.LocalBackend{Path: localRepo}}, nil)
		_, localErr = m.EnsureRepository(context.Background())
	})
	require.NoError(t, localErr)
	return newMover(t, restic.BackendSpec{Local: &restic.LocalBackend{Path: localRepo}}, nil, tweak...)
}

func s3Spec(bucket string) restic.BackendSpec {
	return restic.BackendSpec{S3: &restic.S3Backend{Endpoint: minio.Endpoint, Bucket: bucket, Prefix: "repo"}}
}

func s3Secret(mi *objectstore.MinIO) map[string][]byte {
	return map[string][]byte{restic.KeyAWSAccessKeyID: []byte(mi.AccessKey), restic.KeyAWSSecretAccessKey: []byte(mi.SecretKey)}
}

// s3 returns a Mover on the suite's MinIO repository (created once).
func s3(t *testing.T, tweak ...func(*restic.Config)) *restic.Restic {
	t.Helper()
	minioOnce.Do(func() {
		minio, minioErr = objectstore.StartMinIO(filepath.Join(scratch, "minio"))
		if minioErr == nil {
			m := newMover(t, s3Spec("suite"), s3Secret(minio))
			_, minioErr = m.EnsureRepository(context.Background())
		}
	})
	require.NoError(t, minioErr)
	return newMover(t, s3Spec("suite"), s3Secret(minio), tweak...)
}

// restServer returns a Mover on the suite's rest-server repository.
func restServer(t *testing.T, tweak ...func(*restic.Config)) *restic.Restic {
	t.Helper()
	spec := func() restic.BackendSpec {
		return restic.BackendSpec{Rest: &restic.RestBackend{URL: rest.URL + "suite"}}
	}
	secret := func() map[string][]byte {
		return map[string][]byte{restic.KeyRestUsername: []byte(rest.Username), restic.KeyRestPassword: []byte(rest.Password)}
	}
	restOnce.Do(func() {
		dir := filepath.Join(scratch, "rest")
		if restErr = os.MkdirAll(dir, 0o700); restErr != nil {
			return
		}
		rest, restErr = objectstore.StartRestServer(dir)
		if restErr == nil {
			_, restErr = newMover(t, spec(), secret()).EnsureRepository(context.Background())
		}
	})
	require.NoError(t, restErr)
	return newMover(t, spec(), secret(), tweak...)
}
