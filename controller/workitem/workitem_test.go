package workitem

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/target"
)

func TestName(t *testing.T) {
	assert.Equal(t, "nightly-1795255200-host-0-data", Name("nightly-1795255200", "host-0", "data"))
	assert.Equal(t, "node-a-example-com-data", Name("node-a.example.com", "Data"))

	long := strings.Repeat("x", 60)
	a, b := Name(long, "host-0", "data"), Name(long, "host-1", "data")
	for _, n := range []string{a, b} {
		assert.Empty(t, validation.IsDNS1123Label(n), n)
	}
	assert.NotEqual(t, a, b, "names cut to 63 characters stay unique")
	assert.Equal(t, a, Name(long, "host-0", "data"), "deterministic")
}

func TestIdentityOf(t *testing.T) {
	ref := troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"}
	byPVC := IdentityOf("shop", ref, target.Pair{Volume: "data", PVC: "data-db-0"})
	assert.Equal(t, "/trove/shop/pvc-data-db-0/data", byPVC.StablePath)
	assert.Equal(t, []string{"trove.dev/namespace=shop", "trove.dev/target=StatefulSet/db", "trove.dev/pvc=data-db-0", "trove.dev/volume=data"}, byPVC.Tags)

	byWorkload := IdentityOf("shop", troveapi.TargetRef{Kind: troveapi.KindDeployment, Name: "web"}, target.Pair{Volume: "cache"})
	assert.Equal(t, "/trove/shop/deployment-web/cache", byWorkload.StablePath)
}

func TestVolumeBackupFor(t *testing.T) {
	session := &troveapi.BackupSession{ObjectMeta: metav1.ObjectMeta{Name: "nightly-1795255200", Namespace: "shop", UID: "s-uid"}}
	config := &troveapi.BackupConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "shop"},
		Spec: troveapi.BackupConfigurationSpec{
			Repository: troveapi.ObjectRef{Name: "repo"},
			Target: &troveapi.BackupTarget{
				Ref:     troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindDeployment, Name: "web"},
				Exclude: []string{"*.tmp"},
			},
			RuntimeSettings: &troveapi.RuntimeSettings{Container: &troveapi.ContainerRuntimeSettings{
				Nice:             &troveapi.NiceSettings{Adjustment: ptr.To[int32](10)},
				IONice:           &troveapi.IONiceSettings{Class: ptr.To[int32](3)},
				LimitUploadKiBps: 1024,
			}},
		},
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "shop", UID: "p-uid"}, Spec: corev1.PodSpec{NodeName: "node-2"}}
	vb := VolumeBackupFor(session, config, target.Host{Name: "host-0"}, target.Pair{Pod: pod, Volume: "data", SubPaths: []string{"uploads"}})

	assert.Equal(t, "nightly-1795255200-host-0-data", vb.Name)
	assert.Equal(t, "shop", vb.Namespace)
	require.Len(t, vb.OwnerReferences, 1)
	assert.Equal(t, "BackupSession", vb.OwnerReferences[0].Kind)
	assert.True(t, *vb.OwnerReferences[0].Controller)
	assert.Equal(t, "node-2", vb.Spec.NodeName)
	assert.Equal(t, troveapi.ObjectRef{Name: "repo", Namespace: "shop"}, vb.Spec.Repository)
	assert.Equal(t, troveapi.PodRef{Namespace: "shop", Name: "web-abc", UID: "p-uid"}, vb.Spec.Source.Pod)
	assert.Equal(t, []string{"uploads"}, vb.Spec.Paths)
	assert.Equal(t, []string{"*.tmp"}, vb.Spec.Exclude)
	assert.Equal(t, "host-0", vb.Spec.Hostname)
	assert.Equal(t, "/trove/shop/deployment-web/data", vb.Spec.StablePath)
	assert.Equal(t, int32(10), *vb.Spec.Throttle.Nice.Adjustment)
	assert.Equal(t, int32(3), *vb.Spec.Throttle.IONice.Class)
	assert.Equal(t, int32(1024), vb.Spec.Throttle.LimitUploadKiBps)
	assert.Equal(t, "creds-vb-shop-nightly-1795255200-host-0-data", vb.Spec.CredentialsSecretName)
	assert.Equal(t, "nightly-1795255200", vb.Labels[troveapi.LabelSession])

	// The configuration's throttle is copied, not shared.
	*config.Spec.RuntimeSettings.Container.Nice.Adjustment = 0
	assert.Equal(t, int32(10), *vb.Spec.Throttle.Nice.Adjustment)
}
