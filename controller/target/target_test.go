package target

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/csi/expose"
)

// pod builds a Running pod on node with one container mounting mounts (mountPath →
// volume[:subPath]) and the given volumes.
func pod(name, node string, volumes []corev1.Volume, mounts ...corev1.VolumeMount) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo", UID: "uid-" + "name"},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "app", VolumeMounts: mounts}},
			Volumes:    volumes,
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func emptyDir(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

func pvc(name, claim string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}
}

func configMap(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}
}

func mount(path, volume, sub string) corev1.VolumeMount {
	return corev1.VolumeMount{MountPath: path, Name: volume, SubPath: sub}
}

func TestPairsOf(t *testing.T) {
	vols := []corev1.Volume{emptyDir("data"), pvc("db", "db-claim"), configMap("config"), emptyDir("cache")}
	p := pod("app-0", "node-1", vols,
		mount("/data", "data", ""), mount("/var/lib/db", "db", "pgdata"), mount("/etc/app", "config", ""),
		mount("/data/cache", "cache", ""))

	for _, tc := range []struct {
		name       string
		spec       Spec
		want       []Pair
		wantReason string
	}{
		{"a path at a mount point is the whole volume", Spec{Paths: []string{"/data"}},
			[]Pair{{Volume: "data"}}, ""},
		{"a path below a mount point is a subdirectory", Spec{Paths: []string{"/data/uploads"}},
			[]Pair{{Volume: "data", SubPaths: []string{"uploads"}}}, ""},
		{"the mount's subPath is part of the directory", Spec{Paths: []string{"/var/lib/db/base"}},
			[]Pair{{Volume: "db", SubPaths: []string{"pgdata/base"}, PVC: "db-claim"}}, ""},
		{"the longest mount path wins", Spec{Paths: []string{"/data/cache/x"}},
			[]Pair{{Volume: "cache", SubPaths: []string{"x"}}}, ""},
		{"two paths on one volume make one pair", Spec{Paths: []string{"/data/b", "/data/a", "/data/a/"}},
			[]Pair{{Volume: "data", SubPaths: []string{"a", "b"}}}, ""},
		{"a whole volume absorbs its subpaths", Spec{Paths: []string{"/data/a"}, Volumes: []string{"data"}},
			[]Pair{{Volume: "data"}}, ""},
		{"nothing asked: every data volume", Spec{},
			[]Pair{{Volume: "data"}, {Volume: "db", PVC: "db-claim"}, {Volume: "cache"}}, ""},
		{"a path on no volume", Spec{Paths: []string{"/srv"}}, nil, troveapi.ReasonPathNotOnVolume},
		{"a path sharing a prefix with a mount is not on it", Spec{Paths: []string{"/database"}}, nil, troveapi.ReasonPathNotOnVolume},
		{"a configMap volume is refused", Spec{Paths: []string{"/etc/app"}}, nil, troveapi.ReasonPathNotOnVolume},
		{"an unknown volume", Spec{Volumes: []string{"nope"}}, nil, troveapi.ReasonPathNotOnVolume},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PairsOf(p, tc.spec)
			if tc.wantReason != "" {
				var e *Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, tc.wantReason, e.Reason)
				assert.NotEmpty(t, e.Message)
				return
			}
			require.NoError(t, err)
			for i := range got {
				assert.Same(t, p, got[i].Pod)
				got[i].Pod = nil
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestPairsOfRefusesHostPathAndOnlyConfigVolumes(t *testing.T) {
	hp := corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}}
	p := pod("p", "n", []corev1.Volume{hp, configMap("c")}, mount("/logs", "host", ""))
	_, err := PairsOf(p, Spec{Paths: []string{"/logs"}})
	require.ErrorContains(t, err, "hostPath volume")
	_, err = PairsOf(p, Spec{})
	require.ErrorContains(t, err, "no data volume")
}

func TestHosts(t *testing.T) {
	vols := []corev1.Volume{emptyDir("data")}
	m := mount("/data", "data", "")
	pending := pod("web-2", "node-1", vols, m)
	pending.Status.Phase = corev1.PodPending
	unscheduled := pod("web-3", "", vols, m)

	for _, tc := range []struct {
		name      string
		kind      troveapi.TargetKind
		pods      []*corev1.Pod
		wantHosts map[string]string // host → pod
		wantErr   string
	}{
		{"a Deployment is one host read from one running pod", troveapi.KindDeployment,
			[]*corev1.Pod{pod("web-b", "node-2", vols, m), pod("web-a", "node-1", vols, m), pending},
			map[string]string{"host-0": "web-a"}, ""},
		{"a StatefulSet is one host per ordinal", troveapi.KindStatefulSet,
			[]*corev1.Pod{pod("db-1", "node-2", vols, m), pod("db-0", "node-1", vols, m), pod("db-10", "node-1", vols, m)},
			map[string]string{"host-0": "db-0", "host-1": "db-1", "host-10": "db-10"}, ""},
		{"a DaemonSet is one host per node", troveapi.KindDaemonSet,
			[]*corev1.Pod{pod("agent-x1", "node-a", vols, m), pod("agent-y2", "node-b", vols, m)},
			map[string]string{"node-a": "agent-x1", "node-b": "agent-y2"}, ""},
		{"pods not running or not scheduled are not used", troveapi.KindDeployment,
			[]*corev1.Pod{pending, unscheduled}, nil, "no Running pod"},
		{"AppBinding targets are not volume targets", troveapi.KindAppBinding,
			[]*corev1.Pod{pod("x", "n", vols, m)}, nil, "use a Task"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hosts, err := Hosts(tc.kind, tc.pods, Spec{Paths: []string{"/data"}})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			got := map[string]string{}
			for _, h := range hosts {
				require.Len(t, h.Pairs, 1)
				got[h.Name] = h.Pairs[0].Pod.Name
			}
			assert.Equal(t, tc.wantHosts, got)
		})
	}
}

func TestPVCHost(t *testing.T) {
	other := pod("other", "node-1", []corev1.Volume{pvc("v", "other-claim")})
	user := pod("user", "node-2", []corev1.Volume{emptyDir("tmp"), pvc("store", "data")})
	host := PVCHost("data", []*corev1.Pod{other, user})
	assert.Equal(t, "host-0", host.Name)
	assert.Equal(t, []Pair{{Pod: user, Volume: "data", PVC: "data", Reader: &Reader{Pod: user, Volume: "store"}}}, host.Pairs,
		"the data is named after the claim and read through the pod's volume")
	via, volume := host.Pairs[0].Via()
	assert.Same(t, user, via)
	assert.Equal(t, "store", volume)

	holder := pod("holder", "node-3", []corev1.Volume{pvc("data", "unmounted")})
	holder.Labels = map[string]string{expose.LabelExposure: "s-unmounted"}
	host = PVCHost("unmounted", []*corev1.Pod{other, user, holder})
	assert.Equal(t, Host{Name: "host-0", Pairs: []Pair{{Volume: "unmounted", PVC: "unmounted"}}}, host,
		"an unmounted claim is a pair without a pod, for the caller to expose")
	via, _ = host.Pairs[0].Via()
	assert.Nil(t, via)
}
