package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/fields"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/node/agent"
)

// agentOptions configures `trove agent`.
type agentOptions struct {
	managerFlags
	nodeName           string
	kubeletRoot        string
	namespace          string
	concurrency        int
	cacheDir           string
	restic             string
	maxAttempts        int32
	allowConfigVolumes bool
	cacheMax           string
}

func newAgentCommand() *cobra.Command {
	o := &agentOptions{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run Trove's node agent: executes the work items of its own node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	o.bind(cmd)
	cmd.Flags().StringVar(&o.nodeName, "node-name", os.Getenv("NODE_NAME"), "the node this agent serves (default: NODE_NAME, from the downward API)")
	cmd.Flags().StringVar(&o.kubeletRoot, "kubelet-root", "/var/lib/kubelet", "where the kubelet's root directory is mounted in this container (pods/ and plugins/ under it)")
	cmd.Flags().StringVar(&o.namespace, "namespace", envOr("POD_NAMESPACE", "trove-system"), "Trove's namespace, where the per-item credential Secrets are (default: the pod's)")
	cmd.Flags().IntVar(&o.concurrency, "concurrency", 2, "work items running at once on this node")
	cmd.Flags().StringVar(&o.cacheDir, "cache-dir", "/var/lib/trove/cache", "persistent restic cache, one directory per repository (empty: no cache)")
	cmd.Flags().StringVar(&o.cacheMax, "cache-max-size", "5Gi", "cap on the restic caches' total size; the least recently used repositories' caches go first (0: no cap)")
	cmd.Flags().StringVar(&o.restic, "restic", "restic", "the restic binary (a name is looked up in PATH)")
	cmd.Flags().Int32Var(&o.maxAttempts, "max-attempts", 3, "attempts of an item interrupted by agent restarts before it fails")
	cmd.Flags().BoolVar(&o.allowConfigVolumes, "allow-config-volumes", false, "also back up configMap, secret, projected and downwardAPI volumes")
	return cmd
}

// Validate checks the options.
func (o *agentOptions) Validate() error {
	if o.nodeName == "" {
		return errors.New("the agent needs its node's name: set NODE_NAME (downward API spec.nodeName) or --node-name")
	}
	return nil
}

// Run starts the agent's manager, whose cache holds only the pods of its node,
// and blocks until the command's context ends.
func (o *agentOptions) Run(cmd *cobra.Command) error {
	ctrl.SetLogger(zap.New(o.logOptions()...))
	log := ctrl.Log.WithName("agent").WithValues("node", o.nodeName)
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	resticPath, err := exec.LookPath(o.restic)
	if err != nil {
		return fmt.Errorf("finding restic (--restic): %w", err)
	}
	cacheMax, err := resource.ParseQuantity(o.cacheMax)
	if err != nil {
		return fmt.Errorf("--cache-max-size %q: %w", o.cacheMax, err)
	}
	onNode := fields.OneTermEqualSelector("spec.nodeName", o.nodeName)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 newScheme(),
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
		// Every agent works on its own node: no leader election.
		// Its cache holds only this node's pods and work items.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:                     {Field: onNode},
			&troveapi.VolumeBackup{}:          {Field: onNode},
			&troveapi.VolumeRestore{}:         {Field: onNode},
			&troveapi.RepositoryMaintenance{}: {Field: onNode},
		}},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := addProbes(mgr); err != nil {
		return err
	}
	a, err := agent.New(mgr, agent.Config{
		NodeName:           o.nodeName,
		KubeletRoot:        o.kubeletRoot,
		Namespace:          o.namespace,
		Concurrency:        o.concurrency,
		MaxAttempts:        o.maxAttempts,
		AllowConfigVolumes: o.allowConfigVolumes,
		Movers:             &agent.ResticMovers{Binary: resticPath, CacheDir: o.cacheDir, CacheMaxBytes: cacheMax.Value()},
	})
	if err != nil {
		return err
	}
	if err := a.Setup(mgr); err != nil {
		return err
	}
	log.Info("starting", "kubeletRoot", o.kubeletRoot, "concurrency", o.concurrency, "restic", resticPath)
	return mgr.Start(cmd.Context())
}
