package jobbuilder

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/variables"
)

// loadObjects reads the Functions and Tasks of a multi-document YAML file, strictly.
func loadObjects(t *testing.T, path string) (map[string]*v1alpha1.Function, map[string]*v1alpha1.Task) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	fns := map[string]*v1alpha1.Function{}
	tasks := map[string]*v1alpha1.Task{}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var meta metav1.TypeMeta
		require.NoError(t, yaml.Unmarshal([]byte(doc), &meta))
		switch meta.Kind {
		case "Function":
			var f v1alpha1.Function
			require.NoError(t, yaml.UnmarshalStrict([]byte(doc), &f), doc)
			fns[f.Name] = &f
		case "Task":
			var task v1alpha1.Task
			require.NoError(t, yaml.UnmarshalStrict([]byte(doc), &task), doc)
			tasks[task.Name] = &task
		case "":
		default:
			t.Fatalf("%s: unexpected kind %q", path, meta.Kind)
		}
	}
	return fns, tasks
}

// catalog is the seed Functions and Task plus this package's own test Functions and Tasks.
func catalog(t *testing.T) (map[string]*v1alpha1.Function, map[string]*v1alpha1.Task) {
	t.Helper()
	fns, tasks := loadObjects(t, "../variables/testdata/seed-postgres.yaml")
	moreFns, moreTasks := loadObjects(t, "testdata/catalog.yaml")
	for k, v := range moreFns {
		fns[k] = v
	}
	for k, v := range moreTasks {
		tasks[k] = v
	}
	return fns, tasks
}

func gcsRepo(namespace string) *v1alpha1.Repository {
	return &v1alpha1.Repository{
		ObjectMeta: metav1.ObjectMeta{Name: "gcs-repo", Namespace: namespace},
		Spec: v1alpha1.RepositorySpec{Backend: v1alpha1.Backend{
			StorageSecretName: "gcs-secret",
			GCS:               &v1alpha1.GCSSpec{Bucket: "stash-backup", Prefix: "demo/postgres/quick-postgres"},
		}},
	}
}

func pgConfig() *v1alpha1.BackupConfiguration {
	return &v1alpha1.BackupConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "database-backup-demo", Namespace: "demo", UID: "bc-uid"},
		Spec: v1alpha1.BackupConfigurationSpec{
			Schedule:   "@every 1h",
			Repository: v1alpha1.ObjectRef{Name: "gcs-repo"},
			Target: &v1alpha1.BackupTarget{Ref: v1alpha1.TargetRef{
				APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: v1alpha1.KindAppBinding, Name: "quick-postgres",
			}},
			Task: &v1alpha1.TaskRef{Name: "postgres-backup-11.2", Params: []v1alpha1.Param{
				{Name: "pgArgs", Value: "--dbname=my-postgres"},
			}},
			RetentionPolicy: &v1alpha1.RetentionPolicy{KeepLast: 5, Prune: true},
		},
	}
}

const sessionName = "database-backup-demo-1700000000"

func sessionOwner() metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion: v1alpha1.GroupVersion.String(), Kind: "BackupSession",
		Name: sessionName, UID: "0b1c2d3e-0000-4000-8000-000000000001",
	}
}

// backupInput is the Input of a backup session of bc, with taskName from the catalog.
func backupInput(t *testing.T, bc *v1alpha1.BackupConfiguration, repo *v1alpha1.Repository, taskName string) Input {
	t.Helper()
	fns, tasks := catalog(t)
	task := tasks[taskName]
	require.NotNil(t, task, taskName)
	vars, err := variables.Builtins(variables.Facts{Repository: repo, BackupConfiguration: bc, BackupSessionName: sessionName})
	require.NoError(t, err)
	in := Input{
		Task:                  task,
		Functions:             fns,
		Builtins:              vars,
		SessionName:           sessionName,
		Owner:                 sessionOwner(),
		Namespace:             bc.Namespace,
		RuntimeSettings:       bc.Spec.RuntimeSettings,
		InterimVolumeTemplate: bc.Spec.InterimVolumeTemplate,
		ActiveDeadline:        bc.Spec.TimeOut,
	}
	if bc.Spec.Task != nil {
		in.TaskParams = bc.Spec.Task.Params
	}
	if bc.Spec.RetryConfig != nil {
		in.Retries = bc.Spec.RetryConfig.MaxRetry
	}
	return in
}
