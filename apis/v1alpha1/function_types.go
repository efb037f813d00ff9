package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FunctionSpec is a container template for one step of a backup or restore. Strings
// in args, command, env and volume names may use ${VAR} and ${VAR:=default}.
type FunctionSpec struct {
	// Image of the container.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Image string `json:"image"`
	// Command overrides the image's entrypoint.
	// +optional
	Command []string `json:"command,omitempty"`
	// Args to the entrypoint, with variables.
	// +optional
	Args []string `json:"args,omitempty"`
	// WorkingDir of the container.
	// +optional
	WorkingDir string `json:"workingDir,omitempty"`
	// +optional
	Ports []corev1.ContainerPort `json:"ports,omitempty"`
	// +optional
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`
	// +optional
	VolumeDevices []corev1.VolumeDevice `json:"volumeDevices,omitempty"`
	// RuntimeSettings.container tunes the step's container (as in Stash); pod-level
	// settings come from the BackupConfiguration or RestoreSession.
	// +optional
	RuntimeSettings *RuntimeSettings `json:"runtimeSettings,omitempty"`
	// PodSecurityPolicyName is accepted for compatibility with Stash and ignored.
	// +optional
	PodSecurityPolicyName string `json:"podSecurityPolicyName,omitempty"`
}

// Function is one step of a Job-based backup or restore. Cluster-scoped: only
// cluster administrators create Functions.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=fn,categories=trove
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.image`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Function struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec FunctionSpec `json:"spec"`
}

// FunctionList is a list of Functions.
// +kubebuilder:object:root=true
type FunctionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Function `json:"items"`
}

func init() { SchemeBuilder.Register(&Function{}, &FunctionList{}) }
