package expose_test

import (
	"context"
	"testing"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v6/apis/volumesnapshot/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/csi/expose"
)

const node = "node-1"

// setup makes a namespace, an owner (a ConfigMap stands in for the session: ownership is
// generic) and a bound source PVC "data" of 1Gi.
func setup(t *testing.T) (ctx context.Context, owner *corev1.ConfigMap, ex *expose.Exposer) {
	t.Helper()
	ctx = context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "expose-"}}
	require.NoError(t, c.Create(ctx, ns))
	owner = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "session-1"}}
	require.NoError(t, c.Create(ctx, owner))
	require.NoError(t, c.Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To("trove-csi"),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}))
	return ctx, owner, &expose.Exposer{Client: c, Now: clock.Now}
}

func snapshotRequest(owner client.Object, session string) expose.Request {
	return expose.Request{
		Owner: owner, Session: session, Name: expose.Name(session, "data"),
		Snapshot: &expose.FromSnapshot{PVCName: "data", ClassName: "trove-snap", ReadyTimeout: 10 * time.Minute},
		Holder:   expose.Holder{Image: "busybox:1.36", Command: []string{"sleep", "infinity"}},
	}
}

// labelled counts the exposure's objects by kind; snapshots kept as restore points do not count.
func labelled(t *testing.T, req expose.Request) (snaps, pvcs, pods int) {
	t.Helper()
	sel := client.MatchingLabels{troveapi.LabelSession: req.Session, expose.LabelExposure: req.Name}
	var s snapv1.VolumeSnapshotList
	var v corev1.PersistentVolumeClaimList
	var p corev1.PodList
	ns := client.InNamespace(req.Owner.GetNamespace())
	require.NoError(t, c.List(context.Background(), &s, ns, sel))
	require.NoError(t, c.List(context.Background(), &v, ns, sel))
	require.NoError(t, c.List(context.Background(), &p, ns, sel))
	for _, snap := range s.Items {
		if snap.Labels[expose.LabelRestorePoint] != "true" {
			snaps++
		}
	}
	return snaps, len(v.Items), len(p.Items)
}

// snapshotReady plays the snapshot controller: the snapshot is bound and readyToUse.
func snapshotReady(t *testing.T, ns, name string, restoreSize string) {
	t.Helper()
	s := &snapv1.VolumeSnapshot{}
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s))
	s.Status = &snapv1.VolumeSnapshotStatus{ReadyToUse: ptr.To(true), BoundVolumeSnapshotContentName: ptr.To("snapcontent-" + string(s.UID))}
	if restoreSize != "" {
		s.Status.RestoreSize = ptr.To(resource.MustParse(restoreSize))
	}
	require.NoError(t, c.Status().Update(context.Background(), s))
}

// podRunning plays the scheduler (binding to node), the PV controller (binding the
// claim) and the kubelet (phase Running).
func podRunning(t *testing.T, ns, name, claim string) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod))
	require.NoError(t, c.SubResource("binding").Create(ctx, pod, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}))
	pvc := &corev1.PersistentVolumeClaim{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: claim}, pvc))
	if pvc.Spec.VolumeName == "" {
		pvc.Spec.VolumeName = "pv-" + claim
		require.NoError(t, c.Update(ctx, pvc))
	}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod))
	pod.Status.Phase = corev1.PodRunning
	require.NoError(t, c.Status().Update(ctx, pod))
}

// finishDeletions plays the kubelet (confirming pod deletion) and the controller-manager's
// pvc-protection controller (dropping its finalizer) for the exposure's objects being deleted.
func finishDeletions(t *testing.T, req expose.Request) {
	t.Helper()
	ctx := context.Background()
	sel := client.MatchingLabels{troveapi.LabelSession: req.Session, expose.LabelExposure: req.Name}
	ns := client.InNamespace(req.Owner.GetNamespace())
	var pods corev1.PodList
	require.NoError(t, c.List(ctx, &pods, ns, sel))
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp != nil {
			require.NoError(t, client.IgnoreNotFound(c.Delete(ctx, &pods.Items[i], client.GracePeriodSeconds(0))))
		}
	}
	var pvcs corev1.PersistentVolumeClaimList
	require.NoError(t, c.List(ctx, &pvcs, ns, sel))
	for i := range pvcs.Items {
		if p := &pvcs.Items[i]; p.DeletionTimestamp != nil && len(p.Finalizers) > 0 {
			p.Finalizers = nil
			require.NoError(t, client.IgnoreNotFound(c.Update(ctx, p)))
		}
	}
}

// cleanupAll calls Cleanup until it reports done, playing the kubelet and controller-manager between calls.
func cleanupAll(t *testing.T, ex *expose.Exposer, req expose.Request) {
	t.Helper()
	require.Eventually(t, func() bool {
		done, err := ex.Cleanup(context.Background(), req)
		require.NoError(t, err)
		if !done {
			finishDeletions(t, req)
		}
		return done
	}, 20*time.Second, 100*time.Millisecond)
	s, v, p := labelled(t, req)
	assert.Zero(t, s+v+p, "labelled objects left: %d snapshots, %d PVCs, %d pods", s, v, p)
}

func assertOwned(t *testing.T, owner client.Object, obj client.Object) {
	t.Helper()
	refs := obj.GetOwnerReferences()
	require.Len(t, refs, 1, "%T %s", obj, obj.GetName())
	assert.Equal(t, owner.GetUID(), refs[0].UID)
	assert.True(t, ptr.Deref(refs[0].Controller, false))
}

func TestSnapshotExposureStepsInOrder(t *testing.T) {
	ctx, owner, ex := setup(t)
	req := snapshotRequest(owner, "session-1")
	ns := owner.Namespace

	// Step 1: the VolumeSnapshot, nothing else; calling again changes nothing.
	for range 2 {
		got, err := ex.Ensure(ctx, req)
		require.NoError(t, err)
		require.Nil(t, got)
		s, v, p := labelled(t, req)
		assert.Equal(t, []int{1, 0, 0}, []int{s, v, p})
	}
	snap := &snapv1.VolumeSnapshot{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: req.Name}, snap))
	assert.Equal(t, "data", *snap.Spec.Source.PersistentVolumeClaimName)
	assert.Equal(t, "trove-snap", *snap.Spec.VolumeSnapshotClassName)
	assert.Equal(t, "data", snap.Labels[expose.LabelSourcePVC])
	assert.Equal(t, "session-1", snap.Labels[troveapi.LabelSession])
	assertOwned(t, owner, snap)

	// Step 2: once readyToUse, a PVC from it and the holder pod.
	snapshotReady(t, ns, req.Name, "2Gi")
	got, err := ex.Ensure(ctx, req)
	require.NoError(t, err)
	require.Nil(t, got, "the holder does not run yet")
	pvc := &corev1.PersistentVolumeClaim{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: req.Name}, pvc))
	assert.Equal(t, &corev1.TypedLocalObjectReference{APIGroup: ptr.To("snapshot.storage.k8s.io"), Kind: "VolumeSnapshot", Name: req.Name}, pvc.Spec.DataSource)
	assert.Equal(t, "2Gi", ptr.To(pvc.Spec.Resources.Requests[corev1.ResourceStorage]).String(), "the snapshot's restoreSize")
	assert.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, pvc.Spec.AccessModes)
	assert.Equal(t, "trove-csi", *pvc.Spec.StorageClassName, "the source's class")
	assertOwned(t, owner, pvc)
	pod := &corev1.Pod{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: req.Name}, pod))
	assertOwned(t, owner, pod)
	assert.Empty(t, pod.Spec.NodeName, "scheduled by the scheduler")
	assert.Equal(t, []string{"sleep", "infinity"}, pod.Spec.Containers[0].Command)
	assert.True(t, pod.Spec.Containers[0].VolumeMounts[0].ReadOnly)
	assert.True(t, pod.Spec.Volumes[0].PersistentVolumeClaim.ReadOnly)
	assert.Equal(t, req.Name, pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName)
	assert.False(t, *pod.Spec.AutomountServiceAccountToken)

	got, err = ex.Ensure(ctx, req)
	require.NoError(t, err)
	require.Nil(t, got, "still pending")

	// Step 3: the holder runs: the exposure is reported.
	podRunning(t, ns, req.Name, req.Name)
	got, err = ex.Ensure(ctx, req)
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, expose.Exposed{Node: node, Pod: req.Name, PodUID: pod.UID, Volume: "data", PVC: req.Name, PV: "pv-" + req.Name, ReadOnly: true}, *got)
	s, v, p := labelled(t, req)
	assert.Equal(t, []int{1, 1, 1}, []int{s, v, p}, "no duplicates")

	cleanupAll(t, ex, req)
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "data"}, &corev1.PersistentVolumeClaim{}), "the source PVC stays")
}

func TestSnapshotOptions(t *testing.T) {
	ctx, owner, ex := setup(t)
	req := snapshotRequest(owner, "session-1")
	req.Snapshot.StorageClassName = "other"
	req.Snapshot.ReadOnlyMany = true
	_, err := ex.Ensure(ctx, req)
	require.NoError(t, err)
	snapshotReady(t, owner.Namespace, req.Name, "")
	_, err = ex.Ensure(ctx, req)
	require.NoError(t, err)
	pvc := &corev1.PersistentVolumeClaim{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: owner.Namespace, Name: req.Name}, pvc))
	assert.Equal(t, "1Gi", ptr.To(pvc.Spec.Resources.Requests[corev1.ResourceStorage]).String(), "no restoreSize: the source's request")
	assert.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany}, pvc.Spec.AccessModes)
	assert.Equal(t, "other", *pvc.Spec.StorageClassName)
	cleanupAll(t, ex, req)
}

func TestSnapshotDriverError(t *testing.T) {
	ctx, owner, ex := setup(t)
	req := snapshotRequest(owner, "session-1")
	_, err := ex.Ensure(ctx, req)
	require.NoError(t, err)

	// Play the snapshot controller and csi-snapshotter: a content whose CreateSnapshot failed.
	content := &snapv1.VolumeSnapshotContent{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "snapcontent-"},
		Spec: snapv1.VolumeSnapshotContentSpec{
			VolumeSnapshotRef: corev1.ObjectReference{Namespace: owner.Namespace, Name: req.Name},
			DeletionPolicy:    snapv1.VolumeSnapshotContentDelete,
			Driver:            "csi.trove.dev",
			Source:            snapv1.VolumeSnapshotContentSource{VolumeHandle: ptr.To("vol-1")},
		},
	}
	require.NoError(t, c.Create(ctx, content))
	content.Status = &snapv1.VolumeSnapshotContentStatus{ReadyToUse: ptr.To(false), Error: &snapv1.VolumeSnapshotError{Message: ptr.To("rpc error: code = ResourceExhausted desc = disk full")}}
	require.NoError(t, c.Status().Update(ctx, content))
	t.Cleanup(func() { _ = c.Delete(context.Background(), content) })
	snap := &snapv1.VolumeSnapshot{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: owner.Namespace, Name: req.Name}, snap))
	snap.Status = &snapv1.VolumeSnapshotStatus{ReadyToUse: ptr.To(false), BoundVolumeSnapshotContentName: ptr.To(content.Name),
		Error: &snapv1.VolumeSnapshotError{Message: ptr.To("Failed to check and update snapshot content")}}
	require.NoError(t, c.Status().Update(ctx, snap))

	got, err := ex.Ensure(ctx, req)
	require.Nil(t, got)
	var se *expose.SnapshotError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "Failed to check and update snapshot content", se.Message)
	assert.Equal(t, "rpc error: code = ResourceExhausted desc = disk full", se.ContentMessage)
	assert.Contains(t, err.Error(), "VolumeSnapshot "+owner.Namespace+"/"+req.Name+" failed")
	assert.Contains(t, err.Error(), "disk full")
	s, v, p := labelled(t, req)
	assert.Equal(t, []int{1, 0, 0}, []int{s, v, p}, "nothing is built on a failed snapshot")

	// A caller that keeps retrying ends with a timeout that still names the driver's error.
	clock.Skip(11 * time.Minute)
	t.Cleanup(func() { clock.Skip(-11 * time.Minute) })
	_, err = ex.Ensure(ctx, req)
	var te *expose.TimeoutError
	require.ErrorAs(t, err, &te)
	assert.Contains(t, err.Error(), "not readyToUse after 10m0s")
	assert.Contains(t, err.Error(), "disk full")
	cleanupAll(t, ex, req)
}

func TestSnapshotTimeout(t *testing.T) {
	ctx, owner, ex := setup(t)
	req := snapshotRequest(owner, "session-1")
	req.Snapshot.ReadyTimeout = 90 * time.Second
	_, err := ex.Ensure(ctx, req)
	require.NoError(t, err)
	got, err := ex.Ensure(ctx, req)
	require.NoError(t, err, "within the timeout it waits")
	require.Nil(t, got)

	clock.Skip(2 * time.Minute)
	t.Cleanup(func() { clock.Skip(-2 * time.Minute) })
	_, err = ex.Ensure(ctx, req)
	var te *expose.TimeoutError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 90*time.Second, te.Timeout)
	assert.Contains(t, err.Error(), "not readyToUse after 1m30s")
	assert.Contains(t, err.Error(), "trove.dev/snapshot-ready-timeout")
	cleanupAll(t, ex, req)
}

func TestCleanupMidway(t *testing.T) {
	ctx, owner, ex := setup(t)
	// After the first step only.
	req := snapshotRequest(owner, "session-1")
	_, err := ex.Ensure(ctx, req)
	require.NoError(t, err)
	cleanupAll(t, ex, req)

	// After the PVC and the (pending) holder exist.
	req = snapshotRequest(owner, "session-2")
	_, err = ex.Ensure(ctx, req)
	require.NoError(t, err)
	snapshotReady(t, owner.Namespace, req.Name, "")
	_, err = ex.Ensure(ctx, req)
	require.NoError(t, err)
	s, v, p := labelled(t, req)
	require.Equal(t, []int{1, 1, 1}, []int{s, v, p})
	cleanupAll(t, ex, req)

	// Cleanup of what never started is done at once.
	done, err := ex.Cleanup(ctx, snapshotRequest(owner, "session-3"))
	require.NoError(t, err)
	assert.True(t, done)
}

// TestOwnerDeletedMidway: every object is owned by the session (so the garbage collector
// of a real cluster removes it with the session); envtest has no garbage collector, so the
// test also proves that Cleanup, run when the session is deleted, finds everything by label.
func TestOwnerDeletedMidway(t *testing.T) {
	ctx, owner, ex := setup(t)
	req := snapshotRequest(owner, "session-1")
	_, err := ex.Ensure(ctx, req)
	require.NoError(t, err)
	snapshotReady(t, owner.Namespace, req.Name, "")
	_, err = ex.Ensure(ctx, req)
	require.NoError(t, err)
	podRunning(t, owner.Namespace, req.Name, req.Name)
	for _, obj := range []client.Object{&snapv1.VolumeSnapshot{}, &corev1.PersistentVolumeClaim{}, &corev1.Pod{}} {
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: owner.Namespace, Name: req.Name}, obj))
		assertOwned(t, owner, obj)
	}
	require.NoError(t, c.Delete(ctx, owner))
	cleanupAll(t, ex, req)
}

func TestFromPVC(t *testing.T) {
	ctx, owner, ex := setup(t)
	req := expose.Request{
		Owner: owner, Session: "session-1", Name: expose.Name("session-1", "data"),
		PVC: &expose.FromPVC{PVCName: "data"},
		Holder: expose.Holder{Image: "trove.dev/trove:dev", Command: []string{"trove", "hold"}, MountPath: "/hold",
			Tolerations: []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}},
	}
	got, err := ex.Ensure(ctx, req)
	require.NoError(t, err)
	require.Nil(t, got)
	s, v, p := labelled(t, req)
	assert.Equal(t, []int{0, 0, 1}, []int{s, v, p}, "only a holder, no snapshot")
	pod := &corev1.Pod{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: owner.Namespace, Name: req.Name}, pod))
	assert.Equal(t, "data", pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName)
	assert.True(t, pod.Spec.Volumes[0].PersistentVolumeClaim.ReadOnly)
	assert.Equal(t, corev1.VolumeMount{Name: "data", MountPath: "/hold", ReadOnly: true}, pod.Spec.Containers[0].VolumeMounts[0])
	assert.Contains(t, pod.Spec.Tolerations, req.Holder.Tolerations[0])

	podRunning(t, owner.Namespace, req.Name, "data")
	got, err = ex.Ensure(ctx, req)
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, expose.Exposed{Node: node, Pod: req.Name, PodUID: pod.UID, Volume: "data", PVC: "data", PV: "pv-data", ReadOnly: true}, *got)

	cleanupAll(t, ex, req)
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: owner.Namespace, Name: "data"}, &corev1.PersistentVolumeClaim{}), "the target PVC stays")
}

func TestToNewPVC(t *testing.T) {
	ctx, owner, ex := setup(t)
	req := expose.Request{
		Owner: owner, Session: "restore-1", Name: expose.Name("restore-1", "restored-0"),
		NewPVC: &expose.ToNewPVC{Template: corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "restored-0", Labels: map[string]string{"app": "db"}},
			Spec: corev1.PersistentVolumeClaimSpec{
				StorageClassName: ptr.To("trove-csi"),
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("3Gi")}},
			},
		}},
		Holder: expose.Holder{Image: "busybox:1.36", Command: []string{"sleep", "infinity"}},
	}
	got, err := ex.Ensure(ctx, req)
	require.NoError(t, err)
	require.Nil(t, got)
	pvc := &corev1.PersistentVolumeClaim{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: owner.Namespace, Name: "restored-0"}, pvc))
	assert.Empty(t, pvc.OwnerReferences, "the restored PVC is the user's: it outlives the session")
	assert.Equal(t, map[string]string{"app": "db", expose.LabelRestoredBy: "restore-1"}, pvc.Labels)
	assert.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, pvc.Spec.AccessModes)
	pod := &corev1.Pod{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: owner.Namespace, Name: req.Name}, pod))
	assert.False(t, pod.Spec.Volumes[0].PersistentVolumeClaim.ReadOnly, "a restore writes")
	assert.False(t, pod.Spec.Containers[0].VolumeMounts[0].ReadOnly)

	podRunning(t, owner.Namespace, req.Name, "restored-0")
	got, err = ex.Ensure(ctx, req)
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, expose.Exposed{Node: node, Pod: req.Name, PodUID: pod.UID, Volume: "data", PVC: "restored-0", PV: "pv-restored-0"}, *got)

	cleanupAll(t, ex, req)
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: owner.Namespace, Name: "restored-0"}, pvc), "the restored PVC stays")
}

func TestKeepNewestSnapshots(t *testing.T) {
	ctx, owner, ex := setup(t)
	var names []string
	for _, session := range []string{"session-1", "session-2", "session-3"} {
		req := snapshotRequest(owner, session)
		req.Snapshot.Keep = 2
		names = append(names, req.Name)
		_, err := ex.Ensure(ctx, req)
		require.NoError(t, err)
		snapshotReady(t, owner.Namespace, req.Name, "")
		_, err = ex.Ensure(ctx, req)
		require.NoError(t, err)
		cleanupAll(t, ex, req)
		time.Sleep(1100 * time.Millisecond) // creation timestamps have a one-second resolution
	}
	var snaps snapv1.VolumeSnapshotList
	require.NoError(t, c.List(ctx, &snaps, client.InNamespace(owner.Namespace)))
	var kept []string
	for _, s := range snaps.Items {
		kept = append(kept, s.Name)
		assert.Empty(t, s.OwnerReferences, "a restore point outlives its session")
		assert.Equal(t, "true", s.Labels[expose.LabelRestorePoint])
	}
	assert.ElementsMatch(t, names[1:], kept, "the newest two are kept")

	// A later session with Keep 0 keeps nothing of its own and leaves earlier restore points alone.
	req := snapshotRequest(owner, "session-4")
	_, err := ex.Ensure(ctx, req)
	require.NoError(t, err)
	cleanupAll(t, ex, req)
	require.NoError(t, c.List(ctx, &snaps, client.InNamespace(owner.Namespace)))
	assert.Len(t, snaps.Items, 2)
}

func TestFailedHolderIsReplaced(t *testing.T) {
	ctx, owner, ex := setup(t)
	req := expose.Request{Owner: owner, Session: "session-1", Name: "session-1-data", PVC: &expose.FromPVC{PVCName: "data"},
		Holder: expose.Holder{Image: "busybox:1.36", Command: []string{"sleep", "infinity"}}}
	_, err := ex.Ensure(ctx, req)
	require.NoError(t, err)
	pod := &corev1.Pod{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: owner.Namespace, Name: req.Name}, pod))
	pod.Status.Phase = corev1.PodFailed // evicted
	require.NoError(t, c.Status().Update(ctx, pod))
	got, err := ex.Ensure(ctx, req)
	require.NoError(t, err)
	require.Nil(t, got)
	err = c.Get(ctx, client.ObjectKey{Namespace: owner.Namespace, Name: req.Name}, &corev1.Pod{})
	require.True(t, apierrors.IsNotFound(err), "the ended holder is deleted: %v", err)
	_, err = ex.Ensure(ctx, req)
	require.NoError(t, err)
	fresh := &corev1.Pod{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: owner.Namespace, Name: req.Name}, fresh))
	assert.NotEqual(t, pod.UID, fresh.UID, "and made again")
	cleanupAll(t, ex, req)
}

func TestInvalidRequest(t *testing.T) {
	ctx, owner, ex := setup(t)
	for name, mutate := range map[string]func(*expose.Request){
		"no source":    func(r *expose.Request) { r.Snapshot = nil },
		"two sources":  func(r *expose.Request) { r.PVC = &expose.FromPVC{PVCName: "data"} },
		"no owner":     func(r *expose.Request) { r.Owner = nil },
		"no image":     func(r *expose.Request) { r.Holder.Image = "" },
		"no timeout":   func(r *expose.Request) { r.Snapshot.ReadyTimeout = 0 },
		"bad name":     func(r *expose.Request) { r.Name = "Not_A_Name" },
		"long session": func(r *expose.Request) { r.Session = string(make([]byte, 64)) },
	} {
		t.Run(name, func(t *testing.T) {
			req := snapshotRequest(owner, "session-1")
			mutate(&req)
			_, err := ex.Ensure(ctx, req)
			require.ErrorContains(t, err, "invalid exposure request")
			_, err = ex.Cleanup(ctx, req)
			require.Error(t, err)
		})
	}
	_, err := ex.Ensure(ctx, expose.Request{Owner: owner, Session: "s", Name: "s-gone", Snapshot: &expose.FromSnapshot{PVCName: "gone", ClassName: "c", ReadyTimeout: time.Minute}, Holder: expose.Holder{Image: "i"}})
	require.ErrorContains(t, err, "reading PVC "+owner.Namespace+"/gone")
}

func TestName(t *testing.T) {
	assert.Equal(t, "s-1-data", expose.Name("s-1", "data"))
	long := expose.Name("backup-configuration-with-a-long-name-1700000000", "data-postgres-primary-0")
	assert.Len(t, long, 63)
	assert.Equal(t, long, expose.Name("backup-configuration-with-a-long-name-1700000000", "data-postgres-primary-0"))
	assert.NotEqual(t, long, expose.Name("backup-configuration-with-a-long-name-1700000000", "data-postgres-primary-1"))
}

// TestCleanupSession removes every exposure of one session (snapshot and new-PVC
// exposures alike), found by the session label alone, and nothing of another session.
func TestCleanupSession(t *testing.T) {
	ctx, owner, ex := setup(t)
	mine := snapshotRequest(owner, "session-a")
	other := snapshotRequest(owner, "session-b")
	for _, req := range []expose.Request{mine, other} {
		_, err := ex.Ensure(ctx, req)
		require.NoError(t, err)
		snapshotReady(t, owner.Namespace, req.Name, "")
		_, err = ex.Ensure(ctx, req)
		require.NoError(t, err)
	}
	restore := expose.Request{
		Owner: owner, Session: "session-a", Name: expose.Name("session-a", "new-0"),
		NewPVC: &expose.ToNewPVC{Template: corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "new-0"},
			Spec: corev1.PersistentVolumeClaimSpec{
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}},
		Holder: mine.Holder,
	}
	_, err := ex.Ensure(ctx, restore)
	require.NoError(t, err)
	_, err = ex.Ensure(ctx, restore)
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		done, err := ex.CleanupSession(ctx, owner.Namespace, "session-a", true)
		require.NoError(t, err)
		if !done {
			finishDeletions(t, mine)
			finishDeletions(t, restore)
		}
		return done
	}, 20*time.Second, 100*time.Millisecond)
	for _, req := range []expose.Request{mine, restore} {
		s, v, p := labelled(t, req)
		assert.Zero(t, s+v+p, "%s: %d snapshots, %d PVCs, %d pods left", req.Name, s, v, p)
	}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: owner.Namespace, Name: "new-0"}, &corev1.PersistentVolumeClaim{}), "the restored PVC stays")
	s, v, p := labelled(t, other)
	assert.Equal(t, []int{1, 1, 1}, []int{s, v, p}, "another session's exposure is untouched")
	cleanupAll(t, ex, other)
}
