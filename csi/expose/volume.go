package expose

import (
	"context"
	"fmt"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v6/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ensurePVCFromSnapshot creates the PVC restored from snap; it does not wait for it to
// bind (a WaitForFirstConsumer class binds it when the holder is scheduled).
func (e *Exposer) ensurePVCFromSnapshot(ctx context.Context, req Request, source *corev1.PersistentVolumeClaim, snap *snapv1.VolumeSnapshot) (*corev1.PersistentVolumeClaim, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	err := e.Client.Get(ctx, client.ObjectKey{Namespace: req.namespace(), Name: req.Name}, pvc)
	if err == nil {
		if pvc.Spec.DataSource == nil || pvc.Spec.DataSource.Kind != "VolumeSnapshot" || pvc.Spec.DataSource.Name != snap.Name {
			return nil, fmt.Errorf("PVC %s/%s exists but is not restored from VolumeSnapshot %s", pvc.Namespace, pvc.Name, snap.Name)
		}
		return pvc, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading PVC %s/%s: %w", req.namespace(), req.Name, err)
	}
	size := source.Spec.Resources.Requests[corev1.ResourceStorage]
	if snap.Status != nil && snap.Status.RestoreSize != nil && !snap.Status.RestoreSize.IsZero() {
		size = *snap.Status.RestoreSize
	}
	if size.IsZero() {
		return nil, fmt.Errorf("cannot size a PVC from VolumeSnapshot %s/%s: no restoreSize and PVC %s requests no storage", snap.Namespace, snap.Name, source.Name)
	}
	storageClass := source.Spec.StorageClassName
	if req.Snapshot.StorageClassName != "" {
		storageClass = ptr.To(req.Snapshot.StorageClassName)
	}
	mode := corev1.ReadWriteOnce
	if req.Snapshot.ReadOnlyMany {
		mode = corev1.ReadOnlyMany
	}
	pvc = &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: req.Name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{mode},
			StorageClassName: storageClass,
			VolumeMode:       source.Spec.VolumeMode,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
			DataSource:       &corev1.TypedLocalObjectReference{APIGroup: ptr.To(snapv1.GroupName), Kind: "VolumeSnapshot", Name: snap.Name},
		},
	}
	if err := e.own(req, pvc); err != nil {
		return nil, err
	}
	if err := e.Client.Create(ctx, pvc); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating PVC %s/%s from VolumeSnapshot %s: %w", req.namespace(), req.Name, snap.Name, err)
	}
	return pvc, nil
}

// ensureNewPVC creates the restore's PVC from its template. The PVC outlives the session:
// it is labelled trove.dev/restored-by and has no owner.
func (e *Exposer) ensureNewPVC(ctx context.Context, req Request) (*corev1.PersistentVolumeClaim, error) {
	t := req.NewPVC.Template
	pvc := &corev1.PersistentVolumeClaim{}
	err := e.Client.Get(ctx, client.ObjectKey{Namespace: req.namespace(), Name: t.Name}, pvc)
	if err == nil {
		return pvc, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading PVC %s/%s: %w", req.namespace(), t.Name, err)
	}
	pvc = &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name: t.Name, Namespace: req.namespace(),
			Labels: map[string]string{}, Annotations: t.Annotations,
		},
		Spec: *t.Spec.DeepCopy(),
	}
	for k, v := range t.Labels {
		pvc.Labels[k] = v
	}
	pvc.Labels[LabelRestoredBy] = req.Session
	if len(pvc.Spec.AccessModes) == 0 {
		pvc.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	if _, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		return nil, fmt.Errorf("volumeClaimTemplate %s requests no storage", t.Name)
	}
	if err := e.Client.Create(ctx, pvc); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating PVC %s/%s: %w", req.namespace(), t.Name, err)
	}
	return pvc, nil
}
