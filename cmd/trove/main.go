// Command trove is Trove's single binary: the controller (`trove controller`),
// the node agent (`trove agent`) and, as they land, the CLI and the built-in
// Functions, as subcommands. It is built statically (CGO_ENABLED=0) into the
// trove.dev/trove image.
package main

import (
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"trove.dev/trove/mover/trampoline"
)

func main() {
	// The agent re-executes itself to launch restic with priorities and a private
	// mount namespace; in that role MaybeRun never returns.
	trampoline.MaybeRun()
	if err := newRootCommand().ExecuteContext(ctrl.SetupSignalHandler()); err != nil {
		os.Exit(exitCode(err))
	}
}
