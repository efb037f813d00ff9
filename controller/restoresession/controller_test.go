package restoresession_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/credentials"
	"trove.dev/trove/controller/exposure"
	"trove.dev/trove/controller/restoresession"
	"trove.dev/trove/csi/expose"
	"trove.dev/trove/test/controlplane"
)

const troveNamespace = controlplane.TroveNamespace

var c ctrl.Client

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunWithManager(m, controlplane.Options{}, func(mgr manager.Manager, cp *controlplane.ControlPlane) error {
		c = cp.Client
		return (&restoresession.Reconciler{
			Client:      mgr.GetClient(),
			Credentials: &credentials.Store{Client: mgr.GetClient(), Secrets: mgr.GetAPIReader(), Namespace: troveNamespace},
			Recorder:    mgr.GetEventRecorder("trove-controller"),
			Now:         time.Now,
			Exposures: &exposure.Exposures{
				Exposer: &expose.Exposer{Client: mgr.GetClient()},
				Holder:  expose.Holder{Image: "trove.dev/trove:test", Command: []string{"/usr/local/bin/trove", "hold"}},
				PodWait: 10 * time.Second,
			},
		}).SetupWithManager(mgr, 2)
	}))
}

func create(t *testing.T, objs ...ctrl.Object) {
	t.Helper()
	for _, o := range objs {
		require.NoError(t, c.Create(context.Background(), o), "%T %s", o, o.GetName())
	}
}

// fixture: a namespace with a Repository, its Secret and a 2-replica StatefulSet "db"
// whose pods mount an emptyDir "data" at /data.
func fixture(t *testing.T) string {
	t.Helper()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "rs-"}}
	require.NoError(t, c.Create(context.Background(), nsObj))
	ns := nsObj.Name
	labels := map[string]string{"app": "db"}
	create(t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "repo-secret"}, StringData: map[string]string{"RESTIC_PASSWORD": "pw"}},
		&troveapi.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "repo"}, Spec: troveapi.RepositorySpec{Backend: troveapi.Backend{
			StorageSecretName: "repo-secret", Rest: &troveapi.RestServerSpec{URL: "http://127.0.0.1:8000/r"}}}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"}, Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}})
	for i := 0; i < 2; i++ {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("db-%d", i), Labels: labels},
			Spec: corev1.PodSpec{NodeName: fmt.Sprintf("node-%d", i),
				Containers: []corev1.Container{{Name: "c", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
				Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
		}
		create(t, p)
		p.Status.Phase = corev1.PodRunning
		require.NoError(t, c.Status().Update(context.Background(), p))
	}
	return ns
}

func restore(ns, name string, rules ...troveapi.RestoreRule) *troveapi.RestoreSession {
	return &troveapi.RestoreSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: troveapi.RestoreSessionSpec{
			Repository: troveapi.ObjectRef{Name: "repo"},
			Target:     &troveapi.RestoreTarget{Ref: &troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"}, Rules: rules},
		},
	}
}

func items(t *testing.T, ns, session string) []troveapi.VolumeRestore {
	t.Helper()
	var list troveapi.VolumeRestoreList
	require.NoError(t, c.List(context.Background(), &list, ctrl.InNamespace(ns), ctrl.MatchingLabels{troveapi.LabelSession: session}))
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items
}

func waitPhase(t *testing.T, ns, name string, want troveapi.SessionPhase) *troveapi.RestoreSession {
	t.Helper()
	var s troveapi.RestoreSession
	require.Eventually(t, func() bool {
		return c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: name}, &s) == nil && s.Status.Phase == want
	}, 20*time.Second, 50*time.Millisecond, "restore never became %s: %+v", want, s.Status)
	return &s
}

func TestRestoreIntoAStatefulSetHandsOutOneItemPerOrdinal(t *testing.T) {
	ns := fixture(t)
	create(t, restore(ns, "r"))
	require.Eventually(t, func() bool { return len(items(t, ns, "r")) == 2 }, 20*time.Second, 50*time.Millisecond)
	got := items(t, ns, "r")
	for i, it := range got {
		assert.Equal(t, fmt.Sprintf("node-%d", i), it.Spec.NodeName)
		assert.Equal(t, "latest", it.Spec.Snapshot)
		assert.Equal(t, fmt.Sprintf("host-%d", i), it.Spec.SourceHost, "each ordinal restores its own host's data")
		assert.Equal(t, "/trove/"+ns+"/statefulset-db/data", it.Spec.StablePath)
		assert.Contains(t, it.Spec.Tags, "trove.dev/volume=data")
		var creds corev1.Secret
		require.NoError(t, c.Get(context.Background(), ctrl.ObjectKey{Namespace: troveNamespace, Name: it.Spec.CredentialsSecretName}, &creds))
	}
	for _, it := range got {
		it.Status.Phase = troveapi.WorkSucceeded
		it.Status.SnapshotID = "0123abcd"
		require.NoError(t, c.Status().Update(context.Background(), &it))
	}
	done := waitPhase(t, ns, "r", troveapi.SessionSucceeded)
	assert.Equal(t, int32(2), done.Status.TotalHosts)
	for _, h := range done.Status.Stats {
		assert.Equal(t, troveapi.HostSucceeded, h.Phase)
	}
	cond := meta.FindStatusCondition(done.Status.Conditions, troveapi.ConditionRestoreSucceeded)
	require.NotNil(t, cond)
	assert.Equal(t, metav1.ConditionTrue, cond.Status)
	require.Eventually(t, func() bool {
		var list corev1.SecretList
		require.NoError(t, c.List(context.Background(), &list, ctrl.InNamespace(troveNamespace), ctrl.MatchingLabels{credentials.LabelItemNamespace: ns}))
		return len(list.Items) == 0
	}, 10*time.Second, 50*time.Millisecond, "credentials are removed when the restore ends")
}

func TestRulesPickHostsSourcesAndSnapshots(t *testing.T) {
	ns := fixture(t)
	create(t, restore(ns, "r", troveapi.RestoreRule{TargetHosts: []string{"host-1"}, SourceHost: "host-0", Snapshots: []string{"4bc21f7e"}, Exclude: []string{"*.log"}}))
	require.Eventually(t, func() bool { return len(items(t, ns, "r")) == 1 }, 20*time.Second, 50*time.Millisecond)
	it := items(t, ns, "r")[0]
	assert.Equal(t, "db-1", it.Spec.Target.Pod.Name)
	assert.Equal(t, "host-0", it.Spec.SourceHost)
	assert.Equal(t, "4bc21f7e", it.Spec.Snapshot)
	assert.Equal(t, []string{"*.log"}, it.Spec.Exclude)

	it.Status.Phase, it.Status.Reason, it.Status.Message = troveapi.WorkFailed, "SnapshotNotFound", "no such snapshot"
	require.NoError(t, c.Status().Update(context.Background(), &it))
	failed := waitPhase(t, ns, "r", troveapi.SessionFailed)
	cond := meta.FindStatusCondition(failed.Status.Conditions, troveapi.ConditionRestoreSucceeded)
	require.NotNil(t, cond)
	assert.Contains(t, cond.Message, "host-1")
	assert.Contains(t, cond.Message, "no such snapshot")
}

func TestUnsupportedRestoresFailWithAReason(t *testing.T) {
	ns := fixture(t)
	create(t, restore(ns, "two-snapshots", troveapi.RestoreRule{Snapshots: []string{"aaaaaaaa", "bbbbbbbb"}}))
	failed := waitPhase(t, ns, "two-snapshots", troveapi.SessionFailed)
	assert.Contains(t, meta.FindStatusCondition(failed.Status.Conditions, troveapi.ConditionRestoreSucceeded).Message, "its own rule")

	missing := restore(ns, "no-repo")
	missing.Spec.Repository.Name = "nope"
	create(t, missing)
	failed = waitPhase(t, ns, "no-repo", troveapi.SessionFailed)
	assert.Equal(t, troveapi.ReasonRepositoryNotFound, meta.FindStatusCondition(failed.Status.Conditions, troveapi.ConditionRestoreSucceeded).Reason)
	assert.Empty(t, items(t, ns, "no-repo"))
}
