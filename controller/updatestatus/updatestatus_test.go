package updatestatus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/jobbuilder"
	"trove.dev/trove/controller/updatestatus"
	"trove.dev/trove/controller/variables"
	"trove.dev/trove/test/controlplane"
)

var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	var err error
	if cp, err = controlplane.Start(controlplane.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = cp.Stop()
	os.Exit(code)
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		require.NoError(t, cp.Client.Create(context.Background(), o), "%T %s", o, o.GetName())
	}
}

// asStep is a client with exactly the grants jobbuilder gives the default
// update-status Function for this session: the ServiceAccount, Roles and RoleBindings
// are created, and the client impersonates the ServiceAccount.
func asStep(t *testing.T, bc *v1alpha1.BackupConfiguration, rs *v1alpha1.RestoreSession, session string, repo *v1alpha1.Repository) client.Client {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), "deploy", "functions", "update-status.yaml"))
	require.NoError(t, err)
	fn := &v1alpha1.Function{}
	require.NoError(t, yaml.UnmarshalStrict(data, fn))
	builtins, err := variables.Builtins(variables.Facts{Repository: repo, BackupConfiguration: bc, BackupSessionName: session, RestoreSession: rs})
	require.NoError(t, err)
	ns := repo.Namespace
	objs, err := jobbuilder.Build(jobbuilder.Input{
		Task: &v1alpha1.Task{ObjectMeta: metav1.ObjectMeta{Name: "t"}, Spec: v1alpha1.TaskSpec{Steps: []v1alpha1.FunctionRef{{Name: "update-status"}},
			Volumes: []corev1.Volume{{Name: "trove-output", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}},
		Functions: map[string]*v1alpha1.Function{"update-status": fn}, Builtins: builtins, SessionName: session, Namespace: ns,
	})
	require.NoError(t, err)
	create(t, objs.ServiceAccount)
	for i := range objs.Roles {
		create(t, objs.Roles[i], objs.RoleBindings[i])
	}
	cfg := rest.CopyConfig(cp.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + objs.ServiceAccount.Name}
	c, err := client.New(cfg, client.Options{Scheme: controlplane.Scheme()})
	require.NoError(t, err)
	// The apiserver enforces RBAC: anything not granted is forbidden.
	err = c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "other"}, &v1alpha1.BackupSession{})
	require.True(t, apierrors.IsForbidden(err), "RBAC is not enforced: %v", err)
	return c
}

func fixture(t *testing.T) (ns string, repo *v1alpha1.Repository) {
	t.Helper()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "us-"}}
	create(t, nsObj)
	repo = &v1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: nsObj.Name, Name: "repo"}, Spec: v1alpha1.RepositorySpec{
		Backend: v1alpha1.Backend{StorageSecretName: "s", Rest: &v1alpha1.RestServerSpec{URL: "http://127.0.0.1:8000/"}}}}
	create(t, repo)
	return nsObj.Name, repo
}

func writeResult(t *testing.T, dir, name string, r updatestatus.Result) {
	t.Helper()
	data, err := json.Marshal(r)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
}

// TestBackupResults: two hosts' results (one of them from two steps) land in the
// BackupSession's target entry, keeping its ref, and the Repository's lastBackupTime
// is set — with only the step's own grants.
func TestBackupResults(t *testing.T) {
	ctx := context.Background()
	ns, repo := fixture(t)
	ref := &v1alpha1.TargetRef{APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: v1alpha1.KindAppBinding, Name: "pg"}
	bc := &v1alpha1.BackupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bc"}, Spec: v1alpha1.BackupConfigurationSpec{
		Repository: v1alpha1.ObjectRef{Name: "repo"}, Target: &v1alpha1.BackupTarget{Ref: *ref}}}
	s := &v1alpha1.BackupSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bs-1"},
		Spec: v1alpha1.BackupSessionSpec{Invoker: v1alpha1.Invoker{APIGroup: "trove.dev", Kind: "BackupConfiguration", Name: "bc"}}}
	create(t, s)
	s.Status.Phase = v1alpha1.SessionRunning
	s.Status.Targets = []v1alpha1.TargetStatus{{Ref: ref, TotalHosts: 1, Phase: v1alpha1.HostRunning}}
	require.NoError(t, cp.Client.Status().Update(ctx, s))
	c := asStep(t, bc, nil, "bs-1", repo)

	dir := t.TempDir()
	writeResult(t, dir, "postgres-backup-host-0.json", updatestatus.Result{Backup: &v1alpha1.HostBackupStats{Hostname: "host-0", Phase: v1alpha1.HostSucceeded, Duration: "4s",
		Snapshots: []v1alpha1.SnapshotStats{{Name: "aaaa1111", Path: "/postgres/app.sql", TotalSize: "10 MiB"}}}})
	writeResult(t, dir, "postgres-backup-host-0-b.json", updatestatus.Result{Backup: &v1alpha1.HostBackupStats{Hostname: "host-0", Phase: v1alpha1.HostSucceeded,
		Snapshots: []v1alpha1.SnapshotStats{{Name: "bbbb2222", Path: "/postgres/other.sql"}}}})
	writeResult(t, dir, "postgres-backup-host-1.json", updatestatus.Result{Backup: &v1alpha1.HostBackupStats{Hostname: "host-1", Phase: v1alpha1.HostFailed, Error: "pg_dump: connection refused"}})
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	sum, err := updatestatus.Run(ctx, c, updatestatus.Options{Namespace: ns, BackupSession: "bs-1", Repository: "repo", RepositoryNamespace: ns, OutputDir: dir, Now: func() time.Time { return now }})
	require.NoError(t, err)
	assert.Equal(t, 2, sum.Hosts)
	assert.Equal(t, []string{"host-1"}, sum.Failed)

	require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(s), s))
	assert.Equal(t, v1alpha1.SessionRunning, s.Status.Phase, "the phase is the controller's")
	require.Len(t, s.Status.Targets, 1)
	tgt := s.Status.Targets[0]
	assert.Equal(t, ref, tgt.Ref)
	assert.Equal(t, int32(2), tgt.TotalHosts)
	assert.Equal(t, v1alpha1.HostFailed, tgt.Phase)
	require.Len(t, tgt.Stats, 2)
	assert.Equal(t, "host-0", tgt.Stats[0].Hostname)
	assert.Equal(t, v1alpha1.HostSucceeded, tgt.Stats[0].Phase)
	assert.ElementsMatch(t, []string{"aaaa1111", "bbbb2222"}, []string{tgt.Stats[0].Snapshots[0].Name, tgt.Stats[0].Snapshots[1].Name})
	assert.Equal(t, "pg_dump: connection refused", tgt.Stats[1].Error)
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(repo), repo))
	require.NotNil(t, repo.Status.LastBackupTime)
	assert.True(t, repo.Status.LastBackupTime.Time.Equal(now))

	// A second run (the pod retried) replaces the host's entry and keeps the other.
	dir2 := t.TempDir()
	writeResult(t, dir2, "postgres-backup-host-1.json", updatestatus.Result{Backup: &v1alpha1.HostBackupStats{Hostname: "host-1", Phase: v1alpha1.HostSucceeded,
		Snapshots: []v1alpha1.SnapshotStats{{Name: "cccc3333"}}}})
	_, err = updatestatus.Run(ctx, c, updatestatus.Options{Namespace: ns, BackupSession: "bs-1", Repository: "repo", OutputDir: dir2})
	require.NoError(t, err)
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(s), s))
	require.Len(t, s.Status.Targets[0].Stats, 2)
	assert.Equal(t, v1alpha1.HostSucceeded, s.Status.Targets[0].Stats[1].Phase)
	assert.Empty(t, s.Status.Targets[0].Stats[1].Error)
	assert.Equal(t, v1alpha1.HostSucceeded, s.Status.Targets[0].Phase)
}

// TestRestoreResults: results land in the RestoreSession's stats; the Repository is
// not touched.
func TestRestoreResults(t *testing.T) {
	ctx := context.Background()
	ns, repo := fixture(t)
	rs := &v1alpha1.RestoreSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rs-1"}, Spec: v1alpha1.RestoreSessionSpec{
		Repository: v1alpha1.ObjectRef{Name: "repo"}, Task: &v1alpha1.TaskRef{Name: "postgres-restore-16"}}}
	create(t, rs)
	c := asStep(t, nil, rs, "rs-1", repo)
	dir := t.TempDir()
	writeResult(t, dir, "postgres-restore-host-0.json", updatestatus.Result{Restore: &v1alpha1.HostRestoreStats{Hostname: "host-0", Phase: v1alpha1.HostSucceeded, Duration: "7s"}})
	sum, err := updatestatus.Run(ctx, c, updatestatus.Options{Namespace: ns, RestoreSession: "rs-1", Repository: "repo", OutputDir: dir})
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Hosts)
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(rs), rs))
	assert.Equal(t, int32(1), rs.Status.TotalHosts)
	assert.Equal(t, []v1alpha1.HostRestoreStats{{Hostname: "host-0", Phase: v1alpha1.HostSucceeded, Duration: "7s"}}, rs.Status.Stats)
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(repo), repo))
	assert.Nil(t, repo.Status.LastBackupTime)
}

// TestBadInput: errors say what is wrong and write nothing.
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	empty := t.TempDir()
	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, "x.json"), []byte(`{"backup": {"hostname": "h"}, "restore": {"hostname": "h"}}`), 0o644))
	unknown := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(unknown, "x.json"), []byte(`{"backups": {}}`), 0o644))
	for _, tc := range []struct {
		opts updatestatus.Options
		want string
	}{
		{updatestatus.Options{Namespace: "n", OutputDir: empty}, "exactly one of --backup-session and --restore-session"},
		{updatestatus.Options{Namespace: "n", BackupSession: "b", OutputDir: empty}, "--repository is required"},
		{updatestatus.Options{Namespace: "n", RestoreSession: "r", OutputDir: empty}, "no result (*.json) in " + empty},
		{updatestatus.Options{Namespace: "n", RestoreSession: "r", OutputDir: bad}, `must hold exactly one of "backup" and "restore"`},
		{updatestatus.Options{Namespace: "n", RestoreSession: "r", OutputDir: unknown}, `unknown field "backups"`},
	} {
		_, err := updatestatus.Run(ctx, cp.Client, tc.opts)
		assert.ErrorContains(t, err, tc.want)
	}
}
