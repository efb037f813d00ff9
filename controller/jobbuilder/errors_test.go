package jobbuilder

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/variables"
)

// reasoner is what every builder error offers the reconciler for the session condition.
type reasoner interface{ Reason() string }

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(in *Input)
		check  func(t *testing.T, err error)
		msg    string
	}{
		{
			name:   "unknown function",
			modify: func(in *Input) { delete(in.Functions, "update-status") },
			msg:    `task "postgres-backup-11.2": steps[1]: function "update-status" not found`,
			check: func(t *testing.T, err error) {
				var e *UnknownFunctionError
				require.ErrorAs(t, err, &e)
				assert.Equal(t, "update-status", e.Function)
				assert.Equal(t, 1, e.Step)
				assert.Equal(t, v1alpha1.ReasonFunctionNotFound, e.Reason())
			},
		},
		{
			name: "missing param in a Function",
			modify: func(in *Input) {
				in.Task = in.Task.DeepCopy()
				in.Task.Spec.Steps[0].Params = []v1alpha1.Param{{Name: "outputDir", Value: "/tmp/output"}}
			},
			msg: `function "postgres-backup-11.2": volumeMounts[0].name: missing param "secretVolume": set it in the Task step's params or in task.params`,
			check: func(t *testing.T, err error) {
				var e *MissingParamError
				require.ErrorAs(t, err, &e)
				assert.Equal(t, MissingParamError{Function: "postgres-backup-11.2", Task: "postgres-backup-11.2", Field: "volumeMounts[0].name", Variable: "secretVolume"}, *e)
				assert.Equal(t, v1alpha1.ReasonParamMissing, e.Reason())
			},
		},
		{
			name: "every missing param is reported",
			modify: func(in *Input) {
				in.Task = in.Task.DeepCopy()
				in.Task.Spec.Steps[0].Params = nil
				in.Functions["update-status"] = fnWith(in.Functions["update-status"], func(f *v1alpha1.Function) {
					f.Spec.Args = append(f.Spec.Args, "--extra=${extra}")
				})
			},
			msg: `function "postgres-backup-11.2": volumeMounts[0].name: missing param "secretVolume": set it in the Task step's params or in task.params` + "\n" +
				`function "update-status": args[6]: missing param "extra": set it in the Task step's params or in task.params`,
			check: func(t *testing.T, err error) {
				var e *MissingParamError
				require.ErrorAs(t, err, &e)
				assert.Equal(t, "secretVolume", e.Variable, "the first one is found by errors.As")
			},
		},
		{
			name: "missing param in a Task volume",
			modify: func(in *Input) {
				in.Task = in.Task.DeepCopy()
				in.Task.Spec.Volumes[0].Secret.SecretName = "${storageSecret}"
			},
			msg: `task "postgres-backup-11.2": spec.volumes[0].secret.secretName: missing param "storageSecret": set it in the Task step's params or in task.params`,
			check: func(t *testing.T, err error) {
				var e *MissingParamError
				require.ErrorAs(t, err, &e)
				assert.Equal(t, "", e.Function)
				assert.Equal(t, "storageSecret", e.Variable)
			},
		},
		{
			name: "unresolved $(VAR) where the kubelet does not expand it",
			modify: func(in *Input) {
				in.Functions["update-status"] = fnWith(in.Functions["update-status"], func(f *v1alpha1.Function) {
					f.Spec.RuntimeSettings = &v1alpha1.RuntimeSettings{Container: &v1alpha1.ContainerRuntimeSettings{Env: []corev1.EnvVar{{
						Name: "PGPASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
							LocalObjectReference: corev1.LocalObjectReference{Name: "$(databaseSecret)"}, Key: "POSTGRES_PASSWORD",
						}},
					}}}}
				})
			},
			msg: `function "update-status": runtimeSettings.container.env[0].valueFrom.secretKeyRef.name: missing param "databaseSecret": set it in the Task step's params or in task.params`,
			check: func(t *testing.T, err error) {
				var e *MissingParamError
				require.ErrorAs(t, err, &e)
			},
		},
		{
			name: "missing param in the session's runtimeSettings",
			modify: func(in *Input) {
				in.RuntimeSettings = &v1alpha1.RuntimeSettings{Container: &v1alpha1.ContainerRuntimeSettings{
					Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "${cm}"}, Key: "k",
					}}}},
				}}
			},
			msg: `function "postgres-backup-11.2": session.runtimeSettings.container.env[0].valueFrom.configMapKeyRef.name: missing param "cm": set it in the Task step's params or in task.params` + "\n" +
				`function "update-status": session.runtimeSettings.container.env[0].valueFrom.configMapKeyRef.name: missing param "cm": set it in the Task step's params or in task.params`,
			check: func(t *testing.T, err error) {
				var e *MissingParamError
				require.ErrorAs(t, err, &e)
			},
		},
		{
			name: "empty image after resolution",
			modify: func(in *Input) {
				in.Functions["update-status"] = fnWith(in.Functions["update-status"], func(f *v1alpha1.Function) { f.Spec.Image = "${STATUS_IMAGE:=}" })
			},
			msg: `function "update-status": image "": empty after resolving variables`,
			check: func(t *testing.T, err error) {
				var e *ImageError
				require.ErrorAs(t, err, &e)
				assert.Equal(t, "update-status", e.Function)
				assert.Equal(t, ReasonInvalidTask, e.Reason())
			},
		},
		{
			name: "image with spaces",
			modify: func(in *Input) {
				in.Functions["update-status"] = fnWith(in.Functions["update-status"], func(f *v1alpha1.Function) { f.Spec.Image = "appscode/stash:${tag:=a b}" })
			},
			msg:   `function "update-status": image "appscode/stash:a b": contains whitespace or control characters`,
			check: func(t *testing.T, err error) { var e *ImageError; require.ErrorAs(t, err, &e) },
		},
		{
			name: "image without tag",
			modify: func(in *Input) {
				in.Functions["update-status"] = fnWith(in.Functions["update-status"], func(f *v1alpha1.Function) { f.Spec.Image = "appscode/stash:${tag:=}" })
			},
			msg:   `function "update-status": image "appscode/stash:": missing repository, tag or digest`,
			check: func(t *testing.T, err error) { var e *ImageError; require.ErrorAs(t, err, &e) },
		},
		{
			name: "volumeMount of an unknown volume",
			modify: func(in *Input) {
				in.Task = in.Task.DeepCopy()
				in.Task.Spec.Steps[0].Params[1].Value = "secret-vol"
			},
			msg: `function "postgres-backup-11.2": volumeMounts[0].name: volume "secret-vol" is not among the Task's volumes ["secret-volume"]`,
			check: func(t *testing.T, err error) {
				var e *UnknownVolumeError
				require.ErrorAs(t, err, &e)
				assert.Equal(t, "secret-vol", e.Volume)
			},
		},
		{
			name: "volumeDevice of an unknown volume",
			modify: func(in *Input) {
				in.Functions["update-status"] = fnWith(in.Functions["update-status"], func(f *v1alpha1.Function) {
					f.Spec.VolumeDevices = []corev1.VolumeDevice{{Name: "raw", DevicePath: "/dev/xvdb"}}
				})
			},
			msg:   `function "update-status": volumeDevices[0].name: volume "raw" is not among the Task's volumes ["secret-volume"]`,
			check: func(t *testing.T, err error) { var e *UnknownVolumeError; require.ErrorAs(t, err, &e) },
		},
		{
			name: "malformed template names Function and field",
			modify: func(in *Input) {
				in.Functions["postgres-backup-11.2"] = fnWith(in.Functions["postgres-backup-11.2"], func(f *v1alpha1.Function) {
					f.Spec.Args[3] = "--path=${REPOSITORY_PREFIX"
				})
			},
			msg: `function "postgres-backup-11.2": args[3]: unterminated "${" at offset 7`,
			check: func(t *testing.T, err error) {
				var e *variables.SyntaxError
				require.ErrorAs(t, err, &e)
				assert.Equal(t, "args[3]", e.Field)
			},
		},
		{
			name: "malformed template in a Task volume",
			modify: func(in *Input) {
				in.Task = in.Task.DeepCopy()
				in.Task.Spec.Volumes[0].Secret.SecretName = "${:=x}"
			},
			msg:   `task "postgres-backup-11.2": spec.volumes[0].secret.secretName: empty variable name in "${:=x}" at offset 0`,
			check: func(t *testing.T, err error) { var e *variables.SyntaxError; require.ErrorAs(t, err, &e) },
		},
		{
			name: "no steps",
			modify: func(in *Input) {
				in.Task = in.Task.DeepCopy()
				in.Task.Spec.Steps = nil
			},
			msg:   `task "postgres-backup-11.2": spec.steps: a Task needs at least one step`,
			check: func(t *testing.T, err error) { var e *TaskError; require.ErrorAs(t, err, &e) },
		},
		{
			name: "duplicate volume",
			modify: func(in *Input) {
				in.Task = in.Task.DeepCopy()
				in.Task.Spec.Volumes = append(in.Task.Spec.Volumes, corev1.Volume{Name: "secret-${x:=volume}"})
			},
			msg:   `task "postgres-backup-11.2": spec.volumes[1].name: duplicate volume "secret-volume"`,
			check: func(t *testing.T, err error) { var e *TaskError; require.ErrorAs(t, err, &e) },
		},
		{
			name: "Task volume named like the interim volume",
			modify: func(in *Input) {
				in.Task = in.Task.DeepCopy()
				in.Task.Spec.Volumes = append(in.Task.Spec.Volumes, corev1.Volume{Name: variables.InterimVolumeName})
				in.InterimVolumeTemplate = &corev1.PersistentVolumeClaim{}
			},
			msg:   `task "postgres-backup-11.2": interimVolumeTemplate: duplicate volume "trove-interim-volume"`,
			check: func(t *testing.T, err error) { var e *TaskError; require.ErrorAs(t, err, &e) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := backupInput(t, pgConfig(), gcsRepo("demo"), "postgres-backup-11.2")
			tt.modify(&in)
			objs, err := Build(in)
			require.Error(t, err)
			assert.Nil(t, objs)
			assert.Equal(t, tt.msg, err.Error())
			tt.check(t, err)
			var r reasoner
			assert.True(t, errors.As(err, &r) || isSyntax(err), "error offers a condition reason: %v", err)
		})
	}
}

func isSyntax(err error) bool {
	var se *variables.SyntaxError
	return errors.As(err, &se)
}

func fnWith(f *v1alpha1.Function, modify func(*v1alpha1.Function)) *v1alpha1.Function {
	c := f.DeepCopy()
	modify(c)
	return c
}

func TestNilTask(t *testing.T) {
	_, err := Build(Input{})
	var e *TaskError
	require.ErrorAs(t, err, &e)
}

func TestDeferredVariablesStayForTheKubelet(t *testing.T) {
	in := backupInput(t, pgConfig(), gcsRepo("demo"), "postgres-backup-11.2")
	in.Functions["update-status"] = fnWith(in.Functions["update-status"], func(f *v1alpha1.Function) {
		f.Spec.Command = []string{"sh", "-c", `exec update-status --password="$(PGPASSWORD)"`}
		f.Spec.RuntimeSettings = &v1alpha1.RuntimeSettings{Container: &v1alpha1.ContainerRuntimeSettings{Env: []corev1.EnvVar{{Name: "URL", Value: "postgres://$(DB_HOST)/"}}}}
	})
	objs, err := Build(in)
	require.NoError(t, err)
	main := objs.Job.Spec.Template.Spec.Containers[0]
	assert.Equal(t, `exec update-status --password="$(PGPASSWORD)"`, main.Command[2])
	assert.Equal(t, "postgres://$(DB_HOST)/", main.Env[0].Value)
}

func TestSingleStepTaskHasNoInitContainers(t *testing.T) {
	in := backupInput(t, pgConfig(), gcsRepo("demo"), "postgres-backup-11.2")
	in.Task = in.Task.DeepCopy()
	in.Task.Spec.Steps = in.Task.Spec.Steps[1:]
	in.Task.Spec.Volumes = nil
	objs, err := Build(in)
	require.NoError(t, err)
	assert.Nil(t, objs.Job.Spec.Template.Spec.InitContainers)
	assert.Len(t, objs.Job.Spec.Template.Spec.Containers, 1)
}

func TestNoAPIAccessNeededMeansNoToken(t *testing.T) {
	in := backupInput(t, pgConfig(), gcsRepo("demo"), "postgres-backup-11.2")
	in.Functions = map[string]*v1alpha1.Function{
		"postgres-backup-11.2": {Spec: v1alpha1.FunctionSpec{Image: "busybox:1", Args: []string{"${outputDir}"}, VolumeMounts: []corev1.VolumeMount{{Name: "${secretVolume}", MountPath: "/s"}}}},
		"update-status":        {Spec: v1alpha1.FunctionSpec{Image: "busybox:1", Args: []string{"--hostname=${HOSTNAME}"}}},
	}
	objs, err := Build(in)
	require.NoError(t, err)
	assert.NotNil(t, objs.ServiceAccount)
	assert.Empty(t, objs.Roles)
	assert.Empty(t, objs.RoleBindings)
	assert.False(t, *objs.Job.Spec.Template.Spec.AutomountServiceAccountToken)
}

func TestDuplicateStepsGetUniqueContainerNames(t *testing.T) {
	in := backupInput(t, pgConfig(), gcsRepo("demo"), "postgres-backup-11.2")
	in.Task = in.Task.DeepCopy()
	in.Task.Spec.Steps = append(in.Task.Spec.Steps, in.Task.Spec.Steps[1], in.Task.Spec.Steps[1])
	objs, err := Build(in)
	require.NoError(t, err)
	pod := objs.Job.Spec.Template.Spec
	var names []string
	for _, c := range append(pod.InitContainers, pod.Containers...) {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{"postgres-backup-11-2", "update-status", "update-status-2", "update-status-3"}, names)
}
