package backupsession_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/backupsession"
	"trove.dev/trove/controller/credentials"
	"trove.dev/trove/controller/exposure"
	"trove.dev/trove/controller/hooks"
	"trove.dev/trove/csi/expose"
	"trove.dev/trove/test/controlplane"
)

const troveNamespace = controlplane.TroveNamespace

var (
	c     ctrl.Client
	clock = &controlplane.Clock{}
)

func TestMain(m *testing.M) {
	crds, err := controlplane.SnapshotCRDs()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := controlplane.RunWithManager(m, controlplane.Options{ExtraCRDDirs: []string{crds}}, func(mgr manager.Manager, cp *controlplane.ControlPlane) error {
		c = cp.Client
		return (&backupsession.Reconciler{
			Client:      mgr.GetClient(),
			APIReader:   mgr.GetAPIReader(),
			Credentials: &credentials.Store{Client: mgr.GetClient(), Secrets: mgr.GetAPIReader(), Namespace: troveNamespace},
			Recorder:    mgr.GetEventRecorder("trove-controller"),
			Now:         clock.Now,
			PodWait:     3 * time.Second,
			Hooks:       &hooks.Runner{Config: cp.Config},
			Exposures: &exposure.Exposures{
				// Snapshot and holder waits are measured against API timestamps: wall clock.
				Exposer: &expose.Exposer{Client: mgr.GetClient()},
				Holder:  expose.Holder{Image: holderImage, Command: []string{"/usr/local/bin/trove", "hold"}},
				PodWait: 3 * time.Second,
			},
		}).SetupWithManager(mgr, 2)
	})
	os.RemoveAll(crds)
	os.Exit(code)
}

const holderImage = "trove.dev/trove:test"

// fixture is a namespace with a Repository, its Secret and a paused configuration
// whose target is given.
func fixture(t *testing.T, ref troveapi.TargetRef, mutate ...func(*troveapi.BackupConfiguration)) (ns string) {
	t.Helper()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bs-"}}
	require.NoError(t, c.Create(context.Background(), nsObj))
	ns = nsObj.Name
	bc := &troveapi.BackupConfiguration{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bc"},
		Spec: troveapi.BackupConfigurationSpec{
			Paused:     true,
			Repository: troveapi.ObjectRef{Name: "repo"},
			Target:     &troveapi.BackupTarget{Ref: ref, Paths: []string{"/data"}},
		},
	}
	for _, m := range mutate {
		m(bc)
	}
	create(t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "repo-secret"}, StringData: map[string]string{"RESTIC_PASSWORD": "s3cr3t"}},
		&troveapi.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "repo"}, Spec: troveapi.RepositorySpec{Backend: troveapi.Backend{
			StorageSecretName: "repo-secret", Local: &troveapi.LocalSpec{MountPath: "/repo", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/repo"}}}}}},
		bc)
	return ns
}

func create(t *testing.T, objs ...ctrl.Object) {
	t.Helper()
	for _, o := range objs {
		require.NoError(t, c.Create(context.Background(), o), "%T %s", o, o.GetName())
	}
}

// runningPod creates a pod with a /data emptyDir, Running on node.
func runningPod(t *testing.T, ns, name, node string, labels map[string]string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "app", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	create(t, p)
	p.Status.Phase = corev1.PodRunning
	require.NoError(t, c.Status().Update(context.Background(), p))
	return p
}

func statefulSet(t *testing.T, ns, name string, replicas int) {
	t.Helper()
	labels := map[string]string{"app": name}
	create(t, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To(int32(replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}},
		},
	})
	for i := 0; i < replicas; i++ {
		runningPod(t, ns, fmt.Sprintf("%s-%d", name, i), fmt.Sprintf("node-%d", i%2), labels)
	}
}

func session(t *testing.T, ns, name string) *troveapi.BackupSession {
	t.Helper()
	s := &troveapi.BackupSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{troveapi.LabelConfiguration: "bc"}},
		Spec:       troveapi.BackupSessionSpec{Invoker: troveapi.Invoker{APIGroup: "trove.dev", Kind: "BackupConfiguration", Name: "bc"}},
	}
	create(t, s)
	return s
}

func items(t *testing.T, ns, sessionName string) []troveapi.VolumeBackup {
	t.Helper()
	var list troveapi.VolumeBackupList
	require.NoError(t, c.List(context.Background(), &list, ctrl.InNamespace(ns), ctrl.MatchingLabels{troveapi.LabelSession: sessionName}))
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items
}

func waitPhase(t *testing.T, ns, name string, want troveapi.SessionPhase) *troveapi.BackupSession {
	t.Helper()
	var s troveapi.BackupSession
	require.Eventually(t, func() bool {
		return c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: name}, &s) == nil && s.Status.Phase == want
	}, 20*time.Second, 50*time.Millisecond, "session never became %s: %+v", want, s.Status)
	return &s
}

// finishItem plays the agent's part: it reports an item's result.
func finishItem(t *testing.T, item troveapi.VolumeBackup, phase troveapi.WorkPhase, snapshot string) {
	t.Helper()
	start := metav1.NewTime(time.Now().Add(-3 * time.Second))
	end := metav1.Now()
	item.Status.Phase = phase
	item.Status.StartTime, item.Status.CompletionTime = &start, &end
	item.Status.Progress = troveapi.Progress{BytesDone: 1000, TotalBytes: 1000, FilesDone: 10, TotalFiles: 10, Percent: 100}
	if phase == troveapi.WorkSucceeded {
		item.Status.SnapshotID = snapshot
		item.Status.Stats = troveapi.SnapshotStats{Name: snapshot, Path: item.Spec.StablePath, TotalSize: "1000", Uploaded: "1000",
			FileStats: troveapi.FileStats{New: 10, Total: 10}}
	} else {
		item.Status.Reason, item.Status.Message = "WrongPassword", "the repository password is wrong"
	}
	require.NoError(t, c.Status().Update(context.Background(), &item))
}

func credentialsExist(t *testing.T, name string) bool {
	t.Helper()
	var s corev1.Secret
	err := c.Get(context.Background(), ctrl.ObjectKey{Namespace: troveNamespace, Name: name}, &s)
	if apierrors.IsNotFound(err) {
		return false
	}
	require.NoError(t, err)
	assert.Equal(t, "s3cr3t", string(s.Data["RESTIC_PASSWORD"]))
	return true
}

func TestStatefulSetSessionHandsOutOneItemPerOrdinalAndAggregates(t *testing.T) {
	ns := fixture(t, troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"})
	statefulSet(t, ns, "db", 3)
	session(t, ns, "instant-1")

	require.Eventually(t, func() bool { return len(items(t, ns, "instant-1")) == 3 }, 20*time.Second, 50*time.Millisecond)
	got := items(t, ns, "instant-1")
	for i, item := range got {
		assert.Equal(t, fmt.Sprintf("instant-1-host-%d-data", i), item.Name)
		assert.Equal(t, fmt.Sprintf("host-%d", i), item.Spec.Hostname)
		assert.Equal(t, fmt.Sprintf("db-%d", i), item.Spec.Source.Pod.Name)
		assert.Equal(t, fmt.Sprintf("node-%d", i%2), item.Spec.NodeName, "the item runs on its pod's node")
		assert.Equal(t, "/trove/"+ns+"/statefulset-db/data", item.Spec.StablePath)
		assert.True(t, credentialsExist(t, item.Spec.CredentialsSecretName), "credentials handed out for %s", item.Name)
	}
	running := waitPhase(t, ns, "instant-1", troveapi.SessionRunning)
	assert.Equal(t, int32(3), running.Status.Targets[0].TotalHosts)

	for i, item := range got {
		finishItem(t, item, troveapi.WorkSucceeded, fmt.Sprintf("%08x", i+1))
	}
	done := waitPhase(t, ns, "instant-1", troveapi.SessionSucceeded)
	require.Len(t, done.Status.Targets, 1)
	assert.Equal(t, troveapi.HostSucceeded, done.Status.Targets[0].Phase)
	for i, host := range done.Status.Targets[0].Stats {
		assert.Equal(t, fmt.Sprintf("host-%d", i), host.Hostname)
		assert.Equal(t, troveapi.HostSucceeded, host.Phase)
		require.Len(t, host.Snapshots, 1)
		assert.Equal(t, fmt.Sprintf("%08x", i+1), host.Snapshots[0].Name)
		assert.Equal(t, int64(10), host.Snapshots[0].FileStats.New)
		assert.Equal(t, "3s", host.Duration)
	}
	assert.Equal(t, int64(3000), done.Status.Progress.BytesDone)
	assert.Equal(t, int32(100), done.Status.Progress.Percent)
	assert.NotEmpty(t, done.Status.SessionDuration)
	cond := meta.FindStatusCondition(done.Status.Conditions, troveapi.ConditionBackupSucceeded)
	require.NotNil(t, cond)
	assert.Equal(t, metav1.ConditionTrue, cond.Status)
	for _, item := range got {
		require.Eventually(t, func() bool { return !credentialsExist(t, item.Spec.CredentialsSecretName) }, 10*time.Second, 50*time.Millisecond,
			"credentials of a finished item are removed")
	}
}

func TestFailedItemFailsItsHostAndTheSession(t *testing.T) {
	ns := fixture(t, troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"})
	statefulSet(t, ns, "db", 2)
	session(t, ns, "s")
	require.Eventually(t, func() bool { return len(items(t, ns, "s")) == 2 }, 20*time.Second, 50*time.Millisecond)
	got := items(t, ns, "s")
	finishItem(t, got[0], troveapi.WorkSucceeded, "aaaaaaaa")
	finishItem(t, got[1], troveapi.WorkFailed, "")

	done := waitPhase(t, ns, "s", troveapi.SessionFailed)
	cond := meta.FindStatusCondition(done.Status.Conditions, troveapi.ConditionBackupSucceeded)
	require.NotNil(t, cond)
	assert.Contains(t, cond.Message, "host-1")
	assert.Contains(t, cond.Message, "the repository password is wrong")
	assert.Equal(t, troveapi.HostSucceeded, done.Status.Targets[0].Stats[0].Phase)
	assert.Equal(t, troveapi.HostFailed, done.Status.Targets[0].Stats[1].Phase)
}

func TestDeploymentIsOneHostAndPVCIsReadFromItsPod(t *testing.T) {
	ns := fixture(t, troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindDeployment, Name: "web"})
	labels := map[string]string{"app": "web"}
	create(t, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}},
	})
	runningPod(t, ns, "web-b", "node-1", labels)
	runningPod(t, ns, "web-a", "node-2", labels)
	runningPod(t, ns, "unrelated", "node-1", map[string]string{"app": "other"})
	session(t, ns, "s")
	require.Eventually(t, func() bool { return len(items(t, ns, "s")) == 1 }, 20*time.Second, 50*time.Millisecond)
	item := items(t, ns, "s")[0]
	assert.Equal(t, "web-a", item.Spec.Source.Pod.Name)
	assert.Equal(t, "node-2", item.Spec.NodeName)
	assert.Never(t, func() bool { return len(items(t, ns, "s")) != 1 }, time.Second, 100*time.Millisecond)

	// A PVC target is read from the running pod that mounts it, on that pod's node.
	pvcNS := fixture(t, troveapi.TargetRef{APIVersion: "v1", Kind: troveapi.KindPVC, Name: "data"}, func(bc *troveapi.BackupConfiguration) {
		bc.Spec.Target.Paths = nil
	})
	user := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: pvcNS, Name: "user"},
		Spec: corev1.PodSpec{NodeName: "node-7", Containers: []corev1.Container{{Name: "app", Image: "busybox"}},
			Volumes: []corev1.Volume{{Name: "store", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}},
	}
	create(t, claim(pvcNS, "data", ""), user)
	user.Status.Phase = corev1.PodRunning
	require.NoError(t, c.Status().Update(context.Background(), user))
	session(t, pvcNS, "s")
	require.Eventually(t, func() bool { return len(items(t, pvcNS, "s")) == 1 }, 20*time.Second, 50*time.Millisecond)
	pvcItem := items(t, pvcNS, "s")[0]
	assert.Equal(t, "node-7", pvcItem.Spec.NodeName)
	assert.Equal(t, "store", pvcItem.Spec.Source.VolumeName)
	assert.Equal(t, "/trove/"+pvcNS+"/pvc-data/data", pvcItem.Spec.StablePath, "a PVC target's data is named after the claim, whichever pod mounts it")
}

func TestSessionWhileAnotherRunsIsSkipped(t *testing.T) {
	ns := fixture(t, troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"})
	statefulSet(t, ns, "db", 1)
	session(t, ns, "first")
	waitPhase(t, ns, "first", troveapi.SessionRunning)
	session(t, ns, "second")
	skipped := waitPhase(t, ns, "second", troveapi.SessionSkipped)
	cond := meta.FindStatusCondition(skipped.Status.Conditions, troveapi.ConditionBackupSucceeded)
	require.NotNil(t, cond)
	assert.Equal(t, troveapi.ReasonPreviousStillRunning, cond.Reason)
	assert.Empty(t, items(t, ns, "second"))
}

func TestTargetWithoutRunningPodsFailsAfterTheWait(t *testing.T) {
	ns := fixture(t, troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"})
	statefulSet(t, ns, "db", 0)
	session(t, ns, "s")
	failed := waitPhase(t, ns, "s", troveapi.SessionFailed)
	cond := meta.FindStatusCondition(failed.Status.Conditions, troveapi.ConditionBackupSucceeded)
	require.NotNil(t, cond)
	assert.Equal(t, troveapi.ReasonTargetNotFound, cond.Reason)
	assert.Contains(t, cond.Message, "no Running pod")
}

func TestTimeOutCancelsItemsAndFailsTheSession(t *testing.T) {
	ns := fixture(t, troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"}, func(bc *troveapi.BackupConfiguration) {
		bc.Spec.TimeOut = &metav1.Duration{Duration: time.Hour}
	})
	statefulSet(t, ns, "db", 1)
	session(t, ns, "s")
	require.Eventually(t, func() bool { return len(items(t, ns, "s")) == 1 }, 20*time.Second, 50*time.Millisecond)
	running := waitPhase(t, ns, "s", troveapi.SessionRunning)
	require.NotNil(t, running.Status.SessionDeadline)

	clock.Skip(2 * time.Hour)
	defer clock.Skip(-2 * time.Hour)
	item := items(t, ns, "s")[0]
	item.Status.Phase = troveapi.WorkRunning // an update makes the controller look again
	require.NoError(t, c.Status().Update(context.Background(), &item))

	failed := waitPhase(t, ns, "s", troveapi.SessionFailed)
	cond := meta.FindStatusCondition(failed.Status.Conditions, troveapi.ConditionBackupSucceeded)
	require.NotNil(t, cond)
	assert.Equal(t, troveapi.ReasonTimedOut, cond.Reason)
	assert.True(t, items(t, ns, "s")[0].Spec.Cancel, "the running item is asked to stop")
}

func TestFailedSessionIsRetriedAfterTheDelay(t *testing.T) {
	ns := fixture(t, troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"}, func(bc *troveapi.BackupConfiguration) {
		bc.Spec.RetryConfig = &troveapi.RetryConfig{MaxRetry: 1, Delay: metav1.Duration{Duration: 2 * time.Second}}
	})
	statefulSet(t, ns, "db", 1)
	s := session(t, ns, "s")
	s.Spec.RetryLeft = 1
	require.NoError(t, c.Update(context.Background(), s))
	require.Eventually(t, func() bool { return len(items(t, ns, "s")) == 1 }, 20*time.Second, 50*time.Millisecond)
	failedAt := time.Now()
	finishItem(t, items(t, ns, "s")[0], troveapi.WorkFailed, "")
	waitPhase(t, ns, "s", troveapi.SessionFailed)

	require.Eventually(t, func() bool { return len(items(t, ns, "s-retry-1")) == 1 }, 20*time.Second, 50*time.Millisecond)
	var got troveapi.BackupSession
	require.NoError(t, c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "s-retry-1"}, &got))
	assert.Equal(t, int32(0), got.Spec.RetryLeft)
	assert.GreaterOrEqual(t, got.CreationTimestamp.Sub(failedAt), time.Second, "the retry waits for the delay")

	finishItem(t, items(t, ns, "s-retry-1")[0], troveapi.WorkFailed, "")
	waitPhase(t, ns, "s-retry-1", troveapi.SessionFailed)
	assert.Never(t, func() bool {
		var list troveapi.BackupSessionList
		require.NoError(t, c.List(context.Background(), &list, ctrl.InNamespace(ns)))
		return len(list.Items) > 2
	}, 3*time.Second, 200*time.Millisecond, "no retries are left")
}

// TestHTTPHooksRunAroundTheBackup: the pods' IP is this machine's loopback, where a
// real HTTP server answers the hooks.
func TestHTTPHooksRunAroundTheBackup(t *testing.T) {
	var calls []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/refuse" {
			http.Error(w, "database is busy", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	port, err := strconv.Atoi(srv.URL[strings.LastIndexByte(srv.URL, ':')+1:])
	require.NoError(t, err)
	hook := func(path string) *troveapi.HookHandler {
		return &troveapi.HookHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt(port)}}
	}
	loopbackPods := func(ns string) {
		var pods corev1.PodList
		require.NoError(t, c.List(context.Background(), &pods, ctrl.InNamespace(ns)))
		for _, p := range pods.Items {
			p.Status.PodIP = "127.0.0.1"
			require.NoError(t, c.Status().Update(context.Background(), &p))
		}
	}

	ns := fixture(t, troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"}, func(bc *troveapi.BackupConfiguration) {
		bc.Spec.Hooks = &troveapi.BackupHooks{PreBackup: hook("/pre"),
			PostBackup: &troveapi.PostHook{HookHandler: *hook("/post"), ExecutionPolicy: troveapi.HookOnSuccess}}
	})
	statefulSet(t, ns, "db", 2)
	loopbackPods(ns)
	session(t, ns, "s")
	require.Eventually(t, func() bool { return len(items(t, ns, "s")) == 2 }, 20*time.Second, 50*time.Millisecond)
	mu.Lock()
	assert.Equal(t, []string{"/pre", "/pre"}, calls, "the preBackup hook ran in each pod before items were handed out")
	mu.Unlock()
	for _, it := range items(t, ns, "s") {
		finishItem(t, it, troveapi.WorkSucceeded, "abcdef12")
	}
	done := waitPhase(t, ns, "s", troveapi.SessionSucceeded)
	assert.NotNil(t, done.Status.StartTime, "claiming a hook keeps what the pass had set")
	mu.Lock()
	assert.Equal(t, []string{"/pre", "/pre", "/post", "/post"}, calls)
	mu.Unlock()
	assert.Equal(t, metav1.ConditionTrue, meta.FindStatusCondition(done.Status.Conditions, troveapi.ConditionHooksSucceeded).Status)

	refused := fixture(t, troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"}, func(bc *troveapi.BackupConfiguration) {
		bc.Spec.Hooks = &troveapi.BackupHooks{PreBackup: hook("/refuse")}
	})
	statefulSet(t, refused, "db", 1)
	loopbackPods(refused)
	session(t, refused, "s")
	failed := waitPhase(t, refused, "s", troveapi.SessionFailed)
	cond := meta.FindStatusCondition(failed.Status.Conditions, troveapi.ConditionBackupSucceeded)
	require.NotNil(t, cond)
	assert.Equal(t, troveapi.ReasonHookFailed, cond.Reason)
	assert.Contains(t, cond.Message, "database is busy")
	assert.NotNil(t, failed.Status.StartTime)
	assert.NotEmpty(t, failed.Status.SessionDuration)
	assert.Empty(t, items(t, refused, "s"), "nothing is backed up when the preBackup hook fails")
}
