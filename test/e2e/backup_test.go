//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/test/controlplane"
	"trove.dev/trove/test/images"
)

// troveClient is a client for Trove's kinds on the e2e cluster.
func troveClient(t *testing.T) ctrl.Client {
	t.Helper()
	kubeconfig := cfg.Kubeconfig()
	if cfg.ExternalKubeconfig != "" {
		kubeconfig = cfg.ExternalKubeconfig
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ctrl.New(rc, ctrl.Options{Scheme: controlplane.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// localPVC creates a local PersistentVolume on the node (a directory made by the
// test) and a claim bound to it.
func localPVC(t *testing.T, c ctrl.Client, ns, name, node string) {
	t.Helper()
	ctx := t.Context()
	dir := filepath.Join(cfg.StateDir, "e2e-local-pv", ns+"-"+name)
	must(t, os.MkdirAll(dir, 0o777))
	pvName := ns + "-" + name
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "trove-e2e-local",
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
	}
	must(t, c.Create(ctx, pv))
	t.Cleanup(func() { _ = c.Delete(context.WithoutCancel(ctx), pv); _ = os.RemoveAll(dir) })
	class := "trove-e2e-local"
	must(t, c.Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: &class,
			VolumeName:       pvName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}))
}

// dataPod runs busybox with an emptyDir at /data and a claim at /pv.
func dataPod(t *testing.T, c ctrl.Client, ns, name, claim, script string) {
	t.Helper()
	must(t, c.Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name: "app", Image: images.BusyboxRef, ImagePullPolicy: corev1.PullNever,
				Command:      []string{"/bin/sh", "-c", script + " && exec sleep 3600"},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "pv", MountPath: "/pv"}},
			}},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "pv", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}},
			},
		},
	}))
}

// testNamespace creates a namespace for one test and deletes it afterwards.
func testNamespace(t *testing.T, c ctrl.Client, prefix string) string {
	t.Helper()
	ctx := t.Context()
	ns := prefix + randomHex(3)
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	t.Cleanup(func() {
		_ = c.Delete(context.WithoutCancel(ctx), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	})
	return ns
}

// localRepository creates the Repository "repo" of ns, a local backend in the agent's
// repositories directory on the node, and its storage Secret "repo".
func localRepository(t *testing.T, c ctrl.Client, ns, password string) {
	t.Helper()
	ctx := t.Context()
	must(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "repo"}, StringData: map[string]string{"RESTIC_PASSWORD": password}}))
	must(t, c.Create(ctx, &troveapi.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "repo"}, Spec: troveapi.RepositorySpec{Backend: troveapi.Backend{
		StorageSecretName: "repo",
		Local: &troveapi.LocalSpec{MountPath: "/var/lib/trove/repositories", SubPath: ns,
			VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/trove/repositories"}}},
	}}}))
}

func nodeName(t *testing.T, c ctrl.Client) string {
	t.Helper()
	var nodes corev1.NodeList
	must(t, c.List(t.Context(), &nodes))
	if len(nodes.Items) == 0 {
		t.Fatal("no node")
	}
	return nodes.Items[0].Name
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		var done bool
		if done, last = ok(); done {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s (last: %s)", what, within, last)
}

// TestBackupAndRestoreThroughTheAgent backs up a real pod's emptyDir and local-PV
// claim through the real kubelet host paths (controller → VolumeBackups → the agent
// DaemonSet → restic), then restores both into a new pod with a fresh claim, and reads
// the files back in that pod.
func TestBackupAndRestoreThroughTheAgent(t *testing.T) {
	c := troveClient(t)
	ctx := t.Context()
	ns := testNamespace(t, c, "e2e-backup-")
	node := nodeName(t, c)
	marker := randomHex(8)

	localRepository(t, c, ns, randomHex(16))
	localPVC(t, c, ns, "source", node)
	dataPod(t, c, ns, "writer", "source", fmt.Sprintf("echo %s > /data/a.txt && mkdir -p /data/sub && echo nested > /data/sub/b.txt && echo pv-%s > /pv/c.txt", marker, marker))
	must(t, cfg.WaitPodsRunning(ctx, ns, "", 2*time.Minute))

	must(t, c.Create(ctx, &troveapi.BackupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "writer"}, Spec: troveapi.BackupConfigurationSpec{
		Paused: true, Repository: troveapi.ObjectRef{Name: "repo"},
		Target: &troveapi.BackupTarget{Ref: troveapi.TargetRef{APIVersion: "v1", Kind: troveapi.KindPod, Name: "writer"}, Paths: []string{"/data", "/pv"}},
		// Hooks exec in the writer through the API server (and the kubelet).
		Hooks: &troveapi.BackupHooks{
			PreBackup: &troveapi.HookHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "echo hooked > /data/pre.txt"}}},
			PostBackup: &troveapi.PostHook{ExecutionPolicy: troveapi.HookOnSuccess,
				HookHandler: troveapi.HookHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "echo done > /data/post.txt"}}}},
		},
	}}))
	// Give the container a moment to have written its files.
	time.Sleep(2 * time.Second)
	must(t, c.Create(ctx, &troveapi.BackupSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "instant-1",
		Labels: map[string]string{troveapi.LabelConfiguration: "writer"}},
		Spec: troveapi.BackupSessionSpec{Invoker: troveapi.Invoker{APIGroup: "trove.dev", Kind: "BackupConfiguration", Name: "writer"}}}))
	var session troveapi.BackupSession
	start := time.Now()
	waitFor(t, "the backup session succeeds", 3*time.Minute, func() (bool, string) {
		must(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: "instant-1"}, &session))
		if session.Status.Phase == troveapi.SessionFailed {
			t.Fatalf("backup failed: %+v", session.Status)
		}
		return session.Status.Phase == troveapi.SessionSucceeded, fmt.Sprintf("%+v", session.Status)
	})
	t.Logf("backup session succeeded in %s", time.Since(start).Round(100*time.Millisecond))
	host := session.Status.Targets[0].Stats[0]
	if len(host.Snapshots) != 2 {
		t.Fatalf("want 2 snapshots (emptyDir and local PV), got %+v", host.Snapshots)
	}
	for _, s := range host.Snapshots {
		if s.Name == "" || s.FileStats.New == 0 {
			t.Fatalf("snapshot stats missing: %+v", s)
		}
	}

	// Restore into a new pod with a fresh claim.
	localPVC(t, c, ns, "fresh", node)
	dataPod(t, c, ns, "reader", "fresh", "true")
	must(t, cfg.WaitPodsRunning(ctx, ns, "", 2*time.Minute))
	must(t, c.Create(ctx, &troveapi.RestoreSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "restore"}, Spec: troveapi.RestoreSessionSpec{
		Repository: troveapi.ObjectRef{Name: "repo"},
		Target: &troveapi.RestoreTarget{
			Ref:       &troveapi.TargetRef{APIVersion: "v1", Kind: troveapi.KindPod, Name: "reader"},
			SourceRef: &troveapi.TargetRef{APIVersion: "v1", Kind: troveapi.KindPod, Name: "writer"},
		},
	}}))
	var restore troveapi.RestoreSession
	waitFor(t, "the restore succeeds", 3*time.Minute, func() (bool, string) {
		must(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: "restore"}, &restore))
		if restore.Status.Phase == troveapi.SessionFailed {
			t.Fatalf("restore failed: %+v", restore.Status)
		}
		return restore.Status.Phase == troveapi.SessionSucceeded, fmt.Sprintf("%+v", restore.Status)
	})
	if out, err := cfg.Kubectl(ctx, bins, "exec", "-n", ns, "writer", "--", "cat", "/data/post.txt"); err != nil || out != "done" {
		t.Fatalf("the postBackup hook did not run in the writer: %q (%v)", out, err)
	}
	// pre.txt was written by the preBackup hook, so it is in the backup.
	for file, want := range map[string]string{"/data/a.txt": marker, "/data/sub/b.txt": "nested", "/pv/c.txt": "pv-" + marker, "/data/pre.txt": "hooked"} {
		out, err := cfg.Kubectl(ctx, bins, "exec", "-n", ns, "reader", "--", "cat", file)
		if err != nil || out != want {
			t.Fatalf("reader's %s: %q (%v), want %q", file, out, err, want)
		}
	}
}

// TestScheduledBackupsRunEveryMinute: a configuration scheduled every minute produces
// sessions by itself, named after their ticks, that succeed.
func TestScheduledBackupsRunEveryMinute(t *testing.T) {
	c := troveClient(t)
	ctx := t.Context()
	ns := testNamespace(t, c, "e2e-schedule-")
	localRepository(t, c, ns, randomHex(16))
	must(t, c.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: new(int64), Containers: []corev1.Container{{
			Name: "app", Image: images.BusyboxRef, ImagePullPolicy: corev1.PullNever,
			Command:      []string{"/bin/sh", "-c", "date > /data/started && exec sleep 3600"},
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
	}))
	must(t, cfg.WaitPodsRunning(ctx, ns, "", 2*time.Minute))
	must(t, c.Create(ctx, &troveapi.BackupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "every-minute"}, Spec: troveapi.BackupConfigurationSpec{
		Schedule: "* * * * *", Repository: troveapi.ObjectRef{Name: "repo"},
		Target:          &troveapi.BackupTarget{Ref: troveapi.TargetRef{APIVersion: "v1", Kind: troveapi.KindPod, Name: "app"}},
		RetentionPolicy: &troveapi.RetentionPolicy{KeepLast: 3, Prune: true},
	}}))
	waitFor(t, "a scheduled session succeeds", 3*time.Minute, func() (bool, string) {
		var list troveapi.BackupSessionList
		must(t, c.List(ctx, &list, ctrl.InNamespace(ns)))
		for _, s := range list.Items {
			if s.Status.Phase == troveapi.SessionSucceeded {
				return true, s.Name
			}
		}
		return false, fmt.Sprint(len(list.Items), " sessions")
	})
	// The maintenance that follows a backup measures the repository.
	waitFor(t, "the Repository shows its snapshots", 2*time.Minute, func() (bool, string) {
		var repo troveapi.Repository
		must(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: "repo"}, &repo))
		return repo.Status.SnapshotCount >= 1 && repo.Status.LastBackupTime != nil, fmt.Sprintf("%+v", repo.Status)
	})
}

// TestAgentIdleCost measures the agent's resident memory and CPU while it has nothing
// to do (after the backups above): the goal is < 50 MiB and about no CPU.
func TestAgentIdleCost(t *testing.T) {
	if cfg.ExternalKubeconfig != "" {
		t.Skip("reads the agent's process on this machine")
	}
	pid := agentPid(t)
	ticks := func() int64 {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		must(t, err)
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		return utime + stime
	}
	time.Sleep(5 * time.Second) // let the last item's work settle
	before := ticks()
	const window = 20 * time.Second
	time.Sleep(window)
	cpu := float64(ticks()-before) / 100 / window.Seconds() // clock ticks are 1/100 s
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(t, err)
	var rssKiB int64
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rssKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	t.Logf("agent idle: RSS %d MiB, CPU %.2f%% of one core over %s", rssKiB>>10, cpu*100, window)
	if rssKiB>>10 >= 100 || cpu > 0.02 {
		t.Fatalf("the idle agent costs too much: RSS %d MiB, CPU %.2f%%", rssKiB>>10, cpu*100)
	}
}

// agentPid finds the agent's process on this machine (the node is this machine).
func agentPid(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	must(t, err)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 1 && filepath.Base(args[0]) == "trove" && args[1] == "agent" {
			return pid
		}
	}
	t.Fatal("no trove agent process on this machine")
	return 0
}

// localPV creates a local PersistentVolume on the node pre-bound to the claim ns/claim,
// for a PVC Trove creates itself (a restore's volumeClaimTemplate).
func localPV(t *testing.T, c ctrl.Client, ns, claim, node string) {
	t.Helper()
	ctx := t.Context()
	dir := filepath.Join(cfg.StateDir, "e2e-local-pv", ns+"-"+claim)
	must(t, os.MkdirAll(dir, 0o777))
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + claim},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "trove-e2e-local",
			ClaimRef:                      &corev1.ObjectReference{Namespace: ns, Name: claim},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
	}
	must(t, c.Create(ctx, pv))
	t.Cleanup(func() { _ = c.Delete(context.WithoutCancel(ctx), pv); _ = os.RemoveAll(dir) })
}

// sessionPods counts the pods labelled with a session (holder pods).
func sessionPods(t *testing.T, c ctrl.Client, ns, session string) int {
	t.Helper()
	var pods corev1.PodList
	must(t, c.List(t.Context(), &pods, ctrl.InNamespace(ns), ctrl.MatchingLabels{troveapi.LabelSession: session}))
	return len(pods.Items)
}

// TestUnmountedPVCAndRestoreIntoANewPVC backs up a claim no pod mounts (through a holder
// pod running `trove hold`), then restores it into a new PVC made from a
// volumeClaimTemplate, and reads the data back in a pod that mounts the new claim.
func TestUnmountedPVCAndRestoreIntoANewPVC(t *testing.T) {
	c := troveClient(t)
	ctx := t.Context()
	ns := testNamespace(t, c, "e2e-unmounted-")
	node := nodeName(t, c)
	marker := randomHex(8)
	localRepository(t, c, ns, randomHex(16))

	// A job-like pod fills the claim and ends: afterwards no pod mounts it.
	localPVC(t, c, ns, "orphan", node)
	must(t, c.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "filler"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "fill", Image: images.BusyboxRef, ImagePullPolicy: corev1.PullNever,
				Command:      []string{"/bin/sh", "-c", "mkdir -p /pv/dir && echo " + marker + " > /pv/dir/file.txt"},
				VolumeMounts: []corev1.VolumeMount{{Name: "pv", MountPath: "/pv"}},
			}},
			Volumes: []corev1.Volume{{Name: "pv", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "orphan"}}}},
		},
	}))
	waitFor(t, "the filler pod completes", 2*time.Minute, func() (bool, string) {
		var p corev1.Pod
		must(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: "filler"}, &p))
		if p.Status.Phase == corev1.PodFailed {
			t.Fatalf("filler failed: %+v", p.Status)
		}
		return p.Status.Phase == corev1.PodSucceeded, string(p.Status.Phase)
	})
	must(t, c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "filler"}}))

	must(t, c.Create(ctx, &troveapi.BackupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orphan"}, Spec: troveapi.BackupConfigurationSpec{
		Paused: true, Repository: troveapi.ObjectRef{Name: "repo"},
		Target: &troveapi.BackupTarget{Ref: troveapi.TargetRef{APIVersion: "v1", Kind: troveapi.KindPVC, Name: "orphan"}},
	}}))
	must(t, c.Create(ctx, &troveapi.BackupSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "instant-1",
		Labels: map[string]string{troveapi.LabelConfiguration: "orphan"}},
		Spec: troveapi.BackupSessionSpec{Invoker: troveapi.Invoker{APIGroup: "trove.dev", Kind: "BackupConfiguration", Name: "orphan"}}}))
	var session troveapi.BackupSession
	start := time.Now()
	waitFor(t, "the backup of the unmounted claim succeeds", 3*time.Minute, func() (bool, string) {
		must(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: "instant-1"}, &session))
		if session.Status.Phase == troveapi.SessionFailed {
			t.Fatalf("backup failed: %+v", session.Status)
		}
		return session.Status.Phase == troveapi.SessionSucceeded, fmt.Sprintf("%+v", session.Status)
	})
	t.Logf("unmounted PVC backed up through a holder pod in %s", time.Since(start).Round(100*time.Millisecond))
	if s := session.Status.Targets[0].Stats[0].Snapshots; len(s) != 1 || s[0].FileStats.New == 0 {
		t.Fatalf("want one snapshot with files, got %+v", s)
	}
	waitFor(t, "the holder pod is removed", time.Minute, func() (bool, string) {
		n := sessionPods(t, c, ns, "instant-1")
		return n == 0, fmt.Sprintf("%d pod(s) left", n)
	})

	// Restore into a new claim from a template; a local PV waits for it.
	localPV(t, c, ns, "restored", node)
	class := "trove-e2e-local"
	must(t, c.Create(ctx, &troveapi.RestoreSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "restore"}, Spec: troveapi.RestoreSessionSpec{
		Repository: troveapi.ObjectRef{Name: "repo"},
		Target: &troveapi.RestoreTarget{
			SourceRef: &troveapi.TargetRef{APIVersion: "v1", Kind: troveapi.KindPVC, Name: "orphan"},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "restored", Annotations: map[string]string{troveapi.AnnotationSourceVolume: "orphan"}},
				Spec: corev1.PersistentVolumeClaimSpec{
					StorageClassName: &class,
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}}))
	var restore troveapi.RestoreSession
	waitFor(t, "the restore into a new PVC succeeds", 3*time.Minute, func() (bool, string) {
		must(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: "restore"}, &restore))
		if restore.Status.Phase == troveapi.SessionFailed {
			t.Fatalf("restore failed: %+v", restore.Status)
		}
		return restore.Status.Phase == troveapi.SessionSucceeded, fmt.Sprintf("%+v", restore.Status)
	})
	waitFor(t, "the restore's holder pod is removed", time.Minute, func() (bool, string) {
		n := sessionPods(t, c, ns, "restore")
		return n == 0, fmt.Sprintf("%d pod(s) left", n)
	})
	dataPod(t, c, ns, "reader", "restored", "true")
	must(t, cfg.WaitPodsRunning(ctx, ns, "", 2*time.Minute))
	out, err := cfg.Kubectl(ctx, bins, "exec", "-n", ns, "reader", "--", "cat", "/pv/dir/file.txt")
	if err != nil || out != marker {
		t.Fatalf("the new claim's dir/file.txt: %q (%v), want %q", out, err, marker)
	}
}
