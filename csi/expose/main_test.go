package expose_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/go-logr/logr"
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
	crds, err := controlplane.SnapshotCRDs()
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(crds)
	cp, err := controlplane.Start(controlplane.Options{ExtraCRDDirs: []string{crds}})
	if err != nil {
		return 0, err
	}
	defer func() { _ = cp.Stop() }()
	c, err = client.New(cp.Config, client.Options{Scheme: controlplane.Scheme()})
	if err != nil {
		return 0, err
	}
	return m.Run(), nil
}
