package functions_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trove.dev/trove/apis/appbinding"
	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/mover"
	"trove.dev/trove/mover/functions"
	"trove.dev/trove/mover/restic"
	"trove.dev/trove/test/controlplane"
	"trove.dev/trove/test/dbserver"
	"trove.dev/trove/test/objectstore"
)

var (
	cp     *controlplane.ControlPlane
	cpOnce sync.Once
	cpErr  error
)

func controlPlane(t *testing.T) *controlplane.ControlPlane {
	t.Helper()
	cpOnce.Do(func() {
		cp, cpErr = controlplane.Start(controlplane.Options{ExtraCRDDirs: []string{filepath.Join(controlplane.RepoRoot(), "deploy", "optional")}})
	})
	require.NoError(t, cpErr)
	return cp
}

// TestSubcommandSteps runs postgres-backup and postgres-restore as the Job
// would, against objects on a real API server: an AppBinding and its
// credentials Secret, a Repository and its storage Secret.
func TestSubcommandSteps(t *testing.T) {
	dbserver.Tool(t, "pg_dump")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := controlPlane(t).Client
	s := dbserver.Postgres(t)
	s.PSQL(t, "postgres", "CREATE DATABASE shop")
	s.PSQL(t, "shop", pgSeed)
	rows, checksum := pgState(t, s, "shop")

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "fn-"}}
	require.NoError(t, c.Create(ctx, ns))
	repoDir := t.TempDir()
	ab := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
		"type":         "kubedb.com/postgres",
		"version":      "15",
		"clientConfig": map[string]any{"url": "postgresql://" + s.Host + ":" + itoa(s.Port) + "/postgres?sslmode=disable"},
		"secret":       map[string]any{"name": "pg-auth"},
	}}}
	ab.SetGroupVersionKind(appbinding.GVK)
	ab.SetNamespace(ns.Name)
	ab.SetName("shop-db")
	require.NoError(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "pg-auth"},
		Data: map[string][]byte{"username": []byte("postgres"), "password": []byte(s.Password)}}))
	require.NoError(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "repo-secret"},
		Data: map[string][]byte{restic.KeyResticPassword: []byte(repoPassword)}}))
	require.NoError(t, c.Create(ctx, &troveapi.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "repo"},
		Spec: troveapi.RepositorySpec{Backend: troveapi.Backend{StorageSecretName: "repo-secret",
			Local: &troveapi.LocalSpec{MountPath: repoDir, SubPath: "pg", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv"}}}}}}))
	require.NoError(t, c.Create(ctx, ab))

	// The first backup step creates the repository; restic is found in PATH, as in a Job.
	resticBin := objectstore.Binary(t, "restic")
	t.Setenv("PATH", filepath.Dir(resticBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	m, err := restic.New(restic.Config{Binary: resticBin, Backend: restic.BackendSpec{Local: &restic.LocalBackend{Path: filepath.Join(repoDir, "pg")}},
		Secret: map[string][]byte{restic.KeyResticPassword: []byte(repoPassword)}})
	require.NoError(t, err)

	out := t.TempDir()
	termLog := filepath.Join(t.TempDir(), "termination-log")
	require.NoError(t, os.WriteFile(termLog, nil, 0o644))
	functions.TerminationLog = termLog
	step := func(sub, engine string) *functions.Step {
		return &functions.Step{Subcommand: sub, Engine: engine, Namespace: ns.Name, AppBinding: "shop-db", Repository: "repo",
			RepositoryNamespace: ns.Name, RepositorySecret: "repo-secret", Hostname: "host-0", Args: "--dbname=shop", OutputDir: out,
			EnableCache: true, CacheDir: t.TempDir(), Nice: "5", IONiceClass: "2", IONiceClassData: "7",
			Restic: "restic", BackupSession: "shop-backup-1", Snapshot: "latest"}
	}

	require.NoError(t, step("postgres-backup", "postgres").RunBackup(ctx, c))
	var doc struct {
		Backup  *troveapi.HostBackupStats  `json:"backup"`
		Restore *troveapi.HostRestoreStats `json:"restore"`
	}
	readJSON(t, filepath.Join(out, "postgres-backup-host-0.json"), &doc)
	require.NotNil(t, doc.Backup)
	assert.Equal(t, troveapi.HostSucceeded, doc.Backup.Phase)
	require.Len(t, doc.Backup.Snapshots, 1)
	assert.Equal(t, "/dumpfile.sql", doc.Backup.Snapshots[0].Path)
	snaps, err := m.Snapshots(ctx, mover.SnapshotFilter{Host: "host-0"})
	require.NoError(t, err)
	require.Len(t, snaps, 1)
	assert.Equal(t, doc.Backup.Snapshots[0].Name, snaps[0].ID)
	assert.ElementsMatch(t, []string{"trove.dev/namespace=" + ns.Name, "trove.dev/target=AppBinding/shop-db",
		"trove.dev/session=shop-backup-1", "trove.dev/repository=repo"}, snaps[0].Tags)

	s.PSQL(t, "postgres", "DROP DATABASE shop")
	s.PSQL(t, "postgres", "CREATE DATABASE shop")
	require.NoError(t, step("postgres-restore", "postgres").RunRestore(ctx, c))
	doc.Backup = nil
	readJSON(t, filepath.Join(out, "postgres-restore-host-0.json"), &doc)
	require.NotNil(t, doc.Restore)
	assert.Equal(t, troveapi.HostSucceeded, doc.Restore.Phase)
	gotRows, gotSum := pgState(t, s, "shop")
	assert.Equal(t, rows, gotRows)
	assert.Equal(t, checksum, gotSum)

	// Failures still write the output file, and the termination log.
	wrong := step("mysql-backup", "mysql")
	require.Error(t, wrong.RunBackup(ctx, c))
	readJSON(t, filepath.Join(out, "mysql-backup-host-0.json"), &doc)
	assert.Equal(t, troveapi.HostFailed, doc.Backup.Phase)
	assert.Contains(t, doc.Backup.Error, "is a postgres database")
	missing := step("postgres-backup", "postgres")
	missing.AppBinding, missing.Hostname = "nope", "host-1"
	require.Error(t, missing.RunBackup(ctx, c))
	readJSON(t, filepath.Join(out, "postgres-backup-host-1.json"), &doc)
	assert.Equal(t, troveapi.HostFailed, doc.Backup.Phase)
	assert.Contains(t, doc.Backup.Error, "AppBinding "+ns.Name+"/nope not found")
	tl, err := os.ReadFile(termLog)
	require.NoError(t, err)
	assert.Contains(t, string(tl), "not found")
	failedDump := step("postgres-backup", "postgres")
	failedDump.Args, failedDump.Hostname = "--dbname=nosuchdb", "host-2"
	require.Error(t, failedDump.RunBackup(ctx, c))
	readJSON(t, filepath.Join(out, "postgres-backup-host-2.json"), &doc)
	assert.Equal(t, troveapi.HostFailed, doc.Backup.Phase)
	assert.Contains(t, doc.Backup.Error, `database "nosuchdb" does not exist`)
	assert.NotContains(t, doc.Backup.Error, s.Password)
	snaps, err = m.Snapshots(ctx, mover.SnapshotFilter{Host: "host-2"})
	require.NoError(t, err)
	assert.Empty(t, snaps)
	bad := step("postgres-backup", "postgres")
	bad.Nice = "99"
	assert.ErrorContains(t, bad.RunBackup(ctx, c), "--nice")
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, v))
}

func itoa(p int32) string { return strconv.Itoa(int(p)) }
