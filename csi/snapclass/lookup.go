package snapclass

import (
	"context"
	"fmt"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v6/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Choice is a chosen class with its tuning.
type Choice struct {
	Class *snapv1.VolumeSnapshotClass
	// Driver is the PVC's CSI driver.
	Driver string
	// ReadyTimeout bounds the wait for readyToUse.
	ReadyTimeout time.Duration
}

// Lookup reads the PVC's PersistentVolume or StorageClass and the cluster's
// VolumeSnapshotClasses, then chooses with Choose and reads the class's timeout.
// Choice errors are *Error; API errors are returned wrapped.
func Lookup(ctx context.Context, c client.Reader, pvc *corev1.PersistentVolumeClaim, targetClassName string) (*Choice, error) {
	var pv *corev1.PersistentVolume
	var sc *storagev1.StorageClass
	if pvc.Spec.VolumeName != "" {
		pv = &corev1.PersistentVolume{}
		if err := c.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("reading PersistentVolume %s of PVC %s/%s: %w", pvc.Spec.VolumeName, pvc.Namespace, pvc.Name, err)
			}
			pv = nil
		}
	} else if pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName != "" {
		sc = &storagev1.StorageClass{}
		if err := c.Get(ctx, client.ObjectKey{Name: *pvc.Spec.StorageClassName}, sc); err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("reading StorageClass %s of PVC %s/%s: %w", *pvc.Spec.StorageClassName, pvc.Namespace, pvc.Name, err)
			}
			sc = nil
		}
	}
	var classes snapv1.VolumeSnapshotClassList
	if err := c.List(ctx, &classes); err != nil {
		return nil, fmt.Errorf("listing VolumeSnapshotClasses: %w", err)
	}
	driver := Driver(pvc, pv, sc)
	class, err := Choose(Input{TargetClassName: targetClassName, PVC: pvc, Driver: driver, Classes: classes.Items})
	if err != nil {
		return nil, err
	}
	timeout, err := ReadyTimeout(class)
	if err != nil {
		return nil, err
	}
	return &Choice{Class: class, Driver: driver, ReadyTimeout: timeout}, nil
}
