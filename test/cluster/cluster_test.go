package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnescapeMountPath(t *testing.T) {
	for in, want := range map[string]string{
		`/var/lib/kubelet/pods`:     "/var/lib/kubelet/pods",
		`/mnt/with\040space`:        "/mnt/with space",
		`/a\011tab\134backslash`:    "/a\ttab\\backslash",
		`/trailing\04`:              `/trailing\04`,
		`/var/lib/trove-dev/x\040y`: "/var/lib/trove-dev/x y",
	} {
		if got := unescapeMountPath(in); got != want {
			t.Errorf("unescapeMountPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConfigsCarryTheVMSettings checks the settings this kind of VM needs
// (cgroup v1, no CAP_SYS_RESOURCE) and that everything stays under StateDir.
func TestConfigsCarryTheVMSettings(t *testing.T) {
	state := t.TempDir()
	c := Config{StateDir: state, KubeletRoot: "/var/lib/kubelet", NodeName: "n", NodeIP: "10.213.0.1", NodeCIDR: 24,
		PodCIDR: "10.214.0.0/24", ServiceCIDR: "10.215.0.0/24", APIServerPort: 6443}
	if err := c.writeConfigs(); err != nil {
		t.Fatal(err)
	}
	for file, wants := range map[string][]string{
		"containerd/config.toml": {"restrict_oom_score_adj = true", "SystemdCgroup = false", `sandbox_image = "trove.dev/pause:dev"`,
			`address = "` + state + `/containerd/containerd.sock"`, "netns_mounts_under_state_dir = true"},
		"kubelet.yaml":                {"failCgroupV1: false", "cgroupDriver: cgroupfs", "address: 10.213.0.1"},
		"kube-proxy.yaml":             {"mode: iptables"},
		"cni/net.d/10-trove.conflist": {`"bridge": "trove-cni0"`, `"ipMasq": false`, `"dataDir": "` + state + `/cni/ipam"`},
	} {
		b, err := os.ReadFile(filepath.Join(state, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wants {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %q", file, w)
			}
		}
	}
}

func TestValidateRefusesDangerousDirectories(t *testing.T) {
	for _, tc := range []struct {
		state, kubelet string
		ok             bool
	}{
		{"/var/lib/trove-dev", "/var/lib/kubelet", true},
		{"/", "/var/lib/kubelet", false},
		{"/var", "/var/lib/kubelet", false},
		{"/var/lib", "/var/lib/kubelet", false},
		{"var/lib/trove-dev", "/var/lib/kubelet", false},
		{"/var/lib/trove-dev/", "/var/lib/kubelet", false},
		{"/var/lib/trove-dev", "/var/lib/trove-dev/kubelet", false},
		{"/srv/trove/state", "/srv/trove/kubelet", true},
	} {
		err := Config{StateDir: tc.state, KubeletRoot: tc.kubelet}.validate()
		if (err == nil) != tc.ok {
			t.Errorf("validate(%q, %q) = %v, want ok %t", tc.state, tc.kubelet, err, tc.ok)
		}
	}
}

// TestDeployListsEveryGeneratedManifest keeps deploy/kustomization.yaml in
// step with what controller-gen writes into deploy/crds and deploy/rbac, and
// with the default Functions and Tasks in deploy/functions: kustomize has no
// globs, so a new file must be listed there.
func TestDeployListsEveryGeneratedManifest(t *testing.T) {
	root, err := FindModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile(filepath.Join(root, "deploy", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	generated, _ := filepath.Glob(filepath.Join(root, "deploy", "crds", "*.yaml"))
	roles, _ := filepath.Glob(filepath.Join(root, "deploy", "rbac", "*", "*.yaml"))
	functions, _ := filepath.Glob(filepath.Join(root, "deploy", "functions", "*.yaml"))
	if len(functions) == 0 {
		t.Error("deploy/functions holds no default Functions and Tasks")
	}
	for _, f := range append(append(generated, roles...), functions...) {
		rel, _ := filepath.Rel(filepath.Join(root, "deploy"), f)
		if rel == "crds/kustomization.yaml" {
			continue
		}
		if !strings.Contains(string(k), "\n  - "+rel+"\n") {
			t.Errorf("deploy/kustomization.yaml does not list %s", rel)
		}
	}
}
