package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The node's processes run detached from the command that started them (own
// session, standard streams to <StateDir>/logs/<name>.log) so that `up` can
// return; each has a pid file <StateDir>/run/<name>.pid. A pid is only trusted
// while /proc/<pid>/cmdline still names the component's binary.

func (c Config) pidFile(name string) string { return filepath.Join(c.runDir(), name+".pid") }

// start launches comp unless it is running already.
func (c Config) start(comp component) error {
	if pid := c.runningPid(comp.name); pid > 0 {
		return nil
	}
	for _, dir := range []string{c.runDir(), c.logDir()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	logf, err := os.OpenFile(c.LogFile(comp.name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "==== %s: %s %s\n", time.Now().UTC().Format(time.RFC3339), comp.bin, strings.Join(comp.args, " "))
	cmd := exec.Command(comp.bin, comp.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = c.StateDir
	cmd.Env = append(os.Environ(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", comp.name, err)
	}
	pid := cmd.Process.Pid
	// Reap it if it exits while we are still running, so it never lingers as a zombie,
	// and say in its log how it ended.
	logPath := c.LogFile(comp.name)
	go func() {
		err := cmd.Wait()
		if f, ferr := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0); ferr == nil {
			fmt.Fprintf(f, "==== %s: %s exited: %v\n", time.Now().UTC().Format(time.RFC3339), comp.name, err)
			_ = f.Close()
		}
	}()
	return os.WriteFile(c.pidFile(comp.name), []byte(strconv.Itoa(pid)+"\n"+comp.bin+"\n"), 0o644)
}

// runningPid returns the pid of a running component, or 0.
func (c Config) runningPid(name string) int {
	b, err := os.ReadFile(c.pidFile(name))
	if err != nil {
		return 0
	}
	lines := strings.Split(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 || len(lines) < 2 {
		return 0
	}
	if !processRuns(pid, strings.TrimSpace(lines[1])) {
		return 0
	}
	return pid
}

// processRuns reports whether pid is alive (not a zombie) and runs bin.
func processRuns(pid int, bin string) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	return string(argv0) == bin
}

// stopPid sends SIGTERM, waits up to grace for the process to go, then SIGKILLs it.
func stopPid(pid int, grace time.Duration) {
	proc, err := os.FindProcess(pid)
	if err != nil {
		return
	}
	_ = proc.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = proc.Signal(syscall.SIGKILL)
	for i := 0; i < 100 && alive(pid); i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || len(stat) <= i+2 || stat[i+2] != 'Z'
}

// stop stops a component by its pid file and removes the pid file.
func (c Config) stop(name string, grace time.Duration) {
	if pid := c.runningPid(name); pid > 0 {
		stopPid(pid, grace)
	}
	if err := os.Remove(c.pidFile(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.logf("removing pid file of %s: %v", name, err)
	}
}

// strayProcesses lists processes that belong to the node although no pid file
// names them: anything whose command line mentions StateDir or the kubelet
// root (containerd shims, components of a crashed `up`), and the processes of
// the kubelet's pod cgroups.
func (c Config) strayProcesses() []int {
	self := os.Getpid()
	seen := map[int]bool{}
	var pids []int
	add := func(pid int) {
		if pid != self && pid > 1 && !seen[pid] && alive(pid) {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	entries, _ := os.ReadDir("/proc")
	needles := [][]byte{[]byte(c.StateDir + "/"), []byte("--root-dir\x00" + c.KubeletRoot)}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		argv0, _, _ := bytes.Cut(cmdline, []byte{0})
		if !nodeProgram[filepath.Base(string(argv0))] {
			continue
		}
		for _, n := range needles {
			if bytes.Contains(cmdline, n) {
				add(pid)
				break
			}
		}
	}
	for _, pid := range podCgroupProcesses() {
		add(pid)
	}
	return pids
}

// nodeProgram names the programs a node runs; strayProcesses kills no other
// program, even if it mentions the state directory (a user's `tail -f` of a log).
var nodeProgram = map[string]bool{
	"containerd": true, "containerd-shim-runc-v2": true, "runc": true, "etcd": true,
	"kube-apiserver": true, "kube-controller-manager": true, "kube-scheduler": true,
	"kubelet": true, "kube-proxy": true,
	"trove-csidriver": true, "csi-provisioner": true, "csi-snapshotter": true, "snapshot-controller": true,
}

// podCgroupProcesses lists the processes in the kubelet's pod cgroups
// (cgroupfs driver: /sys/fs/cgroup/<controller>/kubepods/...).
func podCgroupProcesses() []int {
	var pids []int
	for _, dir := range podCgroupDirs() {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// podCgroupDirs returns every cgroup directory under kubepods, deepest first.
func podCgroupDirs() []string {
	var dirs []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	if _, err := os.Stat("/sys/fs/cgroup/kubepods"); err == nil {
		roots = append(roots, "/sys/fs/cgroup/kubepods") // cgroup v2
	}
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	// Deepest first, so that removing them in order works.
	for i, j := 0, len(dirs)-1; i < j; i, j = i+1, j-1 {
		dirs[i], dirs[j] = dirs[j], dirs[i]
	}
	return dirs
}
