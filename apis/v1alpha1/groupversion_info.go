// Package v1alpha1 holds Trove's API types for the trove.dev/v1alpha1 group: the
// user-facing kinds (Repository, BackupConfiguration, BackupSession, RestoreSession,
// BackupBlueprint, Function, Task) and the work items the controller hands to node
// agents (VolumeBackup, VolumeRestore).
//
// +kubebuilder:object:generate=true
// +groupName=trove.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "trove.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
