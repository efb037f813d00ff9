// Command devenv runs Trove's control plane alone (kube-apiserver + etcd with Trove's
// CRDs), writes an admin kubeconfig and waits for Ctrl-C. It needs no node and no root;
// `make controlplane` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"trove.dev/trove/test/controlplane"
)

func main() {
	kubeconfig := flag.String("kubeconfig", filepath.Join(controlplane.RepoRoot(), ".trove", "kubeconfig"), "where to write the admin kubeconfig")
	flag.Parse()
	if err := run(*kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "devenv:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Println("Starting kube-apiserver and etcd (the first run builds them: ~6 minutes on 2 cores)...")
	cp, err := controlplane.Start(controlplane.Options{})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("Stopping the control plane...")
		if err := cp.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "devenv: stopping:", err)
		}
		_ = os.Remove(kubeconfig)
	}()
	if err := cp.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}
	kinds, err := cp.ServedKinds(ctx)
	if err != nil {
		return err
	}
	sort.Strings(kinds)
	fmt.Printf(`
Trove's control plane is up at %s with the trove.dev kinds:
  %s

Try:
  export KUBECONFIG=%s
  kubectl get crds
  kubectl create namespace demo && kubectl apply -f docs/examples/workload-backup.yaml
  kubectl get backupconfigurations -n demo

Press Ctrl-C to stop; everything is removed on exit.
`, cp.Config.Host, strings.Join(kinds, ", "), kubeconfig)
	<-ctx.Done()
	return nil
}
