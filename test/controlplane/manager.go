package controlplane

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// TroveNamespace is the namespace reconciler suites create for Trove's own objects.
const TroveNamespace = "trove-system"

// RunWithManager is a reconciler suite's TestMain: it starts a control plane, creates
// TroveNamespace, lets setup register reconcilers on a manager, runs the manager
// during the tests, and stops everything. It returns the exit code for os.Exit.
func RunWithManager(m *testing.M, opts Options, setup func(manager.Manager, *ControlPlane) error) int {
	logf.SetLogger(logr.Discard())
	cp, err := Start(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = cp.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mgr, err := manager.New(cp.Config, manager.Options{Scheme: Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	if err == nil {
		err = cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: TroveNamespace}})
	}
	if err == nil {
		err = setup(mgr, cp)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	<-done
	return code
}
