package snapclass

import (
	"testing"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v6/apis/volumesnapshot/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

func class(name, driver string, annotations ...string) snapv1.VolumeSnapshotClass {
	c := snapv1.VolumeSnapshotClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Driver: driver, DeletionPolicy: snapv1.VolumeSnapshotContentDelete}
	for _, a := range annotations {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[a] = "true"
	}
	return c
}

func pvc(annotation string) *corev1.PersistentVolumeClaim {
	p := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data"}}
	if annotation != "" {
		p.Annotations = map[string]string{troveapi.AnnotationSnapshotClass: annotation}
	}
	return p
}

const (
	troveDefault = troveapi.AnnotationDefaultSnapshotClass
	k8sDefault   = AnnotationIsDefaultClass
	drv          = "csi.trove.dev"
	other        = "ebs.csi.aws.com"
)

func TestChoose(t *testing.T) {
	all := []snapv1.VolumeSnapshotClass{
		class("plain", drv), class("trove-default", drv, troveDefault), class("k8s-default", drv, k8sDefault),
		class("foreign", other, troveDefault, k8sDefault),
	}
	tests := []struct {
		name    string
		in      Input
		want    string
		reason  string
		message []string
	}{
		{name: "target's class wins over everything", in: Input{TargetClassName: "plain", PVC: pvc("k8s-default"), Driver: drv, Classes: all}, want: "plain"},
		{name: "target's class missing", in: Input{TargetClassName: "nope", PVC: pvc(""), Driver: drv, Classes: all},
			reason: troveapi.ReasonSnapshotClassNotFound, message: []string{`"nope"`, "snapshotClassName", "does not exist"}},
		{name: "target's class of another driver names both drivers", in: Input{TargetClassName: "foreign", PVC: pvc(""), Driver: drv, Classes: all},
			reason: troveapi.ReasonSnapshotClassNotFound, message: []string{`"foreign"`, `"` + other + `"`, `"` + drv + `"`, "ns/data"}},
		{name: "PVC annotation", in: Input{PVC: pvc("plain"), Driver: drv, Classes: all}, want: "plain"},
		{name: "PVC annotation of another driver", in: Input{PVC: pvc("foreign"), Driver: drv, Classes: all},
			reason: troveapi.ReasonSnapshotClassNotFound, message: []string{troveapi.AnnotationSnapshotClass, other, drv}},
		{name: "PVC annotation missing class", in: Input{PVC: pvc("gone"), Driver: drv, Classes: all},
			reason: troveapi.ReasonSnapshotClassNotFound, message: []string{`"gone"`, troveapi.AnnotationSnapshotClass}},
		{name: "trove default beats kubernetes default", in: Input{PVC: pvc(""), Driver: drv, Classes: all}, want: "trove-default"},
		{name: "kubernetes default", in: Input{PVC: pvc(""), Driver: drv, Classes: []snapv1.VolumeSnapshotClass{class("plain", drv), class("k8s-default", drv, k8sDefault), class("foreign", other, troveDefault)}}, want: "k8s-default"},
		{name: "only class of the driver", in: Input{PVC: pvc(""), Driver: drv, Classes: []snapv1.VolumeSnapshotClass{class("plain", drv), class("foreign", other, troveDefault)}}, want: "plain"},
		{name: "two trove defaults are ambiguous", in: Input{PVC: pvc(""), Driver: drv, Classes: []snapv1.VolumeSnapshotClass{class("b", drv, troveDefault), class("a", drv, troveDefault), class("c", drv, k8sDefault)}},
			reason: troveapi.ReasonSnapshotClassAmbiguous, message: []string{`"a" and "b"`, troveDefault, drv}},
		{name: "two kubernetes defaults are ambiguous", in: Input{PVC: pvc(""), Driver: drv, Classes: []snapv1.VolumeSnapshotClass{class("a", drv, k8sDefault), class("b", drv, k8sDefault)}},
			reason: troveapi.ReasonSnapshotClassAmbiguous, message: []string{`"a" and "b"`, k8sDefault}},
		{name: "tie at a later rule does not matter when an earlier rule matches", in: Input{PVC: pvc(""), Driver: drv, Classes: []snapv1.VolumeSnapshotClass{class("a", drv, k8sDefault), class("b", drv, k8sDefault), class("t", drv, troveDefault)}}, want: "t"},
		{name: "two plain classes, no marker", in: Input{PVC: pvc(""), Driver: drv, Classes: []snapv1.VolumeSnapshotClass{class("a", drv), class("b", drv)}},
			reason: troveapi.ReasonSnapshotClassNotFound, message: []string{`"` + drv + `"`, troveDefault + `: "true"`}},
		{name: "no class for the driver", in: Input{PVC: pvc(""), Driver: drv, Classes: []snapv1.VolumeSnapshotClass{class("foreign", other, troveDefault)}},
			reason: troveapi.ReasonSnapshotClassNotFound, message: []string{`"` + drv + `"`, troveDefault}},
		{name: "not a CSI volume", in: Input{PVC: pvc("plain"), Classes: all},
			reason: troveapi.ReasonSnapshotClassNotFound, message: []string{"ns/data", "not on a CSI volume"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Choose(tt.in)
			if tt.reason == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got.Name)
				return
			}
			require.Error(t, err)
			assert.Nil(t, got)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.reason, e.Reason)
			for _, m := range tt.message {
				assert.Contains(t, e.Message, m)
			}
		})
	}
}

func TestReadyTimeout(t *testing.T) {
	withTimeout := func(v string) *snapv1.VolumeSnapshotClass {
		c := class("c", drv)
		c.Annotations = map[string]string{AnnotationReadyTimeout: v}
		return &c
	}
	plain := class("c", drv)
	for _, tt := range []struct {
		name  string
		class *snapv1.VolumeSnapshotClass
		want  time.Duration
		err   string
	}{
		{name: "default", class: &plain, want: 10 * time.Minute},
		{name: "no class", want: DefaultReadyTimeout},
		{name: "set", class: withTimeout("90s"), want: 90 * time.Second},
		{name: "spaces", class: withTimeout(" 1h30m "), want: 90 * time.Minute},
		{name: "garbage", class: withTimeout("ten minutes"), err: `annotation trove.dev/snapshot-ready-timeout="ten minutes" is not a positive duration`},
		{name: "no unit", class: withTimeout("600"), err: "not a positive duration"},
		{name: "zero", class: withTimeout("0s"), err: "not a positive duration"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadyTimeout(tt.class)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDriver(t *testing.T) {
	bound := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-1"}}
	csiPV := &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: drv}}}}
	localPV := &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/x"}}}}
	sc := &storagev1.StorageClass{Provisioner: other}
	assert.Equal(t, drv, Driver(bound, csiPV, sc), "a bound PV's driver wins over the class")
	assert.Equal(t, "", Driver(bound, localPV, sc), "a non-CSI PV")
	assert.Equal(t, "", Driver(bound, nil, sc), "a bound PV that is gone")
	assert.Equal(t, other, Driver(&corev1.PersistentVolumeClaim{}, nil, sc), "unbound: the class's provisioner")
	assert.Equal(t, "", Driver(&corev1.PersistentVolumeClaim{}, nil, nil))
}
