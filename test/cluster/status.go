package cluster

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// componentNames lists the node's processes in start order.
var componentNames = []string{"containerd", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"}

// Status is what runs of the node.
type Status struct {
	// Pids of the running components; a stopped one is absent.
	Pids map[string]int
	// CSIPids of the CSI stack's running processes (StartCSI; not part of Ready).
	CSIPids map[string]int
	// APIServer reports /readyz; Node the node's Ready condition.
	APIServer, Node bool
}

// Status inspects the node without changing anything.
func (c Config) Status(ctx context.Context) Status {
	st := Status{Pids: map[string]int{}, CSIPids: map[string]int{}}
	for _, name := range componentNames {
		if pid := c.runningPid(name); pid > 0 {
			st.Pids[name] = pid
		}
	}
	for _, name := range csiComponentNames {
		if pid := c.runningPid(name); pid > 0 {
			st.CSIPids[name] = pid
		}
	}
	if st.Pids["kube-apiserver"] > 0 {
		st.APIServer = c.apiserverReady(ctx)
	}
	if st.APIServer {
		if cs, err := c.Clientset(); err == nil {
			st.Node = nodeReady(ctx, cs, c.NodeName)
		}
	}
	return st
}

// Ready reports whether every component runs and the node is Ready.
func (s Status) Ready() bool {
	return len(s.Pids) == len(componentNames) && s.APIServer && s.Node
}

// Any reports whether any component runs.
func (s Status) Any() bool { return len(s.Pids) > 0 || len(s.CSIPids) > 0 }

// CSIReady reports whether every process of the CSI stack runs.
func (s Status) CSIReady() bool { return len(s.CSIPids) == len(csiComponentNames) }

// Summary is one line: each component running or stopped, then readiness.
func (s Status) Summary() string {
	var parts []string
	for _, name := range componentNames {
		if pid := s.Pids[name]; pid > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", name, pid))
		} else {
			parts = append(parts, name+"=stopped")
		}
	}
	for _, name := range csiComponentNames {
		if pid := s.CSIPids[name]; pid > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", name, pid))
		}
	}
	parts = append(parts, fmt.Sprintf("apiserver-ready=%t node-ready=%t", s.APIServer, s.Node))
	return strings.Join(parts, " ")
}

// Processes lists every process of the node: the components, containerd's
// shims and the pods' processes.
func (c Config) Processes() []int {
	seen := map[int]bool{}
	var pids []int
	for _, name := range append(append([]string{}, componentNames...), csiComponentNames...) {
		if pid := c.runningPid(name); pid > 0 && !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	for _, pid := range c.strayProcesses() {
		if !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	return pids
}

// MemoryRSS sums the resident memory of the node's processes, in bytes.
func (c Config) MemoryRSS() int64 {
	var total int64
	for _, pid := range c.Processes() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				var kb int64
				if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
					total += kb * 1024
				}
			}
		}
	}
	return total
}
