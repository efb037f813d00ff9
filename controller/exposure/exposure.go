// Package exposure connects the session reconcilers to csi/expose: it builds the
// exposure requests of target pairs that are not read live (a CSI snapshot of a PVC, a
// PVC no pod mounts, a new PVC to restore into), turns a running exposure into the pair
// the agent reads or writes, and says which exposure errors end a session.
package exposure

import (
	"context"
	"errors"
	"fmt"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v6/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/target"
	"trove.dev/trove/csi/expose"
	"trove.dev/trove/csi/snapclass"
)

// Exposures makes exposures with one holder pod spec.
type Exposures struct {
	Exposer *expose.Exposer
	// Holder is the holder pod's image and command (Trove's image, `trove hold`).
	Holder expose.Holder
	// PodWait bounds how long a holder pod may take to run; zero waits forever.
	PodWait time.Duration
}

// For returns exposures whose holder pods follow a session's runtimeSettings.pod:
// its nodeSelector, tolerations and priorityClassName.
func (x *Exposures) For(rs *troveapi.RuntimeSettings) *Exposures {
	if rs == nil || rs.Pod == nil {
		return x
	}
	y := *x
	y.Holder.NodeSelector, y.Holder.Tolerations, y.Holder.PriorityClassName = rs.Pod.NodeSelector, rs.Pod.Tolerations, rs.Pod.PriorityClassName
	return &y
}

// Error is an exposure failure that ends the session: Reason is a condition reason and
// Message says what to change.
type Error struct {
	Reason, Message string
}

func (e *Error) Error() string { return e.Message }

// ForSnapshot is the request that exposes a CSI snapshot of pair's PVC for a backup
// session s. The class is chosen by csi/snapclass; a choice that fails is an *Error.
func (x *Exposures) ForSnapshot(ctx context.Context, s ctrl.Object, pair target.Pair, className string) (expose.Request, error) {
	if pair.PVC == "" {
		pod := "the target"
		if pair.Pod != nil {
			pod = "pod " + pair.Pod.Name
		}
		return expose.Request{}, &Error{Reason: troveapi.ReasonPathNotOnVolume, Message: fmt.Sprintf(
			"volume %q of %s is not a PersistentVolumeClaim: source: Snapshot backs up PVCs through CSI snapshots; back this volume up with source: Live", pair.Volume, pod)}
	}
	var pvc corev1.PersistentVolumeClaim
	if err := x.Exposer.Client.Get(ctx, types.NamespacedName{Namespace: s.GetNamespace(), Name: pair.PVC}, &pvc); err != nil {
		if apierrors.IsNotFound(err) {
			return expose.Request{}, &Error{Reason: troveapi.ReasonTargetNotFound, Message: fmt.Sprintf("PersistentVolumeClaim %s does not exist", pair.PVC)}
		}
		return expose.Request{}, err
	}
	choice, err := snapclass.Lookup(ctx, x.Exposer.Client, &pvc, className)
	var choiceErr *snapclass.Error
	switch {
	case errors.As(err, &choiceErr):
		return expose.Request{}, &Error{Reason: choiceErr.Reason, Message: choiceErr.Message}
	case meta.IsNoMatchError(err):
		return expose.Request{}, noSnapshotAPI()
	case err != nil:
		return expose.Request{}, err
	}
	return expose.Request{
		Owner: s, Session: s.GetName(), Name: expose.Name(s.GetName(), pair.PVC), Holder: x.Holder,
		Snapshot: &expose.FromSnapshot{PVCName: pair.PVC, ClassName: choice.Class.Name, ReadyTimeout: choice.ReadyTimeout},
	}, nil
}

// ForPVC is the request that exposes a PVC no pod mounts, read-only.
func (x *Exposures) ForPVC(s ctrl.Object, claim string) expose.Request {
	return expose.Request{
		Owner: s, Session: s.GetName(), Name: expose.Name(s.GetName(), claim), Holder: x.Holder,
		PVC: &expose.FromPVC{PVCName: claim},
	}
}

// ForNewPVC is the request that creates the PVC of template and exposes it writable.
func (x *Exposures) ForNewPVC(s ctrl.Object, template corev1.PersistentVolumeClaim) expose.Request {
	return expose.Request{
		Owner: s, Session: s.GetName(), Name: expose.Name(s.GetName(), template.Name), Holder: x.Holder,
		NewPVC: &expose.ToNewPVC{Template: template},
	}
}

// Ensure moves req on and returns pair read (or written) through the holder pod once it
// runs. While it is on its way, waiting says what it waits for (a snapshot the driver
// has not finished, a holder pod not running yet). A final failure is an *Error: a
// snapshot not ready within its class's timeout, a holder pod not running within
// PodWait.
func (x *Exposures) Ensure(ctx context.Context, req expose.Request, pair target.Pair) (_ target.Pair, waiting string, _ error) {
	if x.Holder.Image == "" {
		return pair, "", &Error{Reason: troveapi.ReasonFailed, Message: "the controller has no holder image to expose volumes with: start it with --holder-image (in a pod it uses its own image)"}
	}
	exposed, err := x.Exposer.Ensure(ctx, req)
	var timeout *expose.TimeoutError
	var snapErr *expose.SnapshotError
	switch {
	case errors.As(err, &timeout):
		return pair, "", &Error{Reason: troveapi.ReasonTimedOut, Message: timeout.Error() +
			" (raise the class's trove.dev/snapshot-ready-timeout annotation if the driver is just slow)"}
	case errors.As(err, &snapErr): // the snapshotter may still recover, until the timeout
		return pair, snapErr.Error(), nil
	case meta.IsNoMatchError(err):
		return pair, "", noSnapshotAPI()
	case err != nil:
		return pair, "", err
	case exposed == nil:
		why, err := x.waiting(ctx, req)
		return pair, why, err
	}
	holder := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: req.Owner.GetNamespace(), Name: exposed.Pod, UID: exposed.PodUID},
		Spec:       corev1.PodSpec{NodeName: exposed.Node},
	}
	pair.Reader = &target.Reader{Pod: holder, Volume: exposed.Volume}
	return pair, "", nil
}

// waiting explains why an exposure is not running yet, and fails a holder pod that has
// not run within PodWait.
func (x *Exposures) waiting(ctx context.Context, req expose.Request) (string, error) {
	var pod corev1.Pod
	err := x.Exposer.Client.Get(ctx, types.NamespacedName{Namespace: req.Owner.GetNamespace(), Name: req.Name}, &pod)
	if apierrors.IsNotFound(err) {
		if req.Snapshot != nil {
			return fmt.Sprintf("waiting for VolumeSnapshot %s of PVC %s to be readyToUse", req.Name, req.Snapshot.PVCName), nil
		}
		return "creating holder pod " + req.Name, nil
	}
	if err != nil {
		return "", err
	}
	why := fmt.Sprintf("holder pod %s is %s", pod.Name, pod.Status.Phase)
	for _, cond := range pod.Status.Conditions {
		if cond.Status != corev1.ConditionTrue && cond.Message != "" {
			why = fmt.Sprintf("holder pod %s: %s", pod.Name, cond.Message)
		}
	}
	// The pod's age by the wall clock: its creationTimestamp is the API server's.
	if x.PodWait > 0 && time.Since(pod.CreationTimestamp.Time) > x.PodWait {
		return "", &Error{Reason: troveapi.ReasonTargetNotFound, Message: fmt.Sprintf("%s after %s: it needs to run to expose PVC %s (check the PVC's storage class, the node's capacity and taints)", why, x.PodWait, pvcOf(req))}
	}
	return why, nil
}

func pvcOf(req expose.Request) string {
	switch {
	case req.Snapshot != nil:
		return req.Name + " (from a snapshot of " + req.Snapshot.PVCName + ")"
	case req.PVC != nil:
		return req.PVC.PVCName
	default:
		return req.NewPVC.Template.Name
	}
}

// Release removes what the exposures of session s made once it has ended: holder pods
// and temporary PVCs, and VolumeSnapshots except, per source PVC, the newest keep
// ready ones, which become restore points (labelled, without owner). done is false
// while objects are on their way out.
func (x *Exposures) Release(ctx context.Context, s ctrl.Object, keep int) (done bool, _ error) {
	if keep <= 0 {
		return x.Exposer.CleanupSession(ctx, s.GetNamespace(), s.GetName(), true)
	}
	var snaps snapv1.VolumeSnapshotList
	err := x.Exposer.Client.List(ctx, &snaps, ctrl.InNamespace(s.GetNamespace()),
		ctrl.MatchingLabels{troveapi.LabelSession: s.GetName(), expose.LabelManagedBy: expose.ManagedBy})
	if err != nil && !meta.IsNoMatchError(err) {
		return false, fmt.Errorf("listing VolumeSnapshots: %w", err)
	}
	done = true
	for _, snap := range snaps.Items {
		if snap.Labels[expose.LabelRestorePoint] == "true" {
			continue // kept already
		}
		req := expose.Request{
			Owner: s, Session: s.GetName(), Name: snap.Labels[expose.LabelExposure], Holder: x.Holder,
			Snapshot: &expose.FromSnapshot{
				PVCName:   ptr.Deref(snap.Spec.Source.PersistentVolumeClaimName, ""),
				ClassName: ptr.Deref(snap.Spec.VolumeSnapshotClassName, ""), ReadyTimeout: time.Minute, Keep: keep,
			},
		}
		cleaned, err := x.Exposer.Cleanup(ctx, req)
		if err != nil {
			return false, err
		}
		done = done && cleaned
	}
	rest, err := x.Exposer.CleanupSession(ctx, s.GetNamespace(), s.GetName(), false)
	return done && rest, err
}

func noSnapshotAPI() *Error {
	return &Error{Reason: troveapi.ReasonSnapshotClassNotFound, Message: "the cluster serves no VolumeSnapshot API (snapshot.storage.k8s.io/v1): install the external-snapshotter CRDs and snapshot controller, or use source: Live"}
}
