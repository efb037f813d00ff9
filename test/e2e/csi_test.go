//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v6/apis/volumesnapshot/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/test/cluster"
	"trove.dev/trove/test/controlplane"
	"trove.dev/trove/test/images"
)

// csiClient is a client for Trove's kinds, the core kinds and VolumeSnapshots.
func csiClient(t *testing.T) ctrl.Client {
	t.Helper()
	if external {
		t.Skip("the CSI stack runs on the dev node only")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig())
	must(t, err)
	s := controlplane.Scheme()
	must(t, snapv1.AddToScheme(s))
	c, err := ctrl.New(rc, ctrl.Options{Scheme: s})
	must(t, err)
	return c
}

// csiClaim is a claim on the test driver's StorageClass, optionally from a VolumeSnapshot.
func csiClaim(ns, name, fromSnapshot string) *corev1.PersistentVolumeClaim {
	class := cluster.CSIStorageClass
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: &class,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
		},
	}
	if fromSnapshot != "" {
		group := snapv1.GroupName
		pvc.Spec.DataSource = &corev1.TypedLocalObjectReference{APIGroup: &group, Kind: "VolumeSnapshot", Name: fromSnapshot}
	}
	return pvc
}

// claimPod runs busybox with a claim at /pv: script first, then sleep.
func claimPod(ns, name, claim, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name: "app", Image: images.BusyboxRef, ImagePullPolicy: corev1.PullNever,
				Command:      []string{"/bin/sh", "-c", script + " && exec sleep 3600"},
				VolumeMounts: []corev1.VolumeMount{{Name: "pv", MountPath: "/pv"}},
			}},
			Volumes: []corev1.Volume{{Name: "pv", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}},
		},
	}
}

// waitPodRunning waits for one pod to run with its containers ready.
func waitPodRunning(t *testing.T, c ctrl.Client, ns, name string, within time.Duration) {
	t.Helper()
	waitFor(t, "pod "+ns+"/"+name+" runs", within, func() (bool, string) {
		var p corev1.Pod
		if err := c.Get(t.Context(), ctrl.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
			return false, err.Error()
		}
		if p.Status.Phase != corev1.PodRunning {
			return false, fmt.Sprintf("phase %s %+v", p.Status.Phase, p.Status.Conditions)
		}
		for _, cs := range p.Status.ContainerStatuses {
			if !cs.Ready {
				return false, fmt.Sprintf("%s not ready: %+v", cs.Name, cs.State)
			}
		}
		return true, ""
	})
}

// waitSnapshotReady waits for a VolumeSnapshot's readyToUse, failing at once on its error.
func waitSnapshotReady(t *testing.T, c ctrl.Client, ns, name string, within time.Duration) *snapv1.VolumeSnapshot {
	t.Helper()
	var vs snapv1.VolumeSnapshot
	waitFor(t, "VolumeSnapshot "+ns+"/"+name+" readyToUse", within, func() (bool, string) {
		if err := c.Get(t.Context(), ctrl.ObjectKey{Namespace: ns, Name: name}, &vs); err != nil {
			return false, err.Error()
		}
		st := vs.Status
		if st == nil {
			return false, "no status yet"
		}
		if st.Error != nil && st.Error.Message != nil {
			return false, "error: " + *st.Error.Message
		}
		return st.ReadyToUse != nil && *st.ReadyToUse, fmt.Sprintf("%+v", *st)
	})
	return &vs
}

// podFile reads a file in a pod's container ("" and false when it does not exist).
func podFile(t *testing.T, ns, pod, file string) (string, bool) {
	t.Helper()
	out, err := cfg.Kubectl(t.Context(), bins, "exec", "-n", ns, pod, "--", "/bin/sh", "-c",
		fmt.Sprintf("if [ -e %[1]s ]; then cat %[1]s; else echo NO-SUCH-FILE; fi", file))
	if err != nil {
		t.Fatalf("reading %s in %s/%s: %v", file, ns, pod, err)
	}
	if out == "NO-SUCH-FILE" {
		return "", false
	}
	return out, true
}

func podExec(t *testing.T, ns, pod, script string) {
	t.Helper()
	if out, err := cfg.Kubectl(t.Context(), bins, "exec", "-n", ns, pod, "--", "/bin/sh", "-c", script); err != nil {
		t.Fatalf("exec in %s/%s: %v: %s", ns, pod, err, out)
	}
}

// TestCSIStack proves the dev node's CSI stack on its own, without Trove: a claim on
// trove-csi is provisioned by csi-provisioner and published by the kubelet through the
// test driver; a VolumeSnapshot (snapshot-controller + csi-snapshotter) becomes
// readyToUse; a claim from the snapshot holds the data as of the snapshot and not what
// was written after it; deleting the namespace deletes the volumes and the snapshot
// contents (reclaim and deletion policy Delete).
func TestCSIStack(t *testing.T) {
	c := csiClient(t)
	ctx := t.Context()
	ns := testNamespace(t, c, "e2e-csi-")
	before, after := randomHex(8), randomHex(8)

	start := time.Now()
	must(t, c.Create(ctx, csiClaim(ns, "data", "")))
	must(t, c.Create(ctx, claimPod(ns, "writer", "data", "echo "+before+" > /pv/before.txt && sync")))
	waitPodRunning(t, c, ns, "writer", 2*time.Minute)
	t.Logf("claim provisioned and pod running in %s", time.Since(start).Round(100*time.Millisecond))

	var pvc corev1.PersistentVolumeClaim
	must(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: "data"}, &pvc))
	var pv corev1.PersistentVolume
	must(t, c.Get(ctx, ctrl.ObjectKey{Name: pvc.Spec.VolumeName}, &pv))
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != cluster.CSIDriverName {
		t.Fatalf("PV %s is not a volume of %s: %+v", pv.Name, cluster.CSIDriverName, pv.Spec.PersistentVolumeSource)
	}
	if got, ok := podFile(t, ns, "writer", "/pv/before.txt"); !ok || got != before {
		t.Fatalf("writer's /pv/before.txt: %q (exists %t), want %q", got, ok, before)
	}

	start = time.Now()
	class := cluster.CSISnapshotClass
	must(t, c.Create(ctx, &snapv1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "snap"},
		Spec: snapv1.VolumeSnapshotSpec{
			Source:                  snapv1.VolumeSnapshotSource{PersistentVolumeClaimName: &pvc.Name},
			VolumeSnapshotClassName: &class,
		},
	}))
	vs := waitSnapshotReady(t, c, ns, "snap", time.Minute)
	t.Logf("snapshot readyToUse in %s (restoreSize %v)", time.Since(start).Round(100*time.Millisecond), vs.Status.RestoreSize)
	// Written after the snapshot: must not be in it.
	podExec(t, ns, "writer", "echo "+after+" > /pv/after.txt && sync")

	start = time.Now()
	must(t, c.Create(ctx, csiClaim(ns, "restored", "snap")))
	must(t, c.Create(ctx, claimPod(ns, "reader", "restored", "true")))
	waitPodRunning(t, c, ns, "reader", 2*time.Minute)
	t.Logf("claim from the snapshot provisioned and pod running in %s", time.Since(start).Round(100*time.Millisecond))
	if got, ok := podFile(t, ns, "reader", "/pv/before.txt"); !ok || got != before {
		t.Fatalf("the claim from the snapshot: before.txt %q (exists %t), want %q", got, ok, before)
	}
	if got, ok := podFile(t, ns, "reader", "/pv/after.txt"); ok {
		t.Fatalf("the claim from the snapshot has after.txt (%q), written after the snapshot", got)
	}
	if got, ok := podFile(t, ns, "writer", "/pv/after.txt"); !ok || got != after {
		t.Fatalf("the live volume lost after.txt: %q (exists %t)", got, ok)
	}

	// Deleting the namespace deletes the volumes and the snapshot's content.
	var content string
	if vs.Status.BoundVolumeSnapshotContentName != nil {
		content = *vs.Status.BoundVolumeSnapshotContentName
	}
	start = time.Now()
	must(t, c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	waitFor(t, "the namespace's volumes and snapshot content are deleted", 3*time.Minute, func() (bool, string) {
		var pvs corev1.PersistentVolumeList
		must(t, c.List(ctx, &pvs))
		var left []string
		for _, p := range pvs.Items {
			if p.Spec.ClaimRef != nil && p.Spec.ClaimRef.Namespace == ns {
				left = append(left, "pv/"+p.Name+" ("+string(p.Status.Phase)+")")
			}
		}
		if content != "" {
			err := c.Get(ctx, ctrl.ObjectKey{Name: content}, &snapv1.VolumeSnapshotContent{})
			if err == nil {
				left = append(left, "volumesnapshotcontent/"+content)
			} else if !apierrors.IsNotFound(err) {
				return false, err.Error()
			}
		}
		return len(left) == 0, strings.Join(left, ", ")
	})
	t.Logf("volumes and snapshot content deleted %s after the namespace", time.Since(start).Round(100*time.Millisecond))
}

// sessionObjects lists what is left in ns with the session's label: pods, claims and
// VolumeSnapshots (the exposure's temporary objects).
func sessionObjects(t *testing.T, c ctrl.Client, ns, session string) []string {
	t.Helper()
	ctx := t.Context()
	sel := ctrl.MatchingLabels{troveapi.LabelSession: session}
	var left []string
	var pods corev1.PodList
	must(t, c.List(ctx, &pods, ctrl.InNamespace(ns), sel))
	for _, p := range pods.Items {
		left = append(left, "pod/"+p.Name)
	}
	var pvcs corev1.PersistentVolumeClaimList
	must(t, c.List(ctx, &pvcs, ctrl.InNamespace(ns), sel))
	for _, p := range pvcs.Items {
		left = append(left, "pvc/"+p.Name)
	}
	var snaps snapv1.VolumeSnapshotList
	must(t, c.List(ctx, &snaps, ctrl.InNamespace(ns), sel))
	for _, s := range snaps.Items {
		left = append(left, "volumesnapshot/"+s.Name)
	}
	return left
}

// TestCSISnapshotBackupAndRestore is `source: Snapshot` on the real CSI stack: a
// StatefulSet on trove-csi writes file A; an instant backup takes a VolumeSnapshot of its
// claim; file B is written into the live volume as soon as the snapshot is readyToUse
// (before the agent reads anything); the session succeeds, its backup holds A and not B
// (point in time), and every temporary object is gone. A RestoreSession then restores
// into a new PVC from a volumeClaimTemplate on trove-csi, and a pod reads A back, without B.
func TestCSISnapshotBackupAndRestore(t *testing.T) {
	c := csiClient(t)
	ctx := t.Context()
	ns := testNamespace(t, c, "e2e-csi-backup-")
	markerA, markerB := randomHex(8), randomHex(8)
	session := "snap-" + randomHex(3)

	localRepository(t, c, ns, randomHex(16))

	// A StatefulSet with one replica and a claim template on the test driver.
	labels := map[string]string{"app": "db"}
	one := int32(1)
	tpl := csiClaim(ns, "data", "")
	tpl.Namespace = ""
	must(t, c.Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64),
					Containers: []corev1.Container{{
						Name: "db", Image: images.BusyboxRef, ImagePullPolicy: corev1.PullNever,
						Command:      []string{"/bin/sh", "-c", "echo " + markerA + " > /data/a.txt && sync && exec sleep 3600"},
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{*tpl},
		},
	}))
	waitPodRunning(t, c, ns, "db-0", 2*time.Minute)
	waitFor(t, "db-0 wrote a.txt", 30*time.Second, func() (bool, string) {
		got, ok := podFile(t, ns, "db-0", "/data/a.txt")
		return ok && got == markerA, got
	})

	must(t, c.Create(ctx, &troveapi.BackupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"}, Spec: troveapi.BackupConfigurationSpec{
		Paused: true, Repository: troveapi.ObjectRef{Name: "repo"},
		Target: &troveapi.BackupTarget{
			Ref:     troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"},
			Volumes: []string{"data"},
			Source:  troveapi.SourceSnapshot,
		},
	}}))
	start := time.Now()
	must(t, c.Create(ctx, &troveapi.BackupSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: session,
		Labels: map[string]string{troveapi.LabelConfiguration: "db"}},
		Spec: troveapi.BackupSessionSpec{Invoker: troveapi.Invoker{APIGroup: "trove.dev", Kind: "BackupConfiguration", Name: "db"}}}))

	// The session's VolumeSnapshot: as soon as it is ready, write B into the live volume.
	var snapName string
	waitFor(t, "the session's VolumeSnapshot is readyToUse", 2*time.Minute, func() (bool, string) {
		var s troveapi.BackupSession
		must(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: session}, &s))
		if s.Status.Phase == troveapi.SessionFailed {
			t.Fatalf("backup failed before its snapshot was ready: %+v", s.Status)
		}
		var snaps snapv1.VolumeSnapshotList
		must(t, c.List(ctx, &snaps, ctrl.InNamespace(ns), ctrl.MatchingLabels{troveapi.LabelSession: session}))
		if len(snaps.Items) != 1 {
			return false, fmt.Sprintf("%d VolumeSnapshots; session %+v", len(snaps.Items), s.Status.Conditions)
		}
		vs := snaps.Items[0]
		snapName = vs.Name
		if vs.Status == nil || vs.Status.ReadyToUse == nil || !*vs.Status.ReadyToUse {
			return false, fmt.Sprintf("%s: %+v", vs.Name, vs.Status)
		}
		return true, ""
	})
	podExec(t, ns, "db-0", "echo "+markerB+" > /data/b.txt && sync")
	bWritten := time.Now()
	t.Logf("VolumeSnapshot %s ready %s after the session was created; b.txt written", snapName, bWritten.Sub(start).Round(100*time.Millisecond))

	var s troveapi.BackupSession
	waitFor(t, "the snapshot backup succeeds", 3*time.Minute, func() (bool, string) {
		must(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: session}, &s))
		if s.Status.Phase == troveapi.SessionFailed {
			t.Fatalf("backup failed: %+v", s.Status)
		}
		return s.Status.Phase == troveapi.SessionSucceeded, fmt.Sprintf("%s %+v", s.Status.Phase, s.Status.Conditions)
	})
	t.Logf("source: Snapshot backup succeeded in %s", time.Since(start).Round(100*time.Millisecond))
	if len(s.Status.Targets) != 1 || len(s.Status.Targets[0].Stats) != 1 || len(s.Status.Targets[0].Stats[0].Snapshots) != 1 {
		t.Fatalf("want one target, one host, one snapshot: %+v", s.Status.Targets)
	}
	if snap := s.Status.Targets[0].Stats[0].Snapshots[0]; snap.Name == "" || snap.FileStats.Total == 0 {
		t.Fatalf("snapshot stats missing: %+v", snap)
	}
	// B was written before the agent started reading: otherwise B's absence would prove nothing.
	var items troveapi.VolumeBackupList
	must(t, c.List(ctx, &items, ctrl.MatchingLabels{troveapi.LabelSession: session}))
	for _, it := range items.Items {
		if it.Spec.Session != session {
			continue
		}
		if it.Status.StartTime == nil || it.Status.StartTime.Time.Before(bWritten.Truncate(time.Second)) {
			t.Fatalf("work item %s started at %v, before b.txt was written (%v): the test proves nothing", it.Name, it.Status.StartTime, bWritten)
		}
	}
	if len(items.Items) == 0 {
		t.Fatalf("no VolumeBackup labelled %s=%s", troveapi.LabelSession, session)
	}

	waitFor(t, "the session's temporary objects are gone", time.Minute, func() (bool, string) {
		left := sessionObjects(t, c, ns, session)
		return len(left) == 0, strings.Join(left, ", ")
	})
	waitFor(t, "the snapshot's content is gone (deletionPolicy Delete)", time.Minute, func() (bool, string) {
		var contents snapv1.VolumeSnapshotContentList
		must(t, c.List(ctx, &contents))
		for _, vc := range contents.Items {
			if vc.Spec.VolumeSnapshotRef.Namespace == ns {
				return false, vc.Name
			}
		}
		return true, ""
	})

	// Restore into a new claim on trove-csi.
	class := cluster.CSIStorageClass
	restoreStart := time.Now()
	must(t, c.Create(ctx, &troveapi.RestoreSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "restore"}, Spec: troveapi.RestoreSessionSpec{
		Repository: troveapi.ObjectRef{Name: "repo"},
		Target: &troveapi.RestoreTarget{
			SourceRef: &troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "restored", Annotations: map[string]string{troveapi.AnnotationSourceVolume: "data"}},
				Spec: corev1.PersistentVolumeClaimSpec{
					StorageClassName: &class,
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
				},
			}},
		},
	}}))
	var restore troveapi.RestoreSession
	waitFor(t, "the restore into a new PVC succeeds", 3*time.Minute, func() (bool, string) {
		must(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: "restore"}, &restore))
		if restore.Status.Phase == troveapi.SessionFailed {
			t.Fatalf("restore failed: %+v", restore.Status)
		}
		return restore.Status.Phase == troveapi.SessionSucceeded, fmt.Sprintf("%s %+v", restore.Status.Phase, restore.Status.Conditions)
	})
	t.Logf("restore into a new trove-csi PVC succeeded in %s", time.Since(restoreStart).Round(100*time.Millisecond))
	waitFor(t, "the restore's holder pod is gone", time.Minute, func() (bool, string) {
		left := sessionObjects(t, c, ns, "restore")
		var pods []string
		for _, l := range left {
			if strings.HasPrefix(l, "pod/") {
				pods = append(pods, l)
			}
		}
		return len(pods) == 0, strings.Join(pods, ", ")
	})
	var restored corev1.PersistentVolumeClaim
	must(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: "restored"}, &restored))
	var pv corev1.PersistentVolume
	must(t, c.Get(ctx, ctrl.ObjectKey{Name: restored.Spec.VolumeName}, &pv))
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != cluster.CSIDriverName {
		t.Fatalf("the restored claim's PV %s is not a %s volume", pv.Name, cluster.CSIDriverName)
	}

	must(t, c.Create(ctx, claimPod(ns, "reader", "restored", "true")))
	waitPodRunning(t, c, ns, "reader", 2*time.Minute)
	if got, ok := podFile(t, ns, "reader", "/pv/a.txt"); !ok || got != markerA {
		t.Fatalf("the restored claim's a.txt: %q (exists %t), want %q", got, ok, markerA)
	}
	if got, ok := podFile(t, ns, "reader", "/pv/b.txt"); ok {
		t.Fatalf("the restored claim has b.txt (%q), written after the snapshot: the backup was not point-in-time", got)
	}
	if got, ok := podFile(t, ns, "db-0", "/data/b.txt"); !ok || got != markerB {
		t.Fatalf("the live volume lost b.txt: %q (exists %t)", got, ok)
	}
}
