package functions_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/mover"
	"trove.dev/trove/mover/functions"
	"trove.dev/trove/mover/restic"
	"trove.dev/trove/test/objectstore"
)

// TestDumpClusterWritesCleanYAML lists a real API server's objects through discovery and
// checks what is written, cleaned, and selected by resources, labels and namespaces.
func TestDumpClusterWritesCleanYAML(t *testing.T) {
	ctx := context.Background()
	cp := controlPlane(t)
	c := cp.Client
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "dump-"}}
	require.NoError(t, c.Create(ctx, ns))
	for _, cm := range []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "web", Labels: map[string]string{"app": "web"},
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"}}, Data: map[string]string{"k": "v"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "db", Labels: map[string]string{"app": "db"}}, Data: map[string]string{"k": "v"}},
	} {
		require.NoError(t, c.Create(ctx, cm))
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cp.Config)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cp.Config)
	require.NoError(t, err)

	dir := t.TempDir()
	n, err := functions.DumpCluster(ctx, disc, dyn, dir, functions.ClusterOptions{})
	require.NoError(t, err)
	assert.Greater(t, n, 10, "everything listable")
	raw, err := os.ReadFile(filepath.Join(dir, ns.Name, "configmaps", "web.yaml"))
	require.NoError(t, err)
	var obj map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &obj))
	meta := obj["metadata"].(map[string]any)
	for _, f := range []string{"uid", "resourceVersion", "managedFields", "creationTimestamp"} {
		assert.NotContains(t, meta, f, "cleaned")
	}
	assert.Equal(t, map[string]any{"keep": "me"}, meta["annotations"], "last-applied-configuration dropped, the rest kept")
	assert.Equal(t, map[string]any{"k": "v"}, obj["data"])
	_, err = os.Stat(filepath.Join(dir, "_cluster", "namespaces", ns.Name+".yaml"))
	assert.NoError(t, err, "cluster-scoped objects are written when no namespace is named")
	_, err = os.Stat(filepath.Join(dir, "_cluster", "customresourcedefinitions.apiextensions.k8s.io", "repositories.trove.dev.yaml"))
	assert.NoError(t, err, "resources of every group, by resource.group")

	selected := t.TempDir()
	n, err = functions.DumpCluster(ctx, disc, dyn, selected, functions.ClusterOptions{
		Resources: []string{"configmaps", "deployments.apps"}, LabelSelector: "app=web", Namespaces: []string{ns.Name}})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	var files []string
	require.NoError(t, filepath.Walk(selected, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, strings.TrimPrefix(p, selected))
		}
		return err
	}))
	assert.Equal(t, []string{"/" + ns.Name + "/configmaps/web.yaml"}, files)
}

// TestClusterBackupStep runs `cluster-backup` as its Job would: into a Repository from
// the API, and its output file.
func TestClusterBackupStep(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp := controlPlane(t)
	c := cp.Client
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "cluster-"}}
	require.NoError(t, c.Create(ctx, ns))
	require.NoError(t, c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "settings"}, Data: map[string]string{"a": "b"}}))
	repoDir := t.TempDir()
	require.NoError(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "repo-secret"},
		Data: map[string][]byte{restic.KeyResticPassword: []byte("pw")}}))
	require.NoError(t, c.Create(ctx, &troveapi.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "repo"},
		Spec: troveapi.RepositorySpec{Backend: troveapi.Backend{StorageSecretName: "repo-secret",
			Local: &troveapi.LocalSpec{MountPath: repoDir, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv"}}}}}}))
	out := t.TempDir()
	step := &functions.Step{Subcommand: "cluster-backup", Namespace: ns.Name, Repository: "repo", Hostname: "cluster", OutputDir: out,
		Restic: objectstore.Binary(t, "restic"), BackupSession: "cluster-1"}
	require.NoError(t, step.RunClusterBackup(ctx, cp.Config, c, functions.ClusterOptions{Namespaces: []string{ns.Name}}))

	var doc struct {
		Backup *troveapi.HostBackupStats `json:"backup"`
	}
	readJSON(t, filepath.Join(out, "cluster-backup-cluster.json"), &doc)
	require.NotNil(t, doc.Backup)
	assert.Equal(t, troveapi.HostSucceeded, doc.Backup.Phase)
	require.Len(t, doc.Backup.Snapshots, 1)
	assert.Positive(t, doc.Backup.Snapshots[0].FileStats.New)
	_, err := os.Stat(functions.ClusterDir)
	assert.True(t, os.IsNotExist(err), "the YAML is removed after the backup")

	m, err := restic.New(restic.Config{Binary: objectstore.Binary(t, "restic"), Backend: restic.BackendSpec{Local: &restic.LocalBackend{Path: repoDir}},
		Secret: map[string][]byte{restic.KeyResticPassword: []byte("pw")}})
	require.NoError(t, err)
	var yamlOut strings.Builder
	require.NoError(t, m.Dump(ctx, mover.DumpRequest{SnapshotID: doc.Backup.Snapshots[0].Name,
		Path: filepath.Join(functions.ClusterDir, ns.Name, "configmaps", "settings.yaml")}, &yamlOut))
	assert.Contains(t, yamlOut.String(), "a: b")
	assert.NotContains(t, yamlOut.String(), "resourceVersion")

	// Nothing selected is an error, not an empty "successful" snapshot.
	none := *step
	none.Hostname = "empty"
	err = none.RunClusterBackup(ctx, cp.Config, c, functions.ClusterOptions{Namespaces: []string{ns.Name}, LabelSelector: "nothing=here"})
	require.ErrorContains(t, err, "nothing to back up")
	readJSON(t, filepath.Join(out, "cluster-backup-empty.json"), &doc)
	assert.Equal(t, troveapi.HostFailed, doc.Backup.Phase)
}
