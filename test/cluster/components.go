package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"trove.dev/trove/test/images"
)

// component is one supervised process of the node.
type component struct {
	name string
	bin  string
	args []string
}

// components returns the node's processes in start order.
func (c Config) components(bins Binaries) []component {
	pki := c.pki
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", c.EtcdPort)
	return []component{
		{name: "containerd", bin: "/usr/bin/containerd", args: []string{"--config", c.path("containerd", "config.toml")}},
		{name: "etcd", bin: bins["etcd"], args: []string{
			"--name", c.NodeName,
			"--data-dir", c.path("etcd"),
			"--listen-client-urls", etcdURL,
			"--advertise-client-urls", etcdURL,
			"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", c.EtcdPeerPort),
			"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", c.EtcdPeerPort),
			"--initial-cluster", fmt.Sprintf("%s=http://127.0.0.1:%d", c.NodeName, c.EtcdPeerPort),
			"--unsafe-no-fsync",
			"--log-level", "warn",
		}},
		{name: "kube-apiserver", bin: bins["kube-apiserver"], args: []string{
			"--etcd-servers", etcdURL,
			"--bind-address", c.NodeIP,
			"--advertise-address", c.NodeIP,
			"--secure-port", strconv.Itoa(c.APIServerPort),
			"--tls-cert-file", pki("apiserver.crt"),
			"--tls-private-key-file", pki("apiserver.key"),
			"--client-ca-file", pki("ca.crt"),
			"--kubelet-client-certificate", pki("apiserver-kubelet-client.crt"),
			"--kubelet-client-key", pki("apiserver-kubelet-client.key"),
			"--kubelet-preferred-address-types", "InternalIP,Hostname",
			"--service-cluster-ip-range", c.ServiceCIDR,
			"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file", pki("sa.pub"),
			"--service-account-signing-key-file", pki("sa.key"),
			"--authorization-mode", "Node,RBAC",
			"--allow-privileged=true",
			"--profiling=false",
			"--v=1",
		}},
		{name: "kube-controller-manager", bin: bins["kube-controller-manager"], args: []string{
			"--kubeconfig", c.path("controller-manager.kubeconfig"),
			"--authentication-kubeconfig", c.path("controller-manager.kubeconfig"),
			"--authorization-kubeconfig", c.path("controller-manager.kubeconfig"),
			"--bind-address", "127.0.0.1",
			"--use-service-account-credentials=true",
			"--service-account-private-key-file", pki("sa.key"),
			"--root-ca-file", pki("ca.crt"),
			"--cluster-signing-cert-file", pki("ca.crt"),
			"--cluster-signing-key-file", pki("ca.key"),
			"--service-cluster-ip-range", c.ServiceCIDR,
			"--leader-elect=false",
			"--profiling=false",
			"--v=1",
		}},
		{name: "kube-scheduler", bin: bins["kube-scheduler"], args: []string{
			"--kubeconfig", c.path("scheduler.kubeconfig"),
			"--authentication-kubeconfig", c.path("scheduler.kubeconfig"),
			"--authorization-kubeconfig", c.path("scheduler.kubeconfig"),
			"--bind-address", "127.0.0.1",
			"--leader-elect=false",
			"--profiling=false",
			"--v=1",
		}},
		{name: "kubelet", bin: bins["kubelet"], args: []string{
			"--config", c.path("kubelet.yaml"),
			"--kubeconfig", c.path("kubelet.kubeconfig"),
			"--root-dir", c.KubeletRoot,
			"--node-ip", c.NodeIP,
			"--hostname-override", c.NodeName,
			"--v=1",
		}},
		{name: "kube-proxy", bin: bins["kube-proxy"], args: []string{
			"--config", c.path("kube-proxy.yaml"),
			"--hostname-override", c.NodeName,
			"--v=1",
		}},
	}
}

// writeConfigs writes containerd's, the CNI's, the kubelet's and kube-proxy's
// configuration under StateDir.
func (c Config) writeConfigs() error {
	ctrd := c.path("containerd")
	files := map[string]string{
		filepath.Join(ctrd, "config.toml"): fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  # The VM lacks CAP_SYS_RESOURCE: without this every sandbox fails with
  # "nsexec: failed to update /proc/self/oom_score_adj: Permission denied".
  restrict_oom_score_adj = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[6]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[7]q
`, filepath.Join(ctrd, "root"), filepath.Join(ctrd, "state"), c.ContainerdSocket(),
			filepath.Join(ctrd, "containerd.sock.ttrpc"), images.PauseRef, filepath.Join(ctrd, "runc"), c.path("cni", "net.d")),

		// containerd's CRI sets up each pod's lo itself with the loopback plugin
		// (from bin_dir) and uses the first network list of conf_dir.
		c.path("cni", "net.d", "10-trove.conflist"): fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": %[1]q,
  "plugins": [
    {
      "type": "bridge",
      "bridge": %[2]q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %[3]q,
        "ranges": [[{"subnet": %[4]q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, cniNetworkName, bridgeLink, c.path("cni", "ipam"), c.PodCIDR),

		c.path("kubelet.yaml"): fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: %[2]s
tlsPrivateKeyFile: %[3]s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %[4]s}
# Only the apiserver (system:masters client certificate) reaches the kubelet,
# on an address that exists only on this machine.
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://%[5]s
# This VM has cgroup v1 only.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
serializeImagePulls: false
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%%
  nodefs.inodesFree: 1%%
  imagefs.available: 1%%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, c.NodeIP, c.pki("kubelet-serving.crt"), c.pki("kubelet-serving.key"), c.pki("ca.crt"), c.ContainerdSocket()),

		c.path("kube-proxy.yaml"): fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: %[1]s
clusterCIDR: %[2]s
bindAddress: %[3]s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [%[3]s/32]
iptables:
  localhostNodePorts: false
conntrack:
  # Leave the machine's conntrack sysctls alone.
  maxPerCore: 0
`, c.path("kube-proxy.kubeconfig"), c.PodCIDR, c.NodeIP),
	}
	for file, content := range files {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
