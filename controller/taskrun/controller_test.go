package taskrun_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/backupsession"
	"trove.dev/trove/controller/credentials"
	"trove.dev/trove/controller/restoresession"
	"trove.dev/trove/test/controlplane"
)

var cp *controlplane.ControlPlane

// TestMain starts one control plane with Trove's CRDs, the optional AppBinding CRD
// and the default Functions and Tasks of deploy/functions. Each test runs its own
// manager, so a test can restart the controller.
func TestMain(m *testing.M) {
	logf.SetLogger(logr.Discard())
	var err error
	cp, err = controlplane.Start(controlplane.Options{ExtraCRDDirs: []string{filepath.Join(controlplane.RepoRoot(), "deploy", "optional")}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	err = cp.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controlplane.TroveNamespace}})
	if err == nil {
		err = installDefaults()
	}
	code := 1
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	_ = cp.Stop()
	os.Exit(code)
}

func installDefaults() error {
	files, err := filepath.Glob(filepath.Join(controlplane.RepoRoot(), "deploy", "functions", "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if err := cp.Client.Create(context.Background(), u); err != nil {
				return fmt.Errorf("%s: %s %s: %w", f, u.GetKind(), u.GetName(), err)
			}
		}
	}
	return nil
}

// startController runs the backup and restore session reconcilers in a new manager
// until the returned stop is called (or the test ends).
func startController(t *testing.T) (stop func()) {
	t.Helper()
	return startControllerAs(t, cp.Config)
}

// startControllerAs runs the controller with the given credentials.
func startControllerAs(t *testing.T, cfg *rest.Config) (stop func()) {
	t.Helper()
	mgr, err := manager.New(cfg, manager.Options{Scheme: controlplane.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}}) // one manager after another
	require.NoError(t, err)
	creds := &credentials.Store{Client: mgr.GetClient(), Secrets: mgr.GetAPIReader(), Namespace: controlplane.TroveNamespace}
	recorder := mgr.GetEventRecorder("trove-controller")
	require.NoError(t, (&backupsession.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Credentials: creds, Recorder: recorder, Now: time.Now}).SetupWithManager(mgr, 2))
	require.NoError(t, (&restoresession.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Credentials: creds, Recorder: recorder, Now: time.Now}).SetupWithManager(mgr, 2))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	var stopped bool
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func create(t *testing.T, objs ...ctrl.Object) {
	t.Helper()
	for _, o := range objs {
		require.NoError(t, cp.Client.Create(context.Background(), o), "%T %s", o, o.GetName())
	}
}

func namespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	create(t, ns)
	return ns.Name
}

// fixture: a namespace with a PostgreSQL AppBinding, a Repository in another namespace
// that admits every namespace, and a paused configuration backing up the AppBinding.
type fixture struct{ ns, repoNS string }

var appBindingRef = troveapi.TargetRef{APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: troveapi.KindAppBinding, Name: "pg"}

func newFixture(t *testing.T, task *troveapi.TaskRef) fixture {
	t.Helper()
	f := fixture{ns: namespace(t, "app-"), repoNS: namespace(t, "repos-")}
	ab := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "appcatalog.appscode.com/v1alpha1", "kind": "AppBinding",
		"metadata": map[string]any{"namespace": f.ns, "name": "pg"},
		"spec": map[string]any{
			"type": "kubedb.com/postgres", "version": "16.2",
			"clientConfig": map[string]any{"service": map[string]any{"name": "pg", "port": int64(5432), "scheme": "postgresql", "path": "app"}},
			"secret":       map[string]any{"name": "pg-auth"},
		},
	}}
	create(t, ab,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.repoNS, Name: "repo-secret"}, StringData: map[string]string{"RESTIC_PASSWORD": "s3cr3t"}},
		&troveapi.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: f.repoNS, Name: "repo"}, Spec: troveapi.RepositorySpec{
			Backend:     troveapi.Backend{StorageSecretName: "repo-secret", Rest: &troveapi.RestServerSpec{URL: "http://127.0.0.1:8000/"}},
			UsagePolicy: &troveapi.UsagePolicy{AllowedNamespaces: troveapi.AllowedNamespaces{From: troveapi.NamespacesAll}}}},
		&troveapi.BackupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "bc"}, Spec: troveapi.BackupConfigurationSpec{
			Paused:     true,
			Repository: troveapi.ObjectRef{Namespace: f.repoNS, Name: "repo"},
			Target:     &troveapi.BackupTarget{Ref: appBindingRef},
			Task:       task,
		}},
	)
	return f
}

func (f fixture) backupSession(t *testing.T, name string) {
	t.Helper()
	create(t, &troveapi.BackupSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name, Labels: map[string]string{troveapi.LabelConfiguration: "bc"}},
		Spec:       troveapi.BackupSessionSpec{Invoker: troveapi.Invoker{APIGroup: "trove.dev", Kind: "BackupConfiguration", Name: "bc"}},
	})
}

func waitJob(t *testing.T, ns, name string) *batchv1.Job {
	t.Helper()
	job := &batchv1.Job{}
	require.Eventually(t, func() bool {
		return cp.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, job) == nil
	}, 20*time.Second, 100*time.Millisecond, "Job %s/%s is never created", ns, name)
	return job
}

func jobsIn(t *testing.T, ns string) int {
	t.Helper()
	var jobs batchv1.JobList
	require.NoError(t, cp.Client.List(context.Background(), &jobs, ctrl.InNamespace(ns)))
	return len(jobs.Items)
}

func waitBackup(t *testing.T, ns, name string, phase troveapi.SessionPhase) *troveapi.BackupSession {
	t.Helper()
	s := &troveapi.BackupSession{}
	require.Eventually(t, func() bool {
		return cp.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, s) == nil && s.Status.Phase == phase
	}, 20*time.Second, 100*time.Millisecond, "BackupSession %s never %s: %+v", name, phase, &s.Status)
	return s
}

// complete marks a Job Complete through its status subresource (no kubelet runs it).
func complete(t *testing.T, job *batchv1.Job) {
	t.Helper()
	now := metav1.Now()
	job.Status = batchv1.JobStatus{StartTime: &now, CompletionTime: &now, Succeeded: 1, Conditions: []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
	}}
	require.NoError(t, cp.Client.Status().Update(context.Background(), job))
}

// fail gives a Job a pod whose data container terminated with message, and marks
// the Job Failed.
func fail(t *testing.T, job *batchv1.Job, message string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: job.Namespace, Name: job.Name + "-abcde", Labels: job.Spec.Template.Labels},
		Spec:       *job.Spec.Template.Spec.DeepCopy(),
	}
	create(t, pod)
	pod.Status.Phase = corev1.PodFailed
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: pod.Spec.InitContainers[0].Name, Image: pod.Spec.InitContainers[0].Image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: message}}}}
	require.NoError(t, cp.Client.Status().Update(context.Background(), pod))
	now := metav1.Now()
	job.Status = batchv1.JobStatus{StartTime: &now, Failed: 1, Conditions: []batchv1.JobCondition{
		{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
		{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
	}}
	require.NoError(t, cp.Client.Status().Update(context.Background(), job))
}

func rule(group, resource string, verbs []string, names ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, Verbs: verbs, ResourceNames: names}
}

var get, getPatch = []string{"get"}, []string{"get", "patch"}

func args(c corev1.Container) string { return strings.Join(c.Args, " ") }

// TestBackupOfAnAppBinding: the default Task of a PostgreSQL 16 AppBinding becomes a
// Job with the expected containers, volumes, ServiceAccount and named-only grants; the
// Job's completion ends the session Succeeded with the stats update-status wrote, and
// the Role in the Repository's namespace is removed.
func TestBackupOfAnAppBinding(t *testing.T) {
	startController(t)
	f := newFixture(t, nil) // no Task named: postgres + 16.2 → postgres-backup-16
	ctx := context.Background()
	bc := &troveapi.BackupConfiguration{}
	require.NoError(t, cp.Client.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "bc"}, bc))
	bc.Spec.RetentionPolicy = &troveapi.RetentionPolicy{Name: "keep-3", KeepLast: 3, Prune: true}
	require.NoError(t, cp.Client.Update(ctx, bc))
	start := time.Now()
	f.backupSession(t, "bs-1")
	job := waitJob(t, f.ns, "trove-backup-bs-1")
	t.Logf("BackupSession created → Job created: %v", time.Since(start).Round(time.Millisecond))
	waitBackup(t, f.ns, "bs-1", troveapi.SessionRunning)

	pod := job.Spec.Template.Spec
	require.Len(t, pod.InitContainers, 1)
	require.Len(t, pod.Containers, 1)
	data, status := pod.InitContainers[0], pod.Containers[0]
	assert.Equal(t, "postgres-backup-16", data.Name)
	assert.Equal(t, "trove.dev/trove-postgres:dev", data.Image)
	assert.Equal(t, "postgres-backup --namespace="+f.ns+" --app-binding=pg --repository=repo --repository-namespace="+f.repoNS+
		" --repository-secret=repo-secret --hostname=host-0 --backup-session=bs-1 --pg-args= --output-dir=/tmp/output"+
		" --enable-cache=true --max-connections=0 --nice= --ionice-class= --ionice-class-data=", args(data))
	assert.Equal(t, "update-status", status.Name)
	assert.Equal(t, "trove.dev/trove:dev", status.Image)
	assert.Equal(t, "update-status --namespace="+f.ns+" --backup-session=bs-1 --restore-session= --repository=repo --repository-namespace="+f.repoNS+
		" --output-dir=/tmp/output", args(status))
	for _, c := range []corev1.Container{data, status} {
		assert.Equal(t, []corev1.VolumeMount{{Name: "trove-output", MountPath: "/tmp/output"}}, c.VolumeMounts, c.Name)
	}
	require.Len(t, pod.Volumes, 1)
	assert.Equal(t, "trove-output", pod.Volumes[0].Name)
	assert.NotNil(t, pod.Volumes[0].EmptyDir)
	assert.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
	assert.Equal(t, "trove-backup-bs-1", pod.ServiceAccountName)
	require.Len(t, job.OwnerReferences, 1)
	assert.Equal(t, "BackupSession", job.OwnerReferences[0].Kind)

	sa := &corev1.ServiceAccount{}
	require.NoError(t, cp.Client.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "trove-backup-bs-1"}, sa))
	role := &rbacv1.Role{}
	require.NoError(t, cp.Client.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "trove-backup-bs-1"}, role))
	assert.ElementsMatch(t, []rbacv1.PolicyRule{
		rule("trove.dev", "backupsessions", get, "bs-1"),
		rule("trove.dev", "backupsessions/status", getPatch, "bs-1"),
		rule("appcatalog.appscode.com", "appbindings", get, "pg"),
		rule("", "secrets", get, "pg-auth"),
	}, role.Rules)
	binding := &rbacv1.RoleBinding{}
	require.NoError(t, cp.Client.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "trove-backup-bs-1"}, binding))
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "trove-backup-bs-1", Namespace: f.ns}}, binding.Subjects)
	foreign := "trove-backup-" + f.ns + "-bs-1"
	require.NoError(t, cp.Client.Get(ctx, types.NamespacedName{Namespace: f.repoNS, Name: foreign}, role))
	assert.ElementsMatch(t, []rbacv1.PolicyRule{
		rule("", "secrets", get, "repo-secret"),
		rule("trove.dev", "repositories", get, "repo"),
		rule("trove.dev", "repositories/status", getPatch, "repo"),
	}, role.Rules)
	require.NoError(t, cp.Client.Get(ctx, types.NamespacedName{Namespace: f.repoNS, Name: foreign}, binding))
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "trove-backup-bs-1", Namespace: f.ns}}, binding.Subjects)

	// update-status writes the host's stats; then the Job completes.
	s := waitBackup(t, f.ns, "bs-1", troveapi.SessionRunning)
	base := s.DeepCopy()
	s.Status.Targets = []troveapi.TargetStatus{{Ref: &appBindingRef, TotalHosts: 1, Phase: troveapi.HostSucceeded, Stats: []troveapi.HostBackupStats{{
		Hostname: "host-0", Phase: troveapi.HostSucceeded, Snapshots: []troveapi.SnapshotStats{{Name: "abcd1234", Path: "/postgres/app.sql", TotalSize: "12 MiB"}}}}}}
	require.NoError(t, cp.Client.Status().Patch(ctx, s, ctrl.MergeFrom(base)))
	// The Job's pod ran on node-a: the repository's maintenance goes to that node.
	jobPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: job.Name + "-x7k2p", Labels: job.Spec.Template.Labels},
		Spec: *job.Spec.Template.Spec.DeepCopy()}
	jobPod.Spec.NodeName = "node-a"
	create(t, jobPod)
	jobPod.Status.Phase = corev1.PodSucceeded
	require.NoError(t, cp.Client.Status().Update(ctx, jobPod))
	start = time.Now()
	complete(t, job)
	s = waitBackup(t, f.ns, "bs-1", troveapi.SessionSucceeded)
	t.Logf("Job Complete → BackupSession Succeeded: %v", time.Since(start).Round(time.Millisecond))
	c := meta.FindStatusCondition(s.Status.Conditions, troveapi.ConditionBackupSucceeded)
	require.NotNil(t, c)
	assert.Equal(t, "Job trove-backup-bs-1 completed", c.Message)
	require.Len(t, s.Status.Targets, 1)
	assert.Equal(t, "abcd1234", s.Status.Targets[0].Stats[0].Snapshots[0].Name, "update-status's stats are kept")
	assert.Eventually(t, func() bool {
		var roles rbacv1.RoleList
		var bindings rbacv1.RoleBindingList
		return cp.Client.List(ctx, &roles, ctrl.InNamespace(f.repoNS)) == nil && len(roles.Items) == 0 &&
			cp.Client.List(ctx, &bindings, ctrl.InNamespace(f.repoNS)) == nil && len(bindings.Items) == 0
	}, 10*time.Second, 100*time.Millisecond, "the Role and RoleBinding in the Repository's namespace outlive the session")
	assert.Equal(t, 1, jobsIn(t, f.ns))

	var ms troveapi.RepositoryMaintenanceList
	require.NoError(t, cp.Client.List(ctx, &ms, ctrl.InNamespace(f.repoNS)))
	require.Len(t, ms.Items, 1)
	m := ms.Items[0].Spec
	assert.Equal(t, "node-a", m.NodeName)
	assert.Equal(t, []troveapi.ForgetGroup{{Host: "host-0", Tags: []string{"trove.dev/namespace=" + f.ns, "trove.dev/target=AppBinding/pg"},
		Policy: *bc.Spec.RetentionPolicy}}, m.Forget)
	assert.True(t, m.Prune)
}

// TestBackupJobFails: a failed Job fails the session with its container's termination
// message, in the condition and the host's error.
func TestBackupJobFails(t *testing.T) {
	startController(t)
	f := newFixture(t, &troveapi.TaskRef{Name: "postgres-backup-16"})
	f.backupSession(t, "bs-1")
	job := waitJob(t, f.ns, "trove-backup-bs-1")
	fail(t, job, "pg_dump: error: connection to server at \"pg.app.svc\" (10.0.0.1), port 5432 failed: Connection refused")
	s := waitBackup(t, f.ns, "bs-1", troveapi.SessionFailed)
	c := meta.FindStatusCondition(s.Status.Conditions, troveapi.ConditionBackupSucceeded)
	require.NotNil(t, c)
	assert.Equal(t, "JobFailed", c.Reason)
	assert.Contains(t, c.Message, "Job trove-backup-bs-1 failed (BackoffLimitExceeded")
	assert.Contains(t, c.Message, "container postgres-backup-16: pg_dump: error: connection to server")
	require.Len(t, s.Status.Targets, 1)
	require.Len(t, s.Status.Targets[0].Stats, 1)
	assert.Equal(t, troveapi.HostFailed, s.Status.Targets[0].Stats[0].Phase)
	assert.Contains(t, s.Status.Targets[0].Stats[0].Error, "Connection refused")
}

// TestBuildErrorsFailTheSession: an unknown Function, a missing param and a missing
// Task fail the session with a condition naming them, and no Job is made.
func TestBuildErrorsFailTheSession(t *testing.T) {
	startController(t)
	create(t,
		&troveapi.Task{ObjectMeta: metav1.ObjectMeta{Name: "broken-task"}, Spec: troveapi.TaskSpec{Steps: []troveapi.FunctionRef{{Name: "no-such-function"}, {Name: "update-status"}}}},
		&troveapi.Function{ObjectMeta: metav1.ObjectMeta{Name: "needs-param"}, Spec: troveapi.FunctionSpec{Image: "busybox", Args: []string{"--level=${level}"}}},
		&troveapi.Task{ObjectMeta: metav1.ObjectMeta{Name: "needs-param-task"}, Spec: troveapi.TaskSpec{Steps: []troveapi.FunctionRef{{Name: "needs-param"}}}},
	)
	for _, tc := range []struct{ task, reason, message string }{
		{"broken-task", troveapi.ReasonFunctionNotFound, `task "broken-task": steps[0]: function "no-such-function" not found`},
		{"needs-param-task", troveapi.ReasonParamMissing, `function "needs-param": args[0]: missing param "level"`},
		{"no-such-task", troveapi.ReasonTaskNotFound, `Task "no-such-task" does not exist`},
	} {
		f := newFixture(t, &troveapi.TaskRef{Name: tc.task})
		f.backupSession(t, "bs-1")
		s := waitBackup(t, f.ns, "bs-1", troveapi.SessionFailed)
		c := meta.FindStatusCondition(s.Status.Conditions, troveapi.ConditionBackupSucceeded)
		require.NotNil(t, c)
		assert.Equal(t, tc.reason, c.Reason, tc.task)
		assert.Contains(t, c.Message, tc.message, tc.task)
		assert.Equal(t, 0, jobsIn(t, f.ns), tc.task)
	}
}

// TestControllerRestart: a new controller finds the Job the last one made, makes no
// second one, and finishes the session.
func TestControllerRestart(t *testing.T) {
	stop := startController(t)
	f := newFixture(t, nil)
	f.backupSession(t, "bs-1")
	job := waitJob(t, f.ns, "trove-backup-bs-1")
	waitBackup(t, f.ns, "bs-1", troveapi.SessionRunning)
	stop()
	startController(t)
	// The new controller reconciles the running session (at start) and sees its Job.
	assert.Never(t, func() bool { return jobsIn(t, f.ns) != 1 }, 3*time.Second, 200*time.Millisecond)
	complete(t, job)
	s := waitBackup(t, f.ns, "bs-1", troveapi.SessionSucceeded)
	c := meta.FindStatusCondition(s.Status.Conditions, troveapi.ConditionBackupSucceeded)
	require.NotNil(t, c)
	assert.Contains(t, c.Message, "no step wrote stats into this session")
	assert.Equal(t, 1, jobsIn(t, f.ns))
}

// TestRestoreOfAnAppBinding: a RestoreSession of an AppBinding runs the default restore
// Task as a Job, and ends with it.
func TestRestoreOfAnAppBinding(t *testing.T) {
	startController(t)
	f := newFixture(t, nil)
	ctx := context.Background()
	rs := &troveapi.RestoreSession{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "rs-1"}, Spec: troveapi.RestoreSessionSpec{
		Repository: troveapi.ObjectRef{Namespace: f.repoNS, Name: "repo"},
		Target:     &troveapi.RestoreTarget{Ref: &appBindingRef, Rules: []troveapi.RestoreRule{{SourceHost: "host-0", Snapshots: []string{"abcd1234"}}}},
	}}
	create(t, rs)
	job := waitJob(t, f.ns, "trove-restore-rs-1")
	pod := job.Spec.Template.Spec
	require.Len(t, pod.InitContainers, 1)
	assert.Equal(t, "postgres-restore-16", pod.InitContainers[0].Name)
	assert.Equal(t, "postgres-restore --namespace="+f.ns+" --app-binding=pg --repository=repo --repository-namespace="+f.repoNS+
		" --repository-secret=repo-secret --hostname=host-0 --restore-session=rs-1 --source-hostname=host-0 --snapshot=abcd1234 --pg-args="+
		" --output-dir=/tmp/output --enable-cache=true --max-connections=0 --nice= --ionice-class= --ionice-class-data=", args(pod.InitContainers[0]))
	assert.Equal(t, "update-status --namespace="+f.ns+" --backup-session= --restore-session=rs-1 --repository=repo --repository-namespace="+f.repoNS+
		" --output-dir=/tmp/output", args(pod.Containers[0]))
	role := &rbacv1.Role{}
	require.NoError(t, cp.Client.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "trove-restore-rs-1"}, role))
	assert.ElementsMatch(t, []rbacv1.PolicyRule{
		rule("trove.dev", "restoresessions", get, "rs-1"),
		rule("trove.dev", "restoresessions/status", getPatch, "rs-1"),
		rule("appcatalog.appscode.com", "appbindings", get, "pg"),
		rule("", "secrets", get, "pg-auth"),
	}, role.Rules)

	// update-status writes the host's stats, then the Job completes.
	require.Eventually(t, func() bool {
		return cp.Client.Get(ctx, ctrl.ObjectKeyFromObject(rs), rs) == nil && rs.Status.Phase == troveapi.SessionRunning
	}, 20*time.Second, 100*time.Millisecond)
	base := rs.DeepCopy()
	rs.Status.TotalHosts, rs.Status.Stats = 1, []troveapi.HostRestoreStats{{Hostname: "host-0", Phase: troveapi.HostSucceeded, Duration: "3s"}}
	require.NoError(t, cp.Client.Status().Patch(ctx, rs, ctrl.MergeFrom(base)))
	complete(t, job)
	require.Eventually(t, func() bool {
		return cp.Client.Get(ctx, ctrl.ObjectKeyFromObject(rs), rs) == nil && rs.Status.Phase == troveapi.SessionSucceeded
	}, 20*time.Second, 100*time.Millisecond, "%+v", &rs.Status)
	assert.Equal(t, "3s", rs.Status.Stats[0].Duration)
	var roles rbacv1.RoleList
	require.NoError(t, cp.Client.List(ctx, &roles, ctrl.InNamespace(f.repoNS)))
	assert.Empty(t, roles.Items, "the Role in the Repository's namespace outlives the session")
	assert.Equal(t, 1, jobsIn(t, f.ns))
}

// TestRestoreJobFails: a failed restore Job fails the session with the termination message.
func TestRestoreJobFails(t *testing.T) {
	startController(t)
	f := newFixture(t, nil)
	ctx := context.Background()
	rs := &troveapi.RestoreSession{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "rs-1"}, Spec: troveapi.RestoreSessionSpec{
		Repository: troveapi.ObjectRef{Namespace: f.repoNS, Name: "repo"},
		Task:       &troveapi.TaskRef{Name: "postgres-restore-16"},
		Target:     &troveapi.RestoreTarget{Ref: &appBindingRef},
	}}
	create(t, rs)
	job := waitJob(t, f.ns, "trove-restore-rs-1")
	fail(t, job, "restic: no snapshot of host host-0 in the repository")
	require.Eventually(t, func() bool {
		return cp.Client.Get(ctx, ctrl.ObjectKeyFromObject(rs), rs) == nil && rs.Status.Phase == troveapi.SessionFailed
	}, 20*time.Second, 100*time.Millisecond, "%+v", &rs.Status)
	c := meta.FindStatusCondition(rs.Status.Conditions, troveapi.ConditionRestoreSucceeded)
	require.NotNil(t, c)
	assert.Equal(t, "JobFailed", c.Reason)
	assert.Contains(t, c.Message, "container postgres-restore-16: restic: no snapshot of host host-0")
	require.Len(t, rs.Status.Stats, 1)
	assert.Equal(t, troveapi.HostFailed, rs.Status.Stats[0].Phase)
}

// TestDeletedSessionLeavesNoGrants: a session deleted while its Job runs takes its Role
// and RoleBinding in the Repository's namespace with it (those in its own namespace are
// owned by it and garbage-collected).
func TestDeletedSessionLeavesNoGrants(t *testing.T) {
	startController(t)
	f := newFixture(t, nil)
	ctx := context.Background()
	f.backupSession(t, "bs-1")
	waitJob(t, f.ns, "trove-backup-bs-1")
	foreign := types.NamespacedName{Namespace: f.repoNS, Name: "trove-backup-" + f.ns + "-bs-1"}
	require.NoError(t, cp.Client.Get(ctx, foreign, &rbacv1.Role{}))
	require.NoError(t, cp.Client.Get(ctx, foreign, &rbacv1.RoleBinding{}))
	s := &troveapi.BackupSession{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "bs-1"}}
	require.NoError(t, cp.Client.Delete(ctx, s))
	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(cp.Client.Get(ctx, foreign, &rbacv1.Role{})) &&
			apierrors.IsNotFound(cp.Client.Get(ctx, foreign, &rbacv1.RoleBinding{}))
	}, 10*time.Second, 100*time.Millisecond, "the grants in the Repository's namespace outlive the deleted session")
}

// TestJobOfAnEarlierSessionIsNotAdopted: a Job left by a deleted session of the same
// name is waited out, not taken for this session's.
func TestJobOfAnEarlierSessionIsNotAdopted(t *testing.T) {
	startController(t)
	f := newFixture(t, nil)
	ctx := context.Background()
	stale := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "trove-backup-bs-1", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "trove.dev/v1alpha1", Kind: "BackupSession", Name: "bs-1", UID: "0e3f5f0a-0000-4000-8000-000000000000", Controller: ptr.To(true)}}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "old", Image: "busybox"}}}}},
	}
	create(t, stale)
	complete(t, stale) // an earlier session's Job that succeeded
	f.backupSession(t, "bs-1")
	s := waitBackup(t, f.ns, "bs-1", troveapi.SessionRunning)
	require.Eventually(t, func() bool {
		require.NoError(t, cp.Client.Get(ctx, ctrl.ObjectKeyFromObject(s), s))
		c := meta.FindStatusCondition(s.Status.Conditions, troveapi.ConditionBackupSucceeded)
		return c != nil && strings.Contains(c.Message, "waiting for Job trove-backup-bs-1 of an earlier BackupSession of this name to be deleted")
	}, 10*time.Second, 100*time.Millisecond)
	assert.Never(t, func() bool {
		return cp.Client.Get(ctx, ctrl.ObjectKeyFromObject(s), s) == nil && s.Status.Phase != troveapi.SessionRunning
	}, time.Second, 100*time.Millisecond, "the session took the earlier session's Job for its own")

	// The garbage collector (none runs here) would delete it; then the session makes its own.
	require.NoError(t, cp.Client.Delete(ctx, stale, ctrl.PropagationPolicy(metav1.DeletePropagationBackground)))
	job := &batchv1.Job{}
	require.Eventually(t, func() bool {
		return cp.Client.Get(ctx, ctrl.ObjectKeyFromObject(stale), job) == nil && metav1.IsControlledBy(job, s)
	}, 20*time.Second, 100*time.Millisecond, "the session never made its own Job")
	assert.Equal(t, "postgres-backup-16", job.Spec.Template.Spec.InitContainers[0].Name)
}

// TestControllerRBACSuffices runs the controller as its ServiceAccount with the
// ClusterRole generated into deploy/rbac (the API server enforces RBAC, including its
// rule that a Role can only grant what its creator holds): it must create the Job, the
// ServiceAccount and both Roles, and finish the session.
func TestControllerRBACSuffices(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), "deploy", "rbac", "controller", "role.yaml"))
	require.NoError(t, err)
	role := &rbacv1.ClusterRole{}
	require.NoError(t, yaml.Unmarshal(data, role))
	role.Name = "trove-controller-under-test"
	create(t, role, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "trove-controller", Namespace: controlplane.TroveNamespace}},
	})
	cfg := rest.CopyConfig(cp.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + controlplane.TroveNamespace + ":trove-controller"}
	asController, err := ctrl.New(cfg, ctrl.Options{Scheme: controlplane.Scheme()})
	require.NoError(t, err)
	// RBAC is enforced for this identity: it may not write Functions.
	err = asController.Create(ctx, &troveapi.Function{ObjectMeta: metav1.ObjectMeta{Name: "not-allowed"}, Spec: troveapi.FunctionSpec{Image: "busybox"}})
	require.True(t, apierrors.IsForbidden(err), "RBAC is not enforced: %v", err)

	startControllerAs(t, cfg)
	f := newFixture(t, nil)
	f.backupSession(t, "bs-1")
	job := waitJob(t, f.ns, "trove-backup-bs-1")
	require.NoError(t, cp.Client.Get(ctx, types.NamespacedName{Namespace: f.repoNS, Name: "trove-backup-" + f.ns + "-bs-1"}, &rbacv1.Role{}))
	require.NoError(t, cp.Client.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "trove-backup-bs-1"}, &rbacv1.Role{}))
	complete(t, job)
	waitBackup(t, f.ns, "bs-1", troveapi.SessionSucceeded)
	assert.Eventually(t, func() bool {
		return apierrors.IsNotFound(cp.Client.Get(ctx, types.NamespacedName{Namespace: f.repoNS, Name: "trove-backup-" + f.ns + "-bs-1"}, &rbacv1.Role{}))
	}, 10*time.Second, 100*time.Millisecond)
}
