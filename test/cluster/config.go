// Package cluster brings up, inspects and tears down Trove's dev/e2e node: a
// real single-node Kubernetes cluster on this machine, without Docker and
// without a registry. The control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) and the node (kubelet, kube-proxy)
// are built from the Go module proxy at the versions pinned in hack/versions.env
// (hack/bin.sh); containerd, runc, the CNI plugins and iptables come from
// Debian and are installed with apt-get when missing. Images are written
// offline (package test/images) and imported into containerd.
//
// Everything runs as root on Linux. All state lives under Config.StateDir and
// the kubelet's root directory; Down stops every process and removes every
// mount, interface and iptables chain Up created, also after a failed Up.
package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Config describes the dev node. The zero value is not usable: start from
// DefaultConfig.
type Config struct {
	// StateDir holds certificates, configuration, logs, pid files, etcd's data
	// and containerd's root and state. Default /var/lib/trove-dev ($TROVE_STATE).
	StateDir string
	// KubeletRoot is the kubelet's --root-dir; pods' volumes are laid out under
	// <KubeletRoot>/pods. Default /var/lib/kubelet ($TROVE_KUBELET_ROOT).
	KubeletRoot string
	// ModuleRoot is Trove's source tree (hack/bin.sh, deploy/, cmd/trove).
	ModuleRoot string
	// NodeName is the Node's name and the kubelet's identity.
	NodeName string
	// NodeIP is the node's address, on a veth pair that exists only on this
	// machine; NodeCIDR is its prefix length.
	NodeIP   string
	NodeCIDR int
	// PodCIDR is the pods' subnet on the CNI bridge; ServiceCIDR the Services'.
	PodCIDR     string
	ServiceCIDR string
	// KubernetesServiceIP is the first address of ServiceCIDR.
	KubernetesServiceIP string
	// Ports of etcd (client, peer) and the apiserver; chosen away from the
	// defaults so that an envtest or another etcd on this machine does not clash.
	EtcdPort, EtcdPeerPort, APIServerPort int
	// ExternalKubeconfig, when set, points the Kubernetes helpers (Kubectl,
	// Clientset, DeployTrove, WaitPodsRunning) at another cluster, e.g. kind;
	// Up, Down and Status are for the dev node only.
	ExternalKubeconfig string
	// Log is where progress messages go (nil: standard error).
	Log func(format string, args ...any)
}

// Interface names; all must stay short (IFNAMSIZ is 16).
const (
	nodeLink       = "trove0" // carries NodeIP
	nodeLinkPeer   = "trove1" // the other end of the veth pair
	bridgeLink     = "trove-cni0"
	cniNetworkName = "trove"
	ownerMarker    = ".trove-dev" // marks a kubelet root this package created
)

// DefaultConfig returns the dev node's configuration, honouring TROVE_STATE and
// TROVE_KUBELET_ROOT, with the module found from the working directory.
func DefaultConfig() (Config, error) {
	root, err := FindModuleRoot()
	if err != nil {
		return Config{}, err
	}
	return Config{
		StateDir:            envOr("TROVE_STATE", "/var/lib/trove-dev"),
		KubeletRoot:         envOr("TROVE_KUBELET_ROOT", "/var/lib/kubelet"),
		ModuleRoot:          root,
		NodeName:            "trove-dev",
		NodeIP:              "10.213.0.1",
		NodeCIDR:            24,
		PodCIDR:             "10.214.0.0/24",
		ServiceCIDR:         "10.215.0.0/24",
		KubernetesServiceIP: "10.215.0.1",
		EtcdPort:            12379,
		EtcdPeerPort:        12380,
		APIServerPort:       6443,
	}, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// FindModuleRoot walks up from the working directory to Trove's go.mod.
func FindModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module trove.dev/trove\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside Trove's source tree (no go.mod of trove.dev/trove above the working directory)")
		}
		dir = parent
	}
}

// validate refuses state and kubelet directories that Down must not delete:
// relative paths and the machine's own top-level directories.
func (c Config) validate() error {
	for what, dir := range map[string]string{"state directory (TROVE_STATE)": c.StateDir, "kubelet root (TROVE_KUBELET_ROOT)": c.KubeletRoot} {
		clean := filepath.Clean(dir)
		if !filepath.IsAbs(dir) || clean != dir || strings.Count(clean, "/") < 2 || clean == "/var/lib" || clean == "/usr/local" {
			return fmt.Errorf("the %s %q must be a clean absolute path at least two levels deep (it is deleted by down)", what, dir)
		}
	}
	if strings.HasPrefix(c.KubeletRoot+"/", c.StateDir+"/") || strings.HasPrefix(c.StateDir+"/", c.KubeletRoot+"/") {
		return fmt.Errorf("the state directory %s and the kubelet root %s must not contain each other", c.StateDir, c.KubeletRoot)
	}
	return nil
}

func (c Config) logf(format string, args ...any) {
	if c.Log != nil {
		c.Log(format, args...)
		return
	}
	fmt.Fprintf(os.Stderr, "cluster: "+format+"\n", args...)
}

// Paths under StateDir.
func (c Config) path(elem ...string) string {
	return filepath.Join(append([]string{c.StateDir}, elem...)...)
}

func (c Config) pkiDir() string { return c.path("pki") }
func (c Config) logDir() string { return c.path("logs") }
func (c Config) runDir() string { return c.path("run") }

// Kubeconfig is the admin kubeconfig (user "trove-admin", group
// system:masters), or ExternalKubeconfig when set.
func (c Config) Kubeconfig() string {
	if c.ExternalKubeconfig != "" {
		return c.ExternalKubeconfig
	}
	return c.path("kubeconfig")
}

// ContainerdSocket is the address of the node's own containerd.
func (c Config) ContainerdSocket() string { return c.path("containerd", "containerd.sock") }

// APIServerURL is the apiserver's address on the node IP.
func (c Config) APIServerURL() string {
	return fmt.Sprintf("https://%s:%d", c.NodeIP, c.APIServerPort)
}

// LogFile is the log of one of the node's components.
func (c Config) LogFile(component string) string {
	return filepath.Join(c.logDir(), component+".log")
}
