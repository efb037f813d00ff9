package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/test/controlplane"
)

// TestUpdateStatusCommand runs `trove update-status` against a real API server, as the
// last container of a Task's Job does (kubeconfig from KUBECONFIG instead of the pod's
// token), and checks what a failure leaves in the termination log.
func TestUpdateStatusCommand(t *testing.T) {
	cp, err := controlplane.Start(controlplane.Options{})
	require.NoError(t, err)
	defer func() { _ = cp.Stop() }()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, cp.WriteKubeconfig(kubeconfig))
	t.Setenv("KUBECONFIG", kubeconfig)
	terminationLog = filepath.Join(t.TempDir(), "termination-log")
	require.NoError(t, os.WriteFile(terminationLog, nil, 0o644))

	ctx := context.Background()
	ns := "db"
	require.NoError(t, cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	repo := &troveapi.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "repo"}, Spec: troveapi.RepositorySpec{
		Backend: troveapi.Backend{StorageSecretName: "s", Rest: &troveapi.RestServerSpec{URL: "http://127.0.0.1:8000/"}}}}
	s := &troveapi.BackupSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bs-1"},
		Spec: troveapi.BackupSessionSpec{Invoker: troveapi.Invoker{APIGroup: "trove.dev", Kind: "BackupConfiguration", Name: "bc"}}}
	require.NoError(t, cp.Client.Create(ctx, repo))
	require.NoError(t, cp.Client.Create(ctx, s))

	dir := t.TempDir()
	result, err := json.Marshal(map[string]any{"backup": troveapi.HostBackupStats{Hostname: "host-0", Phase: troveapi.HostSucceeded,
		Snapshots: []troveapi.SnapshotStats{{Name: "abcd1234", Path: "/postgres/app.sql"}}}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "postgres-backup-host-0.json"), result, 0o644))

	run := func(args ...string) (string, error) {
		cmd := newRootCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{"update-status"}, args...))
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	out, err := run("--namespace="+ns, "--backup-session=bs-1", "--restore-session=", "--repository=repo", "--repository-namespace="+ns, "--output-dir="+dir)
	require.NoError(t, err, out)
	assert.Regexp(t, `^db/BackupSession bs-1: 1 host\(s\) written; Repository lastBackupTime 20\d\d-`, out)
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(s), s))
	require.Len(t, s.Status.Targets, 1)
	assert.Equal(t, "abcd1234", s.Status.Targets[0].Stats[0].Snapshots[0].Name)
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(repo), repo))
	assert.NotNil(t, repo.Status.LastBackupTime)

	empty := t.TempDir()
	out, err = run("--namespace="+ns, "--backup-session=bs-1", "--repository=repo", "--output-dir="+empty)
	require.Error(t, err)
	assert.Contains(t, out, "no result (*.json) in "+empty)
	msg, err := os.ReadFile(terminationLog)
	require.NoError(t, err)
	assert.Equal(t, "no result (*.json) in "+empty+": the Task's data steps wrote none; check that they share the output directory with update-status", string(msg))
}
