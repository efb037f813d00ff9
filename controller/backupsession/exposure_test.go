package backupsession_test

import (
	"context"
	"testing"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v6/apis/volumesnapshot/v1"
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

const csiDriver = "csi.example.com"

// claim is a PVC of storageClass ("" for none).
func claim(ns, name, storageClass string) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if storageClass != "" {
		pvc.Spec.StorageClassName = ptr.To(storageClass)
	}
	return pvc
}

// csiClaim is a PVC bound to a CSI PersistentVolume of csiDriver.
func csiClaim(t *testing.T, ns, name string) {
	t.Helper()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-" + ns + "-" + name},
		Spec: corev1.PersistentVolumeSpec{
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: csiDriver, VolumeHandle: name}},
		},
	}
	pvc := claim(ns, name, "csi")
	pvc.Spec.VolumeName = pv.Name
	create(t, pv, pvc)
}

// holderRunning plays the scheduler, the PV controller and the kubelet for a holder pod:
// bound to node, its claim bound, Running.
func holderRunning(t *testing.T, ns, name, node string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{}
	require.Eventually(t, func() bool { return c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: name}, pod) == nil },
		20*time.Second, 50*time.Millisecond, "no holder pod %s", name)
	require.NoError(t, c.SubResource("binding").Create(ctx, pod, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}))
	pvc := &corev1.PersistentVolumeClaim{}
	require.NoError(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName}, pvc))
	if pvc.Spec.VolumeName == "" {
		pvc.Spec.VolumeName = "pv-" + pvc.Name
		require.NoError(t, c.Update(ctx, pvc))
	}
	require.NoError(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: name}, pod))
	pod.Status.Phase = corev1.PodRunning
	require.NoError(t, c.Status().Update(ctx, pod))
	return pod
}

// waitReleased plays the kubelet and the PVC protection controller for the session's
// deleted holder pods and PVCs until the session reports its exposures released, then
// checks that none is left, and snapshotsLeft of its VolumeSnapshots.
func waitReleased(t *testing.T, ns, session string, snapshotsLeft int) {
	t.Helper()
	ctx := context.Background()
	sel := ctrl.MatchingLabels{troveapi.LabelSession: session}
	require.Eventually(t, func() bool {
		var pods corev1.PodList
		require.NoError(t, c.List(ctx, &pods, ctrl.InNamespace(ns), sel))
		for i := range pods.Items {
			if pods.Items[i].DeletionTimestamp != nil {
				require.NoError(t, ctrl.IgnoreNotFound(c.Delete(ctx, &pods.Items[i], ctrl.GracePeriodSeconds(0))))
			}
		}
		var pvcs corev1.PersistentVolumeClaimList
		require.NoError(t, c.List(ctx, &pvcs, ctrl.InNamespace(ns), sel))
		for i := range pvcs.Items {
			if p := &pvcs.Items[i]; p.DeletionTimestamp != nil && len(p.Finalizers) > 0 {
				p.Finalizers = nil
				require.NoError(t, ctrl.IgnoreNotFound(c.Update(ctx, p)))
			}
		}
		var s troveapi.BackupSession
		require.NoError(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: session}, &s))
		cond := meta.FindStatusCondition(s.Status.Conditions, troveapi.ConditionVolumesExposed)
		return cond != nil && cond.Reason == troveapi.ReasonReleased
	}, 20*time.Second, 100*time.Millisecond, "the session's exposures were never released")
	var pods corev1.PodList
	var pvcs corev1.PersistentVolumeClaimList
	var snaps snapv1.VolumeSnapshotList
	require.NoError(t, c.List(ctx, &pods, ctrl.InNamespace(ns), sel))
	require.NoError(t, c.List(ctx, &pvcs, ctrl.InNamespace(ns), sel))
	require.NoError(t, c.List(ctx, &snaps, ctrl.InNamespace(ns), sel))
	assert.Empty(t, pods.Items, "holder pods left")
	assert.Empty(t, pvcs.Items, "temporary PVCs left")
	assert.Len(t, snaps.Items, snapshotsLeft, "VolumeSnapshots left")
}

func TestUnmountedPVCIsReadThroughAHolderPod(t *testing.T) {
	ns := fixture(t, troveapi.TargetRef{APIVersion: "v1", Kind: troveapi.KindPVC, Name: "store"}, func(bc *troveapi.BackupConfiguration) {
		bc.Spec.Target.Paths = nil
	})
	create(t, claim(ns, "store", ""))
	session(t, ns, "s")
	holderName := expose.Name("s", "store")
	holder := holderRunning(t, ns, holderName, "node-3")
	assert.Equal(t, holderImage, holder.Spec.Containers[0].Image)
	assert.True(t, holder.Spec.Volumes[0].PersistentVolumeClaim.ReadOnly, "a backup mounts the claim read-only")
	assert.Equal(t, "store", holder.Spec.Volumes[0].PersistentVolumeClaim.ClaimName)

	require.Eventually(t, func() bool { return len(items(t, ns, "s")) == 1 }, 20*time.Second, 50*time.Millisecond)
	item := items(t, ns, "s")[0]
	assert.Equal(t, "node-3", item.Spec.NodeName)
	assert.Equal(t, holderName, item.Spec.Source.Pod.Name)
	assert.Equal(t, string(holder.UID), item.Spec.Source.Pod.UID)
	assert.Equal(t, expose.VolumeName, item.Spec.Source.VolumeName)
	assert.Equal(t, "/trove/"+ns+"/pvc-store/store", item.Spec.StablePath, "the same identity as when a pod mounts the claim")
	require.Eventually(t, func() bool {
		var s troveapi.BackupSession
		require.NoError(t, c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "s"}, &s))
		return meta.IsStatusConditionTrue(s.Status.Conditions, troveapi.ConditionVolumesExposed)
	}, 20*time.Second, 50*time.Millisecond, "VolumesExposed never became True")

	finishItem(t, item, troveapi.WorkSucceeded, "abcd1234")
	waitPhase(t, ns, "s", troveapi.SessionSucceeded)
	waitReleased(t, ns, "s", 0)
	require.NoError(t, c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "store"}, &corev1.PersistentVolumeClaim{}), "the target PVC stays")
}

func TestHolderThatNeverRunsFailsTheSession(t *testing.T) {
	ns := fixture(t, troveapi.TargetRef{APIVersion: "v1", Kind: troveapi.KindPVC, Name: "store"}, func(bc *troveapi.BackupConfiguration) {
		bc.Spec.Target.Paths = nil
	})
	create(t, claim(ns, "store", ""))
	session(t, ns, "s")
	require.Eventually(t, func() bool {
		return c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: expose.Name("s", "store")}, &corev1.Pod{}) == nil
	}, 20*time.Second, 50*time.Millisecond)
	failed := waitPhase(t, ns, "s", troveapi.SessionFailed) // after PodWait (3s)
	cond := meta.FindStatusCondition(failed.Status.Conditions, troveapi.ConditionBackupSucceeded)
	require.NotNil(t, cond)
	assert.Equal(t, troveapi.ReasonTargetNotFound, cond.Reason)
	assert.Contains(t, cond.Message, "it needs to run to expose PVC store")
	waitReleased(t, ns, "s", 0)
	assert.Empty(t, items(t, ns, "s"))
}

// snapshotTarget is a namespace whose configuration backs up StatefulSet db's volume
// data (PVC data-db-0 of a CSI driver only this namespace's class serves) with source:
// Snapshot; db-0 runs on node-1.
func snapshotTarget(t *testing.T, keep int32) string {
	t.Helper()
	ns := fixture(t, troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"}, func(bc *troveapi.BackupConfiguration) {
		bc.Spec.Target.Source = troveapi.SourceSnapshot
		bc.Spec.Target.Paths = nil
		bc.Spec.Target.Volumes = []string{"data"}
		bc.Spec.Target.KeepSnapshots = keep
	})
	create(t, &snapv1.VolumeSnapshotClass{ObjectMeta: metav1.ObjectMeta{Name: "snap-" + ns}, Driver: csiDriver + "." + ns, DeletionPolicy: snapv1.VolumeSnapshotContentDelete})
	statefulSet(t, ns, "db", 0)
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-" + ns},
		Spec: corev1.PersistentVolumeSpec{
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: csiDriver + "." + ns, VolumeHandle: "v"}},
		},
	}
	pvc := claim(ns, "data-db-0", "csi")
	pvc.Spec.VolumeName = pv.Name
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-0", Labels: map[string]string{"app": "db"}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "busybox"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-db-0"}}}}},
	}
	create(t, pv, pvc, pod)
	pod.Status.Phase = corev1.PodRunning
	require.NoError(t, c.Status().Update(context.Background(), pod))
	return ns
}

// waitSnapshot waits for the session's VolumeSnapshot of data-db-0.
func waitSnapshot(t *testing.T, ns, session string) *snapv1.VolumeSnapshot {
	t.Helper()
	snap := &snapv1.VolumeSnapshot{}
	require.Eventually(t, func() bool {
		return c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: expose.Name(session, "data-db-0")}, snap) == nil
	}, 20*time.Second, 50*time.Millisecond, "no VolumeSnapshot")
	return snap
}

// snapshotReady plays the snapshot controller.
func snapshotReady(t *testing.T, snap *snapv1.VolumeSnapshot) {
	t.Helper()
	snap.Status = &snapv1.VolumeSnapshotStatus{ReadyToUse: ptr.To(true), BoundVolumeSnapshotContentName: ptr.To("content-" + snap.Namespace + "-" + snap.Name)}
	require.NoError(t, c.Status().Update(context.Background(), snap))
}

func TestSnapshotSourceBacksUpAPointInTimeCopy(t *testing.T) {
	ns := snapshotTarget(t, 0)
	session(t, ns, "s")
	name := expose.Name("s", "data-db-0")
	snap := waitSnapshot(t, ns, "s")
	assert.Equal(t, "snap-"+ns, ptr.Deref(snap.Spec.VolumeSnapshotClassName, ""), "the driver's only class")
	assert.Equal(t, "data-db-0", ptr.Deref(snap.Spec.Source.PersistentVolumeClaimName, ""))
	waiting := waitPhase(t, ns, "s", troveapi.SessionRunning)
	cond := meta.FindStatusCondition(waiting.Status.Conditions, troveapi.ConditionVolumesExposed)
	require.NotNil(t, cond)
	assert.Contains(t, cond.Message, "readyToUse")
	assert.Empty(t, items(t, ns, "s"), "nothing is read before the snapshot is ready")

	snapshotReady(t, snap)
	holder := holderRunning(t, ns, name, "node-2")
	copyClaim := holder.Spec.Volumes[0].PersistentVolumeClaim.ClaimName
	assert.NotEqual(t, "data-db-0", copyClaim, "the holder mounts a PVC restored from the snapshot, not the live one")

	require.Eventually(t, func() bool { return len(items(t, ns, "s")) == 1 }, 20*time.Second, 50*time.Millisecond)
	item := items(t, ns, "s")[0]
	assert.Equal(t, "node-2", item.Spec.NodeName)
	assert.Equal(t, name, item.Spec.Source.Pod.Name)
	assert.Equal(t, "host-0", item.Spec.Hostname)
	assert.Equal(t, "/trove/"+ns+"/pvc-data-db-0/data", item.Spec.StablePath, "the same identity as a live backup of the volume")
	assert.Contains(t, item.Spec.Tags, "trove.dev/volume=data")

	finishItem(t, item, troveapi.WorkSucceeded, "abcd1234")
	waitPhase(t, ns, "s", troveapi.SessionSucceeded)
	waitReleased(t, ns, "s", 0)
	require.NoError(t, c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "data-db-0"}, &corev1.PersistentVolumeClaim{}), "the live PVC stays")
}

func TestKeepSnapshotsKeepsTheNewestAsRestorePoints(t *testing.T) {
	ns := snapshotTarget(t, 1)
	for _, s := range []string{"s1", "s2"} {
		session(t, ns, s)
		snapshotReady(t, waitSnapshot(t, ns, s))
		holderRunning(t, ns, expose.Name(s, "data-db-0"), "node-2")
		require.Eventually(t, func() bool { return len(items(t, ns, s)) == 1 }, 20*time.Second, 50*time.Millisecond)
		finishItem(t, items(t, ns, s)[0], troveapi.WorkSucceeded, "abcd123"+s[1:])
		waitPhase(t, ns, s, troveapi.SessionSucceeded)
		waitReleased(t, ns, s, 1)
		time.Sleep(1100 * time.Millisecond) // creation timestamps have a resolution of a second
	}
	var snaps snapv1.VolumeSnapshotList
	require.NoError(t, c.List(context.Background(), &snaps, ctrl.InNamespace(ns)))
	require.Len(t, snaps.Items, 1, "the newest only")
	kept := snaps.Items[0]
	assert.Equal(t, expose.Name("s2", "data-db-0"), kept.Name)
	assert.Equal(t, "true", kept.Labels[expose.LabelRestorePoint])
	assert.Empty(t, kept.OwnerReferences, "a restore point outlives its session")
}

func TestSnapshotSourceWithoutAClassFailsWithTheFix(t *testing.T) {
	ns := fixture(t, troveapi.TargetRef{APIVersion: "v1", Kind: troveapi.KindPVC, Name: "store"}, func(bc *troveapi.BackupConfiguration) {
		bc.Spec.Target.Source = troveapi.SourceSnapshot
		bc.Spec.Target.Paths = nil
	})
	csiClaim(t, ns, "store")
	session(t, ns, "s")
	failed := waitPhase(t, ns, "s", troveapi.SessionFailed)
	cond := meta.FindStatusCondition(failed.Status.Conditions, troveapi.ConditionBackupSucceeded)
	require.NotNil(t, cond)
	assert.Equal(t, troveapi.ReasonSnapshotClassNotFound, cond.Reason)
	assert.Contains(t, cond.Message, csiDriver)
	assert.Contains(t, cond.Message, troveapi.AnnotationDefaultSnapshotClass)
}
