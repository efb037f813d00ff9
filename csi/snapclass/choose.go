// Package snapclass chooses the VolumeSnapshotClass for a PVC of a `source: Snapshot`
// target and reads the per-class tuning annotations. The choice is a pure function of the
// PVC, its CSI driver and the cluster's classes; Lookup gathers those facts from the API.
package snapclass

import (
	"fmt"
	"sort"
	"strings"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v6/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

const (
	// AnnotationIsDefaultClass is Kubernetes' own default-class marker on a VolumeSnapshotClass.
	AnnotationIsDefaultClass = "snapshot.storage.kubernetes.io/is-default-class"
	// AnnotationReadyTimeout on a VolumeSnapshotClass bounds the wait for readyToUse
	// (a Go duration such as "90s" or "15m").
	AnnotationReadyTimeout = "trove.dev/snapshot-ready-timeout"
	// DefaultReadyTimeout is the wait for readyToUse when a class does not set one.
	DefaultReadyTimeout = 10 * time.Minute
)

// Error is a choice that failed; Reason is a condition reason from apis/v1alpha1 and
// Message says what to change.
type Error struct {
	Reason  string
	Message string
}

func (e *Error) Error() string { return e.Message }

func notFound(format string, args ...any) *Error {
	return &Error{Reason: troveapi.ReasonSnapshotClassNotFound, Message: fmt.Sprintf(format, args...)}
}

// Input holds the facts a choice is made from.
type Input struct {
	// TargetClassName is the target's snapshotClassName ("" when unset).
	TargetClassName string
	// PVC is the claim to snapshot.
	PVC *corev1.PersistentVolumeClaim
	// Driver is the PVC's CSI driver (see Driver).
	Driver string
	// Classes are all VolumeSnapshotClasses of the cluster.
	Classes []snapv1.VolumeSnapshotClass
}

// rule is one step of the chain: it returns the class it picks, or nil to pass on.
type rule func(in Input, own []snapv1.VolumeSnapshotClass) (*snapv1.VolumeSnapshotClass, error)

// Choose returns the VolumeSnapshotClass for in.PVC; the first rule that matches wins:
//  1. the target's snapshotClassName;
//  2. the PVC annotation trove.dev/snapshot-class;
//  3. the driver's class annotated trove.dev/default-snapshot-class: "true";
//  4. the driver's class annotated snapshot.storage.kubernetes.io/is-default-class: "true";
//  5. the driver's only class.
//
// A named class must exist and be for the PVC's driver; two classes marked by the same
// annotation for one driver are ambiguous. Errors are *Error.
func Choose(in Input) (*snapv1.VolumeSnapshotClass, error) {
	if in.Driver == "" {
		return nil, notFound("PVC %s is not on a CSI volume (no CSI driver on its PersistentVolume or StorageClass); source: Snapshot needs a CSI driver with snapshot support", pvcName(in.PVC))
	}
	var own []snapv1.VolumeSnapshotClass
	for _, c := range in.Classes {
		if c.Driver == in.Driver {
			own = append(own, c)
		}
	}
	sort.Slice(own, func(i, j int) bool { return own[i].Name < own[j].Name })
	for _, r := range []rule{byTarget, byPVCAnnotation, byAnnotation(troveapi.AnnotationDefaultSnapshotClass), byAnnotation(AnnotationIsDefaultClass), onlyClass} {
		c, err := r(in, own)
		if err != nil || c != nil {
			return c, err
		}
	}
	return nil, notFound("no VolumeSnapshotClass for CSI driver %q: create one, or annotate one of the driver's classes with %s: \"true\", or set the PVC annotation %s or the target's snapshotClassName",
		in.Driver, troveapi.AnnotationDefaultSnapshotClass, troveapi.AnnotationSnapshotClass)
}

func byTarget(in Input, _ []snapv1.VolumeSnapshotClass) (*snapv1.VolumeSnapshotClass, error) {
	if in.TargetClassName == "" {
		return nil, nil
	}
	return named(in, in.TargetClassName, "the target's snapshotClassName")
}

func byPVCAnnotation(in Input, _ []snapv1.VolumeSnapshotClass) (*snapv1.VolumeSnapshotClass, error) {
	name := ""
	if in.PVC != nil {
		name = in.PVC.Annotations[troveapi.AnnotationSnapshotClass]
	}
	if name == "" {
		return nil, nil
	}
	return named(in, name, fmt.Sprintf("the annotation %s of PVC %s", troveapi.AnnotationSnapshotClass, pvcName(in.PVC)))
}

// named finds a class chosen by name and checks that it is for the PVC's driver.
func named(in Input, name, by string) (*snapv1.VolumeSnapshotClass, error) {
	for i := range in.Classes {
		c := &in.Classes[i]
		if c.Name != name {
			continue
		}
		if c.Driver != in.Driver {
			return nil, notFound("VolumeSnapshotClass %q named by %s is for CSI driver %q, but PVC %s is on CSI driver %q",
				name, by, c.Driver, pvcName(in.PVC), in.Driver)
		}
		return c.DeepCopy(), nil
	}
	return nil, notFound("VolumeSnapshotClass %q named by %s does not exist", name, by)
}

func byAnnotation(key string) rule {
	return func(in Input, own []snapv1.VolumeSnapshotClass) (*snapv1.VolumeSnapshotClass, error) {
		var marked []string
		var found *snapv1.VolumeSnapshotClass
		for i := range own {
			if own[i].Annotations[key] == "true" {
				marked = append(marked, own[i].Name)
				found = own[i].DeepCopy()
			}
		}
		switch len(marked) {
		case 0:
			return nil, nil
		case 1:
			return found, nil
		}
		return nil, &Error{Reason: troveapi.ReasonSnapshotClassAmbiguous, Message: fmt.Sprintf(
			"VolumeSnapshotClasses %s of CSI driver %q are all annotated %s: \"true\"; keep the annotation on one",
			quoteJoin(marked), in.Driver, key)}
	}
}

func onlyClass(_ Input, own []snapv1.VolumeSnapshotClass) (*snapv1.VolumeSnapshotClass, error) {
	if len(own) == 1 {
		return own[0].DeepCopy(), nil
	}
	return nil, nil
}

// ReadyTimeout is how long to wait for a snapshot of class c to become readyToUse: the
// class's trove.dev/snapshot-ready-timeout annotation, else DefaultReadyTimeout.
func ReadyTimeout(c *snapv1.VolumeSnapshotClass) (time.Duration, error) {
	if c == nil {
		return DefaultReadyTimeout, nil
	}
	v, ok := c.Annotations[AnnotationReadyTimeout]
	if !ok {
		return DefaultReadyTimeout, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("VolumeSnapshotClass %q: annotation %s=%q is not a positive duration such as \"90s\" or \"15m\"", c.Name, AnnotationReadyTimeout, v)
	}
	return d, nil
}

// Driver returns the CSI driver of a PVC: its bound PersistentVolume's spec.csi.driver,
// or, while it is unbound, its StorageClass's provisioner. "" means not a CSI volume.
func Driver(pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume, sc *storagev1.StorageClass) string {
	if pvc != nil && pvc.Spec.VolumeName != "" {
		if pv != nil && pv.Spec.CSI != nil {
			return pv.Spec.CSI.Driver
		}
		return ""
	}
	if sc != nil {
		return sc.Provisioner
	}
	return ""
}

func pvcName(pvc *corev1.PersistentVolumeClaim) string {
	if pvc == nil {
		return "<none>"
	}
	return pvc.Namespace + "/" + pvc.Name
}

func quoteJoin(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, " and ")
}
