package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"trove.dev/trove/controller"
)

// controllerOptions configures `trove controller`.
type controllerOptions struct {
	managerFlags
	namespace        string
	scheduleSpread   time.Duration
	workers          int
	qps              float32
	burst            int
	leaderElect      bool
	leaderElectionNS string
	leaderElectionID string
	holderImage      string
}

func newControllerCommand() *cobra.Command {
	o := &controllerOptions{}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run Trove's controller: turns schedules and sessions into work items for the node agents",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.Run(cmd)
		},
	}
	o.bind(cmd)
	cmd.Flags().StringVar(&o.namespace, "namespace", envOr("POD_NAMESPACE", "trove-system"), "Trove's namespace, where per-item credential Secrets live (default: the pod's)")
	cmd.Flags().DurationVar(&o.scheduleSpread, "schedule-spread", 0, "delay each configuration's schedule ticks by a stable offset below this (e.g. 30m), so configurations sharing a schedule do not all start at once")
	cmd.Flags().IntVar(&o.workers, "workers", 4, "objects of each kind reconciled at once")
	cmd.Flags().Float32Var(&o.qps, "kube-api-qps", 50, "requests per second to the API server, sustained")
	cmd.Flags().IntVar(&o.burst, "kube-api-burst", 100, "requests to the API server in a burst")
	cmd.Flags().BoolVar(&o.leaderElect, "leader-elect", true, "elect a leader among the controller's replicas (a Lease)")
	cmd.Flags().StringVar(&o.leaderElectionNS, "leader-election-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the leader-election Lease (default: the pod's, from POD_NAMESPACE)")
	cmd.Flags().StringVar(&o.leaderElectionID, "leader-election-id", "trove-controller.trove.dev", "name of the leader-election Lease")
	cmd.Flags().StringVar(&o.holderImage, "holder-image", "", "image of the holder pods that expose snapshots, unmounted PVCs and new PVCs (default: the controller's own image, read from its pod POD_NAME)")
	return cmd
}

// Run starts the controller's manager and blocks until the command's context ends.
func (o *controllerOptions) Run(cmd *cobra.Command) error {
	ctrl.SetLogger(zap.New(o.logOptions()...))
	log := ctrl.Log.WithName("controller")
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = o.qps, o.burst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  newScheme(),
		Metrics:                 metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        o.leaderElectionID,
		LeaderElectionNamespace: o.leaderElectionNS,
		// Step down cleanly on SIGTERM so that a new replica takes over at once.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := addProbes(mgr); err != nil {
		return err
	}
	holderImage, err := o.holder(cmd.Context(), mgr.GetAPIReader())
	if err != nil {
		return err
	}
	if err := controller.Setup(mgr, controller.Options{Namespace: o.namespace, Spread: o.scheduleSpread, Workers: o.workers, HolderImage: holderImage}); err != nil {
		return err
	}
	log.Info("starting", "namespace", o.namespace, "scheduleSpread", o.scheduleSpread.String(), "holderImage", holderImage)
	return mgr.Start(cmd.Context())
}

// holder is the holder pods' image: --holder-image, else the image of the controller's
// own container (so it follows however the installation names Trove's image), else ""
// outside a pod (sessions that need a holder then fail and say so).
func (o *controllerOptions) holder(ctx context.Context, api client.Reader) (string, error) {
	if o.holderImage != "" {
		return o.holderImage, nil
	}
	name := os.Getenv("POD_NAME")
	if name == "" {
		return "", nil
	}
	var pod corev1.Pod
	if err := api.Get(ctx, client.ObjectKey{Namespace: o.namespace, Name: name}, &pod); err != nil {
		return "", fmt.Errorf("reading the controller's own pod %s/%s for the holder image (or pass --holder-image): %w", o.namespace, name, err)
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == "controller" {
			return c.Image, nil
		}
	}
	return pod.Spec.Containers[0].Image, nil
}

// envOr is the environment variable's value, or def when it is unset.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// addProbes serves /healthz and /readyz.
func addProbes(mgr ctrl.Manager) error {
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the readiness check: %w", err)
	}
	return nil
}
