// Package csidriver is Trove's own small CSI driver for the e2e tier: volumes and
// snapshots are directories under a state directory on one node, a snapshot is a
// point-in-time copy of its volume's directory, and publishing a volume bind-mounts its
// directory at the kubelet's target path. It registers with the kubelet itself through the
// plugin-registration API (<kubelet-root>/plugins_registry), so no sidecar image is needed
// on the node; external-provisioner and csi-snapshotter talk to its socket as to any driver.
//
// It is a test fixture, not a product: no quotas (capacity is reported as requested), one
// node, no attach (the CSIDriver object must say attachRequired: false).
package csidriver

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
)

const (
	// DefaultName is the driver's name (GetPluginInfo, CSIDriver, StorageClass provisioner).
	DefaultName = "csi.trove.dev"
	// DefaultTopologyKey is the topology segment naming the node a volume lives on.
	DefaultTopologyKey = "topology.csi.trove.dev/node"
	// Version is the driver's vendor version.
	Version = "0.1.0"
)

// Options configure a Driver.
type Options struct {
	// Name of the driver; default DefaultName.
	Name string
	// NodeID is the node's name (NodeGetInfo, topology).
	NodeID string
	// StateDir holds volumes/, snapshots/ and index.json.
	StateDir string
	// TopologyKey; default DefaultTopologyKey.
	TopologyKey string
	// Logf logs one line per call; default log.Printf, nil-safe.
	Logf func(format string, args ...any)
}

// Driver implements the CSI Identity, Controller and Node services.
type Driver struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer
	csi.UnimplementedNodeServer

	opts  Options
	mu    sync.Mutex // guards state and the directories
	state *state
}

// New opens (or creates) the state under opts.StateDir.
func New(opts Options) (*Driver, error) {
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if opts.TopologyKey == "" {
		opts.TopologyKey = DefaultTopologyKey
	}
	if opts.Logf == nil {
		opts.Logf = log.Printf
	}
	if opts.NodeID == "" || opts.StateDir == "" {
		return nil, fmt.Errorf("csidriver: NodeID and StateDir are required")
	}
	st, err := loadState(opts.StateDir)
	if err != nil {
		return nil, err
	}
	return &Driver{opts: opts, state: st}, nil
}

// Server returns a gRPC server with the driver's three services registered.
func (d *Driver) Server() *grpc.Server {
	s := grpc.NewServer(grpc.UnaryInterceptor(d.logCalls))
	csi.RegisterIdentityServer(s, d)
	csi.RegisterControllerServer(s, d)
	csi.RegisterNodeServer(s, d)
	return s
}

func (d *Driver) logCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		d.opts.Logf("%s: %v", info.FullMethod, err)
	} else if !strings.Contains(info.FullMethod, "Probe") && !strings.HasSuffix(info.FullMethod, "Capabilities") {
		d.opts.Logf("%s: ok", info.FullMethod)
	}
	return resp, err
}

// Listen listens on a unix socket endpoint ("unix:///path" or a path), removing a stale
// socket file and creating its directory.
func Listen(endpoint string) (net.Listener, error) {
	path := SocketPath(endpoint)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("removing stale socket %s: %w", path, err)
	}
	return net.Listen("unix", path)
}

// SocketPath is the file path of a unix endpoint ("unix:///path" or "/path").
func SocketPath(endpoint string) string {
	return strings.TrimPrefix(strings.TrimPrefix(endpoint, "unix://"), "unix:")
}

// Identity service.

func (d *Driver) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: d.opts.Name, VendorVersion: Version}, nil
}

func (d *Driver) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{Capabilities: []*csi.PluginCapability{
		{Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: csi.PluginCapability_Service_CONTROLLER_SERVICE}}},
		{Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS}}},
	}}, nil
}

func (d *Driver) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	if _, err := os.Stat(d.opts.StateDir); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	return &csi.ProbeResponse{}, nil
}

func (d *Driver) topology() []*csi.Topology {
	return []*csi.Topology{{Segments: map[string]string{d.opts.TopologyKey: d.opts.NodeID}}}
}
