package csidriver

import (
	"context"
	"path/filepath"
	"sync"

	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// Registrar answers the kubelet's plugin watcher on <kubelet-root>/plugins_registry/<name>-reg.sock,
// as node-driver-registrar would: the kubelet calls GetInfo, registers the driver (calling
// NodeGetInfo on Endpoint) and reports the outcome through NotifyRegistrationStatus.
type Registrar struct {
	registerapi.UnimplementedRegistrationServer

	// DriverName is the CSI driver's name.
	DriverName string
	// Endpoint is the path of the driver's CSI socket as the kubelet sees it.
	Endpoint string
	// Logf logs the registration outcome.
	Logf func(format string, args ...any)

	mu         sync.Mutex
	registered bool
	lastError  string
}

// RegistrationSocket is where the kubelet looks for a driver's registration socket.
func RegistrationSocket(kubeletRoot, driverName string) string {
	return filepath.Join(kubeletRoot, "plugins_registry", driverName+"-reg.sock")
}

// Server returns a gRPC server with the registration service.
func (r *Registrar) Server() *grpc.Server {
	s := grpc.NewServer()
	registerapi.RegisterRegistrationServer(s, r)
	return s
}

func (r *Registrar) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              r.DriverName,
		Endpoint:          r.Endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (r *Registrar) NotifyRegistrationStatus(_ context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	r.mu.Lock()
	r.registered, r.lastError = st.PluginRegistered, st.Error
	r.mu.Unlock()
	if r.Logf != nil {
		if st.PluginRegistered {
			r.Logf("registered with the kubelet as %s", r.DriverName)
		} else {
			r.Logf("the kubelet refused the registration of %s: %s", r.DriverName, st.Error)
		}
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// Status is the last registration outcome the kubelet reported.
func (r *Registrar) Status() (registered bool, errMsg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.registered, r.lastError
}
