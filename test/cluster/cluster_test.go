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

// TestCSIComponentsStayOnTheNode checks that the CSI stack's sockets and state live under
// StateDir (so down removes them), that the kubelet finds the driver under its root, that
// every sidecar talks to the driver's socket without leader election, and that the
// snapshot CRDs are found in the module cache.
func TestCSIComponentsStayOnTheNode(t *testing.T) {
	c := Config{StateDir: "/var/lib/trove-dev", KubeletRoot: "/var/lib/kubelet", NodeName: "n"}
	if got, want := c.csiRegistrationSocket(), "/var/lib/kubelet/plugins_registry/csi.trove.dev-reg.sock"; got != want {
		t.Errorf("registration socket %s, want %s", got, want)
	}
	bins := Binaries{"csi-provisioner": "/cache/csi-provisioner", "csi-snapshotter": "/cache/csi-snapshotter", "snapshot-controller": "/cache/snapshot-controller"}
	comps := c.csiComponents(bins)
	if len(comps) != len(csiComponentNames) {
		t.Fatalf("%d components, want %d", len(comps), len(csiComponentNames))
	}
	for i, comp := range comps {
		if comp.name != csiComponentNames[i] || !nodeProgram[filepath.Base(comp.bin)] {
			t.Errorf("component %d: %s (%s), want %s, a node program", i, comp.name, comp.bin, csiComponentNames[i])
		}
		args := strings.Join(comp.args, " ")
		if !strings.Contains(args, c.StateDir+"/") {
			t.Errorf("%s: no argument under the state directory (down finds its processes by it): %s", comp.name, args)
		}
		if comp.name == "trove-csidriver" {
			for _, w := range []string{"--endpoint unix:///var/lib/trove-dev/csi/csi.sock", "--state-dir /var/lib/trove-dev/csi/data", "--kubelet-root /var/lib/kubelet", "--node-name n"} {
				if !strings.Contains(args, w) {
					t.Errorf("driver args lack %q: %s", w, args)
				}
			}
			continue
		}
		if !strings.Contains(args, "--leader-election=false") || !strings.Contains(args, "--kubeconfig /var/lib/trove-dev/kubeconfig") {
			t.Errorf("%s: want the admin kubeconfig and no leader election: %s", comp.name, args)
		}
		if comp.name != "snapshot-controller" && !strings.Contains(args, "--csi-address /var/lib/trove-dev/csi/csi.sock") {
			t.Errorf("%s: not on the driver's socket: %s", comp.name, args)
		}
	}
	for _, w := range []string{"attachRequired: false", "provisioner: csi.trove.dev", "volumeBindingMode: WaitForFirstConsumer", "kind: VolumeSnapshotClass", "deletionPolicy: Delete", "name: trove-csi"} {
		if !strings.Contains(csiObjects(), w) {
			t.Errorf("the CSI objects lack %q", w)
		}
	}
	root, err := FindModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := Config{ModuleRoot: root}.SnapshotCRDFiles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasPrefix(filepath.Base(f), "snapshot.storage.k8s.io_") {
			t.Errorf("not a snapshot CRD: %s", f)
		}
	}
}
