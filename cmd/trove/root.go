package main

import (
	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// newRootCommand returns `trove` with its subcommands.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "trove",
		Short:         "Trove backs up and restores the data of Kubernetes workloads",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newControllerCommand(), newAgentCommand(), newHoldCommand(), newImportStashCommand(), newUpdateStatusCommand())
	root.AddCommand(newDatabaseCommands()...)
	return root
}

// managerFlags are the options the controller and the agent share.
type managerFlags struct {
	metricsAddr string
	probeAddr   string
	development bool
}

func (f *managerFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint (\"0\" disables it)")
	cmd.Flags().StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	cmd.Flags().BoolVar(&f.development, "log-development", false, "human-readable debug logs instead of JSON")
}

// logOptions: JSON at info level by default; development mode logs text at debug level.
func (f *managerFlags) logOptions() []zap.Opts {
	return []zap.Opts{zap.UseDevMode(f.development)}
}
