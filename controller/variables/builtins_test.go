package variables

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"trove.dev/trove/apis/v1alpha1"
)

func gcsRepo() *v1alpha1.Repository {
	return &v1alpha1.Repository{
		ObjectMeta: metav1.ObjectMeta{Name: "gcs-repo", Namespace: "demo"},
		Spec: v1alpha1.RepositorySpec{Backend: v1alpha1.Backend{
			StorageSecretName: "gcs-secret",
			GCS:               &v1alpha1.GCSSpec{Bucket: "stash-backup", Prefix: "demo/postgres/quick-postgres", MaxConnections: 4},
		}},
	}
}

func pgConfig() *v1alpha1.BackupConfiguration {
	return &v1alpha1.BackupConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "database-backup-demo", Namespace: "demo"},
		Spec: v1alpha1.BackupConfigurationSpec{
			Repository: v1alpha1.ObjectRef{Name: "gcs-repo"},
			Target: &v1alpha1.BackupTarget{Ref: v1alpha1.TargetRef{
				APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: v1alpha1.KindAppBinding, Name: "quick-postgres",
			}},
			Task:            &v1alpha1.TaskRef{Name: "postgres-backup-11.2"},
			RetentionPolicy: &v1alpha1.RetentionPolicy{KeepLast: 5, Prune: true},
		},
	}
}

// seedObjects reads the seed Functions and Task (Stash's, apiVersion changed).
func seedObjects(t *testing.T, path string) (map[string]*v1alpha1.Function, *v1alpha1.Task) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	fns := map[string]*v1alpha1.Function{}
	var task *v1alpha1.Task
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var meta metav1.TypeMeta
		require.NoError(t, yaml.Unmarshal([]byte(doc), &meta))
		switch meta.Kind {
		case "Function":
			var f v1alpha1.Function
			require.NoError(t, yaml.UnmarshalStrict([]byte(doc), &f))
			fns[f.Name] = &f
		case "Task":
			task = &v1alpha1.Task{}
			require.NoError(t, yaml.UnmarshalStrict([]byte(doc), task))
		}
	}
	require.NotNil(t, task)
	return fns, task
}

// TestSeedPostgresFunction resolves the seeds' postgres-backup-11.2 Function with the
// seed Task's params, as Stash would have.
func TestSeedPostgresFunction(t *testing.T) {
	fns, task := seedObjects(t, "testdata/seed-postgres.yaml")
	builtins, err := Builtins(Facts{Repository: gcsRepo(), BackupConfiguration: pgConfig(), BackupSessionName: "database-backup-demo-1700000000"})
	require.NoError(t, err)

	type want struct {
		args    []string
		mount   string
		missing []Ref
	}
	wants := map[string]want{
		"postgres-backup-11.2": {
			args: []string{
				"backup-pg",
				"--provider=gcs",
				"--bucket=stash-backup",
				"--endpoint=",
				"--path=demo/postgres/quick-postgres",
				"--secret-dir=/etc/repository/secret",
				"--scratch-dir=/tmp",
				"--hostname=host-0",
				"--pg-args=--dbname=my-postgres",
				"--namespace=demo",
				"--app-binding=quick-postgres",
				"--retention-keep-last=5",
				"--retention-prune=true",
				"--output-dir=/tmp/output",
				"--enable-cache=true",
				"--max-connections=4",
			},
			mount: "secret-volume",
		},
		"update-status": {
			args: []string{
				"update-status",
				"--namespace=demo",
				"--repository=gcs-repo",
				"--backup-session=database-backup-demo-1700000000",
				"--restore-session=",
				"--output-dir=/tmp/output",
			},
		},
	}
	taskParams := []v1alpha1.Param{{Name: "pgArgs", Value: "--dbname=my-postgres"}}
	for _, step := range task.Spec.Steps {
		t.Run(step.Name, func(t *testing.T) {
			fn := fns[step.Name]
			require.NotNil(t, fn)
			r := NewFunctionResolver(fn.Name, ForStep(builtins, step, taskParams))
			args, err := r.Strings("spec.args", fn.Spec.Args)
			require.NoError(t, err)
			assert.Equal(t, wants[step.Name].args, args)
			for i, m := range fn.Spec.VolumeMounts {
				name, err := r.String("spec.volumeMounts["+string(rune('0'+i))+"].name", m.Name)
				require.NoError(t, err)
				assert.Equal(t, wants[step.Name].mount, name)
			}
			assert.Empty(t, r.Missing())
		})
	}

	tr := NewTaskResolver(task.Name, ForStep(builtins, v1alpha1.FunctionRef{}, taskParams))
	secret, err := tr.String("spec.volumes[0].secret.secretName", task.Spec.Volumes[0].Secret.SecretName)
	require.NoError(t, err)
	assert.Equal(t, "gcs-secret", secret)
}

// TestSeedPostgresFunctionWithoutParams: the same Function without the Task's params
// reports secretVolume missing (it has no default), and outputDir falls back to "".
func TestSeedPostgresFunctionWithoutParams(t *testing.T) {
	fns, _ := seedObjects(t, "testdata/seed-postgres.yaml")
	builtins, err := Builtins(Facts{Repository: gcsRepo(), BackupConfiguration: pgConfig()})
	require.NoError(t, err)
	fn := fns["postgres-backup-11.2"]
	r := NewFunctionResolver(fn.Name, builtins)
	args, err := r.Strings("spec.args", fn.Spec.Args)
	require.NoError(t, err)
	assert.Contains(t, args, "--output-dir=")
	_, err = r.String("spec.volumeMounts[0].name", fn.Spec.VolumeMounts[0].Name)
	require.NoError(t, err)
	assert.Equal(t, []Ref{{Name: "secretVolume", Field: "spec.volumeMounts[0].name"}}, r.Missing())
}

func TestPrecedence(t *testing.T) {
	builtins := Vars{"NAMESPACE": "demo", "HOSTNAME": "host-0", "outputDir": "builtin"}
	step := v1alpha1.FunctionRef{Name: "f", Params: []v1alpha1.Param{
		{Name: "outputDir", Value: "/step"}, {Name: "HOSTNAME", Value: "step-host"}, {Name: "onlyStep", Value: "s"},
	}}
	taskParams := []v1alpha1.Param{{Name: "outputDir", Value: "/config"}, {Name: "extra", Value: "e"}}

	v := ForStep(builtins, step, taskParams)
	assert.Equal(t, "demo", v["NAMESPACE"], "built-in kept")
	assert.Equal(t, "step-host", v["HOSTNAME"], "step param over built-in")
	assert.Equal(t, "/config", v["outputDir"], "task.params over step param and built-in")
	assert.Equal(t, "s", v["onlyStep"])
	assert.Equal(t, "e", v["extra"])
	assert.Equal(t, "builtin", builtins["outputDir"], "inputs not modified")

	// An empty param is set: it overrides, and ${X:=d} then takes its default.
	v = ForStep(builtins, step, []v1alpha1.Param{{Name: "HOSTNAME", Value: ""}})
	res, err := Expand("${HOSTNAME}|${HOSTNAME:=d}", v)
	require.NoError(t, err)
	assert.Equal(t, "|d", res.Text)
	assert.Empty(t, res.Missing)

	// Later duplicates win inside one list.
	assert.Equal(t, "2", FromParams([]v1alpha1.Param{{Name: "a", Value: "1"}, {Name: "a", Value: "2"}})["a"])
}

func TestBuiltinsBackup(t *testing.T) {
	bc := pgConfig()
	bc.Spec.Target.Paths = []string{"/var/lib/a", "/var/lib/b"}
	bc.Spec.Target.Exclude = []string{"*.tmp"}
	bc.Spec.RetentionPolicy = &v1alpha1.RetentionPolicy{KeepLast: 1, KeepHourly: 2, KeepDaily: 3, KeepWeekly: 4, KeepMonthly: 5, KeepYearly: 6, KeepTags: []string{"a", "b"}, Prune: true, DryRun: true}
	bc.Spec.RuntimeSettings = &v1alpha1.RuntimeSettings{Container: &v1alpha1.ContainerRuntimeSettings{
		Nice:   &v1alpha1.NiceSettings{Adjustment: ptr.To[int32](10)},
		IONice: &v1alpha1.IONiceSettings{Class: ptr.To[int32](2), ClassData: ptr.To[int32](7)},
	}}
	bc.Spec.InterimVolumeTemplate = &corev1.PersistentVolumeClaim{}
	v, err := Builtins(Facts{
		Repository:               gcsRepo(),
		BackupConfiguration:      bc,
		BackupSessionName:        "s-1",
		App:                      &AppFacts{Version: "16.1", Group: "kubedb.com", Resource: "postgres", Replicas: ptr.To[int32](3)},
		PrometheusPushgatewayURL: "http://pushgateway:9091",
		DisableCache:             true,
	})
	require.NoError(t, err)
	want := Vars{
		"NAMESPACE": "demo", "BACKUP_SESSION": "s-1", "RESTORE_SESSION": "",
		"INVOKER_KIND": "BackupConfiguration", "INVOKER_NAME": "database-backup-demo",
		"REPOSITORY_NAME": "gcs-repo", "REPOSITORY_NAMESPACE": "demo", "REPOSITORY_PROVIDER": "gcs",
		"REPOSITORY_SECRET_NAME": "gcs-secret", "REPOSITORY_BUCKET": "stash-backup",
		"REPOSITORY_PREFIX": "demo/postgres/quick-postgres", "REPOSITORY_ENDPOINT": "", "REPOSITORY_REGION": "",
		"REPOSITORY_URL": "", "HOSTNAME": "host-0", "SOURCE_HOSTNAME": "host-0",
		"TARGET_NAME": "quick-postgres", "TARGET_API_VERSION": "appcatalog.appscode.com/v1alpha1",
		"TARGET_KIND": "AppBinding", "TARGET_NAMESPACE": "demo", "TARGET_MOUNT_PATH": "",
		"TARGET_PATHS": "/var/lib/a,/var/lib/b", "EXCLUDE_PATTERNS": "*.tmp",
		"RESTORE_PATHS": "", "RESTORE_SNAPSHOTS": "",
		"TARGET_APP_VERSION": "16.1", "TARGET_APP_GROUP": "kubedb.com", "TARGET_APP_RESOURCE": "postgres",
		"TARGET_APP_TYPE": "kubedb.com/postgres", "TARGET_APP_REPLICAS": "3",
		"RETENTION_KEEP_LAST": "1", "RETENTION_KEEP_HOURLY": "2", "RETENTION_KEEP_DAILY": "3",
		"RETENTION_KEEP_WEEKLY": "4", "RETENTION_KEEP_MONTHLY": "5", "RETENTION_KEEP_YEARLY": "6",
		"RETENTION_KEEP_TAGS": "a,b", "RETENTION_PRUNE": "true", "RETENTION_DRY_RUN": "true",
		"ENABLE_CACHE": "false", "MAX_CONNECTIONS": "4",
		"NICE_ADJUSTMENT": "10", "IONICE_CLASS": "2", "IONICE_CLASS_DATA": "7",
		"ENABLE_STATUS_SUBRESOURCE": "true", "PROMETHEUS_PUSHGATEWAY_URL": "http://pushgateway:9091",
		"INTERIM_DATA_DIR": "/trove-interim-volume/data",
	}
	assert.Equal(t, want, v)
	assert.Len(t, AllBuiltins(), len(want), "every built-in is present")
}

func TestBuiltinsRestore(t *testing.T) {
	rs := &v1alpha1.RestoreSession{
		ObjectMeta: metav1.ObjectMeta{Name: "restore-pg", Namespace: "demo"},
		Spec: v1alpha1.RestoreSessionSpec{
			Repository: v1alpha1.ObjectRef{Name: "gcs-repo"},
			Target: &v1alpha1.RestoreTarget{
				Ref: &v1alpha1.TargetRef{APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: v1alpha1.KindAppBinding, Name: "restored-postgres"},
				Rules: []v1alpha1.RestoreRule{
					{TargetHosts: []string{"other"}, Snapshots: []string{"deadbeef"}},
					{SourceHost: "host-0", Snapshots: []string{"latest"}, Paths: []string{"/a", "/b"}},
				},
			},
		},
	}
	v, err := Builtins(Facts{Repository: gcsRepo(), RestoreSession: rs, Hostname: "host-1"})
	require.NoError(t, err)
	assert.Equal(t, "restore-pg", v[RestoreSession])
	assert.Equal(t, "", v[BackupSession])
	assert.Equal(t, "RestoreSession", v[InvokerKind])
	assert.Equal(t, "host-1", v[Hostname])
	assert.Equal(t, "host-0", v[SourceHostname])
	assert.Equal(t, "latest", v[RestoreSnapshots])
	assert.Equal(t, "/a,/b", v[RestorePaths])
	assert.Equal(t, "restored-postgres", v[TargetName])
	assert.Equal(t, "", v[RetentionKeepLast], "no retention on restore: Functions' defaults apply")

	v, err = Builtins(Facts{Repository: gcsRepo(), RestoreSession: rs, Hostname: "other"})
	require.NoError(t, err)
	assert.Equal(t, "deadbeef", v[RestoreSnapshots])
	assert.Equal(t, "other", v[SourceHostname], "no sourceHost: the host itself")
}

func TestBuiltinsRepositoryBackends(t *testing.T) {
	tests := []struct {
		name    string
		backend v1alpha1.Backend
		want    Vars
	}{
		{"local", v1alpha1.Backend{Local: &v1alpha1.LocalSpec{MountPath: "/repo", SubPath: "pg"}},
			Vars{"REPOSITORY_PROVIDER": "local", "REPOSITORY_BUCKET": "/repo", "REPOSITORY_PREFIX": "pg"}},
		{"s3", v1alpha1.Backend{S3: &v1alpha1.S3Spec{Endpoint: "https://minio:9000", Bucket: "b", Prefix: "p", Region: "us-east-1"}},
			Vars{"REPOSITORY_PROVIDER": "s3", "REPOSITORY_ENDPOINT": "https://minio:9000", "REPOSITORY_BUCKET": "b", "REPOSITORY_PREFIX": "p", "REPOSITORY_REGION": "us-east-1"}},
		{"azure", v1alpha1.Backend{Azure: &v1alpha1.AzureSpec{Container: "c", Prefix: "p", MaxConnections: 2}},
			Vars{"REPOSITORY_PROVIDER": "azure", "REPOSITORY_BUCKET": "c", "REPOSITORY_PREFIX": "p", "MAX_CONNECTIONS": "2"}},
		{"swift", v1alpha1.Backend{Swift: &v1alpha1.SwiftSpec{Container: "c", Prefix: "p"}},
			Vars{"REPOSITORY_PROVIDER": "swift", "REPOSITORY_BUCKET": "c", "REPOSITORY_PREFIX": "p"}},
		{"b2", v1alpha1.Backend{B2: &v1alpha1.B2Spec{Bucket: "b", Prefix: "p", MaxConnections: 8}},
			Vars{"REPOSITORY_PROVIDER": "b2", "REPOSITORY_BUCKET": "b", "REPOSITORY_PREFIX": "p", "MAX_CONNECTIONS": "8"}},
		{"rest", v1alpha1.Backend{Rest: &v1alpha1.RestServerSpec{URL: "https://rest:8000/trove"}},
			Vars{"REPOSITORY_PROVIDER": "rest", "REPOSITORY_URL": "https://rest:8000/trove"}},
		{"sftp", v1alpha1.Backend{SFTP: &v1alpha1.SFTPSpec{Host: "h", Port: 2222, User: "u", Path: "/srv/restic"}},
			Vars{"REPOSITORY_PROVIDER": "sftp", "REPOSITORY_ENDPOINT": "h:2222", "REPOSITORY_PREFIX": "/srv/restic", "REPOSITORY_URL": "sftp://u@h:2222/srv/restic"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := &v1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Spec: v1alpha1.RepositorySpec{Backend: tt.backend}}
			repo.Spec.Backend.StorageSecretName = "s"
			v, err := Builtins(Facts{Repository: repo, BackupConfiguration: pgConfig()})
			require.NoError(t, err)
			assert.Equal(t, "demo", v[RepositoryNamespace], "defaults to the session's namespace")
			for _, k := range []string{RepositoryProvider, RepositoryBucket, RepositoryPrefix, RepositoryEndpoint, RepositoryRegion, RepositoryURL} {
				assert.Equal(t, tt.want[k], v[k], k)
			}
			if mc, ok := tt.want[MaxConnections]; ok {
				assert.Equal(t, mc, v[MaxConnections])
			} else {
				assert.Equal(t, "0", v[MaxConnections])
			}
		})
	}
}

func TestBuiltinsInputErrors(t *testing.T) {
	_, err := Builtins(Facts{Repository: gcsRepo()})
	assert.Error(t, err)
	_, err = Builtins(Facts{Repository: gcsRepo(), BackupConfiguration: pgConfig(), RestoreSession: &v1alpha1.RestoreSession{}})
	assert.Error(t, err)
	_, err = Builtins(Facts{BackupConfiguration: pgConfig()})
	assert.Error(t, err)
}

// TestSeedPostgresFunctionLaterRelease resolves the later release's (seed 004) Functions
// against an S3 (MinIO) repository.
func TestSeedPostgresFunctionLaterRelease(t *testing.T) {
	fns, task := seedObjects(t, "testdata/seed-postgres-004.yaml")
	repo := &v1alpha1.Repository{
		ObjectMeta: metav1.ObjectMeta{Name: "minio-repo", Namespace: "demo"},
		Spec: v1alpha1.RepositorySpec{Backend: v1alpha1.Backend{
			StorageSecretName: "minio-secret",
			S3:                &v1alpha1.S3Spec{Endpoint: "https://minio.demo.svc:9000", Bucket: "backups", Prefix: "pg", Region: "us-east-1"},
		}},
	}
	builtins, err := Builtins(Facts{Repository: repo, BackupConfiguration: pgConfig(), BackupSessionName: "database-backup-demo-1700000000"})
	require.NoError(t, err)
	taskParams := []v1alpha1.Param{{Name: "args", Value: "--dbname=my-postgres"}, {Name: "backupCMD", Value: "pg_dump"}}
	want := map[string][]string{
		"postgres-backup-11.2": {
			"backup-pg",
			"--provider=s3", "--bucket=backups", "--endpoint=https://minio.demo.svc:9000", "--region=us-east-1", "--path=pg",
			"--secret-dir=/etc/repository/secret", "--scratch-dir=/tmp", "--enable-cache=true", "--max-connections=0",
			"--hostname=host-0", "--backup-cmd=pg_dump", "--pg-args=--dbname=my-postgres", "--wait-timeout=",
			"--namespace=demo", "--appbinding=quick-postgres", "--backupsession=database-backup-demo-1700000000",
			"--retention-keep-last=5", "--retention-prune=true",
			"--output-dir=/tmp/output",
		},
		"update-status": {
			"update-status",
			"--provider=s3", "--bucket=backups", "--endpoint=https://minio.demo.svc:9000", "--path=pg",
			"--secret-dir=/etc/repository/secret", "--scratch-dir=/tmp", "--enable-cache=true", "--max-connections=0",
			"--namespace=demo", "--backupsession=database-backup-demo-1700000000", "--repository=minio-repo",
			"--invoker-kind=BackupConfiguration", "--invoker-name=database-backup-demo",
			"--target-kind=AppBinding", "--target-name=quick-postgres",
			"--output-dir=/tmp/output",
			"--metrics-enabled=true", "--metrics-pushgateway-url=http://stash.kube-system.svc:56789", "--prom-job-name=",
		},
	}
	for _, step := range task.Spec.Steps {
		fn := fns[step.Name]
		r := NewFunctionResolver(fn.Name, ForStep(builtins, step, taskParams))
		args, err := r.Strings("args", fn.Spec.Args)
		require.NoError(t, err)
		assert.Equal(t, want[step.Name], args, step.Name)
		mount, err := r.String("volumeMounts[0].name", fn.Spec.VolumeMounts[0].Name)
		require.NoError(t, err)
		assert.Equal(t, "secret-volume", mount)
		assert.Empty(t, r.Missing(), step.Name)
	}
}
