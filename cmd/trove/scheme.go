package main

import (
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v6/apis/volumesnapshot/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// newScheme returns the kinds the controller and the agent read and write:
// Kubernetes' built-in kinds, CSI VolumeSnapshots and Trove's.
func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(snapv1.AddToScheme(s))
	utilruntime.Must(troveapi.AddToScheme(s))
	return s
}
