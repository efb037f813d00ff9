// Command pause is the sandbox ("pause") process of every pod on the dev node:
// it holds the pod's namespaces and sleeps until it is told to stop. Built
// statically (CGO_ENABLED=0) into trove.dev/pause:dev by package images.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
