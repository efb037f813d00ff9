package hostpath

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const uid = "0b1e9b55-7c3c-4bb4-9e0f-4d0c3a1f2e11"

func testPod(volumes ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "app-0", UID: types.UID(uid)},
		Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app"}}, Volumes: volumes},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func vol(name string, src corev1.VolumeSource) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: src}
}

var (
	emptyDirSrc = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	claimSrc    = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}
)

func pv(name string, src corev1.PersistentVolumeSource) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: src}}
}

// tree lays out a kubelet root: the pod's directory with its container directory,
// then each of dirs (relative to the pod directory) as a directory.
func tree(t *testing.T, dirs ...string) string {
	t.Helper()
	root := t.TempDir()
	podDir := filepath.Join(root, "pods", uid)
	require.NoError(t, os.MkdirAll(filepath.Join(podDir, "containers", "app"), 0o755))
	for _, d := range dirs {
		require.NoError(t, os.MkdirAll(filepath.Join(podDir, d), 0o755))
	}
	return root
}

func TestResolve(t *testing.T) {
	csiPV := pv("pvc-123", corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "csi.trove.dev", VolumeHandle: "h"}})
	localPV := pv("local-pv-1", corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/disks/1"}})
	nfsPV := pv("nfs-pv", corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs", Path: "/exports"}})
	ebsPV := pv("ebs-pv", corev1.PersistentVolumeSource{AWSElasticBlockStore: &corev1.AWSElasticBlockStoreVolumeSource{VolumeID: "vol-1"}})
	hostPV := pv("host-pv", corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv"}})

	for _, tc := range []struct {
		name       string
		dirs       []string
		pod        *corev1.Pod
		volume     string
		pv         *corev1.PersistentVolume
		allowConf  bool
		setup      func(t *testing.T, root string)
		want       string // relative to the pod directory
		wantReason string
	}{
		{name: "emptyDir", dirs: []string{"volumes/kubernetes.io~empty-dir/data"},
			pod: testPod(vol("data", emptyDirSrc)), volume: "data", want: "volumes/kubernetes.io~empty-dir/data"},
		{name: "CSI persistent volume", dirs: []string{"volumes/kubernetes.io~csi/pvc-123/mount"},
			pod: testPod(vol("data", claimSrc)), volume: "data", pv: csiPV, want: "volumes/kubernetes.io~csi/pvc-123/mount"},
		{name: "inline CSI volume", dirs: []string{"volumes/kubernetes.io~csi/scratch/mount"},
			pod: testPod(vol("scratch", corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "d"}})), volume: "scratch", want: "volumes/kubernetes.io~csi/scratch/mount"},
		{name: "local persistent volume", dirs: []string{"volumes/kubernetes.io~local-volume/local-pv-1"},
			pod: testPod(vol("data", claimSrc)), volume: "data", pv: localPV, want: "volumes/kubernetes.io~local-volume/local-pv-1"},
		{name: "in-tree NFS persistent volume", dirs: []string{"volumes/kubernetes.io~nfs/nfs-pv"},
			pod: testPod(vol("data", claimSrc)), volume: "data", pv: nfsPV, want: "volumes/kubernetes.io~nfs/nfs-pv"},
		{name: "in-tree volume migrated to CSI", dirs: []string{"volumes/kubernetes.io~csi/ebs-pv/mount"},
			pod: testPod(vol("data", claimSrc)), volume: "data", pv: ebsPV, want: "volumes/kubernetes.io~csi/ebs-pv/mount"},
		{name: "inline NFS volume", dirs: []string{"volumes/kubernetes.io~nfs/share"},
			pod: testPod(vol("share", corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "s", Path: "/"}})), volume: "share", want: "volumes/kubernetes.io~nfs/share"},
		{name: "configMap refused", dirs: []string{"volumes/kubernetes.io~configmap/conf"},
			pod: testPod(vol("conf", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}})), volume: "conf", wantReason: ReasonVolumeRefused},
		{name: "configMap when explicitly allowed", dirs: []string{"volumes/kubernetes.io~configmap/conf"}, allowConf: true,
			pod: testPod(vol("conf", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}})), volume: "conf", want: "volumes/kubernetes.io~configmap/conf"},
		{name: "secret refused", pod: testPod(vol("s", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}})), volume: "s", wantReason: ReasonVolumeRefused},
		{name: "projected refused", pod: testPod(vol("p", corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}})), volume: "p", wantReason: ReasonVolumeRefused},
		{name: "downwardAPI refused", pod: testPod(vol("d", corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{}})), volume: "d", wantReason: ReasonVolumeRefused},
		{name: "hostPath volume refused", pod: testPod(vol("h", corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}})), volume: "h", wantReason: ReasonVolumeRefused},
		{name: "hostPath persistent volume refused", pod: testPod(vol("data", claimSrc)), volume: "data", pv: hostPV, wantReason: ReasonVolumeRefused},
		{name: "claim without its PersistentVolume", pod: testPod(vol("data", claimSrc)), volume: "data", wantReason: ReasonMissingPVFacts},
		{name: "unknown volume name", pod: testPod(vol("data", emptyDirSrc)), volume: "other", wantReason: ReasonVolumeNotFound},
		{name: "missing directory", pod: testPod(vol("data", emptyDirSrc)), volume: "data", wantReason: ReasonVolumeNotFound},
		{name: "two candidates exist", dirs: []string{"volumes/kubernetes.io~nfs/nfs-pv", "volumes/kubernetes.io~csi/nfs-pv/mount"},
			pod: testPod(vol("data", claimSrc)), volume: "data", pv: nfsPV, wantReason: ReasonVolumeAmbiguous},
		{name: "pod on another node", pod: func() *corev1.Pod { p := testPod(vol("data", emptyDirSrc)); p.Spec.NodeName = "node-2"; return p }(),
			volume: "data", wantReason: ReasonPodNotHere},
		{name: "pod not running", dirs: []string{"volumes/kubernetes.io~empty-dir/data"},
			pod: func() *corev1.Pod {
				p := testPod(vol("data", emptyDirSrc))
				p.Status.Phase = corev1.PodPending
				return p
			}(), volume: "data", wantReason: ReasonPodNotHere},
		{name: "attack: the volume directory is a symlink out of the root", dirs: []string{"volumes/kubernetes.io~empty-dir"},
			pod: testPod(vol("data", emptyDirSrc)), volume: "data", wantReason: ReasonUnsafePath,
			setup: func(t *testing.T, root string) {
				require.NoError(t, os.Symlink("/etc", filepath.Join(root, "pods", uid, "volumes/kubernetes.io~empty-dir/data")))
			}},
		{name: "attack: a symlink deep inside the path, even pointing inside the root", dirs: []string{"elsewhere/kubernetes.io~empty-dir/data"},
			pod: testPod(vol("data", emptyDirSrc)), volume: "data", wantReason: ReasonUnsafePath,
			setup: func(t *testing.T, root string) {
				require.NoError(t, os.Symlink("elsewhere", filepath.Join(root, "pods", uid, "volumes")))
			}},
		{name: "attack: the pod directory is a symlink", pod: testPod(vol("data", emptyDirSrc)), volume: "data", wantReason: ReasonUnsafePath,
			setup: func(t *testing.T, root string) {
				other := filepath.Join(root, "pods", "other")
				require.NoError(t, os.MkdirAll(filepath.Join(other, "containers", "app"), 0o755))
				require.NoError(t, os.MkdirAll(filepath.Join(other, "volumes/kubernetes.io~empty-dir/data"), 0o755))
				require.NoError(t, os.RemoveAll(filepath.Join(root, "pods", uid)))
				require.NoError(t, os.Symlink("other", filepath.Join(root, "pods", uid)))
			}},
		{name: "attack: a '..' volume name", pod: testPod(vol("..", emptyDirSrc)), volume: "..", wantReason: ReasonUnsafePath},
		{name: "attack: a PV name with a slash", pod: testPod(vol("data", claimSrc)), volume: "data",
			pv: pv("../../x", corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "d"}}), wantReason: ReasonUnsafePath},
		{name: "attack: the UID directory holds another pod's containers", dirs: []string{"volumes/kubernetes.io~empty-dir/data"},
			pod: testPod(vol("data", emptyDirSrc)), volume: "data", wantReason: ReasonPodDirNotThisPod,
			setup: func(t *testing.T, root string) {
				containers := filepath.Join(root, "pods", uid, "containers")
				require.NoError(t, os.Rename(filepath.Join(containers, "app"), filepath.Join(containers, "intruder")))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.dirs...)
			if tc.setup != nil {
				tc.setup(t, root)
			}
			loc, err := Resolve(Facts{KubeletRoot: root, NodeName: "node-1", Pod: tc.pod, VolumeName: tc.volume, PV: tc.pv, AllowConfigVolumes: tc.allowConf})
			if tc.wantReason != "" {
				var e *Error
				require.ErrorAs(t, err, &e, "want %s, got %v", tc.wantReason, err)
				assert.Equal(t, tc.wantReason, e.Reason, e.Message)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, filepath.Join(root, "pods", uid, tc.want), loc.Path)
			assert.False(t, loc.Block)
		})
	}
}

func TestResolveBlockVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating a block device node needs root")
	}
	root := tree(t, "volumeDevices/kubernetes.io~csi")
	dev := filepath.Join(root, "pods", uid, "volumeDevices/kubernetes.io~csi/pvc-blk")
	require.NoError(t, unix.Mknod(dev, unix.S_IFBLK|0o600, int(unix.Mkdev(7, 0))))
	pod := testPod(vol("raw", claimSrc))
	pod.Spec.Containers[0].VolumeDevices = []corev1.VolumeDevice{{Name: "raw", DevicePath: "/dev/xvda"}}
	loc, err := Resolve(Facts{KubeletRoot: root, NodeName: "node-1", Pod: pod, VolumeName: "raw",
		PV: pv("pvc-blk", corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "d"}})})
	require.NoError(t, err)
	assert.Equal(t, dev, loc.Path)
	assert.True(t, loc.Block)
}
