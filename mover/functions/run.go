package functions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"trove.dev/trove/apis/appbinding"
	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/mover"
	"trove.dev/trove/mover/functions/engines"
	"trove.dev/trove/mover/restic"
	"trove.dev/trove/mover/stream"
)

// Snapshot tags of a database backup: the same namespace and target tags
// as the node agent's, plus the session and the repository.
const (
	TagNamespace  = "trove.dev/namespace="
	TagTarget     = "trove.dev/target="
	TagSession    = "trove.dev/session="
	TagRepository = "trove.dev/repository="
)

// TerminationLog is where a failed step writes its one-line reason, when the
// file exists (Kubernetes' terminationMessagePath).
var TerminationLog = "/dev/termination-log"

// Step holds the flags every database subcommand shares (see
// docs/functions.md for the contract with the Job that runs it).
type Step struct {
	// Subcommand names the output file, e.g. "postgres-backup".
	Subcommand string
	// Engine is the subcommand's database kind (postgres, mysql, mongodb, redis).
	Engine string

	Namespace, AppBinding                             string
	Repository, RepositoryNamespace, RepositorySecret string
	Hostname                                          string
	Args                                              string
	OutputDir                                         string
	EnableCache                                       bool
	CacheDir                                          string
	MaxConnections                                    int
	Nice, IONiceClass, IONiceClassData                string
	Restic                                            string
	BackupSession                                     string
	RestoreSession, SourceHostname, Snapshot          string
}

// BindCommon binds the flags every step shares: the Repository, host, output, cache,
// connections, priorities and restic.
func (s *Step) BindCommon(fl *pflag.FlagSet) {
	fl.StringVar(&s.Repository, "repository", "", "the Repository to back up into or restore from")
	fl.StringVar(&s.RepositoryNamespace, "repository-namespace", "", "the Repository's namespace (default --namespace)")
	fl.StringVar(&s.RepositorySecret, "repository-secret", "", "the Repository's storage Secret (default its spec.backend.storageSecretName)")
	fl.StringVar(&s.Hostname, "hostname", "", "restic host of the snapshot; names the output file")
	fl.StringVar(&s.OutputDir, "output-dir", "/tmp/output", "directory of the step's output file <subcommand>-<hostname>.json")
	fl.BoolVar(&s.EnableCache, "enable-cache", true, "keep a restic cache in --cache-dir")
	fl.StringVar(&s.CacheDir, "cache-dir", "/tmp/restic-cache", "restic cache directory")
	fl.IntVar(&s.MaxConnections, "max-connections", 0, "restic backend connections (GCS, Azure, B2); 0 keeps restic's default")
	fl.StringVar(&s.Nice, "nice", "", "CPU nice value (-20..19) of restic and the step's tools; empty keeps it")
	fl.StringVar(&s.IONiceClass, "ionice-class", "", "I/O class (1 realtime, 2 best-effort, 3 idle) of restic and the step's tools")
	fl.StringVar(&s.IONiceClassData, "ionice-class-data", "", "I/O class data (0..7)")
	fl.StringVar(&s.Restic, "restic", "restic", "the restic binary (a name is looked up in PATH)")
}

// Validate checks what the flags must say.
func (s *Step) Validate() error {
	var missing []string
	for flag, v := range map[string]string{"--namespace": s.Namespace, "--app-binding": s.AppBinding, "--repository": s.Repository,
		"--hostname": s.Hostname, "--output-dir": s.OutputDir} {
		if v == "" {
			missing = append(missing, flag)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: missing %s", s.Subcommand, strings.Join(missing, ", "))
	}
	if strings.ContainsAny(s.Hostname, "/\x00") {
		return fmt.Errorf("--hostname %q must not contain '/'", s.Hostname)
	}
	_, err := s.priority()
	return err
}

func optInt(flag, v string, lo, hi int) (*int, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return nil, fmt.Errorf("%s=%q: want a number from %d to %d, or nothing", flag, v, lo, hi)
	}
	return &n, nil
}

// priority is --nice/--ionice-class/--ionice-class-data, for restic and the
// dump tool alike.
func (s *Step) priority() (stream.Priority, error) {
	var p stream.Priority
	var err error
	if p.Nice, err = optInt("--nice", s.Nice, -20, 19); err != nil {
		return p, err
	}
	if p.IOClass, err = optInt("--ionice-class", s.IONiceClass, 1, 3); err != nil {
		return p, err
	}
	data, err := optInt("--ionice-class-data", s.IONiceClassData, 0, 7)
	if err != nil {
		return p, err
	}
	if data != nil {
		p.IOClassData = *data
	}
	return p, nil
}

// target is what the step reads from the API before it moves data.
type target struct {
	db   Database
	m    mover.Mover
	prio stream.Priority
}

func (s *Step) resolve(ctx context.Context, c client.Reader) (*target, error) {
	prio, err := s.priority()
	if err != nil {
		return nil, err
	}
	ab, err := appbinding.Get(ctx, c, s.Namespace, s.AppBinding)
	if err != nil {
		return nil, err
	}
	kind := ab.Engine()
	switch {
	case kind == "":
		kind = s.Engine
	case kind == s.Engine, s.Engine == appbinding.MySQL && kind == appbinding.MariaDB:
	default:
		return nil, fmt.Errorf("AppBinding %s/%s is a %s database (spec.type %q), not %s: use the %s Function",
			ab.Namespace, ab.Name, kind, ab.Type, s.Engine, kind)
	}
	eng, err := engines.For(kind)
	if err != nil {
		return nil, err
	}
	host, port, err := ab.Address()
	if err != nil {
		return nil, err
	}
	conn := engines.Conn{Host: host, Port: port, Database: ab.Database(), Params: params(ab)}
	if ab.SecretName != "" {
		conn.Username, conn.Password, err = credentials(ctx, c, ab.Namespace, ab.SecretName)
		if err != nil {
			return nil, err
		}
	}
	args, err := engines.SplitArgs(s.Args)
	if err != nil {
		return nil, err
	}
	m, err := s.mover(ctx, c, prio)
	if err != nil {
		return nil, err
	}
	return &target{db: Database{Engine: eng, Conn: conn, Args: args}, m: m, prio: prio}, nil
}

func params(ab *appbinding.AppBinding) map[string]string {
	raw := ""
	if ab.URL != "" {
		if u, err := url.Parse(ab.URL); err == nil {
			raw = u.RawQuery
		}
	} else if ab.Service != nil {
		raw = ab.Service.Query
	}
	out := map[string]string{}
	q, _ := url.ParseQuery(raw)
	for k, v := range q {
		if len(v) > 0 {
			out[k] = v[0]
		}
	}
	return out
}

// Secret keys of the database credentials: KubeDB's and Stash's, then the
// official images' variables.
var (
	usernameKeys = []string{"username", "POSTGRES_USER", "MYSQL_USER", "MONGO_INITDB_ROOT_USERNAME"}
	passwordKeys = []string{"password", "POSTGRES_PASSWORD", "MYSQL_ROOT_PASSWORD", "MYSQL_PASSWORD", "MONGO_INITDB_ROOT_PASSWORD", "REDIS_PASSWORD"}
)

func credentials(ctx context.Context, c client.Reader, ns, name string) (user, password string, err error) {
	var sec corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &sec); err != nil {
		return "", "", fmt.Errorf("reading the database credentials Secret %s/%s (the AppBinding's spec.secret): %w", ns, name, err)
	}
	first := func(keys []string) string {
		for _, k := range keys {
			if v, ok := sec.Data[k]; ok {
				return string(v)
			}
		}
		return ""
	}
	user, password = first(usernameKeys), first(passwordKeys)
	if password == "" && user == "" {
		return "", "", fmt.Errorf("Secret %s/%s has neither of the keys %q and %q", ns, name, "username", "password")
	}
	return user, password, nil
}

// mover builds the restic mover of the Repository the way the node agent
// does, with restic at the step's priority.
func (s *Step) mover(ctx context.Context, c client.Reader, prio stream.Priority) (mover.Mover, error) {
	repoNS := s.RepositoryNamespace
	if repoNS == "" {
		repoNS = s.Namespace
	}
	var repo troveapi.Repository
	if err := c.Get(ctx, client.ObjectKey{Namespace: repoNS, Name: s.Repository}, &repo); err != nil {
		return nil, fmt.Errorf("reading Repository %s/%s: %w", repoNS, s.Repository, err)
	}
	secretName := s.RepositorySecret
	if secretName == "" {
		secretName = repo.Spec.Backend.StorageSecretName
	}
	var sec corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: repoNS, Name: secretName}, &sec); err != nil {
		return nil, fmt.Errorf("reading the storage Secret %s/%s of Repository %s: %w", repoNS, secretName, s.Repository, err)
	}
	backend, err := restic.FromRepository(&repo)
	if err != nil {
		return nil, err
	}
	if n := s.MaxConnections; n > 0 {
		switch {
		case backend.GCS != nil:
			backend.GCS.MaxConnections = n
		case backend.Azure != nil:
			backend.Azure.MaxConnections = n
		case backend.B2 != nil:
			backend.B2.MaxConnections = n
		}
	}
	cache := ""
	if s.EnableCache && s.CacheDir != "" {
		cache = filepath.Join(s.CacheDir, string(repo.UID))
		if err := os.MkdirAll(cache, 0o700); err != nil {
			return nil, fmt.Errorf("creating the restic cache %s: %w", cache, err)
		}
	}
	bin := s.Restic
	if bin == "" {
		bin = "restic"
	}
	// A bare name is looked up in PATH (exec runs a name with a slash as a path).
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("finding restic (--restic=%s): %w", bin, err)
	}
	return restic.New(restic.Config{Binary: path, Backend: backend, Secret: sec.Data, CacheDir: cache,
		Throttle: restic.Throttle{Nice: prio.Nice, IOClass: prio.IOClass, IOClassData: prio.IOClassData}})
}

// RunBackup is a `<engine>-backup` subcommand: it streams the AppBinding's
// database into the Repository and writes the step's output file. It
// returns the step's error after writing the file.
func (s *Step) RunBackup(ctx context.Context, c client.Reader) error {
	start := time.Now()
	stats := troveapi.HostBackupStats{Hostname: s.Hostname, Phase: troveapi.HostSucceeded}
	err := s.Validate()
	if err == nil {
		var t *target
		if t, err = s.resolve(ctx, c); err == nil {
			var res *BackupResult
			// Like the node agent: the first backup creates the repository (race-safe).
			if _, err = t.m.EnsureRepository(ctx); err != nil {
				err = fmt.Errorf("creating the repository: %w", err)
			} else {
				res, err = BackupDatabase(ctx, t.m, t.db, BackupOptions{Host: s.Hostname, Priority: t.prio, Tags: []string{
					TagNamespace + s.Namespace, TagTarget + string(troveapi.KindAppBinding) + "/" + s.AppBinding,
					TagSession + s.BackupSession, TagRepository + s.Repository}})
			}
			if err == nil {
				stats.Snapshots = []troveapi.SnapshotStats{snapshotStats(res)}
			}
		}
	}
	stats.Duration = time.Since(start).Round(time.Millisecond).String()
	if err != nil {
		stats.Phase, stats.Error = troveapi.HostFailed, err.Error()
	}
	return s.finish(map[string]any{"backup": stats}, err)
}

func snapshotStats(r *BackupResult) troveapi.SnapshotStats {
	q := func(n uint64) string { return resource.NewQuantity(int64(n), resource.BinarySI).String() }
	return troveapi.SnapshotStats{
		Name: r.SnapshotID, Path: r.Path, TotalSize: q(r.TotalBytesProcessed), Uploaded: q(r.DataAddedPacked),
		ProcessingTime: r.Duration.Round(time.Millisecond).String(),
		FileStats: troveapi.FileStats{New: int64(r.FilesNew), Modified: int64(r.FilesChanged), Unmodified: int64(r.FilesUnmodified),
			Total: int64(r.FilesNew + r.FilesChanged + r.FilesUnmodified)},
	}
}

// RunRestore is a `<engine>-restore` subcommand: it restores the snapshot
// (--snapshot, default the latest of --source-hostname or --hostname) into the
// AppBinding's database and writes the step's output file.
func (s *Step) RunRestore(ctx context.Context, c client.Reader) error {
	start := time.Now()
	stats := troveapi.HostRestoreStats{Hostname: s.Hostname, Phase: troveapi.HostSucceeded}
	err := s.Validate()
	if err == nil {
		var t *target
		if t, err = s.resolve(ctx, c); err == nil {
			host := s.SourceHostname
			if host == "" {
				host = s.Hostname
			}
			_, err = RestoreDatabase(ctx, t.m, t.db, RestoreOptions{Snapshot: s.Snapshot, Host: host, Priority: t.prio})
		}
	}
	stats.Duration = time.Since(start).Round(time.Millisecond).String()
	if err != nil {
		stats.Phase, stats.Error = troveapi.HostFailed, err.Error()
	}
	return s.finish(map[string]any{"restore": stats}, err)
}

// Fail records a step that could not start (no kubeconfig, say): it writes
// the output file with phase Failed and the termination log, and returns err.
func (s *Step) Fail(backup bool, err error) error {
	if backup {
		return s.finish(map[string]any{"backup": troveapi.HostBackupStats{Hostname: s.Hostname, Phase: troveapi.HostFailed, Error: err.Error()}}, err)
	}
	return s.finish(map[string]any{"restore": troveapi.HostRestoreStats{Hostname: s.Hostname, Phase: troveapi.HostFailed, Error: err.Error()}}, err)
}

// OutputFile is where the step writes its result.
func (s *Step) OutputFile() string {
	return filepath.Join(s.OutputDir, s.Subcommand+"-"+s.Hostname+".json")
}

// finish writes the output file (whole or not at all) and, on failure, the
// termination log.
func (s *Step) finish(doc map[string]any, stepErr error) error {
	if stepErr != nil {
		if f, err := os.OpenFile(TerminationLog, os.O_WRONLY|os.O_TRUNC, 0); err == nil {
			line := strings.ReplaceAll(stepErr.Error(), "\n", " ")
			if len(line) > 3500 {
				line = line[:3500] + "..."
			}
			_, _ = f.WriteString(line + "\n")
			_ = f.Close()
		}
	}
	if s.OutputDir == "" || s.Hostname == "" {
		return stepErr
	}
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err == nil {
		err = writeFileAtomic(s.OutputFile(), raw)
	}
	if err != nil {
		return errors.Join(stepErr, fmt.Errorf("writing the step's output %s: %w", s.OutputFile(), err))
	}
	return stepErr
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".output-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}
