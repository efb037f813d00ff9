package agent_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/mover"
	"trove.dev/trove/mover/restic"
	"trove.dev/trove/mover/trampoline"
	"trove.dev/trove/node/agent"
	"trove.dev/trove/test/controlplane"
	"trove.dev/trove/test/fstree"
)

const (
	node           = "node-1"
	troveNamespace = "trove-system"
	ns             = "demo"
	password       = "agent-test-password"
)

var (
	cp          *controlplane.ControlPlane
	c           ctrl.Client
	kubeletRoot string
	repoDir     string
	resticBin   string
	theAgent    *agent.Agent
	stopAgent   context.CancelFunc
	agentDone   chan struct{}
)

func TestMain(m *testing.M) {
	trampoline.MaybeRun()
	logf.SetLogger(logr.Discard())
	if os.Geteuid() != 0 {
		fmt.Println("node/agent: skipped: the agent's tests bind-mount volumes and need root")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	fail := func(err error) int { fmt.Fprintln(os.Stderr, err); return 1 }
	if resticBin, err = controlplane.Binary("restic"); err != nil {
		return fail(err)
	}
	if cp, err = controlplane.Start(controlplane.Options{}); err != nil {
		return fail(err)
	}
	defer func() { _ = cp.Stop() }()
	c = cp.Client
	tmp, err := os.MkdirTemp("", "trove-agent-test-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp)
	kubeletRoot, repoDir = filepath.Join(tmp, "kubelet"), filepath.Join(tmp, "repo")
	ctx := context.Background()
	for _, o := range []ctrl.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: troveNamespace}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}},
		&troveapi.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "repo"}, Spec: troveapi.RepositorySpec{Backend: troveapi.Backend{
			StorageSecretName: "repo", Local: &troveapi.LocalSpec{MountPath: repoDir, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: repoDir}}}}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: troveNamespace, Name: "creds"}, StringData: map[string]string{"RESTIC_PASSWORD": password}},
	} {
		if err := c.Create(ctx, o); err != nil {
			return fail(err)
		}
	}
	if err := startAgent(filepath.Join(tmp, "cache")); err != nil {
		return fail(err)
	}
	code := m.Run()
	stopAgent()
	<-agentDone
	return code
}

// startAgent runs the agent in this process, with the cache the agent command uses.
func startAgent(cacheDir string) error {
	onNode := fields.OneTermEqualSelector("spec.nodeName", node)
	mgr, err := manager.New(cp.Config, manager.Options{
		Scheme:  controlplane.Scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		// A test restarts the agent in this process: allow the same controller names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Cache: cache.Options{ByObject: map[ctrl.Object]cache.ByObject{
			&corev1.Pod{}: {Field: onNode}, &troveapi.VolumeBackup{}: {Field: onNode},
			&troveapi.VolumeRestore{}: {Field: onNode}, &troveapi.RepositoryMaintenance{}: {Field: onNode},
		}},
	})
	if err != nil {
		return err
	}
	theAgent, err = agent.New(mgr, agent.Config{
		NodeName: node, KubeletRoot: kubeletRoot, Namespace: troveNamespace, Concurrency: 2,
		ProgressInterval: 200 * time.Millisecond, Metrics: prometheus.NewRegistry(),
		Movers: &agent.ResticMovers{Binary: resticBin, CacheDir: cacheDir},
	})
	if err != nil {
		return err
	}
	if err := theAgent.Setup(mgr); err != nil {
		return err
	}
	var ctx context.Context
	ctx, stopAgent = context.WithCancel(context.Background())
	agentDone = make(chan struct{})
	go func() { defer close(agentDone); _ = mgr.Start(ctx) }()
	return nil
}

// runningPod creates a Running pod on the node with an emptyDir "data" at /data, and
// lays out its kubelet directory; it returns the pod and its volume's host path.
func runningPod(t *testing.T, name string) (*corev1.Pod, string) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{NodeName: node,
			Containers: []corev1.Container{{Name: "app", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
	}
	require.NoError(t, c.Create(context.Background(), p))
	p.Status.Phase = corev1.PodRunning
	require.NoError(t, c.Status().Update(context.Background(), p))
	podDir := filepath.Join(kubeletRoot, "pods", string(p.UID))
	require.NoError(t, os.MkdirAll(filepath.Join(podDir, "containers", "app"), 0o750))
	vol := filepath.Join(podDir, "volumes", "kubernetes.io~empty-dir", "data")
	require.NoError(t, os.MkdirAll(vol, 0o777))
	return p, vol
}

func backupOf(p *corev1.Pod, name, host string, mutate ...func(*troveapi.VolumeBackup)) *troveapi.VolumeBackup {
	vb := &troveapi.VolumeBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: troveapi.VolumeBackupSpec{
			WorkItemCommon: troveapi.WorkItemCommon{NodeName: node, Repository: troveapi.ObjectRef{Namespace: ns, Name: "repo"},
				CredentialsSecretName: "creds", StablePath: "/trove/" + ns + "/pod-" + p.Name + "/data"},
			Source:   troveapi.PodVolume{Pod: troveapi.PodRef{Namespace: ns, Name: p.Name, UID: string(p.UID)}, VolumeName: "data"},
			Hostname: host,
			Tags:     []string{"trove.dev/namespace=" + ns, "trove.dev/target=Pod/" + p.Name, "trove.dev/volume=data"},
		},
	}
	for _, m := range mutate {
		m(vb)
	}
	return vb
}

func waitBackup(t *testing.T, name string, phase troveapi.WorkPhase, within time.Duration) *troveapi.VolumeBackup {
	t.Helper()
	vb := &troveapi.VolumeBackup{}
	require.Eventually(t, func() bool {
		return c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, vb) == nil && vb.Status.Phase == phase
	}, within, 50*time.Millisecond, "%s never became %s: %+v", name, phase, vb.Status)
	return vb
}

// repoMover opens the test repository directly, to check what the agent wrote.
func repoMover(t *testing.T) mover.Mover {
	t.Helper()
	m, err := restic.New(restic.Config{Binary: resticBin, Backend: restic.BackendSpec{Local: &restic.LocalBackend{Path: repoDir}},
		Secret: map[string][]byte{"RESTIC_PASSWORD": []byte(password)}})
	require.NoError(t, err)
	return m
}

// randomFile writes size bytes of incompressible data.
func randomFile(t *testing.T, path string, size int) {
	t.Helper()
	buf := make([]byte, size)
	_, err := rand.Read(buf)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, buf, 0o644))
}

func TestBackupsWithConcurrencyAndARestoreRoundTrip(t *testing.T) {
	var pods []*corev1.Pod
	for i := 0; i < 3; i++ {
		p, vol := runningPod(t, fmt.Sprintf("app-%d", i))
		opts := fstree.DefaultOptions()
		opts.Seed = int64(i + 1)
		require.NoError(t, fstree.Generate(vol, opts))
		pods = append(pods, p)
	}
	var peak atomic.Int32
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				if n := int32(theAgent.Queue().Running()); n > peak.Load() {
					peak.Store(n)
				}
			}
		}
	}()
	for i, p := range pods {
		require.NoError(t, c.Create(context.Background(), backupOf(p, fmt.Sprintf("vb-%d", i), fmt.Sprintf("host-%d", i))))
	}
	var done []*troveapi.VolumeBackup
	for i := range pods {
		done = append(done, waitBackup(t, fmt.Sprintf("vb-%d", i), troveapi.WorkSucceeded, 3*time.Minute))
	}
	close(stop)
	assert.LessOrEqual(t, peak.Load(), int32(2), "never more than the node's concurrency")

	m := repoMover(t)
	for i, vb := range done {
		assert.Equal(t, int32(1), vb.Status.Attempt)
		assert.NotEmpty(t, vb.Status.SnapshotID)
		assert.Equal(t, int32(100), vb.Status.Progress.Percent)
		assert.Greater(t, vb.Status.Stats.FileStats.New, int64(200))
		snaps, err := m.Snapshots(context.Background(), mover.SnapshotFilter{Host: fmt.Sprintf("host-%d", i)})
		require.NoError(t, err)
		require.Len(t, snaps, 1)
		assert.Equal(t, vb.Status.SnapshotID, snaps[0].ID)
		assert.Equal(t, []string{vb.Spec.StablePath}, snaps[0].Paths, "restic recorded the stable path, not the kubelet's")
		assert.Contains(t, snaps[0].Tags, "trove.dev/target=Pod/app-"+fmt.Sprint(i))
		assert.Contains(t, snaps[0].Tags, agent.TagItem+string(vb.UID))
	}

	// Restore host-1's latest snapshot into a fresh pod's empty volume.
	target, targetVol := runningPod(t, "restored")
	vr := &troveapi.VolumeRestore{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vr"},
		Spec: troveapi.VolumeRestoreSpec{
			WorkItemCommon: troveapi.WorkItemCommon{NodeName: node, Repository: troveapi.ObjectRef{Namespace: ns, Name: "repo"},
				CredentialsSecretName: "creds", StablePath: done[1].Spec.StablePath},
			Target:     troveapi.PodVolume{Pod: troveapi.PodRef{Namespace: ns, Name: target.Name, UID: string(target.UID)}, VolumeName: "data"},
			Snapshot:   "latest",
			SourceHost: "host-1",
			Tags:       done[1].Spec.Tags,
		},
	}
	require.NoError(t, c.Create(context.Background(), vr))
	require.Eventually(t, func() bool {
		return c.Get(context.Background(), ctrl.ObjectKeyFromObject(vr), vr) == nil && vr.Status.Phase == troveapi.WorkSucceeded
	}, 2*time.Minute, 50*time.Millisecond, "restore: %+v", vr.Status)
	assert.Equal(t, done[1].Status.SnapshotID, vr.Status.SnapshotID, "latest of host-1")
	want, err := fstree.Manifest(filepath.Join(kubeletRoot, "pods", string(pods[1].UID), "volumes", "kubernetes.io~empty-dir", "data"), fstree.ManifestOptions{SkipRootMeta: true})
	require.NoError(t, err)
	got, err := fstree.Manifest(targetVol, fstree.ManifestOptions{SkipRootMeta: true})
	require.NoError(t, err)
	assert.Empty(t, fstree.Diff(want, got), "the restored volume is identical")
}

func TestCancelStopsRestic(t *testing.T) {
	p, vol := runningPod(t, "slow")
	randomFile(t, filepath.Join(vol, "big"), 40<<20)
	vb := backupOf(p, "vb-cancel", "host-slow", func(vb *troveapi.VolumeBackup) {
		vb.Spec.Throttle.LimitUploadKiBps = 1024 // 40 MiB at 1 MiB/s: ~40 s
	})
	require.NoError(t, c.Create(context.Background(), vb))
	waitBackup(t, "vb-cancel", troveapi.WorkRunning, time.Minute)
	require.Eventually(t, func() bool { return resticProcesses(t, "host-slow") > 0 }, 30*time.Second, 50*time.Millisecond)

	patch := []byte(`{"spec":{"cancel":true}}`)
	require.NoError(t, c.Patch(context.Background(), vb, ctrl.RawPatch(types.MergePatchType, patch)))
	canceled := waitBackup(t, "vb-cancel", troveapi.WorkCanceled, 30*time.Second)
	assert.Equal(t, agent.ReasonCanceled, canceled.Status.Reason)
	assert.Equal(t, 0, resticProcesses(t, "host-slow"), "restic was stopped")
}

func TestUnsafeOrMissingVolumesFailWithAReason(t *testing.T) {
	p, vol := runningPod(t, "escape")
	require.NoError(t, os.Remove(vol))
	require.NoError(t, os.Symlink("/etc", vol))
	require.NoError(t, c.Create(context.Background(), backupOf(p, "vb-escape", "host-escape")))
	failed := waitBackup(t, "vb-escape", troveapi.WorkFailed, time.Minute)
	assert.Equal(t, "UnsafePath", failed.Status.Reason)

	q, _ := runningPod(t, "replaced")
	require.NoError(t, c.Create(context.Background(), backupOf(q, "vb-replaced", "host-replaced", func(vb *troveapi.VolumeBackup) {
		vb.Spec.Source.Pod.UID = "0b1e9b55-0000-0000-0000-000000000000"
	})))
	failed = waitBackup(t, "vb-replaced", troveapi.WorkFailed, time.Minute)
	assert.Equal(t, agent.ReasonPodGone, failed.Status.Reason)
	assert.Contains(t, failed.Status.Message, "was replaced")
}

// TestAgentKilledMidBackupFinishesTheItemOnce runs the agent as the built binary,
// kills it with SIGKILL in the middle of a backup, starts it again, and checks that
// the item ends Succeeded with exactly one snapshot and a clean repository.
func TestAgentKilledMidBackupFinishesTheItemOnce(t *testing.T) {
	stopAgent() // this test brings its own agent process
	<-agentDone
	defer func() { require.NoError(t, startAgent(t.TempDir())) }()

	dir := t.TempDir()
	trove := filepath.Join(dir, "trove")
	build := exec.Command("go", "build", "-o", trove, "./cmd/trove")
	build.Dir = controlplane.RepoRoot()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, cp.WriteKubeconfig(kubeconfig))
	start := func() *exec.Cmd {
		cmd := exec.Command(trove, "agent", "--node-name="+node, "--kubelet-root="+kubeletRoot, "--namespace="+troveNamespace,
			"--restic="+resticBin, "--cache-dir="+filepath.Join(dir, "cache"), "--metrics-bind-address=0", "--health-probe-bind-address=0")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
		log, err := os.OpenFile(filepath.Join(dir, "agent.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		require.NoError(t, err)
		cmd.Stdout, cmd.Stderr = log, log
		require.NoError(t, cmd.Start())
		return cmd
	}

	p, vol := runningPod(t, "killed")
	randomFile(t, filepath.Join(vol, "big"), 24<<20)
	vb := backupOf(p, "vb-killed", "host-killed", func(vb *troveapi.VolumeBackup) {
		vb.Spec.Throttle.LimitUploadKiBps = 4096 // ~6 s a run
		vb.Spec.Throttle.Nice = &troveapi.NiceSettings{Adjustment: ptr.To[int32](5)}
	})
	first := start()
	require.NoError(t, c.Create(context.Background(), vb))
	waitBackup(t, "vb-killed", troveapi.WorkRunning, time.Minute)
	require.Eventually(t, func() bool { return resticProcesses(t, "host-killed") > 0 }, 30*time.Second, 50*time.Millisecond)
	time.Sleep(time.Second)
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	require.Eventually(t, func() bool { return resticProcesses(t, "host-killed") == 0 }, 10*time.Second, 50*time.Millisecond,
		"restic dies with the agent (no orphan to race the retry)")
	waitBackup(t, "vb-killed", troveapi.WorkRunning, time.Second) // left Running by the dead agent

	second := start()
	defer func() { _ = second.Process.Kill(); _ = second.Wait() }()
	done := waitBackup(t, "vb-killed", troveapi.WorkSucceeded, 2*time.Minute)
	assert.Equal(t, int32(2), done.Status.Attempt, "the retry is the second attempt")

	m := repoMover(t)
	snaps, err := m.Snapshots(context.Background(), mover.SnapshotFilter{Host: "host-killed"})
	require.NoError(t, err)
	assert.Len(t, snaps, 1, "one item, one snapshot")
	// The killed restic could not remove its lock, and an orphan nobody reaps yet can
	// keep its PID alive (a zombie): the agents are gone, so every lock is stale here.
	_, err = m.UnlockStale(context.Background(), mover.UnlockRequest{Alive: func(mover.Lock) (bool, bool) { return false, true }})
	require.NoError(t, err)
	check, err := m.Check(context.Background(), mover.CheckRequest{})
	require.NoError(t, err)
	assert.True(t, check.Healthy, check.Output)
}

// resticProcesses counts running restic processes whose command line names host.
func resticProcesses(t *testing.T, host string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 0 && filepath.Base(args[0]) == "restic" && strings.Contains(string(cmdline), host) {
			if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !strings.Contains(string(stat), ") Z ") {
				n++
			}
		}
	}
	return n
}
