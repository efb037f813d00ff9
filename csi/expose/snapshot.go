package expose

import (
	"context"
	"fmt"
	"strings"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v6/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SnapshotError is the error the snapshot controller or the CSI driver reported in the
// VolumeSnapshot's (and its VolumeSnapshotContent's) status.error. The snapshotter may
// still retry: Ensure re-reads the status on every call, so a caller may fail at once or
// keep calling until the snapshot recovers or the wait ends in a *TimeoutError.
type SnapshotError struct {
	Namespace, Name string
	Message         string
	// Content and ContentMessage are the bound VolumeSnapshotContent and its error, when readable.
	Content, ContentMessage string
}

func (e *SnapshotError) Error() string {
	msg := fmt.Sprintf("VolumeSnapshot %s/%s failed: %s", e.Namespace, e.Name, e.Message)
	if e.ContentMessage != "" && e.ContentMessage != e.Message {
		msg += fmt.Sprintf("; VolumeSnapshotContent %s: %s", e.Content, e.ContentMessage)
	}
	return msg
}

// TimeoutError says a VolumeSnapshot did not become readyToUse in time.
type TimeoutError struct {
	Namespace, Name string
	Class           string
	Timeout         time.Duration
	// Last is the error the snapshot reported last, if any.
	Last *SnapshotError
}

func (e *TimeoutError) Error() string {
	if e.Last != nil {
		return fmt.Sprintf("VolumeSnapshot %s/%s is not readyToUse after %s: %s", e.Namespace, e.Name, e.Timeout, e.Last.Error())
	}
	return fmt.Sprintf("VolumeSnapshot %s/%s is not readyToUse after %s; is a snapshot controller and csi-snapshotter running for its driver? "+
		"(raise the VolumeSnapshotClass %q annotation trove.dev/snapshot-ready-timeout for slow drivers)", e.Namespace, e.Name, e.Timeout, e.Class)
}

// sourcePVC reads a PVC of the owner's namespace.
func (e *Exposer) sourcePVC(ctx context.Context, req Request, name string) (*corev1.PersistentVolumeClaim, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: req.namespace(), Name: name}, pvc); err != nil {
		return nil, fmt.Errorf("reading PVC %s/%s: %w", req.namespace(), name, err)
	}
	return pvc, nil
}

// ensureSnapshot creates the VolumeSnapshot of source and returns it once readyToUse.
func (e *Exposer) ensureSnapshot(ctx context.Context, req Request, source *corev1.PersistentVolumeClaim) (*snapv1.VolumeSnapshot, error) {
	snap := &snapv1.VolumeSnapshot{}
	err := e.Client.Get(ctx, client.ObjectKey{Namespace: req.namespace(), Name: req.Name}, snap)
	if apierrors.IsNotFound(err) {
		snap = &snapv1.VolumeSnapshot{
			ObjectMeta: metav1.ObjectMeta{Name: req.Name, Labels: map[string]string{LabelSourcePVC: LabelValue(source.Name)}},
			Spec: snapv1.VolumeSnapshotSpec{
				Source:                  snapv1.VolumeSnapshotSource{PersistentVolumeClaimName: ptr.To(source.Name)},
				VolumeSnapshotClassName: ptr.To(req.Snapshot.ClassName),
			},
		}
		if err := e.own(req, snap); err != nil {
			return nil, err
		}
		if err := e.Client.Create(ctx, snap); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating VolumeSnapshot %s/%s: %w", req.namespace(), req.Name, err)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading VolumeSnapshot %s/%s: %w", req.namespace(), req.Name, err)
	}
	if snap.Spec.Source.PersistentVolumeClaimName == nil || *snap.Spec.Source.PersistentVolumeClaimName != source.Name {
		return nil, fmt.Errorf("VolumeSnapshot %s/%s exists but is not of PVC %s", snap.Namespace, snap.Name, source.Name)
	}
	if snap.Status != nil && ptr.Deref(snap.Status.ReadyToUse, false) {
		return snap, nil
	}
	var failed *SnapshotError
	if snap.Status != nil && snap.Status.Error != nil && ptr.Deref(snap.Status.Error.Message, "") != "" {
		failed = e.snapshotError(ctx, snap)
	}
	if e.now().After(snap.CreationTimestamp.Add(req.Snapshot.ReadyTimeout)) {
		return nil, &TimeoutError{Namespace: snap.Namespace, Name: snap.Name, Class: req.Snapshot.ClassName, Timeout: req.Snapshot.ReadyTimeout, Last: failed}
	}
	if failed != nil {
		return nil, failed
	}
	return nil, nil
}

// snapshotError builds the error of a failed snapshot, with its content's error if the
// content can be read (a controller without access to contents still gets the first).
func (e *Exposer) snapshotError(ctx context.Context, snap *snapv1.VolumeSnapshot) *SnapshotError {
	se := &SnapshotError{Namespace: snap.Namespace, Name: snap.Name, Message: strings.TrimSpace(ptr.Deref(snap.Status.Error.Message, ""))}
	name := ptr.Deref(snap.Status.BoundVolumeSnapshotContentName, "")
	if name == "" {
		return se
	}
	content := &snapv1.VolumeSnapshotContent{}
	if err := e.Client.Get(ctx, client.ObjectKey{Name: name}, content); err == nil && content.Status != nil && content.Status.Error != nil {
		se.Content, se.ContentMessage = name, strings.TrimSpace(ptr.Deref(content.Status.Error.Message, ""))
	}
	return se
}
