package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"trove.dev/trove/test/csidriver"
)

// The dev node's CSI stack: Trove's test driver (test/csidriver) as a host process that
// registers with the kubelet through <kubelet-root>/plugins_registry itself, and the
// upstream csi-provisioner, csi-snapshotter and snapshot-controller built from the module
// proxy (hack/bin.sh) as host processes on the driver's socket. Everything lives under
// StateDir/csi; Down stops the processes and removes it with the rest of the state.
const (
	// CSIDriverName is the test driver's name: the StorageClass's provisioner and the
	// VolumeSnapshotClass's driver.
	CSIDriverName = csidriver.DefaultName
	// CSIStorageClass and CSISnapshotClass are the classes StartCSI creates, both named
	// trove-csi.
	CSIStorageClass  = "trove-csi"
	CSISnapshotClass = "trove-csi"

	// snapshotClientModule ships the snapshot CRDs in config/crd; go.mod requires it.
	snapshotClientModule = "github.com/kubernetes-csi/external-snapshotter/client/v6"
	csiRegisterTimeout   = 60 * time.Second
)

// csiComponentNames are the CSI stack's processes in start order.
var csiComponentNames = []string{"trove-csidriver", "snapshot-controller", "csi-provisioner", "csi-snapshotter"}

// csiBinaryNames are the sidecars hack/bin.sh builds (the driver is built from this tree).
var csiBinaryNames = []string{"csi-provisioner", "csi-snapshotter", "snapshot-controller"}

// CSISocket is the test driver's CSI endpoint (a unix socket under StateDir).
func (c Config) CSISocket() string { return c.path("csi", "csi.sock") }

// csiStateDir holds the driver's volumes, snapshots and index.
func (c Config) csiStateDir() string { return c.path("csi", "data") }

// csiDriverBinary is where StartCSI builds test/csidriver/cmd.
func (c Config) csiDriverBinary() string { return c.path("bin", "trove-csidriver") }

// csiRegistrationSocket is where the kubelet's plugin watcher finds the driver.
func (c Config) csiRegistrationSocket() string {
	return csidriver.RegistrationSocket(c.KubeletRoot, CSIDriverName)
}

// csiComponents returns the CSI stack's processes in start order. The sidecars use the
// admin kubeconfig (this is a single-user dev node) and no leader election (one replica).
// The CSIVolumeGroupSnapshot feature is off: the client/v6 CRDs carry only
// v1alpha1 group snapshots, and with the feature on the sidecars wait 30 s for v1 ones.
func (c Config) csiComponents(bins Binaries) []component {
	kubeconfig := c.Kubeconfig()
	socket := c.CSISocket()
	return []component{
		{name: "trove-csidriver", bin: c.csiDriverBinary(), args: []string{
			"--driver-name", CSIDriverName,
			"--state-dir", c.csiStateDir(),
			"--kubelet-root", c.KubeletRoot,
			"--node-name", c.NodeName,
			"--endpoint", "unix://" + socket,
		}},
		{name: "snapshot-controller", bin: bins["snapshot-controller"], args: []string{
			"--kubeconfig", kubeconfig,
			"--leader-election=false",
			"--feature-gates", "CSIVolumeGroupSnapshot=false",
			"--v=2",
		}},
		{name: "csi-provisioner", bin: bins["csi-provisioner"], args: []string{
			"--csi-address", socket,
			"--kubeconfig", kubeconfig,
			"--leader-election=false",
			"--extra-create-metadata",
			"--v=2",
		}},
		{name: "csi-snapshotter", bin: bins["csi-snapshotter"], args: []string{
			"--csi-address", socket,
			"--kubeconfig", kubeconfig,
			"--leader-election=false",
			"--feature-gates", "CSIVolumeGroupSnapshot=false",
			"--v=2",
		}},
	}
}

// csiObjects are the cluster objects of the stack, applied after the snapshot CRDs.
func csiObjects() string {
	return fmt.Sprintf(`apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata:
  name: %[1]s
spec:
  attachRequired: false
  podInfoOnMount: false
  volumeLifecycleModes: [Persistent]
  fsGroupPolicy: File
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: %[2]s
provisioner: %[1]s
reclaimPolicy: Delete
# The driver reports topology (its node): the scheduler picks the node first.
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata:
  name: %[3]s
  annotations:
    snapshot.storage.kubernetes.io/is-default-class: "true"
driver: %[1]s
deletionPolicy: Delete
`, CSIDriverName, CSIStorageClass, CSISnapshotClass)
}

// StartCSI brings up the CSI stack on the dev node (idempotent): it installs the
// snapshot CRDs, builds and starts the test driver, waits until the kubelet has
// registered it (CSINode), starts the sidecars and applies the CSIDriver, the
// StorageClass and the VolumeSnapshotClass. It adds the sidecars' paths to bins.
func (c Config) StartCSI(ctx context.Context, bins Binaries) error {
	if c.ExternalKubeconfig != "" {
		return errors.New("the CSI stack runs on the dev node only")
	}
	start := time.Now()
	side, err := c.resolveBinaries(ctx, csiBinaryNames)
	if err != nil {
		return err
	}
	for name, path := range side {
		bins[name] = path
	}
	if err := c.buildCSIDriver(ctx); err != nil {
		return err
	}
	if err := c.installSnapshotCRDs(ctx, bins); err != nil {
		return err
	}
	for _, comp := range c.csiComponents(bins) {
		if err := c.start(comp); err != nil {
			return err
		}
		if comp.name == "trove-csidriver" {
			if err := c.waitCSIRegistered(ctx); err != nil {
				return err
			}
		}
	}
	manifest := c.path("csi", "objects.yaml")
	if err := os.WriteFile(manifest, []byte(csiObjects()), 0o644); err != nil {
		return err
	}
	if _, err := c.Kubectl(ctx, bins, "apply", "--server-side", "-f", manifest); err != nil {
		return err
	}
	// A sidecar that cannot start (bad flag, socket) exits within a second or two.
	time.Sleep(time.Second)
	for _, name := range csiComponentNames {
		if c.runningPid(name) == 0 {
			return fmt.Errorf("%s exited (see %s)", name, c.LogFile(name))
		}
	}
	c.logf("CSI stack (%s, provisioner, snapshotter, snapshot controller; classes %s) up in %s", CSIDriverName, CSIStorageClass, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// buildCSIDriver builds test/csidriver/cmd into StateDir/bin (go's build cache makes
// a rebuild cheap).
func (c Config) buildCSIDriver(ctx context.Context) error {
	if c.runningPid("trove-csidriver") > 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.csiDriverBinary()), 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", c.csiDriverBinary(), "./test/csidriver/cmd")
	cmd.Dir = c.ModuleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the test CSI driver (go build ./test/csidriver/cmd): %w: %s", err, out)
	}
	return nil
}

// SnapshotCRDFiles returns the three snapshot.storage.k8s.io CRDs of the client module
// go.mod requires, downloading the module into the module cache when it is not there.
func (c Config) SnapshotCRDFiles(ctx context.Context) ([]string, error) {
	dir, err := c.goOutput(ctx, "list", "-m", "-f", "{{.Dir}}", snapshotClientModule)
	if err == nil && dir == "" {
		if _, err = c.goOutput(ctx, "mod", "download", snapshotClientModule); err == nil {
			dir, err = c.goOutput(ctx, "list", "-m", "-f", "{{.Dir}}", snapshotClientModule)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("finding %s in the module cache: %w", snapshotClientModule, err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "config", "crd", "snapshot.storage.k8s.io_*.yaml"))
	if err != nil || len(files) != 3 {
		return nil, fmt.Errorf("expected the 3 snapshot CRDs in %s/config/crd, found %v (%v)", dir, files, err)
	}
	return files, nil
}

func (c Config) goOutput(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = c.ModuleRoot
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// installSnapshotCRDs applies the snapshot CRDs and waits until they are served.
func (c Config) installSnapshotCRDs(ctx context.Context, bins Binaries) error {
	files, err := c.SnapshotCRDFiles(ctx)
	if err != nil {
		return err
	}
	args := []string{"apply", "--server-side"}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	if _, err := c.Kubectl(ctx, bins, args...); err != nil {
		return err
	}
	_, err = c.Kubectl(ctx, bins, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/volumesnapshots.snapshot.storage.k8s.io", "crd/volumesnapshotcontents.snapshot.storage.k8s.io", "crd/volumesnapshotclasses.snapshot.storage.k8s.io")
	return err
}

// waitCSIRegistered waits until the node's CSINode lists the driver: the kubelet found
// the registration socket, called GetInfo and NodeGetInfo, and labelled the node.
func (c Config) waitCSIRegistered(ctx context.Context) error {
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	return c.poll(ctx, csiRegisterTimeout, "the kubelet to register "+CSIDriverName, func() (bool, error) {
		if c.runningPid("trove-csidriver") == 0 {
			return false, fmt.Errorf("the test CSI driver exited (see %s)", c.LogFile("trove-csidriver"))
		}
		node, err := cs.StorageV1().CSINodes().Get(ctx, c.NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, d := range node.Spec.Drivers {
			if d.Name == CSIDriverName {
				return true, nil
			}
		}
		return false, nil
	})
}

// stopCSISidecars stops the sidecars (before the kubelet: they act on the API).
func (c Config) stopCSISidecars() {
	for _, name := range []string{"csi-snapshotter", "csi-provisioner", "snapshot-controller"} {
		c.stopTimed(name)
	}
}

// csiLeftovers lists the CSI stack's sockets still on the machine.
func (c Config) csiLeftovers() []string {
	var left []string
	for _, s := range []string{c.CSISocket(), c.csiRegistrationSocket()} {
		if _, err := os.Lstat(s); err == nil {
			left = append(left, "socket "+s)
		}
	}
	return left
}
