package restic

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnvironmentPerBackend(t *testing.T) {
	pw := []byte("s3cr3t-restic-pw")
	tests := []struct {
		name     string
		spec     BackendSpec
		secret   map[string][]byte
		repo     string
		vars     []string // KEY=VALUE expected among Vars
		options  []string
		files    []string // env keys or "cacert" whose files must exist with 0600
		insecure bool
	}{
		{name: "local", spec: BackendSpec{Local: &LocalBackend{Path: "/mnt/repo/sub/"}}, repo: "/mnt/repo/sub"},
		{name: "s3 https default", spec: BackendSpec{S3: &S3Backend{Endpoint: "s3.amazonaws.com", Bucket: "b", Prefix: "/p/q/", Region: "eu-west-1"}},
			secret: map[string][]byte{"AWS_ACCESS_KEY_ID": []byte("AKIA"), "AWS_SECRET_ACCESS_KEY": []byte("SECRET")},
			repo:   "s3:https://s3.amazonaws.com/b/p/q", vars: []string{"AWS_ACCESS_KEY_ID=AKIA", "AWS_SECRET_ACCESS_KEY=SECRET"},
			options: []string{"s3.region=eu-west-1"}},
		{name: "s3 http endpoint with CA", spec: BackendSpec{S3: &S3Backend{Endpoint: "http://127.0.0.1:9000/", Bucket: "b", InsecureTLS: true}},
			secret: map[string][]byte{"CA_CERT_DATA": []byte("-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n")},
			repo:   "s3:http://127.0.0.1:9000/b", files: []string{"cacert"}, insecure: true},
		{name: "gcs", spec: BackendSpec{GCS: &GCSBackend{Bucket: "gb", Prefix: "x", MaxConnections: 8}},
			secret: map[string][]byte{"GOOGLE_PROJECT_ID": []byte("proj"), "GOOGLE_SERVICE_ACCOUNT_JSON_KEY": []byte(`{"private_key":"k"}`)},
			repo:   "gs:gb:/x", vars: []string{"GOOGLE_PROJECT_ID=proj"}, options: []string{"gs.connections=8"}, files: []string{"GOOGLE_APPLICATION_CREDENTIALS"}},
		{name: "azure", spec: BackendSpec{Azure: &AzureBackend{Container: "c", Prefix: "/p", MaxConnections: 3}},
			secret: map[string][]byte{"AZURE_ACCOUNT_NAME": []byte("acct"), "AZURE_ACCOUNT_KEY": []byte("azure-key-zz")},
			repo:   "azure:c:/p", vars: []string{"AZURE_ACCOUNT_NAME=acct", "AZURE_ACCOUNT_KEY=azure-key-zz"}, options: []string{"azure.connections=3"}},
		{name: "swift", spec: BackendSpec{Swift: &SwiftBackend{Container: "c", Prefix: "p"}},
			secret: map[string][]byte{"OS_AUTH_URL": []byte("https://keystone"), "OS_PASSWORD": []byte("swift-pw-zz"), "UNRELATED": []byte("unrelated-value")},
			repo:   "swift:c:/p", vars: []string{"OS_AUTH_URL=https://keystone", "OS_PASSWORD=swift-pw-zz"}},
		{name: "b2", spec: BackendSpec{B2: &B2Backend{Bucket: "bb", Prefix: "p", MaxConnections: 2}},
			secret: map[string][]byte{"B2_ACCOUNT_ID": []byte("b2-account-id"), "B2_ACCOUNT_KEY": []byte("b2-key-xyz")},
			repo:   "b2:bb:p", vars: []string{"B2_ACCOUNT_ID=b2-account-id", "B2_ACCOUNT_KEY=b2-key-xyz"}, options: []string{"b2.connections=2"}},
		{name: "rest", spec: BackendSpec{Rest: &RestBackend{URL: "https://backup.example:8000/trove"}},
			secret: map[string][]byte{"REST_SERVER_USERNAME": []byte("rest-user"), "REST_SERVER_PASSWORD": []byte("p@ss")},
			repo:   "rest:https://backup.example:8000/trove/", vars: []string{"RESTIC_REST_USERNAME=rest-user", "RESTIC_REST_PASSWORD=p@ss"}},
		{name: "sftp", spec: BackendSpec{SFTP: &SFTPBackend{Host: "h.example", Port: 2222, User: "u", Path: "/srv/repo"}},
			secret: map[string][]byte{"SSH_PRIVATE_KEY": []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nxyz\n"), "SSH_KNOWN_HOSTS": []byte("h.example ssh-ed25519 AAAA")},
			repo:   "sftp:u@h.example:/srv/repo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			secret := map[string][]byte{"RESTIC_PASSWORD": pw}
			for k, v := range tc.secret {
				secret[k] = v
			}
			env, err := NewEnvironment(tc.spec, secret, t.TempDir())
			require.NoError(t, err)
			dir := env.Dir()
			fi, err := os.Stat(dir)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

			assert.Equal(t, tc.repo, env.Repository)
			for _, v := range tc.vars {
				assert.Contains(t, env.Vars, v)
			}
			assert.NotContains(t, env.Vars, "UNRELATED=unrelated-value")
			for _, kv := range env.Vars {
				assert.False(t, strings.HasPrefix(kv, "RESTIC_PASSWORD="), "password must go through a file")
			}
			pwFile := lookup(env.Vars, "RESTIC_PASSWORD_FILE")
			assertSecretFile(t, pwFile, pw)
			for _, f := range tc.files {
				p := env.Globals.CACertFile
				if f != "cacert" {
					p = lookup(env.Vars, f)
				}
				assertSecretFile(t, p, nil)
			}
			assert.Equal(t, tc.insecure, env.Globals.InsecureTLS)
			if tc.spec.SFTP != nil {
				require.Len(t, env.Globals.Options, 1)
				o := env.Globals.Options[0]
				assert.True(t, strings.HasPrefix(o, "sftp.command=ssh -i "+filepath.Join(dir, "id_ssh")))
				assert.Contains(t, o, "UserKnownHostsFile="+filepath.Join(dir, "known_hosts"))
				assert.Contains(t, o, "StrictHostKeyChecking=yes")
				assert.Contains(t, o, "-p 2222 u@h.example -s sftp")
			} else {
				assert.ElementsMatch(t, tc.options, env.Globals.Options)
			}
			// No secret value in anything that reaches argv.
			argv := strings.Join(BackupCmd(env.Globals, BackupArgs{Paths: []string{"/d"}}).Args, " ") + " " + env.Repository
			for _, v := range secret {
				assert.NotContains(t, argv, string(v))
			}

			require.NoError(t, env.Close())
			_, err = os.Stat(dir)
			assert.True(t, os.IsNotExist(err), "private dir must be removed")
		})
	}
}

func TestEnvironmentRejects(t *testing.T) {
	pw := map[string][]byte{"RESTIC_PASSWORD": []byte("x")}
	_, err := NewEnvironment(BackendSpec{Local: &LocalBackend{Path: "/r"}}, map[string][]byte{}, t.TempDir())
	assert.ErrorContains(t, err, "RESTIC_PASSWORD")
	_, err = NewEnvironment(BackendSpec{}, pw, t.TempDir())
	assert.ErrorContains(t, err, "exactly one backend")
	_, err = NewEnvironment(BackendSpec{Local: &LocalBackend{Path: "/r"}, S3: &S3Backend{}}, pw, t.TempDir())
	assert.ErrorContains(t, err, "exactly one backend")
	_, err = NewEnvironment(BackendSpec{Rest: &RestBackend{URL: "https://user:hunter2@h/"}}, pw, t.TempDir())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
	_, err = NewEnvironment(BackendSpec{Local: &LocalBackend{Path: "relative"}}, pw, t.TempDir())
	assert.ErrorContains(t, err, "not absolute")
	// A failed environment leaves no private directory behind.
	tmp := t.TempDir()
	_, err = NewEnvironment(BackendSpec{SFTP: &SFTPBackend{Host: "h", User: "u", Path: "/p"}}, pw, tmp)
	assert.ErrorContains(t, err, "SSH_PRIVATE_KEY")
	entries, _ := os.ReadDir(tmp)
	assert.Empty(t, entries)
}

func lookup(vars []string, key string) string {
	for _, kv := range vars {
		if strings.HasPrefix(kv, key+"=") {
			return strings.TrimPrefix(kv, key+"=")
		}
	}
	return ""
}

func assertSecretFile(t *testing.T, p string, want []byte) {
	t.Helper()
	require.NotEmpty(t, p)
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), p)
	if want != nil {
		got, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
}
