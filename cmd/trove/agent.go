package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// agentOptions configures `trove agent`.
type agentOptions struct {
	managerFlags
	nodeName    string
	kubeletRoot string
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
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 newScheme(),
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
		// Every agent works on its own node: no leader election.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: {Field: fields.OneTermEqualSelector("spec.nodeName", o.nodeName)},
		}},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := addProbes(mgr); err != nil {
		return err
	}
	log.Info("no reconcilers are registered yet; serving probes and metrics", "kubeletRoot", o.kubeletRoot)
	return mgr.Start(cmd.Context())
}
