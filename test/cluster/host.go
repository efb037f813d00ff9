package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// debPackages maps each Debian package the node needs to a file it installs.
var debPackages = []struct{ pkg, file string }{
	{"containerd", "/usr/bin/containerd"},
	{"runc", "/usr/sbin/runc"},
	{"containernetworking-plugins", "/usr/lib/cni/bridge"},
	{"iptables", "/usr/sbin/iptables"},
	{"conntrack", "/usr/sbin/conntrack"},
	{"socat", "/usr/bin/socat"},
	{"busybox-static", "/bin/busybox"},
	{"iproute2", "/usr/sbin/ip"},
}

// Busybox is the static busybox of Debian's busybox-static.
const Busybox = "/bin/busybox"

// CheckHost fails unless this is Linux and we are root: the node mounts,
// creates network interfaces and iptables rules, and runs containers.
func CheckHost() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("the dev node runs on Linux only (this is %s); on a Docker host use kind/ instead", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return errors.New("the dev node must run as root (it installs Debian packages, mounts, creates network interfaces and iptables rules): run it with sudo, or use kind/ on a Docker host")
	}
	return nil
}

// EnsurePackages installs the Debian packages the node needs when any is
// missing (apt-get update once, then apt-get install).
func (c Config) EnsurePackages(ctx context.Context) error {
	var missing []string
	for _, p := range debPackages {
		if _, err := os.Stat(p.file); err != nil {
			missing = append(missing, p.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("missing Debian packages %s and no apt-get to install them: install them by hand", strings.Join(missing, " "))
	}
	c.logf("installing Debian packages: %s", strings.Join(missing, " "))
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if _, err := c.run(ctx, env, "apt-get", "update", "-q"); err != nil {
		return err
	}
	args := append([]string{"install", "-y", "-q", "--no-install-recommends"}, missing...)
	if _, err := c.run(ctx, env, "apt-get", args...); err != nil {
		return err
	}
	// Debian starts the packaged containerd: the node runs its own, so the
	// system one is stopped again (it would only use memory and /run/containerd).
	if _, err := exec.LookPath("systemctl"); err == nil {
		_, _ = c.run(ctx, nil, "systemctl", "disable", "--now", "containerd")
	}
	return nil
}

// Binaries holds the paths of the pinned binaries built by hack/bin.sh.
type Binaries map[string]string

var binaryNames = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl", "restic"}

// ResolveBinaries returns the cached binaries, building the missing ones from
// the Go module proxy (hack/bin.sh; the first build takes ~10 minutes on 2 cores).
func (c Config) ResolveBinaries(ctx context.Context) (Binaries, error) {
	return c.resolveBinaries(ctx, binaryNames)
}

// resolveBinaries returns the cached binaries of names, building the missing ones.
func (c Config) resolveBinaries(ctx context.Context, names []string) (Binaries, error) {
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(c.ModuleRoot, "hack", "bin.sh")}, names...)...)
	cmd.Dir = c.ModuleRoot
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("hack/bin.sh: %w", err)
	}
	paths := strings.Fields(string(out))
	if len(paths) != len(names) {
		return nil, fmt.Errorf("hack/bin.sh printed %d paths for %d binaries", len(paths), len(names))
	}
	bins := Binaries{}
	for i, name := range names {
		bins[name] = paths[i]
	}
	return bins, nil
}

// run runs a command and returns its standard output; errors carry its stderr.
func (c Config) run(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = env
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
