// Command cmd drives Trove's dev/e2e node (package test/cluster):
//
//	go run ./test/cluster/cmd up       # bring the node up (idempotent)
//	go run ./test/cluster/cmd status   # what runs; exit 1 unless the node is Ready
//	go run ./test/cluster/cmd run      # up + Trove + samples, until Ctrl-C, then down
//	go run ./test/cluster/cmd down     # stop everything and clean the machine
//
// It needs Linux and root. State: $TROVE_STATE (default /var/lib/trove-dev);
// kubelet root: $TROVE_KUBELET_ROOT (default /var/lib/kubelet).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"trove.dev/trove/test/cluster"
)

const usage = `usage: go run ./test/cluster/cmd up|down|status|run|deploy

  up      bring the single-node cluster up (idempotent) and wait for the node to be Ready
  deploy  up, start the CSI stack (test driver csi.trove.dev, csi-provisioner,
          csi-snapshotter, snapshot-controller; classes trove-csi), then build and
          import Trove's images and apply deploy/ (dev overlay)
  run     deploy, plus the samples in deploy/samples; stay up until Ctrl-C, then down
  status  print what runs; exit status 1 unless the node is Ready
  down    stop everything and remove mounts, interfaces, iptables chains and state

Needs Linux and root. State in $TROVE_STATE (default /var/lib/trove-dev),
kubelet root $TROVE_KUBELET_ROOT (default /var/lib/kubelet).
`

func main() {
	if len(os.Args) != 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := cluster.DefaultConfig()
	if err == nil {
		err = cluster.CheckHost()
	}
	if err == nil {
		switch os.Args[1] {
		case "up":
			err = cfg.Up(ctx)
		case "deploy":
			_, err = cfg.UpWithTrove(ctx)
		case "down":
			err = cfg.Down(context.Background())
		case "status":
			err = status(ctx, cfg)
		case "run":
			err = run(ctx, cfg)
		default:
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func status(ctx context.Context, cfg cluster.Config) error {
	st := cfg.Status(ctx)
	fmt.Println(st.Summary())
	if !st.Ready() {
		if left := cfg.Leftovers(ctx); len(left) > 0 && !st.Any() {
			fmt.Println("not running, but left on the machine (run down):")
			for _, l := range left {
				fmt.Println("  " + l)
			}
		}
		return fmt.Errorf("the node is not Ready")
	}
	fmt.Println("kubeconfig:", cfg.Kubeconfig())
	return nil
}

// run is `make run`: the node, Trove and the samples, until interrupted.
func run(ctx context.Context, cfg cluster.Config) (err error) {
	start := time.Now()
	defer func() {
		fmt.Fprintln(os.Stderr, "tearing the node down ...")
		if derr := cfg.Down(context.Background()); derr != nil && err == nil {
			err = derr
		}
	}()
	bins, err := cfg.UpWithTrove(ctx)
	if err != nil {
		return err
	}
	if err := cfg.DeploySamples(ctx, bins); err != nil {
		return err
	}
	kubectl := bins["kubectl"]
	served, err := cfg.Kubectl(ctx, bins, "api-resources", "--api-group=trove.dev", "--no-headers", "-o", "name")
	if err != nil {
		return err
	}
	fmt.Printf("\nTrove's API is served: %s\n", strings.Join(strings.Fields(served), " "))
	fmt.Printf(`
Trove runs on a single-node cluster (up in %s).

  export KUBECONFIG=%s
  alias kubectl=%s

  kubectl get nodes -o wide
  kubectl -n trove-system get pods                 # the controller and the agent
  kubectl get crd -l app.kubernetes.io/part-of=trove
  kubectl -n trove-demo get deploy,pods,repositories,backupconfigurations,backupsessions
  kubectl -n trove-system logs ds/trove-agent
  kubectl -n trove-system exec ds/trove-agent -- ls /var/lib/kubelet/pods
  kubectl get csidriver,storageclass,volumesnapshotclass   # the CSI stack: trove-csi

Component logs: %s (kept in %s after down).
Press Ctrl-C to tear everything down (or run: go run ./test/cluster/cmd down).

`, time.Since(start).Round(100*time.Millisecond), cfg.Kubeconfig(), kubectl, cfg.LogFile("<component>"), cluster.LastLogs())
	return watch(ctx, cfg, bins)
}

// watch prints Trove's pods and the sample's backup sessions whenever they
// change, until ctx ends.
func watch(ctx context.Context, cfg cluster.Config, bins cluster.Binaries) error {
	var last string
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		now, err := cfg.Kubectl(ctx, bins, "get", "pods", "-n", cluster.TroveNamespace, "--no-headers", "-o", "custom-columns=KIND:.kind,NAME:.metadata.name,PHASE:.status.phase")
		if err == nil {
			sessions, serr := cfg.Kubectl(ctx, bins, "get", "backupsessions", "-A", "--no-headers", "-o", "custom-columns=KIND:.kind,NAMESPACE:.metadata.namespace,NAME:.metadata.name,PHASE:.status.phase")
			if serr == nil && sessions != "" {
				now += "\n" + sessions
			}
			if now != last {
				fmt.Printf("%s\n%s\n", time.Now().Format("15:04:05"), now)
				last = now
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
