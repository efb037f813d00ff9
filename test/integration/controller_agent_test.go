// Package integration runs Trove's two binaries, `trove controller` and `trove agent`,
// against a real kube-apiserver, with a kubelet-shaped directory tree standing in for
// the node's pod volumes (the real node is the e2e tier's), the real restic and a real
// repository on disk.
package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/mover"
	"trove.dev/trove/mover/restic"
	"trove.dev/trove/mover/trampoline"
	"trove.dev/trove/test/controlplane"
	"trove.dev/trove/test/fstree"
)

const (
	node     = "node-1"
	ns       = "shop"
	password = "integration-password"
)

func TestMain(m *testing.M) {
	trampoline.MaybeRun()
	if os.Geteuid() != 0 {
		fmt.Println("test/integration: skipped: the agent bind-mounts volumes and needs root")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type env struct {
	t          *testing.T
	c          ctrl.Client
	dir        string
	trove      string
	restic     string
	kubeconfig string
	kubelet    string
	repo       string
}

func setup(t *testing.T) *env {
	cp, err := controlplane.Start(controlplane.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cp.Stop() })
	e := &env{t: t, c: cp.Client, dir: t.TempDir()}
	e.kubelet, e.repo = filepath.Join(e.dir, "kubelet"), filepath.Join(e.dir, "repo")
	e.restic, err = controlplane.Binary("restic")
	require.NoError(t, err)
	e.trove = filepath.Join(e.dir, "trove")
	build := exec.Command("go", "build", "-o", e.trove, "./cmd/trove")
	build.Dir = controlplane.RepoRoot()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	e.kubeconfig = filepath.Join(e.dir, "kubeconfig")
	require.NoError(t, cp.WriteKubeconfig(e.kubeconfig))
	for _, o := range []ctrl.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controlplane.TroveNamespace}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "repo"}, StringData: map[string]string{"RESTIC_PASSWORD": password}},
		&troveapi.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "repo"}, Spec: troveapi.RepositorySpec{Backend: troveapi.Backend{
			StorageSecretName: "repo", Local: &troveapi.LocalSpec{MountPath: e.repo, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: e.repo}}}}}},
	} {
		require.NoError(t, e.c.Create(context.Background(), o))
	}
	return e
}

// start runs a trove subcommand against the control plane; it is killed at the end.
func (e *env) start(args ...string) *exec.Cmd {
	cmd := exec.Command(e.trove, append(args, "--metrics-bind-address=0", "--health-probe-bind-address=0")...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig, "POD_NAMESPACE="+controlplane.TroveNamespace)
	log, err := os.OpenFile(filepath.Join(e.dir, args[0]+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(e.t, err)
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(e.t, cmd.Start())
	e.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func (e *env) controller() *exec.Cmd { return e.start("controller", "--leader-elect=false") }
func (e *env) agent() *exec.Cmd {
	return e.start("agent", "--node-name="+node, "--kubelet-root="+e.kubelet, "--restic="+e.restic, "--cache-dir="+filepath.Join(e.dir, "cache"))
}

// statefulSet creates a StatefulSet and its Running pods with a "data" emptyDir at
// /data, filled with a generated tree in the kubelet-shaped directory.
func (e *env) statefulSet(name string, replicas int) {
	labels := map[string]string{"app": name}
	spec := corev1.PodSpec{NodeName: node,
		Containers: []corev1.Container{{Name: "app", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
		Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}
	require.NoError(e.t, e.c.Create(context.Background(), &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(int32(replicas)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}}}))
	for i := 0; i < replicas; i++ {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%d", name, i), Labels: labels}, Spec: spec}
		require.NoError(e.t, e.c.Create(context.Background(), p))
		p.Status.Phase = corev1.PodRunning
		require.NoError(e.t, e.c.Status().Update(context.Background(), p))
		vol := e.volume(p)
		require.NoError(e.t, os.MkdirAll(filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(vol))), "containers", "app"), 0o750))
		require.NoError(e.t, os.MkdirAll(vol, 0o777))
		opts := fstree.DefaultOptions()
		opts.Seed, opts.LargeFileMiB = int64(i+1), 24 // a few seconds of work each, throttled below
		require.NoError(e.t, fstree.Generate(vol, opts))
	}
}

func (e *env) volume(p *corev1.Pod) string {
	return filepath.Join(e.kubelet, "pods", string(p.UID), "volumes", "kubernetes.io~empty-dir", "data")
}

func (e *env) repoMover() mover.Mover {
	m, err := restic.New(restic.Config{Binary: e.restic, Backend: restic.BackendSpec{Local: &restic.LocalBackend{Path: e.repo}},
		Secret: map[string][]byte{"RESTIC_PASSWORD": []byte(password)}})
	require.NoError(e.t, err)
	return m
}

func (e *env) waitSession(name string, within time.Duration) *troveapi.BackupSession {
	var s troveapi.BackupSession
	require.Eventually(e.t, func() bool {
		require.NoError(e.t, e.c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: name}, &s))
		require.NotEqual(e.t, troveapi.SessionFailed, s.Status.Phase, "%+v", s.Status)
		return s.Status.Phase == troveapi.SessionSucceeded
	}, within, 100*time.Millisecond, "session %s: %+v", name, s.Status)
	return &s
}

// TestControllerKilledMidSessionAndRestoreRoundTrip: the controller dies (SIGKILL)
// while a StatefulSet's three hosts are being backed up; the restarted controller
// finishes the same session: one session, three items, one snapshot per host. Then a
// RestoreSession brings host-1's data back into a fresh copy of its volume.
func TestControllerKilledMidSessionAndRestoreRoundTrip(t *testing.T) {
	e := setup(t)
	e.statefulSet("db", 3)
	e.agent()
	first := e.controller()
	require.NoError(t, e.c.Create(context.Background(), &troveapi.BackupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
		Spec: troveapi.BackupConfigurationSpec{Paused: true, Repository: troveapi.ObjectRef{Name: "repo"},
			Target: &troveapi.BackupTarget{Ref: troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"}, Paths: []string{"/data"}},
			RuntimeSettings: &troveapi.RuntimeSettings{Container: &troveapi.ContainerRuntimeSettings{
				LimitUploadKiBps: 8192, Nice: &troveapi.NiceSettings{Adjustment: ptr.To[int32](10)}}}}}))
	require.NoError(t, e.c.Create(context.Background(), &troveapi.BackupSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "instant",
		Labels: map[string]string{troveapi.LabelConfiguration: "db"}},
		Spec: troveapi.BackupSessionSpec{Invoker: troveapi.Invoker{APIGroup: "trove.dev", Kind: "BackupConfiguration", Name: "db"}}}))

	// Kill the controller once the agent is working on the items.
	require.Eventually(t, func() bool {
		var items troveapi.VolumeBackupList
		require.NoError(t, e.c.List(context.Background(), &items, ctrl.InNamespace(ns)))
		for _, it := range items.Items {
			if it.Status.Phase == troveapi.WorkRunning {
				return true
			}
		}
		return false
	}, time.Minute, 50*time.Millisecond)
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	e.controller()

	done := e.waitSession("instant", 3*time.Minute)
	var sessions troveapi.BackupSessionList
	require.NoError(t, e.c.List(context.Background(), &sessions, ctrl.InNamespace(ns)))
	assert.Len(t, sessions.Items, 1, "one session")
	var items troveapi.VolumeBackupList
	require.NoError(t, e.c.List(context.Background(), &items, ctrl.InNamespace(ns)))
	assert.Len(t, items.Items, 3, "one item per host")
	require.Len(t, done.Status.Targets, 1)
	for i, host := range done.Status.Targets[0].Stats {
		assert.Equal(t, fmt.Sprintf("host-%d", i), host.Hostname)
		require.Len(t, host.Snapshots, 1)
		assert.Greater(t, host.Snapshots[0].FileStats.New, int64(100))
		snaps, err := e.repoMover().Snapshots(context.Background(), mover.SnapshotFilter{Host: host.Hostname})
		require.NoError(t, err)
		assert.Len(t, snaps, 1, "one snapshot for %s", host.Hostname)
	}

	// Restore host-1 into db-1 after its volume was wiped.
	var pod corev1.Pod
	require.NoError(t, e.c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "db-1"}, &pod))
	vol := e.volume(&pod)
	want, err := fstree.Manifest(vol, fstree.ManifestOptions{SkipRootMeta: true})
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(vol))
	require.NoError(t, os.MkdirAll(vol, 0o777))
	require.NoError(t, e.c.Create(context.Background(), &troveapi.RestoreSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "restore"},
		Spec: troveapi.RestoreSessionSpec{Repository: troveapi.ObjectRef{Name: "repo"}, Target: &troveapi.RestoreTarget{
			Ref: &troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindStatefulSet, Name: "db"}, Rules: []troveapi.RestoreRule{{TargetHosts: []string{"host-1"}}}}}}))
	var restore troveapi.RestoreSession
	require.Eventually(t, func() bool {
		require.NoError(t, e.c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "restore"}, &restore))
		require.NotEqual(t, troveapi.SessionFailed, restore.Status.Phase, "%+v", restore.Status)
		return restore.Status.Phase == troveapi.SessionSucceeded
	}, 2*time.Minute, 100*time.Millisecond)
	got, err := fstree.Manifest(vol, fstree.ManifestOptions{SkipRootMeta: true})
	require.NoError(t, err)
	assert.Empty(t, fstree.Diff(want, got), "host-1's volume is back, identical")
}

// runningPod creates a Running pod on the node with the given volumes, its kubelet
// directory, and returns it.
func (e *env) runningPod(name string, labels map[string]string, volumes ...corev1.Volume) *corev1.Pod {
	var mounts []corev1.VolumeMount
	for _, v := range volumes {
		mounts = append(mounts, corev1.VolumeMount{Name: v.Name, MountPath: "/" + v.Name})
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Spec: corev1.PodSpec{NodeName: node,
		Containers: []corev1.Container{{Name: "app", Image: "busybox", VolumeMounts: mounts}}, Volumes: volumes}}
	require.NoError(e.t, e.c.Create(context.Background(), p))
	p.Status.Phase = corev1.PodRunning
	require.NoError(e.t, e.c.Status().Update(context.Background(), p))
	require.NoError(e.t, os.MkdirAll(filepath.Join(e.kubelet, "pods", string(p.UID), "containers", "app"), 0o750))
	return p
}

// fill generates a tree in dir.
func (e *env) fill(dir string, seed int64) {
	require.NoError(e.t, os.MkdirAll(dir, 0o777))
	opts := fstree.DefaultOptions()
	opts.Seed = seed
	require.NoError(e.t, fstree.Generate(dir, opts))
}

func (e *env) config(name string, ref troveapi.TargetRef, mutate func(*troveapi.BackupConfigurationSpec)) {
	spec := troveapi.BackupConfigurationSpec{Paused: true, Repository: troveapi.ObjectRef{Name: "repo"}, Target: &troveapi.BackupTarget{Ref: ref}}
	if mutate != nil {
		mutate(&spec)
	}
	require.NoError(e.t, e.c.Create(context.Background(), &troveapi.BackupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}))
}

func (e *env) instant(config, name string) {
	require.NoError(e.t, e.c.Create(context.Background(), &troveapi.BackupSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
		Labels: map[string]string{troveapi.LabelConfiguration: config}},
		Spec: troveapi.BackupSessionSpec{Invoker: troveapi.Invoker{APIGroup: "trove.dev", Kind: "BackupConfiguration", Name: config}}}))
}

func (e *env) sessionsOf(config string) []troveapi.BackupSession {
	var list troveapi.BackupSessionList
	require.NoError(e.t, e.c.List(context.Background(), &list, ctrl.InNamespace(ns), ctrl.MatchingLabels{troveapi.LabelConfiguration: config}))
	return list.Items
}

// TestDeploymentScheduledPVCsAndInvalidConfigurations: a Deployment backed up on a
// schedule, a PVC mounted by a pod and a PVC no pod mounts backed up instantly (the
// latter through a holder pod the test plays the kubelet for), a paused configuration
// that never runs, and an invalid one that says what is wrong.
func TestDeploymentScheduledPVCsAndInvalidConfigurations(t *testing.T) {
	e := setup(t)
	e.agent()
	e.start("controller", "--leader-elect=false", "--holder-image=trove.dev/trove:test")

	// A Deployment with an emptyDir, scheduled every minute.
	labels := map[string]string{"app": "web"}
	require.NoError(t, e.c.Create(context.Background(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}}}))
	web := e.runningPod("web-1", labels, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	e.fill(e.volume(web), 7)
	e.config("web", troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindDeployment, Name: "web"}, func(s *troveapi.BackupConfigurationSpec) {
		s.Paused, s.Schedule = false, "@every 1m"
	})

	// A PVC on a local PV, mounted by a pod.
	local := func(claim string) {
		require.NoError(t, e.c.Create(context.Background(), &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-" + claim},
			Spec: corev1.PersistentVolumeSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/" + claim}},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
				}}}}}}))
		require.NoError(t, e.c.Create(context.Background(), &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: claim},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, VolumeName: "pv-" + claim,
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}))
	}
	local("store")
	user := e.runningPod("user", nil, corev1.Volume{Name: "files", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "store"}}})
	e.fill(filepath.Join(e.kubelet, "pods", string(user.UID), "volumes", "kubernetes.io~local-volume", "pv-store"), 8)
	e.config("store", troveapi.TargetRef{APIVersion: "v1", Kind: troveapi.KindPVC, Name: "store"}, nil)
	e.instant("store", "store-1")

	// A PVC no pod mounts: the controller starts a holder pod; the test is its kubelet.
	local("idle")
	e.config("idle", troveapi.TargetRef{APIVersion: "v1", Kind: troveapi.KindPVC, Name: "idle"}, nil)
	e.instant("idle", "idle-1")
	holder := &corev1.Pod{}
	require.Eventually(t, func() bool {
		return e.c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "idle-1-idle"}, holder) == nil
	}, 30*time.Second, 100*time.Millisecond, "no holder pod")
	assert.Equal(t, "trove.dev/trove:test", holder.Spec.Containers[0].Image)
	assert.Equal(t, []string{"/usr/local/bin/trove", "hold"}, holder.Spec.Containers[0].Command)
	require.NoError(t, e.c.SubResource("binding").Create(context.Background(), holder, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: holder.Name}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}))
	require.NoError(t, e.c.Get(context.Background(), ctrl.ObjectKeyFromObject(holder), holder))
	holder.Status.Phase = corev1.PodRunning
	require.NoError(t, e.c.Status().Update(context.Background(), holder))
	require.NoError(t, os.MkdirAll(filepath.Join(e.kubelet, "pods", string(holder.UID), "containers", "holder"), 0o750))
	e.fill(filepath.Join(e.kubelet, "pods", string(holder.UID), "volumes", "kubernetes.io~local-volume", "pv-idle"), 9)

	// A paused configuration, and one whose Repository does not exist.
	e.config("paused", troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindDeployment, Name: "web"}, func(s *troveapi.BackupConfigurationSpec) {
		s.Schedule = "@every 1m"
	})
	e.config("broken", troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindDeployment, Name: "web"}, func(s *troveapi.BackupConfigurationSpec) {
		s.Paused, s.Schedule, s.Repository.Name = false, "@every 1m", "missing"
	})

	for _, name := range []string{"store-1", "idle-1"} {
		s := e.waitSession(name, 2*time.Minute)
		require.Len(t, s.Status.Targets, 1)
		host := s.Status.Targets[0].Stats[0]
		assert.Equal(t, "host-0", host.Hostname)
		require.Len(t, host.Snapshots, 1, name)
		assert.Greater(t, host.Snapshots[0].FileStats.New, int64(100), name)
	}
	snaps, err := e.repoMover().Snapshots(context.Background(), mover.SnapshotFilter{Tags: []string{"trove.dev/pvc=idle"}})
	require.NoError(t, err)
	require.Len(t, snaps, 1)
	assert.Equal(t, []string{"/trove/" + ns + "/pvc-idle/idle"}, snaps[0].Paths)
	require.Eventually(t, func() bool {
		err := e.c.Get(context.Background(), ctrl.ObjectKeyFromObject(holder), &corev1.Pod{})
		if err == nil { // play the kubelet for the graceful deletion
			_ = e.c.Delete(context.Background(), holder, ctrl.GracePeriodSeconds(0))
		}
		return apierrors.IsNotFound(err)
	}, 30*time.Second, 100*time.Millisecond, "the holder pod is removed after the backup")

	// The schedule produced a session that succeeded with per-host stats.
	defer func() {
		if t.Failed() {
			var web troveapi.BackupConfiguration
			_ = e.c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "web"}, &web)
			t.Logf("web: %+v; sessions: %+v", web.Status, e.sessionsOf("web"))
			log, _ := os.ReadFile(filepath.Join(e.dir, "controller.log"))
			t.Logf("controller log:\n%s", log)
		}
	}()
	require.Eventually(t, func() bool {
		for _, s := range e.sessionsOf("web") {
			if s.Status.Phase == troveapi.SessionSucceeded {
				st := s.Status.Targets[0].Stats[0]
				return st.Hostname == "host-0" && len(st.Snapshots) == 1 && st.Snapshots[0].FileStats.New > 100
			}
		}
		return false
	}, 3*time.Minute, 200*time.Millisecond, "no scheduled session of web succeeded")
	assert.Empty(t, e.sessionsOf("paused"), "a paused configuration makes no session")
	var broken troveapi.BackupConfiguration
	require.Eventually(t, func() bool {
		require.NoError(t, e.c.Get(context.Background(), ctrl.ObjectKey{Namespace: ns, Name: "broken"}, &broken))
		c := meta.FindStatusCondition(broken.Status.Conditions, troveapi.ConditionRepositoryFound)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == troveapi.ReasonRepositoryNotFound
	}, 30*time.Second, 100*time.Millisecond, "%+v", broken.Status.Conditions)
	assert.Empty(t, e.sessionsOf("broken"), "an invalid configuration makes no session")
}
