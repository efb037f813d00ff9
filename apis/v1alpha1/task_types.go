package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FunctionRef is one step of a Task: a Function and the params it resolves with.
type FunctionRef struct {
	// Name of the Function.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:MaxItems=128
	Params []Param `json:"params,omitempty"`
}

// TaskSpec is an ordered list of Functions: every step but the last becomes an
// init-container, the last the Job's main container.
type TaskSpec struct {
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Steps []FunctionRef `json:"steps"`
	// Volumes mounted into the Job; names and sources may use variables.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Volumes []corev1.Volume `json:"volumes,omitempty"`
}

// Task is a sequence of Functions that backs up or restores one kind of target.
// Cluster-scoped: only cluster administrators create Tasks.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=trove
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Task struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec TaskSpec `json:"spec"`
}

// TaskList is a list of Tasks.
// +kubebuilder:object:root=true
type TaskList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Task `json:"items"`
}

func init() { SchemeBuilder.Register(&Task{}, &TaskList{}) }
