package expose_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v6/apis/volumesnapshot/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"trove.dev/trove/test/controlplane"
)

// The integration tests run on a real kube-apiserver with the snapshot CRDs installed.
// There is no snapshot controller, CSI driver, scheduler, kubelet or controller-manager:
// the tests play their parts through the API (VolumeSnapshot status, pod binding and
// phase, PVC binding, finalizers), which is the contract the exposure relies on.
var (
	c     client.Client
	clock = &controlplane.Clock{}
)

func TestMain(m *testing.M) {
	logf.SetLogger(logr.Discard())
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	crds, err := snapshotCRDs()
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(crds)
	cp, err := controlplane.Start(controlplane.Options{ExtraCRDDirs: []string{crds}})
	if err != nil {
		return 0, err
	}
	defer func() { _ = cp.Stop() }()
	c, err = client.New(cp.Config, client.Options{Scheme: scheme()})
	if err != nil {
		return 0, err
	}
	return m.Run(), nil
}

func scheme() *runtime.Scheme {
	s := controlplane.Scheme()
	if err := snapv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// snapshotCRDs copies the snapshot.storage.k8s.io CRDs of the client module (not the
// group snapshot ones, nor its kustomization) into a temporary directory.
func snapshotCRDs() (string, error) {
	const mod = "github.com/kubernetes-csi/external-snapshotter/client/v6"
	dir, err := moduleDir(mod)
	if err != nil {
		return "", err
	}
	files, err := filepath.Glob(filepath.Join(dir, "config", "crd", "snapshot.storage.k8s.io_*.yaml"))
	if err != nil || len(files) != 3 {
		return "", fmt.Errorf("expected the 3 snapshot CRDs in %s/config/crd, found %v (%v)", dir, files, err)
	}
	tmp, err := os.MkdirTemp("", "snapshot-crds-")
	if err != nil {
		return "", err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			err = os.WriteFile(filepath.Join(tmp, filepath.Base(f)), b, 0o644)
		}
		if err != nil {
			return "", err
		}
	}
	return tmp, nil
}

// moduleDir is where the go tool keeps a module of go.mod.
func moduleDir(path string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", path)
	cmd.Dir = controlplane.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", path, err)
	}
	return strings.TrimSpace(string(out)), nil
}
