package jobbuilder

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/variables"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml")

// render writes the objects as a multi-document YAML stream, in creation order.
func render(t *testing.T, objs *Objects) []byte {
	t.Helper()
	var docs []any
	docs = append(docs, objs.Job)
	if objs.ServiceAccount != nil {
		docs = append(docs, objs.ServiceAccount)
	}
	for _, r := range objs.Roles {
		docs = append(docs, r)
	}
	for _, rb := range objs.RoleBindings {
		docs = append(docs, rb)
	}
	var buf bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		data, err := yaml.Marshal(d)
		require.NoError(t, err)
		buf.Write(data)
	}
	return buf.Bytes()
}

func checkGolden(t *testing.T, name string, objs *Objects) {
	t.Helper()
	got := render(t, objs)
	path := filepath.Join("testdata", name+".golden.yaml")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./controller/jobbuilder/ -update to create it")
	assert.Equal(t, string(want), string(got), "%s differs; run with -update after checking the change", path)
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name  string
		input func(t *testing.T) Input
		check func(t *testing.T, objs *Objects)
	}{
		{
			// The seeds' postgres-backup-11.2 Task and Functions, unchanged but for apiVersion.
			name: "seed-postgres",
			input: func(t *testing.T) Input {
				return backupInput(t, pgConfig(), gcsRepo("demo"), "postgres-backup-11.2")
			},
			check: func(t *testing.T, objs *Objects) {
				pod := objs.Job.Spec.Template.Spec
				require.Len(t, pod.InitContainers, 1)
				require.Len(t, pod.Containers, 1)
				assert.Equal(t, "postgres-backup-11-2", pod.InitContainers[0].Name)
				assert.Equal(t, "update-status", pod.Containers[0].Name)
				assert.Contains(t, pod.InitContainers[0].Args, "--pg-args=--dbname=my-postgres")
				assert.Equal(t, "gcs-secret", pod.Volumes[0].Secret.SecretName)
			},
		},
		{
			name: "three-steps",
			input: func(t *testing.T) Input {
				return backupInput(t, pgConfig(), gcsRepo("demo"), "postgres-backup-16-checked")
			},
			check: func(t *testing.T, objs *Objects) {
				pod := objs.Job.Spec.Template.Spec
				require.Len(t, pod.InitContainers, 2)
				assert.Equal(t, []string{"wait-for-db", "postgres-backup-16"}, []string{pod.InitContainers[0].Name, pod.InitContainers[1].Name})
				assert.Equal(t, "update-status", pod.Containers[0].Name)
				assert.Equal(t, "quick-postgres-auth", pod.InitContainers[0].Env[1].ValueFrom.SecretKeyRef.Name)
				assert.Equal(t, "ghcr.io/trove-dev/trove:v0.1.0", pod.InitContainers[1].Image)
			},
		},
		{
			name: "pod-settings-interim",
			input: func(t *testing.T) Input {
				bc := pgConfig()
				bc.Spec.TimeOut = &metav1.Duration{Duration: 2 * time.Hour}
				bc.Spec.RetryConfig = &v1alpha1.RetryConfig{MaxRetry: 2}
				bc.Spec.RuntimeSettings = &v1alpha1.RuntimeSettings{
					Container: &v1alpha1.ContainerRuntimeSettings{
						Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
							corev1.ResourceMemory: resource.MustParse("1Gi"),
							corev1.ResourceCPU:    resource.MustParse("2"),
						}},
						Nice:   &v1alpha1.NiceSettings{Adjustment: ptr.To[int32](15)},
						IONice: &v1alpha1.IONiceSettings{Class: ptr.To[int32](2), ClassData: ptr.To[int32](7)},
						Env: []corev1.EnvVar{
							{Name: "TROVE_LOG_LEVEL", Value: "debug"},
							{Name: "SESSION", Value: "${BACKUP_SESSION}"},
						},
						EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "backup-tuning"}}}},
					},
					Pod: &v1alpha1.PodRuntimeSettings{
						NodeSelector:      map[string]string{"disktype": "ssd"},
						PriorityClassName: "backup-low",
						Tolerations:       []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "backup", Effect: corev1.TaintEffectNoSchedule}},
						Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
							NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}}}},
						}}},
						SecurityContext:  &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), FSGroup: ptr.To[int64](5000)},
						ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
						RuntimeClassName: ptr.To("gvisor"),
						SchedulerName:    "batch-scheduler",
					},
				}
				bc.Spec.InterimVolumeTemplate = &corev1.PersistentVolumeClaim{
					ObjectMeta: metav1.ObjectMeta{Name: "scratch", Labels: map[string]string{"purpose": "interim"}},
					Spec: corev1.PersistentVolumeClaimSpec{
						AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
						StorageClassName: ptr.To("fast"),
						Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
					},
				}
				return backupInput(t, bc, gcsRepo("demo"), "postgres-backup-16-checked")
			},
			check: func(t *testing.T, objs *Objects) {
				job := objs.Job
				assert.Equal(t, int32(2), *job.Spec.BackoffLimit)
				assert.Equal(t, int64(7200), *job.Spec.ActiveDeadlineSeconds)
				backup := job.Spec.Template.Spec.InitContainers[1]
				assert.Contains(t, backup.Args, "--interim-dir=/trove-interim-volume/data")
				assert.Equal(t, []corev1.EnvVar{
					{Name: "NICE_ADJUSTMENT", Value: "15"}, {Name: "IONICE_CLASS", Value: "2"}, {Name: "IONICE_CLASS_DATA", Value: "7"},
					{Name: "TROVE_LOG_LEVEL", Value: "debug"}, {Name: "SESSION", Value: sessionName},
				}, backup.Env)
				assert.Equal(t, "256M", ptr.To(backup.Resources.Requests[corev1.ResourceMemory]).String(), "Function's request kept")
				assert.Equal(t, "1Gi", ptr.To(backup.Resources.Limits[corev1.ResourceMemory]).String(), "session's limit wins")
				for _, c := range append(job.Spec.Template.Spec.InitContainers, job.Spec.Template.Spec.Containers...) {
					assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: variables.InterimVolumeName, MountPath: variables.InterimVolumeMountPath}, c.Name)
				}
			},
		},
		{
			name: "user-service-account",
			input: func(t *testing.T) Input {
				bc := pgConfig()
				bc.Spec.RuntimeSettings = &v1alpha1.RuntimeSettings{Pod: &v1alpha1.PodRuntimeSettings{ServiceAccountName: "db-backup"}}
				return backupInput(t, bc, gcsRepo("demo"), "postgres-backup-11.2")
			},
			check: func(t *testing.T, objs *Objects) {
				assert.Nil(t, objs.ServiceAccount)
				assert.Empty(t, objs.Roles)
				assert.Empty(t, objs.RoleBindings)
				assert.Equal(t, "db-backup", objs.Job.Spec.Template.Spec.ServiceAccountName)
				assert.Nil(t, objs.Job.Spec.Template.Spec.AutomountServiceAccountToken)
			},
		},
		{
			// The Repository lives in another namespace: its Secret and status are granted
			// by a Role there, without ownerReference.
			name: "shared-repository",
			input: func(t *testing.T) Input {
				in := backupInput(t, pgConfig(), gcsRepo("backups"), "postgres-backup-11.2")
				in.AppBindingSecretName = "quick-postgres-auth"
				return in
			},
			check: func(t *testing.T, objs *Objects) {
				require.Len(t, objs.Roles, 2)
				assert.Equal(t, "demo", objs.Roles[0].Namespace)
				assert.Equal(t, "backups", objs.Roles[1].Namespace)
				assert.Empty(t, objs.Roles[1].OwnerReferences)
				assert.Equal(t, "demo", objs.RoleBindings[1].Subjects[0].Namespace)
			},
		},
		{
			name: "restore",
			input: func(t *testing.T) Input {
				fns, tasks := catalog(t)
				rs := &v1alpha1.RestoreSession{
					ObjectMeta: metav1.ObjectMeta{Name: "restore-pg", Namespace: "demo"},
					Spec: v1alpha1.RestoreSessionSpec{
						Repository: v1alpha1.ObjectRef{Name: "gcs-repo"},
						Task:       &v1alpha1.TaskRef{Name: "postgres-restore-16"},
						Target: &v1alpha1.RestoreTarget{
							Ref:   &v1alpha1.TargetRef{APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: v1alpha1.KindAppBinding, Name: "restored-postgres"},
							Rules: []v1alpha1.RestoreRule{{SourceHost: "host-0", Snapshots: []string{"4bba7a1c"}}},
						},
					},
				}
				vars, err := variables.Builtins(variables.Facts{Repository: gcsRepo("demo"), RestoreSession: rs})
				require.NoError(t, err)
				return Input{
					Task: tasks["postgres-restore-16"], Functions: fns, Builtins: vars,
					SessionName: rs.Name, Namespace: rs.Namespace,
					Owner: metav1.OwnerReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "RestoreSession", Name: rs.Name, UID: "rs-uid"},
				}
			},
			check: func(t *testing.T, objs *Objects) {
				assert.Contains(t, objs.Job.Spec.Template.Spec.InitContainers[0].Args, "--snapshot=4bba7a1c")
				assert.Equal(t, "trove-restore-pg", objs.Job.Name)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.input(t)
			before := snapshotInput(t, in)
			objs, err := Build(in)
			require.NoError(t, err)
			assert.Equal(t, before, snapshotInput(t, in), "Build must not modify its input")
			checkInvariants(t, objs)
			tt.check(t, objs)
			checkGolden(t, tt.name, objs)
		})
	}
}

// checkInvariants holds for every Job the builder makes.
func checkInvariants(t *testing.T, objs *Objects) {
	t.Helper()
	job := objs.Job
	pod := job.Spec.Template.Spec
	assert.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
	assert.NotEmpty(t, job.Labels[v1alpha1.LabelSession])
	assert.Empty(t, validation.IsDNS1123Label(job.Name), "Job name")
	for k, v := range job.Labels {
		assert.Empty(t, validation.IsQualifiedName(k), k)
		assert.Empty(t, validation.IsValidLabelValue(v), v)
	}
	assert.Equal(t, job.Labels, job.Spec.Template.Labels)
	require.Len(t, job.OwnerReferences, 1)
	assert.True(t, *job.OwnerReferences[0].Controller)
	names := map[string]bool{}
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		assert.Equal(t, corev1.TerminationMessageFallbackToLogsOnError, c.TerminationMessagePolicy, c.Name)
		assert.False(t, names[c.Name], "duplicate container %s", c.Name)
		names[c.Name] = true
		assert.LessOrEqual(t, len(c.Name), 63)
	}
	if objs.ServiceAccount != nil {
		assert.Equal(t, objs.ServiceAccount.Name, pod.ServiceAccountName)
		for _, r := range objs.Roles {
			for _, rule := range r.Rules {
				assert.NotEmpty(t, rule.ResourceNames, "every rule names its objects: %+v", rule)
				assert.NotContains(t, rule.Verbs, "list")
				assert.NotContains(t, rule.Verbs, "*")
			}
		}
	}
}

// snapshotInput serialises what Build reads, to prove it is left untouched.
func snapshotInput(t *testing.T, in Input) string {
	t.Helper()
	data, err := yaml.Marshal(in)
	require.NoError(t, err)
	return string(data)
}
