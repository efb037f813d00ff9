//go:build bench

package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/test/controlplane"
)

const (
	benchNodes      = 500
	benchConfigs    = 2000
	benchNamespaces = 20
)

// TestControllerBench: a real apiserver, 500 Nodes, 2,000 BackupConfigurations of
// Deployments whose Running pods are spread over the nodes, all due at one tick; the
// real controller binary (no agent). It measures the time from the tick until every
// VolumeBackup exists with its pod's node, items/s, and the controller's peak RSS.
func TestControllerBench(t *testing.T) {
	ctx := context.Background()
	cp, err := controlplane.Start(controlplane.Options{})
	require.NoError(t, err)
	defer func() { _ = cp.Stop() }()
	cfg := *cp.Config
	cfg.QPS, cfg.Burst = 2000, 4000
	c, err := ctrl.New(&cfg, ctrl.Options{Scheme: controlplane.Scheme()})
	require.NoError(t, err)
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, cp.WriteKubeconfig(kubeconfig))

	trove := filepath.Join(dir, "trove")
	build := exec.Command("go", "build", "-o", trove, "./cmd/trove")
	build.Dir = controlplane.RepoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	setupStart := time.Now()
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "trove-system"}}))
	parallel(t, benchNodes, func(i int) error {
		return c.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%03d", i)}})
	})
	// The tick: a whole minute far enough ahead for the setup to finish before it.
	tick := time.Now().Truncate(time.Minute).Add(3 * time.Minute)
	schedule := fmt.Sprintf("%d %d * * *", tick.UTC().Minute(), tick.UTC().Hour())
	for n := 0; n < benchNamespaces; n++ {
		ns := fmt.Sprintf("bench-%02d", n)
		require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
		require.NoError(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "repo"}, StringData: map[string]string{"RESTIC_PASSWORD": "bench"}}))
		require.NoError(t, c.Create(ctx, &troveapi.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "repo"},
			Spec: troveapi.RepositorySpec{Backend: troveapi.Backend{StorageSecretName: "repo", Rest: &troveapi.RestServerSpec{URL: "http://127.0.0.1:1/r"}}}}))
	}
	parallel(t, benchConfigs, func(i int) error { return createTarget(ctx, c, i, schedule) })
	setup := time.Since(setupStart)

	controllerCmd := exec.Command(trove, "controller", "--leader-elect=false", "--namespace=trove-system",
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--workers=8", "--kube-api-qps=1000", "--kube-api-burst=2000")
	controllerCmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	logFile, err := os.Create(filepath.Join(dir, "controller.log"))
	require.NoError(t, err)
	controllerCmd.Stdout, controllerCmd.Stderr = logFile, logFile
	require.NoError(t, controllerCmd.Start())
	defer func() { _ = controllerCmd.Process.Kill(); _ = controllerCmd.Wait() }()

	require.True(t, time.Now().Before(tick), "the setup (%s) ran past the tick; raise the margin", setup)
	waitReady(t, c, tick)
	t.Logf("setup %s; all %d configurations Ready; waiting for the tick at %s", setup.Round(time.Second), benchConfigs, tick.Format(time.TimeOnly))
	time.Sleep(time.Until(tick))

	// Poll with metadata-only lists: cheap for the apiserver the controller is using.
	var done time.Time
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		items := &metav1.PartialObjectMetadataList{}
		items.SetGroupVersionKind(troveapi.GroupVersion.WithKind("VolumeBackupList"))
		require.NoError(t, c.List(ctx, items))
		if len(items.Items) >= benchConfigs {
			done = time.Now()
			break
		}
	}
	require.False(t, done.IsZero(), "not every VolumeBackup was created in 10 minutes")
	var all troveapi.VolumeBackupList
	require.NoError(t, c.List(ctx, &all))
	checkNodes(t, ctx, c, all.Items)
	elapsed := done.Sub(tick)
	rss := peakRSS(t, controllerCmd.Process.Pid)
	rate := float64(benchConfigs) / elapsed.Seconds()
	fmt.Printf("\nController benchmark (%d nodes, %d configurations due at one tick, %d workers)\n", benchNodes, benchConfigs, 8)
	fmt.Printf("| tick → all items | items/s | controller peak RSS | goals |\n|---|---|---|---|\n")
	fmt.Printf("| %.1f s | %.0f | %d MiB | >= 200 items/s, <= 256 MiB |\n\n", elapsed.Seconds(), rate, rss>>20)
}

// createTarget creates a Deployment, its Running pod on node i%500, and a
// BackupConfiguration of it.
func createTarget(ctx context.Context, c ctrl.Client, i int, schedule string) error {
	ns, name := fmt.Sprintf("bench-%02d", i%benchNamespaces), fmt.Sprintf("app-%04d", i)
	labels := map[string]string{"app": name}
	podSpec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}
	if err := c.Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec}}}); err != nil {
		return err
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-0", Labels: labels}, Spec: podSpec}
	pod.Spec.NodeName = fmt.Sprintf("node-%03d", i%benchNodes)
	if err := c.Create(ctx, pod); err != nil {
		return err
	}
	pod.Status.Phase = corev1.PodRunning
	if err := c.Status().Update(ctx, pod); err != nil {
		return err
	}
	return c.Create(ctx, &troveapi.BackupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: troveapi.BackupConfigurationSpec{
		Schedule: schedule, Repository: troveapi.ObjectRef{Name: "repo"},
		Target: &troveapi.BackupTarget{Ref: troveapi.TargetRef{APIVersion: "apps/v1", Kind: troveapi.KindDeployment, Name: name}, Paths: []string{"/data"}}}})
}

func waitReady(t *testing.T, c ctrl.Client, before time.Time) {
	t.Helper()
	for time.Now().Before(before) {
		var list troveapi.BackupConfigurationList
		require.NoError(t, c.List(context.Background(), &list))
		ready := 0
		for _, bc := range list.Items {
			for _, cond := range bc.Status.Conditions {
				if cond.Type == troveapi.ConditionReady && cond.Status == metav1.ConditionTrue {
					ready++
				}
			}
		}
		if ready == benchConfigs {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("not every configuration was Ready before the tick")
}

// checkNodes asserts each item runs on its pod's node (app-i's pod is on node i%500).
func checkNodes(t *testing.T, ctx context.Context, c ctrl.Client, items []troveapi.VolumeBackup) {
	t.Helper()
	for _, it := range items {
		i, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(it.Spec.Source.Pod.Name, "app-"), "-0"))
		require.NoError(t, err, it.Spec.Source.Pod.Name)
		require.Equal(t, fmt.Sprintf("node-%03d", i%benchNodes), it.Spec.NodeName, it.Name)
	}
}

// peakRSS reads a process's high-water resident set size (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// parallel runs f(0..n-1) on 16 goroutines and fails on the first error.
func parallel(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
