package objectstore

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBinaryFromBinSh(t *testing.T) {
	p := Binary(t, "restic")
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&0o111, "executable")
	assert.Equal(t, "restic", filepath.Base(p))
	_, err = BinaryPath("no-such-tool")
	assert.Error(t, err)
}

func TestMinIOStartsKillsAndRestarts(t *testing.T) {
	m, err := StartMinIO(t.TempDir())
	require.NoError(t, err)
	defer m.Stop()
	status := func() int {
		resp, err := http.Get(m.Endpoint + "/")
		if err != nil {
			return 0
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusForbidden, status(), "anonymous listing is refused")
	m.Kill()
	assert.Equal(t, 0, status(), "nothing answers after a kill")
	require.NoError(t, m.Restart())
	assert.Equal(t, http.StatusForbidden, status())
	assert.Error(t, m.Restart(), "a running server cannot start twice")
}

func TestRestServerRequiresAuth(t *testing.T) {
	r, err := StartRestServer(t.TempDir())
	require.NoError(t, err)
	defer r.Stop()
	do := func(user, pass string) int {
		req, err := http.NewRequest(http.MethodGet, r.URL+"repo/config", nil)
		require.NoError(t, err)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusUnauthorized, do("", ""))
	assert.Equal(t, http.StatusUnauthorized, do(r.Username, "wrong"))
	assert.Equal(t, http.StatusNotFound, do(r.Username, r.Password), "authenticated, no repository yet")
}
