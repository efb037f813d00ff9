package restoresession_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/csi/expose"
)

// newPVCRestore restores the StatefulSet db's backups into replicas new PVCs.
func newPVCRestore(ns, name string, replicas int32, templateName string) *troveapi.RestoreSession {
	return &troveapi.RestoreSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: troveapi.RestoreSessionSpec{
			Repository: troveapi.ObjectRef{Name: "repo"},
			Target: &troveapi.RestoreTarget{
				SourceRef: &troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"},
				Replicas:  ptr.To(replicas),
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
					ObjectMeta: metav1.ObjectMeta{Name: templateName},
					Spec: corev1.PersistentVolumeClaimSpec{
						StorageClassName: ptr.To("fast"),
						Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
					},
				}},
			},
		},
	}
}

// holderRunning plays the scheduler, the PV controller and the kubelet for a holder pod.
func holderRunning(t *testing.T, ns, name, node string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{}
	require.Eventually(t, func() bool { return c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: name}, pod) == nil },
		20*time.Second, 50*time.Millisecond, "no holder pod %s", name)
	require.NoError(t, c.SubResource("binding").Create(ctx, pod, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Target: corev1.ObjectReference{Kind: "Node", Name: node},
	}))
	require.NoError(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: name}, pod))
	pod.Status.Phase = corev1.PodRunning
	require.NoError(t, c.Status().Update(ctx, pod))
	return pod
}

func TestRestoreIntoNewPVCsThroughHolderPods(t *testing.T) {
	ns := fixture(t)
	create(t, newPVCRestore(ns, "r", 2, "data-${POD_ORDINAL}"))
	var holders []*corev1.Pod
	for i, node := range []string{"node-a", "node-b"} {
		claim := "data-" + string(rune('0'+i))
		pvc := &corev1.PersistentVolumeClaim{}
		require.Eventually(t, func() bool {
			return c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: claim}, pvc) == nil || sessionStatus(t, ns, "r").Phase == troveapi.SessionFailed
		}, 20*time.Second, 50*time.Millisecond)
		require.NotEqual(t, troveapi.SessionFailed, sessionStatus(t, ns, "r").Phase, "%+v", sessionStatus(t, ns, "r").Conditions)
		assert.Equal(t, "fast", ptr.Deref(pvc.Spec.StorageClassName, ""))
		assert.Equal(t, "r", pvc.Labels[expose.LabelRestoredBy])
		assert.Empty(t, pvc.OwnerReferences, "the restored PVC is the user's")
		holder := holderRunning(t, ns, expose.Name("r", claim), node)
		assert.False(t, holder.Spec.Volumes[0].PersistentVolumeClaim.ReadOnly, "a restore writes")
		holders = append(holders, holder)
	}
	require.Eventually(t, func() bool { return len(items(t, ns, "r")) == 2 }, 20*time.Second, 50*time.Millisecond)
	got := items(t, ns, "r")
	for i, it := range got {
		host := "host-" + string(rune('0'+i))
		assert.Equal(t, holders[i].Spec.NodeName, it.Spec.NodeName)
		assert.Equal(t, holders[i].Name, it.Spec.Target.Pod.Name)
		assert.Equal(t, expose.VolumeName, it.Spec.Target.VolumeName)
		assert.Equal(t, host, it.Spec.SourceHost, "each new PVC set gets its ordinal's host")
		assert.Equal(t, "latest", it.Spec.Snapshot)
		assert.ElementsMatch(t, []string{"trove.dev/namespace=" + ns, "trove.dev/target=StatefulSet/db", "trove.dev/volume=data"}, it.Spec.Tags,
			"the template data-${POD_ORDINAL} restores the source's volume data")
		it.Status.Phase = troveapi.WorkSucceeded
		require.NoError(t, c.Status().Update(context.Background(), &it))
	}
	waitPhase(t, ns, "r", troveapi.SessionSucceeded)

	// The holders go; the PVCs stay.
	require.Eventually(t, func() bool {
		var pods corev1.PodList
		require.NoError(t, c.List(context.Background(), &pods, ctrl.InNamespace(ns), ctrl.MatchingLabels{troveapi.LabelSession: "r"}))
		for i := range pods.Items {
			require.NoError(t, ctrl.IgnoreNotFound(c.Delete(context.Background(), &pods.Items[i], ctrl.GracePeriodSeconds(0))))
		}
		var s troveapi.RestoreSession
		require.NoError(t, c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "r"}, &s))
		cond := meta.FindStatusCondition(s.Status.Conditions, troveapi.ConditionVolumesExposed)
		return len(pods.Items) == 0 && cond != nil && cond.Reason == troveapi.ReasonReleased
	}, 20*time.Second, 100*time.Millisecond, "holder pods were never released")
	for _, claim := range []string{"data-0", "data-1"} {
		require.NoError(t, c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: claim}, &corev1.PersistentVolumeClaim{}), "restored PVC %s stays", claim)
	}
}

func TestNewPVCRestoresThatCannotWorkFailWithTheFix(t *testing.T) {
	ns := fixture(t)
	create(t, newPVCRestore(ns, "one-name", 2, "data"))
	failed := waitPhase(t, ns, "one-name", troveapi.SessionFailed)
	assert.Contains(t, meta.FindStatusCondition(failed.Status.Conditions, troveapi.ConditionRestoreSucceeded).Message, "put ${POD_ORDINAL} in its name")

	noSource := newPVCRestore(ns, "no-source", 1, "data")
	noSource.Spec.Target.SourceRef = nil
	create(t, noSource)
	failed = waitPhase(t, ns, "no-source", troveapi.SessionFailed)
	assert.Contains(t, meta.FindStatusCondition(failed.Status.Conditions, troveapi.ConditionRestoreSucceeded).Message, "needs target.sourceRef")

	// An existing PVC no pod mounts is not written behind the user's back.
	create(t, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "idle"}, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
	}})
	idle := restore(ns, "idle")
	idle.Spec.Target.Ref = &troveapi.TargetRef{APIVersion: "v1", Kind: troveapi.KindPVC, Name: "idle"}
	create(t, idle)
	failed = waitPhase(t, ns, "idle", troveapi.SessionFailed)
	assert.Contains(t, meta.FindStatusCondition(failed.Status.Conditions, troveapi.ConditionRestoreSucceeded).Message, "volumeClaimTemplates")
	assert.Empty(t, items(t, ns, "idle"))
}

func sessionStatus(t *testing.T, ns, name string) troveapi.RestoreSessionStatus {
	var s troveapi.RestoreSession
	require.NoError(t, c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: name}, &s))
	return s.Status
}
