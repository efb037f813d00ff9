package repository_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/credentials"
	"trove.dev/trove/controller/repository"
	"trove.dev/trove/controller/workitem"
	"trove.dev/trove/test/controlplane"
)

const troveNamespace = controlplane.TroveNamespace

var c ctrl.Client

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunWithManager(m, controlplane.Options{}, func(mgr manager.Manager, cp *controlplane.ControlPlane) error {
		c = cp.Client
		return (&repository.Reconciler{
			Client: mgr.GetClient(), Secrets: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("trove-controller"),
			Credentials: &credentials.Store{Client: mgr.GetClient(), Secrets: mgr.GetAPIReader(), Namespace: troveNamespace},
		}).SetupWithManager(mgr, 2)
	}))
}

func namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "repo-"}}
	require.NoError(t, c.Create(context.Background(), ns))
	return ns.Name
}

func repo(ns string) *troveapi.Repository {
	return &troveapi.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "repo"}, Spec: troveapi.RepositorySpec{
		Backend: troveapi.Backend{StorageSecretName: "s", B2: &troveapi.B2Spec{Bucket: "b"}}}}
}

func get(t *testing.T, ns string) *troveapi.Repository {
	t.Helper()
	var r troveapi.Repository
	require.NoError(t, c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "repo"}, &r))
	return &r
}

func ready(t *testing.T, ns string) *metav1.Condition {
	return meta.FindStatusCondition(get(t, ns).Status.Conditions, troveapi.ConditionReady)
}

func TestReadyFollowsTheStorageSecret(t *testing.T) {
	ns := namespace(t)
	require.NoError(t, c.Create(context.Background(), repo(ns)))
	require.Eventually(t, func() bool { r := ready(t, ns); return r != nil && r.Reason == troveapi.ReasonSecretNotFound }, 20*time.Second, 50*time.Millisecond)
	assert.Contains(t, get(t, ns).Finalizers, troveapi.FinalizerRepository)

	require.NoError(t, c.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s"},
		StringData: map[string]string{"RESTIC_PASSWORD": "pw", "B2_ACCOUNT_ID": "id"}}))
	require.Eventually(t, func() bool { r := ready(t, ns); return r != nil && r.Reason == troveapi.ReasonSecretKeyMissing }, 20*time.Second, 50*time.Millisecond)
	assert.Contains(t, ready(t, ns).Message, "B2_ACCOUNT_KEY")
}

func TestStatusComesFromMaintenanceAndOldItemsGo(t *testing.T) {
	ns := namespace(t)
	r := repo(ns)
	require.NoError(t, c.Create(context.Background(), r))
	for i := 0; i < 7; i++ {
		m := &troveapi.RepositoryMaintenance{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("m-%d", i), Labels: map[string]string{troveapi.LabelRepository: "repo"}},
			Spec: troveapi.RepositoryMaintenanceSpec{NodeName: "n", Repository: troveapi.ObjectRef{Name: "repo"},
				CredentialsSecretName: fmt.Sprintf("creds-m-%d", i), Stats: true},
		}
		require.NoError(t, c.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: troveNamespace, Name: m.Spec.CredentialsSecretName}}))
		require.NoError(t, c.Create(context.Background(), m))
		now := metav1.Now()
		m.Status.Phase, m.Status.CompletionTime = troveapi.WorkSucceeded, &now
		m.Status.SnapshotCount, m.Status.TotalSize = ptr.To(int64(10+i)), fmt.Sprintf("%dMi", 100+i)
		if i == 2 {
			m.Status.Integrity = troveapi.IntegrityHealthy
		}
		require.NoError(t, c.Status().Update(context.Background(), m))
		time.Sleep(1100 * time.Millisecond) // creation timestamps have 1 s resolution
	}
	require.Eventually(t, func() bool {
		st := get(t, ns).Status
		return st.SnapshotCount == 16 && st.TotalSize == "106Mi" && st.Integrity == troveapi.IntegrityHealthy && st.LastCheckTime != nil
	}, 20*time.Second, 50*time.Millisecond, "status: %+v", get(t, ns).Status)
	require.Eventually(t, func() bool {
		var list troveapi.RepositoryMaintenanceList
		require.NoError(t, c.List(context.Background(), &list, ctrl.InNamespace(ns)))
		return len(list.Items) == repository.KeepMaintenance
	}, 20*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		var s corev1.Secret
		return apierrors.IsNotFound(c.Get(context.Background(), ctrl.ObjectKey{Namespace: troveNamespace, Name: "creds-m-6"}, &s))
	}, 20*time.Second, 50*time.Millisecond, "a finished item's credentials are removed")
}

func TestDeletionWaitsForItsConfigurations(t *testing.T) {
	ns := namespace(t)
	require.NoError(t, c.Create(context.Background(), repo(ns)))
	bc := &troveapi.BackupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bc"}, Spec: troveapi.BackupConfigurationSpec{
		Paused: true, Repository: troveapi.ObjectRef{Name: "repo"},
		Target: &troveapi.BackupTarget{Ref: troveapi.TargetRef{APIVersion: "v1", Kind: troveapi.KindPod, Name: "p"}}}}
	require.NoError(t, c.Create(context.Background(), bc))
	require.Eventually(t, func() bool { return len(get(t, ns).Finalizers) == 1 }, 20*time.Second, 50*time.Millisecond)

	require.NoError(t, c.Delete(context.Background(), repo(ns)))
	assert.Never(t, func() bool {
		var r troveapi.Repository
		return apierrors.IsNotFound(c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "repo"}, &r))
	}, 2*time.Second, 100*time.Millisecond, "a Repository in use is not deleted")

	require.NoError(t, c.Delete(context.Background(), bc))
	require.Eventually(t, func() bool {
		var r troveapi.Repository
		return apierrors.IsNotFound(c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "repo"}, &r))
	}, 20*time.Second, 50*time.Millisecond, "once unused it goes")
}

// wipeOutItems lists the repository's wipe-out maintenance items.
func wipeOutItems(t *testing.T, ns string) []troveapi.RepositoryMaintenance {
	t.Helper()
	var list troveapi.RepositoryMaintenanceList
	require.NoError(t, c.List(context.Background(), &list, ctrl.InNamespace(ns), ctrl.MatchingLabels{workitem.LabelWipeOut: "true"}))
	return list.Items
}

func TestWipeOutForgetsEverythingBeforeTheRepositoryGoes(t *testing.T) {
	ns := namespace(t)
	r := repo(ns)
	r.Spec.WipeOut = true
	require.NoError(t, c.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s"},
		StringData: map[string]string{"RESTIC_PASSWORD": "pw", "B2_ACCOUNT_ID": "id", "B2_ACCOUNT_KEY": "key"}}))
	require.NoError(t, c.Create(context.Background(), r))
	require.Eventually(t, func() bool { return len(get(t, ns).Finalizers) == 1 }, 20*time.Second, 50*time.Millisecond)
	// An earlier maintenance ran on node-5: the wipe-out goes to the same agent.
	earlier := &troveapi.RepositoryMaintenance{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "earlier", Labels: map[string]string{troveapi.LabelRepository: "repo"}},
		Spec: troveapi.RepositoryMaintenanceSpec{NodeName: "node-5", Repository: troveapi.ObjectRef{Namespace: ns, Name: "repo"}, CredentialsSecretName: "x", Stats: true}}
	require.NoError(t, c.Create(context.Background(), earlier))
	earlier.Status.Phase = troveapi.WorkSucceeded
	require.NoError(t, c.Status().Update(context.Background(), earlier))

	require.NoError(t, c.Delete(context.Background(), repo(ns)))
	require.Eventually(t, func() bool { return len(wipeOutItems(t, ns)) == 1 }, 20*time.Second, 50*time.Millisecond)
	m := wipeOutItems(t, ns)[0]
	assert.Equal(t, "node-5", m.Spec.NodeName)
	assert.True(t, m.Spec.WipeOut && m.Spec.Prune && m.Spec.UnlockStale, "%+v", m.Spec)
	var creds corev1.Secret
	require.NoError(t, c.Get(context.Background(), ctrl.ObjectKey{Namespace: troveNamespace, Name: m.Spec.CredentialsSecretName}, &creds))
	assert.Equal(t, "key", string(creds.Data["B2_ACCOUNT_KEY"]), "the agent gets the repository's credentials for the item")
	assert.Never(t, func() bool {
		var r troveapi.Repository
		return apierrors.IsNotFound(c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "repo"}, &r))
	}, time.Second, 100*time.Millisecond, "the Repository stays while its data is being wiped out")

	// A failed attempt keeps the Repository (nothing is silently left behind) ...
	now := metav1.Now()
	m.Status.Phase, m.Status.CompletionTime, m.Status.Message = troveapi.WorkFailed, &now, "backend unreachable"
	require.NoError(t, c.Status().Update(context.Background(), &m))
	assert.Never(t, func() bool { return len(wipeOutItems(t, ns)) != 1 }, 2*time.Second, 100*time.Millisecond, "a retry waits a minute")
	require.NotNil(t, get(t, ns), "still there")

	// ... a succeeded one releases it.
	second := wipeOutItems(t, ns)[0]
	second.Status.Phase = troveapi.WorkSucceeded
	second.Status.CompletionTime = &now
	second.Status.Forgotten = 7
	require.NoError(t, c.Status().Update(context.Background(), &second))
	require.Eventually(t, func() bool {
		var r troveapi.Repository
		return apierrors.IsNotFound(c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "repo"}, &r))
	}, 20*time.Second, 50*time.Millisecond, "once wiped out it goes")
	assert.True(t, apierrors.IsNotFound(c.Get(context.Background(), ctrl.ObjectKey{Namespace: troveNamespace, Name: m.Spec.CredentialsSecretName}, &creds)),
		"the item's credentials are removed")
}
