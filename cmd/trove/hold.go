package main

import (
	"github.com/spf13/cobra"
)

// newHoldCommand returns `trove hold`, the process of a holder pod: it keeps a volume
// mounted on its node for the agent to read or write, and does nothing else until the
// pod is deleted (SIGTERM or SIGINT end it cleanly).
func newHoldCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "hold",
		Short: "Keep a holder pod's volume mounted until the pod is deleted (used by exposures)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			<-cmd.Context().Done()
			return nil
		},
	}
}
