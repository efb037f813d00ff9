package jobbuilder

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"trove.dev/trove/apis/v1alpha1"
)

// A Repository with a local backend: its volume is in the pod and mounted at its
// mountPath in every container, where the Functions find mountPath/subPath.
func TestLocalBackendIsMountedInEveryContainer(t *testing.T) {
	in := backupInput(t, pgConfig(), gcsRepo("demo"), "postgres-backup-11.2")
	in.LocalBackend = &v1alpha1.LocalSpec{MountPath: "/safe/data", SubPath: "demo",
		VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/backups"}}}
	objs, err := Build(in)
	require.NoError(t, err)
	pod := objs.Job.Spec.Template.Spec
	var vol *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == LocalBackendVolumeName {
			vol = &pod.Volumes[i]
		}
	}
	require.NotNil(t, vol, "no %s volume in %+v", LocalBackendVolumeName, pod.Volumes)
	require.NotNil(t, vol.HostPath)
	assert.Equal(t, "/var/lib/backups", vol.HostPath.Path)
	containers := append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...)
	require.Len(t, containers, 2)
	for _, c := range containers {
		assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: LocalBackendVolumeName, MountPath: "/safe/data"}, c.Name)
	}

	// Without a local backend, nothing is added.
	in.LocalBackend = nil
	objs, err = Build(in)
	require.NoError(t, err)
	for _, v := range objs.Job.Spec.Template.Spec.Volumes {
		assert.NotEqual(t, LocalBackendVolumeName, v.Name)
	}
}
