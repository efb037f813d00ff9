//go:build e2e

// Package e2e holds Trove's end-to-end tests. They run on a real node:
// TestMain brings up the dev node of package test/cluster (or reuses one that
// is up), builds and imports Trove's images and deploys deploy/; the last test
// tears the node down and checks that the machine is clean. Linux and root
// only:
//
//	go test -tags e2e -count=1 -v ./test/e2e/...
//
// With TROVE_E2E_KEEP=1 the node stays up afterwards; a node that was up
// before the suite started is never torn down (it is someone's `run`).
//
// With TROVE_E2E_KUBECONFIG set, the same suite runs against that cluster
// instead (kind/e2e.sh: Trove's images loaded with `kind load`, kubectl from
// PATH); the dev node is then neither started nor torn down.
package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"trove.dev/trove/test/cluster"
	"trove.dev/trove/test/images"
)

var (
	cfg  cluster.Config
	bins cluster.Binaries
	// external is true on a cluster given by TROVE_E2E_KUBECONFIG.
	external bool
	// reused is true when the node was up before the suite: it is left up.
	reused bool
	// downChecked is set by TestDownLeavesMachineClean.
	downChecked bool
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	cfg, err = cluster.DefaultConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	ctx := context.Background()
	if kc := os.Getenv("TROVE_E2E_KUBECONFIG"); kc != "" {
		return runExternal(ctx, m, kc)
	}
	if err := cluster.CheckHost(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	// The dev node is machine-wide (/var/lib/trove-dev): suites from two checkouts take turns.
	unlock, err := lockMachine()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer unlock()
	reused = cfg.Status(ctx).Ready()
	start := time.Now()
	bins, err = cfg.UpWithTrove(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: bringing the node up with Trove:", err)
		if !reused {
			_ = cfg.Down(ctx)
		}
		return 1
	}
	fmt.Printf("e2e: node up with Trove in %s (reused: %t)\n", time.Since(start).Round(100*time.Millisecond), reused)
	code := m.Run()
	if !reused && !downChecked && os.Getenv("TROVE_E2E_KEEP") != "1" {
		if err := cfg.Down(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: down:", err)
			code = 1
		}
	}
	return code
}

// lockMachine waits for (and takes) the machine-wide e2e lock; the kernel drops it when
// the process ends.
func lockMachine() (unlock func(), err error) {
	f, err := os.OpenFile("/run/trove-e2e.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the e2e lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Println("e2e: another e2e suite holds the node; waiting for it")
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("taking the e2e lock: %w", err)
		}
	}
	return func() { f.Close() }, nil
}

// runExternal runs the suite on a cluster that is up already, with Trove's
// images loaded into its nodes: it deploys Trove and runs the tests.
func runExternal(ctx context.Context, m *testing.M, kubeconfig string) int {
	external = true
	cfg.ExternalKubeconfig = kubeconfig
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: TROVE_E2E_KUBECONFIG is set but there is no kubectl in PATH")
		return 1
	}
	bins = cluster.Binaries{"kubectl": kubectl}
	if err := cfg.DeployTrove(ctx, bins); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: deploying Trove:", err)
		return 1
	}
	return m.Run()
}

func TestNodeReady(t *testing.T) {
	cs, err := cfg.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) == 0 {
		t.Fatal("no nodes")
	}
	for _, node := range nodes.Items {
		ready := false
		for _, c := range node.Status.Conditions {
			ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
		}
		if !ready {
			t.Errorf("node %s is not Ready: %+v", node.Name, node.Status.Conditions)
		}
	}
}

func TestTrovePodsRunFromOfflineImages(t *testing.T) {
	cs, err := cfg.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// One controller (leader-elected), one agent per node.
	want := map[string]int{"trove-controller": 1, "trove-agent": len(nodes.Items)}
	for name, n := range want {
		pods, err := cs.CoreV1().Pods(cluster.TroveNamespace).List(t.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + name})
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) != n {
			t.Fatalf("%d %s pods, want %d", len(pods.Items), name, n)
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodRunning {
				t.Errorf("%s: phase %s", p.Name, p.Status.Phase)
			}
			c := p.Spec.Containers[0]
			if c.Image != images.TroveRef || c.ImagePullPolicy != corev1.PullNever {
				t.Errorf("%s runs %s with pull policy %s, want %s never pulled", p.Name, c.Image, c.ImagePullPolicy, images.TroveRef)
			}
			for _, st := range p.Status.ContainerStatuses {
				if !st.Ready || st.RestartCount > 0 {
					t.Errorf("%s/%s: ready %t, restarts %d", p.Name, st.Name, st.Ready, st.RestartCount)
				}
			}
		}
	}
	if !external {
		t.Logf("node memory (RSS of components, shims and pods): %d MiB", cfg.MemoryRSS()>>20)
	}
}

// TestAgentRBAC checks the agent's least privilege: pods and work items, and
// no Secret outside trove-system (where a work item's credentials reach it).
func TestAgentRBAC(t *testing.T) {
	agent := "--as=system:serviceaccount:" + cluster.TroveNamespace + ":trove-agent"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "pods", "-A"}, "yes"},
		{[]string{"watch", "volumebackups.trove.dev", "-A"}, "yes"},
		{[]string{"patch", "volumebackups.trove.dev", "--subresource=status", "-A"}, "yes"},
		{[]string{"list", "secrets", "-A"}, "no"},
		{[]string{"get", "secrets", "-n", "default"}, "no"},
		{[]string{"list", "secrets", "-n", cluster.TroveNamespace}, "no"},
		{[]string{"create", "pods", "-A"}, "no"},
	} {
		out, _ := cfg.Kubectl(t.Context(), bins, append([]string{"auth", "can-i", agent}, tc.args...)...)
		if out != tc.want {
			t.Errorf("agent can-i %v: %q, want %q", tc.args, out, tc.want)
		}
	}
}

// TestAgentSeesPodVolume checks the agent's view of the kubelet's pod
// directories: a file a pod writes into its emptyDir is readable in the agent
// pod at <kubelet-root>/pods/<uid>/volumes/kubernetes.io~empty-dir/<volume>/,
// also though the pod started after the agent (mount propagation).
func TestAgentSeesPodVolume(t *testing.T) {
	ctx := t.Context()
	cs, err := cfg.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := "e2e-volume-" + randomHex(3)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), ns, metav1.DeleteOptions{})
	})
	secret := randomHex(16)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "writer", Namespace: ns},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name:            "writer",
				Image:           images.BusyboxRef,
				ImagePullPolicy: corev1.PullNever,
				Command:         []string{"/bin/sh", "-c", "echo " + secret + " > /data/marker && exec sleep 3600"},
				VolumeMounts:    []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cfg.WaitPodsRunning(ctx, ns, "", time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("pod running %s after create", time.Since(start).Round(100*time.Millisecond))
	pod, err = cs.CoreV1().Pods(ns).Get(ctx, "writer", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The agent on the writer's node.
	agent, err := cs.CoreV1().Pods(cluster.TroveNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/name=trove-agent",
		FieldSelector: "spec.nodeName=" + pod.Spec.NodeName,
	})
	if err != nil || len(agent.Items) != 1 {
		t.Fatalf("agent pod on node %s: %v (%d found)", pod.Spec.NodeName, err, len(agent.Items))
	}
	file := fmt.Sprintf("/var/lib/kubelet/pods/%s/volumes/kubernetes.io~empty-dir/data/marker", pod.UID)
	var out string
	deadline := time.Now().Add(20 * time.Second)
	for {
		// The container may not have written the file yet.
		out, err = cfg.Kubectl(ctx, bins, "exec", "-n", cluster.TroveNamespace, agent.Items[0].Name, "--", "cat", file)
		if (err == nil && out == secret) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("reading %s in the agent pod: %v", file, err)
	}
	if out != secret {
		t.Fatalf("the agent reads %q from %s, want %q", out, file, secret)
	}
}

// TestDownLeavesMachineClean runs last (tests run in source order): it tears
// the node down and checks the machine the way an operator would, with mount,
// ip link, iptables and ps, independently of the cluster package's own checks.
func TestDownLeavesMachineClean(t *testing.T) {
	if external || reused || os.Getenv("TROVE_E2E_KEEP") == "1" {
		t.Skip("not the suite's own dev node, or TROVE_E2E_KEEP=1: leaving it up")
	}
	downChecked = true
	start := time.Now()
	if err := cfg.Down(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("down in %s", time.Since(start).Round(100*time.Millisecond))

	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(mounts)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		for _, p := range []string{cfg.KubeletRoot + "/", cfg.StateDir + "/"} {
			if f[4]+"/" == p || strings.HasPrefix(f[4], p) {
				t.Errorf("mount left: %s", f[4])
			}
		}
	}
	for _, dir := range []string{cfg.StateDir, cfg.KubeletRoot} {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s is left", dir)
		}
	}
	links := command(t, "ip", "-o", "link", "show")
	for _, l := range strings.Split(links, "\n") {
		if strings.Contains(l, "trove") || strings.Contains(l, "cni") || strings.Contains(l, "master trove") {
			t.Errorf("interface left: %s", l)
		}
	}
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		for _, l := range strings.Split(command(t, tool), "\n") {
			if strings.HasPrefix(l, ":KUBE-") || strings.HasPrefix(l, ":CNI-") || strings.Contains(l, "-j KUBE-") || strings.Contains(l, "-j CNI-") {
				t.Errorf("%s: left: %s", tool, l)
			}
		}
	}
	// Processes of the node: its programs started on its state directory or
	// kubelet root, and anything still in a pod cgroup. (Other suites of
	// `go test ./...` may run their own etcd and kube-apiserver meanwhile.)
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		cmdline := strings.ReplaceAll(string(b), "\x00", " ")
		cgroups, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cgroup"))
		if strings.Contains(cmdline, cfg.StateDir+"/") || strings.Contains(cmdline, "--root-dir "+cfg.KubeletRoot) || strings.Contains(string(cgroups), "/kubepods") {
			t.Errorf("process left: %s %s", p, cmdline)
		}
		// The CSI stack: the test driver and the sidecars, whatever their arguments.
		argv0, _, _ := strings.Cut(string(b), "\x00")
		switch filepath.Base(argv0) {
		case "trove-csidriver", "csi-provisioner", "csi-snapshotter", "snapshot-controller":
			t.Errorf("CSI process left: %s %s", p, cmdline)
		}
	}
	// The driver's sockets: its CSI endpoint and the kubelet registration socket.
	for _, sock := range []string{cfg.CSISocket(), filepath.Join(cfg.KubeletRoot, "plugins_registry", cluster.CSIDriverName+"-reg.sock")} {
		if _, err := os.Lstat(sock); err == nil {
			t.Errorf("CSI socket left: %s", sock)
		}
	}
	if left := cfg.Leftovers(t.Context()); len(left) > 0 {
		t.Errorf("the cluster package sees leftovers: %v", left)
	}
}

func command(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
