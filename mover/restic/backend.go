package restic

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"trove.dev/trove/apis/v1alpha1"
)

// Storage Secret keys (Stash's names), as the API defines them.
const (
	KeyResticPassword      = v1alpha1.SecretResticPassword
	KeyAWSAccessKeyID      = v1alpha1.SecretAWSAccessKeyID
	KeyAWSSecretAccessKey  = v1alpha1.SecretAWSSecretAccessKey
	KeyAWSSessionToken     = v1alpha1.SecretAWSSessionToken
	KeyCACertData          = v1alpha1.SecretCACertData
	KeyGoogleProjectID     = v1alpha1.SecretGoogleProjectID
	KeyGoogleServiceJSON   = v1alpha1.SecretGoogleServiceKey
	KeyAzureAccountName    = v1alpha1.SecretAzureAccountName
	KeyAzureAccountKey     = v1alpha1.SecretAzureAccountKey
	KeyAzureAccountSAS     = v1alpha1.SecretAzureAccountSAS
	KeyAzureEndpointSuffix = v1alpha1.SecretAzureEndpointSuffix
	KeyB2AccountID         = v1alpha1.SecretB2AccountID
	KeyB2AccountKey        = v1alpha1.SecretB2AccountKey
	KeyRestUsername        = v1alpha1.SecretRestServerUsername
	KeyRestPassword        = v1alpha1.SecretRestServerPassword
	KeySSHPrivateKey       = v1alpha1.SecretSSHPrivateKey
	KeySSHKnownHosts       = v1alpha1.SecretSSHKnownHosts
)

// BackendSpec says where a repository lives; exactly one field is set. It
// mirrors apis/v1alpha1.Backend (see FromRepository).
type BackendSpec struct {
	Local *LocalBackend
	S3    *S3Backend
	GCS   *GCSBackend
	Azure *AzureBackend
	Swift *SwiftBackend
	B2    *B2Backend
	Rest  *RestBackend
	SFTP  *SFTPBackend
}

// LocalBackend is a repository in a directory (mountPath/subPath).
type LocalBackend struct{ Path string }

// S3Backend is an S3 or S3-compatible bucket.
type S3Backend struct {
	Endpoint, Bucket, Prefix, Region string
	InsecureTLS                      bool
}

// GCSBackend is a Google Cloud Storage bucket.
type GCSBackend struct {
	Bucket, Prefix string
	MaxConnections int
}

// AzureBackend is an Azure Blob container.
type AzureBackend struct {
	Container, Prefix string
	MaxConnections    int
}

// SwiftBackend is an OpenStack Swift container.
type SwiftBackend struct{ Container, Prefix string }

// B2Backend is a Backblaze B2 bucket.
type B2Backend struct {
	Bucket, Prefix string
	MaxConnections int
}

// RestBackend is a restic rest-server; credentials come from the Secret.
type RestBackend struct{ URL string }

// SFTPBackend is a directory on an SFTP server.
type SFTPBackend struct {
	Host string
	Port int
	User string
	Path string
}

// Environment is what one restic invocation needs to reach a repository:
// the repository string, environment variables, files and the global options.
// Secret-bearing files live in a private directory that Close removes.
type Environment struct {
	Repository string
	// Vars are KEY=VALUE pairs for restic's environment; some hold secrets.
	Vars []string
	// Globals carry the non-secret options (cacert file, -o options).
	Globals Globals
	// Secrets are every secret value, for the redactor.
	Secrets []string
	dir     string
}

// Close removes the private directory and the secret files in it.
func (e *Environment) Close() error {
	if e == nil || e.dir == "" {
		return nil
	}
	err := os.RemoveAll(e.dir)
	e.dir = ""
	return err
}

// Dir is the private directory holding the secret files.
func (e *Environment) Dir() string { return e.dir }

// NewEnvironment builds the environment for spec with the storage Secret's
// data. Secret files go to a new 0700 directory under tmpDir (os.TempDir()
// when empty); the caller must Close the environment.
func NewEnvironment(spec BackendSpec, secret map[string][]byte, tmpDir string) (env *Environment, err error) {
	pw, ok := secret[KeyResticPassword]
	if !ok || len(pw) == 0 {
		return nil, fmt.Errorf("storage secret has no %s", KeyResticPassword)
	}
	if n := spec.count(); n != 1 {
		return nil, fmt.Errorf("exactly one backend must be set, found %d", n)
	}
	dir, err := os.MkdirTemp(tmpDir, "trove-restic-")
	if err != nil {
		return nil, fmt.Errorf("creating private directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	e := &Environment{dir: dir}
	defer func() {
		if err != nil {
			_ = e.Close()
			env = nil
		}
	}()
	for _, v := range secret {
		e.addSecret(string(v))
	}
	pwFile, err := e.writeFile("password", pw)
	if err != nil {
		return nil, err
	}
	e.setenv("RESTIC_PASSWORD_FILE", pwFile)

	switch {
	case spec.Local != nil:
		if !filepath.IsAbs(spec.Local.Path) {
			return nil, fmt.Errorf("local repository path %q is not absolute", spec.Local.Path)
		}
		e.Repository = filepath.Clean(spec.Local.Path)
	case spec.S3 != nil:
		err = e.s3(spec.S3, secret)
	case spec.GCS != nil:
		err = e.gcs(spec.GCS, secret)
	case spec.Azure != nil:
		s := spec.Azure
		e.Repository = fmt.Sprintf("azure:%s:/%s", s.Container, strings.TrimPrefix(s.Prefix, "/"))
		e.passSecret(secret, KeyAzureAccountName, KeyAzureAccountKey, KeyAzureAccountSAS, KeyAzureEndpointSuffix)
		e.connections("azure", s.MaxConnections)
	case spec.Swift != nil:
		s := spec.Swift
		e.Repository = fmt.Sprintf("swift:%s:/%s", s.Container, strings.TrimPrefix(s.Prefix, "/"))
		for _, k := range sortedKeys(secret) {
			if strings.HasPrefix(k, "OS_") || strings.HasPrefix(k, "ST_") {
				e.setenv(k, string(secret[k]))
			}
		}
	case spec.B2 != nil:
		s := spec.B2
		e.Repository = fmt.Sprintf("b2:%s:%s", s.Bucket, strings.TrimPrefix(s.Prefix, "/"))
		e.passSecret(secret, KeyB2AccountID, KeyB2AccountKey)
		e.connections("b2", s.MaxConnections)
	case spec.Rest != nil:
		err = e.rest(spec.Rest, secret)
	case spec.SFTP != nil:
		err = e.sftp(spec.SFTP, secret)
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

func (s BackendSpec) count() int {
	n := 0
	for _, set := range []bool{s.Local != nil, s.S3 != nil, s.GCS != nil, s.Azure != nil, s.Swift != nil, s.B2 != nil, s.Rest != nil, s.SFTP != nil} {
		if set {
			n++
		}
	}
	return n
}

func (e *Environment) s3(s *S3Backend, secret map[string][]byte) error {
	if s.Bucket == "" || s.Endpoint == "" {
		return fmt.Errorf("s3 backend needs endpoint and bucket")
	}
	scheme, host := "https", s.Endpoint
	switch {
	case strings.HasPrefix(host, "http://"):
		scheme, host = "http", strings.TrimPrefix(host, "http://")
	case strings.HasPrefix(host, "https://"):
		host = strings.TrimPrefix(host, "https://")
	}
	host = strings.TrimSuffix(host, "/")
	repo := fmt.Sprintf("s3:%s://%s/%s", scheme, host, s.Bucket)
	if p := strings.Trim(s.Prefix, "/"); p != "" {
		repo += "/" + p
	}
	e.Repository = repo
	e.passSecret(secret, KeyAWSAccessKeyID, KeyAWSSecretAccessKey, KeyAWSSessionToken)
	if s.Region != "" {
		e.Globals.Options = append(e.Globals.Options, "s3.region="+s.Region)
	}
	e.Globals.InsecureTLS = s.InsecureTLS
	if ca := secret[KeyCACertData]; len(ca) > 0 {
		f, err := e.writeFile("ca.crt", ca)
		if err != nil {
			return err
		}
		e.Globals.CACertFile = f
	}
	return nil
}

func (e *Environment) gcs(s *GCSBackend, secret map[string][]byte) error {
	e.Repository = fmt.Sprintf("gs:%s:/%s", s.Bucket, strings.TrimPrefix(s.Prefix, "/"))
	e.passSecret(secret, KeyGoogleProjectID)
	if key := secret[KeyGoogleServiceJSON]; len(key) > 0 {
		f, err := e.writeFile("gcs-key.json", key)
		if err != nil {
			return err
		}
		e.setenv("GOOGLE_APPLICATION_CREDENTIALS", f)
	}
	e.connections("gs", s.MaxConnections)
	return nil
}

func (e *Environment) rest(s *RestBackend, secret map[string][]byte) error {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Do not echo the URL: it could hold credentials.
		return fmt.Errorf("rest backend URL is not an http(s) URL")
	}
	if u.User != nil {
		return fmt.Errorf("rest backend URL must not hold credentials; use %s and %s in the storage secret", KeyRestUsername, KeyRestPassword)
	}
	e.Repository = "rest:" + strings.TrimSuffix(u.String(), "/") + "/"
	if v := secret[KeyRestUsername]; len(v) > 0 {
		e.setenv("RESTIC_REST_USERNAME", string(v))
	}
	if v := secret[KeyRestPassword]; len(v) > 0 {
		e.setenv("RESTIC_REST_PASSWORD", string(v))
	}
	if ca := secret[KeyCACertData]; len(ca) > 0 {
		f, err := e.writeFile("ca.crt", ca)
		if err != nil {
			return err
		}
		e.Globals.CACertFile = f
	}
	return nil
}

func (e *Environment) sftp(s *SFTPBackend, secret map[string][]byte) error {
	if s.Host == "" || s.User == "" || s.Path == "" {
		return fmt.Errorf("sftp backend needs host, user and path")
	}
	key := secret[KeySSHPrivateKey]
	if len(key) == 0 {
		return fmt.Errorf("storage secret has no %s", KeySSHPrivateKey)
	}
	keyFile, err := e.writeFile("id_ssh", key)
	if err != nil {
		return err
	}
	knownHosts, err := e.writeFile("known_hosts", secret[KeySSHKnownHosts])
	if err != nil {
		return err
	}
	port := s.Port
	if port == 0 {
		port = 22
	}
	e.Repository = fmt.Sprintf("sftp:%s@%s:%s", s.User, s.Host, s.Path)
	cmd := strings.Join([]string{
		"ssh", "-i", keyFile,
		"-o", "UserKnownHostsFile=" + knownHosts,
		"-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes",
		"-p", strconv.Itoa(port),
		s.User + "@" + s.Host, "-s", "sftp",
	}, " ")
	e.Globals.Options = append(e.Globals.Options, "sftp.command="+cmd)
	return nil
}

func (e *Environment) connections(prefix string, n int) {
	if n > 0 {
		e.Globals.Options = append(e.Globals.Options, fmt.Sprintf("%s.connections=%d", prefix, n))
	}
}

func (e *Environment) passSecret(secret map[string][]byte, keys ...string) {
	for _, k := range keys {
		if v, ok := secret[k]; ok && len(v) > 0 {
			e.setenv(k, string(v))
		}
	}
}

func (e *Environment) setenv(k, v string) { e.Vars = append(e.Vars, k+"="+v) }

func (e *Environment) addSecret(v string) {
	if strings.TrimSpace(v) != "" {
		e.Secrets = append(e.Secrets, v)
	}
}

func (e *Environment) writeFile(name string, data []byte) (string, error) {
	p := path.Join(e.dir, name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("writing %s: %w", name, err)
	}
	return p, f.Close()
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
