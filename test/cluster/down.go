package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// LastLogs is where Down keeps the components' logs of the last run.
func LastLogs() string { return filepath.Join(os.TempDir(), "trove-dev-logs") }

// Down stops every process of the node and removes its mounts, interfaces,
// iptables chains, pod cgroups and state (StateDir and the kubelet root it
// created). It works on a node in any state, also after a failed Up, and
// reports what it could not clean (Leftovers).
func (c Config) Down(ctx context.Context) error {
	if err := CheckHost(); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	start := time.Now()
	var errs []error
	// The CSI sidecars, then the kubelet, so that it does not restart what is stopped next.
	c.stopCSISidecars()
	for _, name := range []string{"kubelet", "kube-proxy", "kube-scheduler", "kube-controller-manager"} {
		c.stopTimed(name)
	}
	// The pods' processes and their shims, before containerd.
	for _, pid := range podCgroupProcesses() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// The CSI driver once no pod uses its volumes (unmountAll removes their mounts).
	for _, name := range []string{"trove-csidriver", "containerd", "kube-apiserver", "etcd"} {
		c.stopTimed(name)
	}
	// Whatever a crashed Up or a lost pid file left behind.
	for round := 0; round < 5; round++ {
		stray := c.strayProcesses()
		if len(stray) == 0 {
			break
		}
		for _, pid := range stray {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := c.unmountAll(); err != nil {
		errs = append(errs, err)
	}
	for _, dir := range podCgroupDirs() {
		_ = syscall.Rmdir(dir)
	}
	if err := c.removeLinks(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := c.removeIptables(ctx); err != nil {
		errs = append(errs, err)
	}
	c.removeCNICache()
	if err := c.removeState(); err != nil {
		errs = append(errs, err)
	}
	if left := c.Leftovers(ctx); len(left) > 0 {
		errs = append(errs, fmt.Errorf("left behind: %s", strings.Join(left, "; ")))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	c.logf("node down and cleaned in %s (last logs in %s)", time.Since(start).Round(100*time.Millisecond), LastLogs())
	return nil
}

// stopTimed stops a component, saying so when that takes long.
func (c Config) stopTimed(name string) {
	start := time.Now()
	c.stop(name, 10*time.Second)
	if d := time.Since(start); d > time.Second {
		c.logf("stopping %s took %s", name, d.Round(100*time.Millisecond))
	}
}

// removeCNICache removes libcni's cached results for our network, which the
// CRI keeps under /var/lib/cni.
func (c Config) removeCNICache() {
	for _, network := range []string{cniNetworkName, "cni-loopback"} {
		files, _ := filepath.Glob("/var/lib/cni/results/" + network + "-*")
		for _, f := range files {
			_ = os.Remove(f)
		}
	}
	// Only removes the directories if nothing else uses them.
	_ = os.Remove("/var/lib/cni/results")
	_ = os.Remove("/var/lib/cni")
}

// removeState keeps the logs in LastLogs and deletes StateDir and the kubelet
// root (only if this package created it) once no mount is left under them:
// removing a tree with a live bind mount inside would delete the mounted data.
func (c Config) removeState() error {
	if mounts, err := c.nodeMounts(); err != nil || len(mounts) > 0 {
		return fmt.Errorf("not removing %s and %s: mounts are left (%v)", c.StateDir, c.KubeletRoot, mounts)
	}
	if _, err := os.Stat(c.logDir()); err == nil {
		_ = os.RemoveAll(LastLogs())
		if err := os.Rename(c.logDir(), LastLogs()); err != nil {
			c.logf("keeping logs: %v", err)
		}
	}
	if err := os.RemoveAll(c.StateDir); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(c.KubeletRoot, ownerMarker)); err == nil {
		return os.RemoveAll(c.KubeletRoot)
	}
	return nil
}

// Leftovers lists what of the node is still on the machine: processes, mounts,
// interfaces, iptables chains and pod cgroups. Empty after a clean Down.
func (c Config) Leftovers(ctx context.Context) []string {
	var left []string
	for _, pid := range c.strayProcesses() {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		argv0, _, _ := strings.Cut(string(cmd), "\x00")
		left = append(left, fmt.Sprintf("process %d (%s)", pid, argv0))
	}
	for _, comp := range append(append([]string{}, componentNames...), csiComponentNames...) {
		if pid := c.runningPid(comp); pid > 0 {
			left = append(left, fmt.Sprintf("process %d (%s)", pid, comp))
		}
	}
	left = append(left, c.csiLeftovers()...)
	mounts, err := c.nodeMounts()
	if err != nil {
		left = append(left, "mounts unknown: "+err.Error())
	}
	for _, m := range mounts {
		left = append(left, "mount "+m)
	}
	for _, l := range c.nodeLinks(ctx) {
		left = append(left, "interface "+l)
	}
	for _, ch := range c.iptablesChains(ctx) {
		left = append(left, "chain "+ch)
	}
	if dirs := podCgroupDirs(); len(dirs) > 0 {
		left = append(left, fmt.Sprintf("%d pod cgroups (/sys/fs/cgroup/*/kubepods)", len(dirs)))
	}
	return left
}
