package taskrun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"trove.dev/trove/apis/appbinding"
	"trove.dev/trove/apis/v1alpha1"
)

func TestDefaultTask(t *testing.T) {
	for _, tc := range []struct {
		typ, version string
		dir          Direction
		want, err    string
	}{
		{"kubedb.com/postgres", "16.2", Backup, "postgres-backup-16", ""},
		{"postgres", "15", Restore, "postgres-restore-15", ""},
		{"PostgreSQL", "14.10-v1", Backup, "postgres-backup-14", ""},
		{"kubedb.com/mysql", "8.0.35", Backup, "mysql-backup-8.0", ""},
		{"mysql", "8.0.35-v1", Restore, "mysql-restore-8.0", ""},
		{"kubedb.com/mariadb", "11.4.2", Backup, "mariadb-backup-11", ""},
		{"kubedb.com/mongodb", "v7.0.5", Backup, "mongodb-backup-7", ""},
		{"redis", "7.2.4", Restore, "redis-restore-7", ""},
		{"kubedb.com/elasticsearch", "8.1", Backup, "", `spec.type "kubedb.com/elasticsearch" is none of`},
		{"postgres", "latest", Backup, "", `spec.version "latest" does not start with a version number`},
		{"postgres", "", Backup, "", `spec.version ""`},
	} {
		app := &appbinding.AppBinding{Namespace: "db", Name: "pg", Type: tc.typ, Version: tc.version, URL: "tcp://x:1"}
		got, err := DefaultTask(tc.dir, app)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, "%s %s", tc.typ, tc.version)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%s %s", tc.typ, tc.version)
	}
	_, err := DefaultTask(Backup, nil)
	assert.ErrorContains(t, err, "set spec.task.name")
}

// defaults reads deploy/functions.
func defaults(t *testing.T) (map[string]*v1alpha1.Function, []*v1alpha1.Task) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "functions", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	functions := map[string]*v1alpha1.Function{}
	var tasks []*v1alpha1.Task
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, doc := range strings.Split(string(data), "\n---\n") {
			var meta metav1.TypeMeta
			require.NoError(t, yaml.Unmarshal([]byte(doc), &meta))
			switch meta.Kind {
			case "Function":
				fn := &v1alpha1.Function{}
				require.NoError(t, yaml.UnmarshalStrict([]byte(doc), fn), f)
				functions[fn.Name] = fn
			case "Task":
				task := &v1alpha1.Task{}
				require.NoError(t, yaml.UnmarshalStrict([]byte(doc), task), f)
				tasks = append(tasks, task)
			default:
				t.Fatalf("%s: unexpected kind %q", f, meta.Kind)
			}
		}
	}
	return functions, tasks
}

// TestDefaultTasksBuild builds every default Task for a sample target and checks that
// every variable resolves, and that the default Task of each engine exists.
func TestDefaultTasksBuild(t *testing.T) {
	functions, tasks := defaults(t)
	require.GreaterOrEqual(t, len(tasks), 13)
	names := map[string]bool{}
	repo := &v1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: "backups", Name: "repo"},
		Spec: v1alpha1.RepositorySpec{Backend: v1alpha1.Backend{StorageSecretName: "repo-secret", S3: &v1alpha1.S3Spec{Endpoint: "http://minio:9000", Bucket: "b"}}}}
	for _, task := range tasks {
		names[task.Name] = true
		t.Run(task.Name, func(t *testing.T) {
			engine, version, _ := strings.Cut(task.Name, "-backup-")
			restore := strings.Contains(task.Name, "-restore-")
			if restore {
				engine, version, _ = strings.Cut(task.Name, "-restore-")
			}
			var app *appbinding.AppBinding
			target := &v1alpha1.TargetRef{APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: v1alpha1.KindAppBinding, Name: "db"}
			if task.Name == "cluster-backup" {
				target = nil
			} else {
				app = &appbinding.AppBinding{Namespace: "app", Name: "db", Type: "kubedb.com/" + engine, Version: version + ".1", SecretName: "db-auth", URL: "tcp://db:1"}
				dir := Backup
				if restore {
					dir = Restore
				}
				def, err := DefaultTask(dir, app)
				require.NoError(t, err)
				assert.Equal(t, task.Name, def, "the default Task of its AppBinding")
			}
			var req Request
			if restore {
				rs := &v1alpha1.RestoreSession{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "rs", UID: "u1"},
					Spec: v1alpha1.RestoreSessionSpec{Repository: v1alpha1.ObjectRef{Namespace: "backups", Name: "repo"}, Target: &v1alpha1.RestoreTarget{Ref: target}}}
				req = ForRestore(rs)
			} else {
				bc := &v1alpha1.BackupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "bc"},
					Spec: v1alpha1.BackupConfigurationSpec{Repository: v1alpha1.ObjectRef{Namespace: "backups", Name: "repo"}, Task: &v1alpha1.TaskRef{Name: task.Name}}}
				if target != nil {
					bc.Spec.Target = &v1alpha1.BackupTarget{Ref: *target}
				}
				req = ForBackup(&v1alpha1.BackupSession{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "bs", UID: "u2"}}, bc)
			}
			objs, err := req.build(task, functions, repo, app)
			require.NoError(t, err)
			pod := objs.Job.Spec.Template.Spec
			require.Len(t, pod.InitContainers, 1)
			require.Len(t, pod.Containers, 1)
			assert.Equal(t, "update-status", pod.Containers[0].Args[0])
			for _, c := range append(pod.InitContainers, pod.Containers...) {
				for _, s := range append(append([]string{c.Image}, c.Command...), c.Args...) {
					assert.NotContains(t, s, "${", "container %s", c.Name)
				}
				for _, e := range c.Env {
					assert.NotContains(t, e.Value, "${", "container %s env %s", c.Name, e.Name)
				}
				assert.Contains(t, c.Args, "--repository=repo")
				assert.Contains(t, c.Args, "--repository-namespace=backups")
				assert.Contains(t, c.Args, "--output-dir=/tmp/output")
				assert.Equal(t, []corev1.VolumeMount{{Name: "trove-output", MountPath: "/tmp/output"}}, c.VolumeMounts)
			}
			data := pod.InitContainers[0]
			if app != nil {
				assert.Contains(t, data.Args, "--app-binding=db")
				assert.Contains(t, data.Args, "--namespace=app")
				assert.Contains(t, data.Args, "--hostname=host-0")
			}
			if restore {
				assert.Contains(t, data.Args, "--restore-session=rs")
				assert.Contains(t, data.Args, "--snapshot=latest")
			} else {
				assert.Contains(t, data.Args, "--backup-session=bs")
			}
			// The data step reads the repository's Secret across namespaces.
			require.Len(t, objs.Roles, 2)
			assert.Equal(t, "backups", objs.Roles[1].Namespace)
			assert.Equal(t, req.foreignName(), objs.Roles[1].Name)
			assert.Equal(t, objs.Roles[1].Name, objs.RoleBindings[1].RoleRef.Name)
		})
	}
	for _, want := range []string{"postgres-backup-16", "postgres-restore-16", "mysql-backup-8.0", "mysql-restore-8.0",
		"mongodb-backup-7", "mongodb-restore-7", "redis-backup-7", "redis-restore-7", "cluster-backup"} {
		assert.True(t, names[want], "deploy/functions lacks the Task %s", want)
	}
}
