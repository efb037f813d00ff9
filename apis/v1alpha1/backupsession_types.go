package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SessionPhase is where a backup or restore session is.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed;Skipped
type SessionPhase string

const (
	SessionPending   SessionPhase = "Pending"
	SessionRunning   SessionPhase = "Running"
	SessionSucceeded SessionPhase = "Succeeded"
	SessionFailed    SessionPhase = "Failed"
	SessionSkipped   SessionPhase = "Skipped"
)

// HostPhase is where one host of a session is.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
type HostPhase string

const (
	HostPending   HostPhase = "Pending"
	HostRunning   HostPhase = "Running"
	HostSucceeded HostPhase = "Succeeded"
	HostFailed    HostPhase = "Failed"
)

// Invoker is what created a session.
type Invoker struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	APIGroup string `json:"apiGroup"`
	// +required
	// +kubebuilder:validation:Enum=BackupConfiguration
	Kind string `json:"kind"`
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// BackupSessionSpec is one run of a BackupConfiguration.
type BackupSessionSpec struct {
	// Invoker is the BackupConfiguration this session runs.
	// +required
	Invoker Invoker `json:"invoker"`
	// RetryLeft is how many retries remain after a failure.
	// +optional
	// +kubebuilder:validation:Minimum=0
	RetryLeft int32 `json:"retryLeft,omitempty"`
}

// HostBackupStats is the result of one host (pod, ordinal or node) of a target.
type HostBackupStats struct {
	// Hostname is the restic host the snapshots were taken under.
	// +required
	Hostname string `json:"hostname"`
	// +optional
	Phase HostPhase `json:"phase,omitempty"`
	// +optional
	Snapshots []SnapshotStats `json:"snapshots,omitempty"`
	// Duration of the host's backup, e.g. "1m5s".
	// +optional
	Duration string `json:"duration,omitempty"`
	// Error says why the host failed.
	// +optional
	Error string `json:"error,omitempty"`
}

// TargetStatus is the result of one target of a session.
type TargetStatus struct {
	// +optional
	Ref *TargetRef `json:"ref,omitempty"`
	// +optional
	TotalHosts int32 `json:"totalHosts,omitempty"`
	// +optional
	Phase HostPhase `json:"phase,omitempty"`
	// +optional
	Stats []HostBackupStats `json:"stats,omitempty"`
}

// BackupSessionStatus is the outcome of a session.
type BackupSessionStatus struct {
	// +optional
	Phase SessionPhase `json:"phase,omitempty"`
	// +optional
	Targets []TargetStatus `json:"targets,omitempty"`
	// +optional
	Progress Progress `json:"progress,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// SessionDuration, e.g. "3m2s".
	// +optional
	SessionDuration string `json:"sessionDuration,omitempty"`
	// SessionDeadline is when the session fails for exceeding timeOut.
	// +optional
	SessionDeadline *metav1.Time `json:"sessionDeadline,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// BackupSession is one backup run: created by a schedule tick or by a user (instant backup).
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=bs,categories=trove
// +kubebuilder:printcolumn:name="Invoker",type=string,JSONPath=`.spec.invoker.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Duration",type=string,JSONPath=`.status.sessionDuration`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BackupSession struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec BackupSessionSpec `json:"spec"`
	// +optional
	Status BackupSessionStatus `json:"status,omitempty"`
}

// BackupSessionList is a list of BackupSessions.
// +kubebuilder:object:root=true
type BackupSessionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BackupSession `json:"items"`
}

func init() { SchemeBuilder.Register(&BackupSession{}, &BackupSessionList{}) }
