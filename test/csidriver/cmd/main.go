// Command csidriver runs Trove's test CSI driver as a host process on a node: the CSI
// services on --endpoint and the kubelet plugin registration on
// <kubelet-root>/plugins_registry/<name>-reg.sock.
//
//	go run ./test/csidriver/cmd --state-dir /var/lib/trove-csi --kubelet-root /var/lib/kubelet \
//	    --node-name node-1 --endpoint unix:///var/lib/kubelet/plugins/csi.trove.dev/csi.sock
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"google.golang.org/grpc"

	"trove.dev/trove/test/csidriver"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	hostname, _ := os.Hostname()
	name := flag.String("driver-name", csidriver.DefaultName, "CSI driver name")
	stateDir := flag.String("state-dir", "/var/lib/trove-csi", "directory holding volumes, snapshots and the index")
	kubeletRoot := flag.String("kubelet-root", "/var/lib/kubelet", "the kubelet's root directory (for plugins_registry)")
	nodeName := flag.String("node-name", hostname, "this node's name")
	endpoint := flag.String("endpoint", "", "CSI endpoint; default unix://<kubelet-root>/plugins/<driver-name>/csi.sock")
	register := flag.Bool("register", true, "register with the kubelet through <kubelet-root>/plugins_registry")
	flag.Parse()
	if *endpoint == "" {
		*endpoint = "unix://" + filepath.Join(*kubeletRoot, "plugins", *name, "csi.sock")
	}
	log.SetPrefix(*name + " ")

	d, err := csidriver.New(csidriver.Options{Name: *name, NodeID: *nodeName, StateDir: *stateDir})
	if err != nil {
		return err
	}
	errs := make(chan error, 2)
	var servers []*grpc.Server
	serve := func(s *grpc.Server, l net.Listener) {
		servers = append(servers, s)
		go func() { errs <- s.Serve(l) }()
	}
	csiListener, err := csidriver.Listen(*endpoint)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *endpoint, err)
	}
	serve(d.Server(), csiListener)
	log.Printf("CSI services on %s, state in %s, node %s", *endpoint, *stateDir, *nodeName)
	if *register {
		regSocket := csidriver.RegistrationSocket(*kubeletRoot, *name)
		regListener, err := csidriver.Listen(regSocket)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", regSocket, err)
		}
		r := &csidriver.Registrar{DriverName: *name, Endpoint: csidriver.SocketPath(*endpoint), Logf: log.Printf}
		serve(r.Server(), regListener)
		log.Printf("registration service on %s", regSocket)
		// The kubelet forgets the plugin when its registration socket goes away.
		defer os.Remove(regSocket)
	}
	defer os.Remove(csidriver.SocketPath(*endpoint))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-signals:
		log.Printf("%s: stopping", sig)
	case err = <-errs:
	}
	for _, s := range servers {
		s.GracefulStop()
	}
	if errors.Is(err, grpc.ErrServerStopped) {
		err = nil
	}
	return err
}
