package backupconfiguration_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/backupconfiguration"
	"trove.dev/trove/controller/schedule"
	"trove.dev/trove/test/controlplane"
)

var (
	c ctrl.Client
	// clock is the reconciler's clock; tests move it.
	clock = &controlplane.Clock{}
)

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunWithManager(m, controlplane.Options{
		ExtraCRDDirs: []string{filepath.Join(controlplane.RepoRoot(), "deploy", "optional")}, // AppBinding
	}, func(mgr manager.Manager, cp *controlplane.ControlPlane) error {
		c = cp.Client
		return (&backupconfiguration.Reconciler{
			Client: mgr.GetClient(), Secrets: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("trove-controller"), Now: clock.Now,
		}).SetupWithManager(mgr, 2)
	}))
}

// namespace creates a fresh namespace for one test.
func namespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bc-", Labels: labels}}
	require.NoError(t, c.Create(context.Background(), ns))
	return ns.Name
}

func create(t *testing.T, objs ...ctrl.Object) {
	t.Helper()
	for _, o := range objs {
		require.NoError(t, c.Create(context.Background(), o), "%T %s", o, o.GetName())
	}
}

func repository(ns, name, secret string, policy *troveapi.UsagePolicy) *troveapi.Repository {
	return &troveapi.Repository{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: troveapi.RepositorySpec{
			Backend:     troveapi.Backend{StorageSecretName: secret, S3: &troveapi.S3Spec{Endpoint: "http://127.0.0.1:9000", Bucket: "trove"}},
			UsagePolicy: policy,
		},
	}
}

func secret(ns, name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
}

func deployment(ns, name string) ctrl.Object {
	// A Pod stands in as target for simplicity where the kind does not matter.
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
	}
}

func config(ns, name, repoNS string, mutate ...func(*troveapi.BackupConfiguration)) *troveapi.BackupConfiguration {
	bc := &troveapi.BackupConfiguration{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: troveapi.BackupConfigurationSpec{
			Schedule:   "@hourly",
			Repository: troveapi.ObjectRef{Name: "repo", Namespace: repoNS},
			Target:     &troveapi.BackupTarget{Ref: troveapi.TargetRef{APIVersion: "v1", Kind: troveapi.KindPod, Name: "app"}},
		},
	}
	for _, m := range mutate {
		m(bc)
	}
	return bc
}

// readyCondition waits until the configuration has been reconciled and returns its
// Ready condition and the condition of the failed check.
func waitReady(t *testing.T, ns, name string, want metav1.ConditionStatus) *metav1.Condition {
	t.Helper()
	var got *metav1.Condition
	require.Eventually(t, func() bool {
		var bc troveapi.BackupConfiguration
		if err := c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: name}, &bc); err != nil {
			return false
		}
		got = meta.FindStatusCondition(bc.Status.Conditions, troveapi.ConditionReady)
		return got != nil && got.Status == want
	}, 20*time.Second, 50*time.Millisecond, "Ready never became %s (last: %+v)", want, got)
	return got
}

func TestValidationChain(t *testing.T) {
	goodS3 := map[string]string{"RESTIC_PASSWORD": "pw", "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "key"}
	for _, tc := range []struct {
		name        string
		setup       func(ns, other string) []ctrl.Object
		repoNS      func(ns, other string) string
		wantReason  string
		wantMessage string
	}{
		{"repository missing", func(ns, _ string) []ctrl.Object { return []ctrl.Object{deployment(ns, "app")} },
			nil, troveapi.ReasonRepositoryNotFound, "does not exist: create it"},
		{"repository of another namespace without policy", func(ns, other string) []ctrl.Object {
			return []ctrl.Object{repository(other, "repo", "s", nil), secret(other, "s", goodS3), deployment(ns, "app")}
		}, func(_, other string) string { return other }, troveapi.ReasonNamespaceNotAllowed, "admits only its own namespace"},
		{"repository selector does not match", func(ns, other string) []ctrl.Object {
			policy := &troveapi.UsagePolicy{AllowedNamespaces: troveapi.AllowedNamespaces{From: troveapi.NamespacesSelector,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"backup": "allowed"}}}}
			return []ctrl.Object{repository(other, "repo", "s", policy), secret(other, "s", goodS3), deployment(ns, "app")}
		}, func(_, other string) string { return other }, troveapi.ReasonNamespaceNotAllowed, "does not match"},
		{"storage secret missing", func(ns, _ string) []ctrl.Object {
			return []ctrl.Object{repository(ns, "repo", "s", nil), deployment(ns, "app")}
		}, nil, troveapi.ReasonSecretNotFound, "RESTIC_PASSWORD"},
		{"storage secret lacks the password", func(ns, _ string) []ctrl.Object {
			return []ctrl.Object{repository(ns, "repo", "s", nil), secret(ns, "s", map[string]string{"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "k"}), deployment(ns, "app")}
		}, nil, troveapi.ReasonSecretKeyMissing, "lacks the key(s) RESTIC_PASSWORD"},
		{"storage secret has half an S3 key pair", func(ns, _ string) []ctrl.Object {
			return []ctrl.Object{repository(ns, "repo", "s", nil), secret(ns, "s", map[string]string{"RESTIC_PASSWORD": "p", "AWS_ACCESS_KEY_ID": "id"}), deployment(ns, "app")}
		}, nil, troveapi.ReasonSecretKeyMissing, "AWS_SECRET_ACCESS_KEY"},
		{"target missing", func(ns, _ string) []ctrl.Object {
			return []ctrl.Object{repository(ns, "repo", "s", nil), secret(ns, "s", goodS3)}
		}, nil, troveapi.ReasonTargetNotFound, "Pod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t, nil)
			other := namespace(t, nil)
			create(t, tc.setup(ns, other)...)
			repoNS := ""
			if tc.repoNS != nil {
				repoNS = tc.repoNS(ns, other)
			}
			create(t, config(ns, "bc", repoNS))
			ready := waitReady(t, ns, "bc", metav1.ConditionFalse)
			assert.Equal(t, tc.wantReason, ready.Reason)
			assert.Contains(t, ready.Message, tc.wantMessage)
		})
	}
}

func TestValidConfigurationBecomesReadyAndFollowsFixes(t *testing.T) {
	ns := namespace(t, map[string]string{"backup": "allowed"})
	shared := namespace(t, nil)
	policy := &troveapi.UsagePolicy{AllowedNamespaces: troveapi.AllowedNamespaces{From: troveapi.NamespacesSelector,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"backup": "allowed"}}}}
	create(t, repository(shared, "repo", "s", policy), deployment(ns, "app"), config(ns, "bc", shared))
	assert.Equal(t, troveapi.ReasonSecretNotFound, waitReady(t, ns, "bc", metav1.ConditionFalse).Reason)

	// Creating the Secret fixes it without touching the configuration.
	create(t, secret(shared, "s", map[string]string{"RESTIC_PASSWORD": "pw"}))
	waitReady(t, ns, "bc", metav1.ConditionTrue)
}

func TestTaskChecks(t *testing.T) {
	ns := namespace(t, nil)
	task := &troveapi.Task{ObjectMeta: metav1.ObjectMeta{Name: "t-" + ns}, Spec: troveapi.TaskSpec{Steps: []troveapi.FunctionRef{{Name: "fn-" + ns}}}}
	create(t, repository(ns, "repo", "s", nil), secret(ns, "s", map[string]string{"RESTIC_PASSWORD": "pw"}),
		config(ns, "bc", "", func(bc *troveapi.BackupConfiguration) {
			bc.Spec.Target = nil
			bc.Spec.Task = &troveapi.TaskRef{Name: task.Name}
		}))
	ready := waitReady(t, ns, "bc", metav1.ConditionFalse)
	assert.Equal(t, troveapi.ReasonTaskNotFound, ready.Reason)

	create(t, task) // the Task alone is not enough: its Function is missing
	require.Eventually(t, func() bool {
		var bc troveapi.BackupConfiguration
		require.NoError(t, c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "bc"}, &bc))
		ready := meta.FindStatusCondition(bc.Status.Conditions, troveapi.ConditionReady)
		return ready != nil && ready.Reason == troveapi.ReasonFunctionNotFound && ready.Status == metav1.ConditionFalse
	}, 20*time.Second, 100*time.Millisecond)

	create(t, &troveapi.Function{ObjectMeta: metav1.ObjectMeta{Name: "fn-" + ns}, Spec: troveapi.FunctionSpec{Image: "trove.dev/trove:dev"}})
	waitReady(t, ns, "bc", metav1.ConditionTrue)
}

// TestDefaultTaskOfAnAppBinding: a configuration of an AppBinding that names no Task
// is Ready only once the AppBinding's default Task (and its Functions) exist.
func TestDefaultTaskOfAnAppBinding(t *testing.T) {
	ns := namespace(t, nil)
	ab := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "appcatalog.appscode.com/v1alpha1", "kind": "AppBinding",
		"metadata": map[string]any{"namespace": ns, "name": "cache"},
		"spec": map[string]any{"type": "kubedb.com/redis", "version": "7.2.4",
			"clientConfig": map[string]any{"url": "redis://cache." + ns + ".svc:6379"}},
	}}
	create(t, ab, repository(ns, "repo", "s", nil), secret(ns, "s", map[string]string{"RESTIC_PASSWORD": "pw"}),
		config(ns, "bc", "", func(bc *troveapi.BackupConfiguration) {
			bc.Spec.Target = &troveapi.BackupTarget{Ref: troveapi.TargetRef{APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: troveapi.KindAppBinding, Name: "cache"}}
		}))
	ready := waitReady(t, ns, "bc", metav1.ConditionFalse)
	assert.Equal(t, troveapi.ReasonTaskNotFound, ready.Reason)
	assert.Contains(t, ready.Message, `the default Task "redis-backup-7" of AppBinding cache (kubedb.com/redis 7.2.4) does not exist`)

	create(t,
		&troveapi.Function{ObjectMeta: metav1.ObjectMeta{Name: "redis-backup-7"}, Spec: troveapi.FunctionSpec{Image: "trove.dev/trove-redis:dev"}},
		&troveapi.Task{ObjectMeta: metav1.ObjectMeta{Name: "redis-backup-7"}, Spec: troveapi.TaskSpec{Steps: []troveapi.FunctionRef{{Name: "redis-backup-7"}}}})
	waitReady(t, ns, "bc", metav1.ConditionTrue)
}

func TestScheduleCreatesOneSessionPerTick(t *testing.T) {
	ns := namespace(t, nil)
	create(t, repository(ns, "repo", "s", nil), secret(ns, "s", map[string]string{"RESTIC_PASSWORD": "pw"}), deployment(ns, "app"),
		config(ns, "hourly", ""),
		config(ns, "paused", "", func(bc *troveapi.BackupConfiguration) { bc.Spec.Paused = true }))
	waitReady(t, ns, "hourly", metav1.ConditionTrue)
	waitReady(t, ns, "paused", metav1.ConditionTrue)

	// The configurations were created "now"; move the clock past the next hour.
	var bc troveapi.BackupConfiguration
	require.NoError(t, c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "hourly"}, &bc))
	tick := bc.CreationTimestamp.Truncate(time.Hour).Add(time.Hour)
	clock.Set(tick.Add(10 * time.Second))
	poke(t, ns, "hourly")
	poke(t, ns, "paused")

	want := schedule.SessionName("hourly", tick)
	require.Eventually(t, func() bool { return len(sessions(t, ns)) == 1 }, 20*time.Second, 50*time.Millisecond)
	got := sessions(t, ns)[0]
	assert.Equal(t, want, got.Name)
	assert.Equal(t, "hourly", got.Spec.Invoker.Name)
	assert.Equal(t, "hourly", got.Labels[troveapi.LabelConfiguration])

	// More reconciles of the same tick (or a restarted controller) add nothing.
	for i := 0; i < 3; i++ {
		poke(t, ns, "hourly")
	}
	require.NoError(t, c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "hourly"}, &bc))
	assert.Never(t, func() bool { return len(sessions(t, ns)) != 1 }, 2*time.Second, 100*time.Millisecond)
	require.NoError(t, c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "hourly"}, &bc))
	require.NotNil(t, bc.Status.LastScheduleTime)
	assert.Equal(t, tick.Unix(), bc.Status.LastScheduleTime.Unix())
	assert.Equal(t, tick.Add(time.Hour).Unix(), bc.Status.NextScheduleTime.Unix())
}

func TestHistoryLimitPrunesOldFinishedSessions(t *testing.T) {
	ns := namespace(t, nil)
	create(t, repository(ns, "repo", "s", nil), secret(ns, "s", map[string]string{"RESTIC_PASSWORD": "pw"}), deployment(ns, "app"))
	bc := config(ns, "bc", "", func(bc *troveapi.BackupConfiguration) {
		bc.Spec.Paused = true
		bc.Spec.BackupHistoryLimit = ptr.To[int32](2)
	})
	create(t, bc)
	for i := 0; i < 5; i++ {
		s := backupconfiguration.NewSession(bc, fmt.Sprintf("bc-%d", i))
		s.OwnerReferences = nil
		create(t, s)
		s.Status.Phase = troveapi.SessionSucceeded
		if i == 4 {
			s.Status.Phase = troveapi.SessionRunning // unfinished sessions are never pruned
		}
		s.Status.CompletionTime = &metav1.Time{Time: time.Now()}
		require.NoError(t, c.Status().Update(context.Background(), s))
		time.Sleep(1100 * time.Millisecond) // distinct creation timestamps (1 s resolution)
	}
	poke(t, ns, "bc")
	require.Eventually(t, func() bool {
		names := map[string]bool{}
		for _, s := range sessions(t, ns) {
			names[s.Name] = true
		}
		return len(names) == 3 && names["bc-4"] && names["bc-3"] && names["bc-2"]
	}, 20*time.Second, 100*time.Millisecond)
}

// poke makes the controller reconcile a configuration now.
func poke(t *testing.T, ns, name string) {
	t.Helper()
	bc := &troveapi.BackupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"test/poke":%q}}}`, time.Now().Format(time.RFC3339Nano))
	require.NoError(t, c.Patch(context.Background(), bc, ctrl.RawPatch(types.MergePatchType, []byte(patch))))
}

func sessions(t *testing.T, ns string) []troveapi.BackupSession {
	t.Helper()
	var list troveapi.BackupSessionList
	require.NoError(t, c.List(context.Background(), &list, ctrl.InNamespace(ns)))
	return list.Items
}
