// Package expose makes a PVC's data readable (or writable) on one node through a small
// holder pod, for the agent to reach through the kubelet's host path:
//
//   - FromSnapshot (backups with source: Snapshot): VolumeSnapshot of the PVC → wait for
//     readyToUse → a PVC restored from it → a holder pod mounting it read-only;
//   - FromPVC (an unmounted PVC target): a holder pod mounting the existing PVC read-only;
//   - ToNewPVC (restores into new PVCs): a PVC from a template → a holder pod mounting it
//     writable.
//
// Every step is idempotent and non-blocking: Ensure derives where the exposure is from the
// objects in the API (nothing is kept in memory) and returns nil, nil while it waits, so a
// reconciler calls it on every pass. Everything temporary is labelled with the session and
// the exposure, owned by the session, and removed by Cleanup, which finds it by label.
package expose

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// Labels on the objects an exposure creates.
const (
	// LabelExposure names the exposure (Request.Name) an object belongs to.
	LabelExposure = "trove.dev/exposure"
	// LabelSourcePVC is the PVC a VolumeSnapshot was taken of (see LabelValue).
	LabelSourcePVC = "trove.dev/source-pvc"
	// LabelRestorePoint marks a VolumeSnapshot kept after its session as a local restore point.
	LabelRestorePoint = "trove.dev/restore-point"
	// LabelRestoredBy marks a PVC a restore session created (it is the user's and stays).
	LabelRestoredBy = "trove.dev/restored-by"
	// LabelManagedBy is the well-known managed-by label; its value is ManagedBy.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "trove"
)

// VolumeName is the holder pod's volume that carries the exposed PVC.
const VolumeName = "data"

// DefaultMountPath is where the holder mounts the volume when Holder.MountPath is empty.
const DefaultMountPath = "/data"

// Request describes one exposure. Exactly one of Snapshot, PVC and NewPVC is set.
type Request struct {
	// Owner owns every temporary object (a BackupSession or RestoreSession); the exposure
	// lives in its namespace.
	Owner client.Object
	// Session is the value of the trove.dev/session label on every object.
	Session string
	// Name names the VolumeSnapshot, the temporary PVC and the holder pod (see Name).
	Name string

	Snapshot *FromSnapshot
	PVC      *FromPVC
	NewPVC   *ToNewPVC

	Holder Holder
}

// FromSnapshot exposes a VolumeSnapshot of a PVC, read-only.
type FromSnapshot struct {
	// PVCName is the PVC to snapshot, in the owner's namespace.
	PVCName string
	// ClassName is the VolumeSnapshotClass (see csi/snapclass).
	ClassName string
	// ReadyTimeout bounds the wait for readyToUse, counted from the snapshot's creation.
	ReadyTimeout time.Duration
	// StorageClassName for the PVC restored from the snapshot; "" means the source's.
	StorageClassName string
	// ReadOnlyMany asks for a ReadOnlyMany PVC; set it only when the driver supports it,
	// else the PVC is ReadWriteOnce (still mounted read-only).
	ReadOnlyMany bool
	// Keep is how many of the newest ready VolumeSnapshots of the source PVC Cleanup keeps
	// as local restore points; 0 deletes this exposure's snapshot.
	Keep int
}

// FromPVC exposes an existing PVC that no pod mounts, read-only.
type FromPVC struct {
	PVCName string
}

// ToNewPVC creates a PVC from Template (in the owner's namespace) and exposes it writable.
// The PVC is the restore's result: it is labelled trove.dev/restored-by, not owned, and
// Cleanup leaves it in place.
type ToNewPVC struct {
	Template corev1.PersistentVolumeClaim
}

// Holder is the pod that keeps the volume mounted on a node.
type Holder struct {
	// Image and Command run a process that just waits, e.g. trove.dev/trove:dev with
	// ["trove", "hold"], or busybox with ["sleep", "infinity"].
	Image   string
	Command []string
	// MountPath inside the holder; default DefaultMountPath.
	MountPath    string
	Tolerations  []corev1.Toleration
	NodeSelector map[string]string
	// PriorityClassName of the holder pod, if any.
	PriorityClassName string
}

// Exposed is a running exposure: the agent on Node reads (or writes) the holder pod's
// volume VolumeName through the kubelet's host path.
type Exposed struct {
	Node     string
	Pod      string
	PodUID   types.UID
	Volume   string
	PVC      string
	PV       string
	ReadOnly bool
}

// Exposer runs the steps against the API.
type Exposer struct {
	Client client.Client
	// Now is the clock for the readyToUse timeout; default time.Now.
	Now func() time.Time
}

func (e *Exposer) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

// Ensure moves the exposure one step further and returns it once the holder pod runs;
// nil, nil means "not ready yet: call again". An error the driver reports is a
// *SnapshotError (see there), an expired wait a *TimeoutError (final). Once the caller
// decides to clean up, it calls Cleanup and no longer Ensure.
func (e *Exposer) Ensure(ctx context.Context, req Request) (*Exposed, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	pvc, err := e.ensureVolume(ctx, req)
	if pvc == nil || err != nil {
		return nil, err
	}
	pod, err := e.ensureHolder(ctx, req, pvc.Name)
	if pod == nil || err != nil {
		return nil, err
	}
	// Read the claim again: it is bound once the holder runs.
	if err := e.Client.Get(ctx, client.ObjectKeyFromObject(pvc), pvc); err != nil {
		return nil, fmt.Errorf("reading PVC %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	return &Exposed{
		Node: pod.Spec.NodeName, Pod: pod.Name, PodUID: pod.UID, Volume: VolumeName,
		PVC: pvc.Name, PV: pvc.Spec.VolumeName, ReadOnly: req.NewPVC == nil,
	}, nil
}

// ensureVolume returns the PVC the holder mounts, creating the snapshot and PVC it needs.
func (e *Exposer) ensureVolume(ctx context.Context, req Request) (*corev1.PersistentVolumeClaim, error) {
	switch {
	case req.Snapshot != nil:
		source, err := e.sourcePVC(ctx, req, req.Snapshot.PVCName)
		if err != nil {
			return nil, err
		}
		snap, err := e.ensureSnapshot(ctx, req, source)
		if snap == nil || err != nil {
			return nil, err
		}
		return e.ensurePVCFromSnapshot(ctx, req, source, snap)
	case req.PVC != nil:
		return e.sourcePVC(ctx, req, req.PVC.PVCName)
	default:
		return e.ensureNewPVC(ctx, req)
	}
}

func (r Request) namespace() string { return r.Owner.GetNamespace() }

// labels are the labels of every temporary object of the exposure.
func (r Request) labels() map[string]string {
	return map[string]string{
		troveapi.LabelSession: r.Session,
		LabelExposure:         r.Name,
		LabelManagedBy:        ManagedBy,
	}
}

func (r Request) selector() client.MatchingLabels { return client.MatchingLabels(r.labels()) }

func (r Request) validate() error {
	var errs []error
	if r.Owner == nil || r.Owner.GetUID() == "" || r.Owner.GetNamespace() == "" {
		errs = append(errs, errors.New("an owner in a namespace, read from the API, is required"))
	}
	for what, v := range map[string]string{"session": r.Session, "name": r.Name} {
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, fmt.Errorf("%s %q: %s", what, v, msg))
		}
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", what))
		}
	}
	for _, msg := range validation.IsDNS1123Subdomain(r.Name) {
		errs = append(errs, fmt.Errorf("name %q: %s", r.Name, msg))
	}
	n := 0
	for _, set := range []bool{r.Snapshot != nil, r.PVC != nil, r.NewPVC != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		errs = append(errs, fmt.Errorf("exactly one of Snapshot, PVC and NewPVC must be set, not %d", n))
	}
	if r.Snapshot != nil && (r.Snapshot.PVCName == "" || r.Snapshot.ClassName == "" || r.Snapshot.ReadyTimeout <= 0) {
		errs = append(errs, errors.New("Snapshot needs PVCName, ClassName and a positive ReadyTimeout"))
	}
	if r.PVC != nil && r.PVC.PVCName == "" {
		errs = append(errs, errors.New("PVC needs PVCName"))
	}
	if r.NewPVC != nil && r.NewPVC.Template.Name == "" {
		errs = append(errs, errors.New("NewPVC needs a template with a name"))
	}
	if r.Holder.Image == "" {
		errs = append(errs, errors.New("Holder needs an image"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid exposure request: %w", err)
	}
	return nil
}

// own labels obj with the exposure's labels and makes the owner its controller.
func (e *Exposer) own(req Request, obj client.Object) error {
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	for k, v := range req.labels() {
		labels[k] = v
	}
	obj.SetLabels(labels)
	obj.SetNamespace(req.namespace())
	if err := controllerutil.SetControllerReference(req.Owner, obj, e.Client.Scheme()); err != nil {
		return fmt.Errorf("setting the owner of %s: %w", obj.GetName(), err)
	}
	return nil
}
