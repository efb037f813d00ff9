package expose

import (
	"context"
	"errors"
	"fmt"
	"sort"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v6/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// Cleanup deletes what the exposure made: the holder pod, the PVC restored from the
// snapshot and the VolumeSnapshot (keeping the newest Snapshot.Keep ready snapshots of the
// source PVC as restore points, unowned so they outlive the session). It finds everything
// by label, so it works at any point, also after the owner is gone; the PVC of FromPVC and
// ToNewPVC is never touched. It returns true once nothing of the exposure is left; deletion
// is asynchronous (kubelet, finalizers), so call it again until then.
func (e *Exposer) Cleanup(ctx context.Context, req Request) (bool, error) {
	if err := req.validate(); err != nil {
		return false, err
	}
	ns := client.InNamespace(req.namespace())
	var errs []error
	var pods corev1.PodList
	if err := e.Client.List(ctx, &pods, ns, req.selector()); err != nil {
		return false, fmt.Errorf("listing holder pods: %w", err)
	}
	left := 0
	for i := range pods.Items {
		left++
		errs = append(errs, e.delete(ctx, &pods.Items[i]))
	}
	var pvcs corev1.PersistentVolumeClaimList
	if err := e.Client.List(ctx, &pvcs, ns, req.selector()); err != nil {
		return false, fmt.Errorf("listing exposure PVCs: %w", err)
	}
	for i := range pvcs.Items {
		left++
		errs = append(errs, e.delete(ctx, &pvcs.Items[i]))
	}
	if req.Snapshot != nil {
		n, err := e.cleanupSnapshots(ctx, req)
		left += n
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return false, err
	}
	return left == 0, nil
}

// cleanupSnapshots deletes the exposure's VolumeSnapshot unless it is among the newest
// Keep ready snapshots of the source PVC, and deletes released restore points beyond Keep.
// It returns how many of the exposure's snapshots are still on their way out.
func (e *Exposer) cleanupSnapshots(ctx context.Context, req Request) (int, error) {
	var mine snapv1.VolumeSnapshotList
	if err := e.Client.List(ctx, &mine, client.InNamespace(req.namespace()), req.selector()); err != nil {
		return 0, fmt.Errorf("listing VolumeSnapshots: %w", err)
	}
	keep := map[string]bool{}
	var released []snapv1.VolumeSnapshot
	if req.Snapshot.Keep > 0 {
		var all snapv1.VolumeSnapshotList
		if err := e.Client.List(ctx, &all, client.InNamespace(req.namespace()), client.MatchingLabels{
			LabelSourcePVC: LabelValue(req.Snapshot.PVCName), LabelManagedBy: ManagedBy,
		}); err != nil {
			return 0, fmt.Errorf("listing VolumeSnapshots of PVC %s: %w", req.Snapshot.PVCName, err)
		}
		var ready []snapv1.VolumeSnapshot
		for _, s := range all.Items {
			if s.DeletionTimestamp == nil && s.Status != nil && ptr.Deref(s.Status.ReadyToUse, false) {
				ready = append(ready, s)
			}
		}
		sort.Slice(ready, func(i, j int) bool {
			a, b := ready[i].CreationTimestamp, ready[j].CreationTimestamp
			if !a.Equal(&b) {
				return b.Before(&a)
			}
			return ready[i].Name > ready[j].Name
		})
		for i, s := range ready {
			switch {
			case i < req.Snapshot.Keep:
				keep[s.Name] = true
			case s.Labels[LabelRestorePoint] == "true" && len(s.OwnerReferences) == 0:
				// Another session's restore point, released and now beyond Keep.
				released = append(released, s)
			}
		}
	}
	var errs []error
	left := 0
	for i := range mine.Items {
		s := &mine.Items[i]
		if keep[s.Name] {
			errs = append(errs, e.release(ctx, s))
			continue
		}
		left++
		errs = append(errs, e.delete(ctx, s))
	}
	for i := range released {
		errs = append(errs, e.delete(ctx, &released[i]))
	}
	return left, errors.Join(errs...)
}

// release turns a snapshot into a restore point: labelled, and without owner so that
// deleting its session does not delete it.
func (e *Exposer) release(ctx context.Context, s *snapv1.VolumeSnapshot) error {
	if s.Labels[LabelRestorePoint] == "true" && len(s.OwnerReferences) == 0 {
		return nil
	}
	patch := client.MergeFrom(s.DeepCopy())
	s.Labels[LabelRestorePoint] = "true"
	s.OwnerReferences = nil
	if err := e.Client.Patch(ctx, s, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("keeping VolumeSnapshot %s/%s as a restore point: %w", s.Namespace, s.Name, err)
	}
	return nil
}

func (e *Exposer) delete(ctx context.Context, obj client.Object) error {
	if obj.GetDeletionTimestamp() != nil {
		return nil
	}
	if err := e.Client.Delete(ctx, obj, client.PropagationPolicy("Background")); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// CleanupSession deletes what every exposure of a session made (holder pods, temporary
// PVCs and, when snapshots is true, VolumeSnapshots), found by the session's label. It
// keeps no restore points and, like Cleanup, never touches the PVC of FromPVC or
// ToNewPVC. It returns true once nothing is left; call it again until then.
func (e *Exposer) CleanupSession(ctx context.Context, namespace, session string, snapshots bool) (bool, error) {
	sel := client.MatchingLabels{troveapi.LabelSession: session, LabelManagedBy: ManagedBy}
	has := client.HasLabels{LabelExposure}
	ns := client.InNamespace(namespace)
	var objs []client.Object
	var pods corev1.PodList
	if err := e.Client.List(ctx, &pods, ns, sel, has); err != nil {
		return false, fmt.Errorf("listing holder pods: %w", err)
	}
	for i := range pods.Items {
		objs = append(objs, &pods.Items[i])
	}
	var pvcs corev1.PersistentVolumeClaimList
	if err := e.Client.List(ctx, &pvcs, ns, sel, has); err != nil {
		return false, fmt.Errorf("listing exposure PVCs: %w", err)
	}
	for i := range pvcs.Items {
		objs = append(objs, &pvcs.Items[i])
	}
	if snapshots {
		var snaps snapv1.VolumeSnapshotList
		// A cluster without the snapshot API has no snapshots to remove.
		if err := e.Client.List(ctx, &snaps, ns, sel, has); err != nil && !meta.IsNoMatchError(err) {
			return false, fmt.Errorf("listing VolumeSnapshots: %w", err)
		}
		for i := range snaps.Items {
			objs = append(objs, &snaps.Items[i])
		}
	}
	var errs []error
	for _, obj := range objs {
		errs = append(errs, e.delete(ctx, obj))
	}
	return len(objs) == 0, errors.Join(errs...)
}
