package snapclass

import (
	"context"
	"testing"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v6/apis/volumesnapshot/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// TestLookup checks that Lookup reads the facts Choose needs: a fake reader is enough,
// as it only gets and lists.
func TestLookup(t *testing.T) {
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	require.NoError(t, snapv1.AddToScheme(s))
	slow := class("slow", drv, troveDefault)
	slow.Annotations[AnnotationReadyTimeout] = "25m"
	broken := class("broken", other)
	broken.Annotations = map[string]string{AnnotationReadyTimeout: "soon"}
	objs := []client.Object{
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-1"}, Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: drv, VolumeHandle: "v"}}}},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "other-sc"}, Provisioner: other},
		ptr.To(class("plain", drv)), &slow, &broken,
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
	ctx := context.Background()

	bound := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-1", StorageClassName: ptr.To("other-sc")}}
	got, err := Lookup(ctx, c, bound, "")
	require.NoError(t, err)
	assert.Equal(t, "slow", got.Class.Name)
	assert.Equal(t, drv, got.Driver, "the bound PV's driver, not the class's provisioner")
	assert.Equal(t, 25*time.Minute, got.ReadyTimeout)

	got, err = Lookup(ctx, c, bound, "plain")
	require.NoError(t, err)
	assert.Equal(t, DefaultReadyTimeout, got.ReadyTimeout)

	unbound := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "new"}, Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("other-sc")}}
	_, err = Lookup(ctx, c, unbound, "")
	require.ErrorContains(t, err, `annotation trove.dev/snapshot-ready-timeout="soon"`, "the only class of the provisioner, with a bad timeout")

	gonePV := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "lost"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-gone"}}
	_, err = Lookup(ctx, c, gonePV, "")
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, troveapi.ReasonSnapshotClassNotFound, e.Reason)
	assert.Contains(t, e.Message, "not on a CSI volume")
}
