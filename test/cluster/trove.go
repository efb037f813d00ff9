package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"trove.dev/trove/test/images"
)

// PostgresMajor is the PostgreSQL whose host binaries make the dev node's
// PostgreSQL images (Debian 12's postgresql package).
const PostgresMajor = "15"

// ctrBinary is containerd's client, from Debian's containerd package.
const ctrBinary = "/usr/bin/ctr"

// Trove's namespace and the dev overlay applied to the node (deploy/ with
// imagePullPolicy: Never).
const (
	TroveNamespace  = "trove-system"
	SampleNamespace = "trove-demo"
	devOverlay      = "test/cluster/overlay"
	samplesDir      = "deploy/samples"
)

// LoadImages builds the dev images (pause, busybox, trove with restic, and
// when this machine has Debian's PostgreSQL 15, trove-postgres and postgres)
// and imports them into the node's containerd.
func (c Config) LoadImages(ctx context.Context, bins Binaries) error {
	start := time.Now()
	opts := images.DevOptions{
		ModuleRoot: c.ModuleRoot,
		OutDir:     c.path("images"),
		Restic:     bins["restic"],
		Busybox:    Busybox,
	}
	names := []string{images.PauseRef, images.BusyboxRef, images.TroveRef}
	if pg, err := images.HostPostgres(PostgresMajor); err == nil {
		opts.Postgres = &pg
		names = append(names, images.TrovePostgresRef, images.PostgresRef)
	} else {
		c.logf("not building %s and %s: %v", images.TrovePostgresRef, images.PostgresRef, err)
	}
	files, err := images.BuildDev(ctx, opts)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := images.Import(ctx, ctrBinary, c.ContainerdSocket(), f); err != nil {
			return err
		}
	}
	c.logf("images %s built and imported in %s", strings.Join(names, ", "), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// Kubectl runs the pinned kubectl against the node as the admin.
func (c Config) Kubectl(ctx context.Context, bins Binaries, args ...string) (string, error) {
	out, err := c.run(ctx, nil, bins["kubectl"], append([]string{"--kubeconfig", c.Kubeconfig()}, args...)...)
	return strings.TrimSpace(out), err
}

// DeployTrove applies deploy/ (through the dev overlay), waits for the CRDs to
// be served and for the controller and agent pods to run.
func (c Config) DeployTrove(ctx context.Context, bins Binaries) error {
	start := time.Now()
	overlay, err := c.overlay()
	if err != nil {
		return err
	}
	// A second deploy (after a rebuild of the images, same tag) restarts Trove's
	// pods so that they run the new image.
	_, getErr := c.Kubectl(ctx, bins, "get", "-n", TroveNamespace, "daemonset/trove-agent", "deployment/trove-controller")
	redeploy := getErr == nil
	// deploy/ holds CRDs and objects of their kinds (the default Functions and
	// Tasks): on a fresh cluster kubectl cannot map those kinds until the CRDs are
	// served, so the first apply reports them, and a second one after the CRDs are
	// established applies them.
	if _, err := c.Kubectl(ctx, bins, "apply", "--server-side", "-k", overlay); err != nil {
		if !strings.Contains(err.Error(), "no matches for kind") && !strings.Contains(err.Error(), "ensure CRDs are installed first") {
			return err
		}
		if _, err := c.Kubectl(ctx, bins, "wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", "app.kubernetes.io/part-of=trove"); err != nil {
			return err
		}
		if _, err := c.Kubectl(ctx, bins, "apply", "--server-side", "-k", overlay); err != nil {
			return err
		}
	}
	if redeploy {
		if _, err := c.Kubectl(ctx, bins, "rollout", "restart", "-n", TroveNamespace, "daemonset/trove-agent", "deployment/trove-controller"); err != nil {
			return err
		}
		for _, w := range []string{"daemonset/trove-agent", "deployment/trove-controller"} {
			if _, err := c.Kubectl(ctx, bins, "rollout", "status", "-n", TroveNamespace, "--timeout=2m", w); err != nil {
				return err
			}
		}
	}
	if _, err := c.Kubectl(ctx, bins, "wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", "app.kubernetes.io/part-of=trove"); err != nil {
		return err
	}
	for _, name := range []string{"trove-controller", "trove-agent"} {
		if err := c.WaitPodsRunning(ctx, TroveNamespace, "app.kubernetes.io/name="+name, 2*time.Minute); err != nil {
			return err
		}
	}
	c.logf("Trove deployed and running in %s", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// overlay returns the kustomization DeployTrove applies: on another cluster
// the dev overlay (images never pulled); on the dev node an overlay of it,
// written under StateDir, that also keeps the agent's host paths in the
// node's directories: the kubelet root, and restic's cache and local
// repositories under StateDir so that down removes them.
func (c Config) overlay() (string, error) {
	base := filepath.Join(c.ModuleRoot, devOverlay)
	if c.ExternalKubeconfig != "" {
		return base, nil
	}
	dir := c.path("deploy")
	rel, err := filepath.Rel(dir, base)
	if err != nil {
		return "", err
	}
	k := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - %s
patches:
  - target:
      kind: DaemonSet
      name: trove-agent
    patch: |-
      apiVersion: apps/v1
      kind: DaemonSet
      metadata:
        name: trove-agent
        namespace: trove-system
      spec:
        template:
          spec:
            volumes:
              - name: kubelet-pods
                hostPath:
                  path: %s
              - name: kubelet-plugins
                hostPath:
                  path: %s
              - name: restic-cache
                hostPath:
                  path: %s
              - name: repositories
                hostPath:
                  path: %s
`, rel, filepath.Join(c.KubeletRoot, "pods"), filepath.Join(c.KubeletRoot, "plugins"), c.path("agent-cache"), c.path("repositories"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644)
}

// DeploySamples applies deploy/samples/ and waits for the sample workload.
func (c Config) DeploySamples(ctx context.Context, bins Binaries) error {
	if _, err := c.Kubectl(ctx, bins, "apply", "--server-side", "-k", filepath.Join(c.ModuleRoot, samplesDir)); err != nil {
		return err
	}
	return c.WaitPodsRunning(ctx, SampleNamespace, "app.kubernetes.io/name=demo-app", time.Minute)
}

// WaitPodsRunning waits until the pods matching selector exist and all run
// with every container ready.
func (c Config) WaitPodsRunning(ctx context.Context, namespace, selector string, timeout time.Duration) error {
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	var last string
	err = c.poll(ctx, timeout, fmt.Sprintf("pods %s in %s", selector, namespace), func() (bool, error) {
		pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if len(pods.Items) == 0 {
			last = "no pods yet"
			return false, nil
		}
		for _, p := range pods.Items {
			if !podRunningReady(&p) {
				last = describePod(&p)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last seen: %s)", err, last)
	}
	return nil
}

func podRunningReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, cs := range p.Status.ContainerStatuses {
		if !cs.Ready {
			return false
		}
	}
	return true
}

func describePod(p *corev1.Pod) string {
	s := fmt.Sprintf("%s phase %s", p.Name, p.Status.Phase)
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Waiting != nil:
			s += fmt.Sprintf("; %s waiting: %s %s", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message)
		case cs.State.Terminated != nil:
			s += fmt.Sprintf("; %s terminated: %s (exit %d)", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode)
		case !cs.Ready:
			s += fmt.Sprintf("; %s not ready", cs.Name)
		}
	}
	return s
}

// UpWithTrove brings the node up with its CSI stack (StartCSI), loads the images and
// deploys Trove: what `run` and the e2e suite start from. It returns the binaries it
// resolved.
func (c Config) UpWithTrove(ctx context.Context) (Binaries, error) {
	if err := c.Up(ctx); err != nil {
		return nil, err
	}
	bins, err := c.ResolveBinaries(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.StartCSI(ctx, bins); err != nil {
		return nil, fmt.Errorf("starting the CSI stack: %w", err)
	}
	if err := c.LoadImages(ctx, bins); err != nil {
		return nil, err
	}
	if err := c.DeployTrove(ctx, bins); err != nil {
		return nil, err
	}
	return bins, nil
}
