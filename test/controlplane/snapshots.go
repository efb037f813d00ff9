package controlplane

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// SnapshotCRDs copies the snapshot.storage.k8s.io CRDs (VolumeSnapshot, -Class,
// -Content) of the external-snapshotter client module in go.mod into a new temporary
// directory, for Options.ExtraCRDDirs; the caller removes it.
func SnapshotCRDs() (string, error) {
	const mod = "github.com/kubernetes-csi/external-snapshotter/client/v6"
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod)
	cmd.Dir = RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", mod, err)
	}
	dir := strings.TrimSpace(string(out))
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
			os.RemoveAll(tmp)
			return "", err
		}
	}
	return tmp, nil
}
