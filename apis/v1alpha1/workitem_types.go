package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkPhase is where a work item (VolumeBackup, VolumeRestore) is.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed;Canceled
type WorkPhase string

const (
	WorkPending   WorkPhase = "Pending"
	WorkRunning   WorkPhase = "Running"
	WorkSucceeded WorkPhase = "Succeeded"
	WorkFailed    WorkPhase = "Failed"
	WorkCanceled  WorkPhase = "Canceled"
)

// PodVolume is one volume of one pod: where a work item reads or writes.
type PodVolume struct {
	// +required
	Pod PodRef `json:"pod"`
	// VolumeName is the pod's name for the volume (spec.volumes[].name).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	VolumeName string `json:"volumeName"`
	// SnapshotName is the VolumeSnapshot the volume was exposed from, when it was.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	SnapshotName string `json:"snapshotName,omitempty"`
}

// WorkItemCommon is what every work item carries.
type WorkItemCommon struct {
	// NodeName is the node whose agent executes this item.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	NodeName string `json:"nodeName"`
	// Repository the data goes to or comes from.
	// +required
	Repository ObjectRef `json:"repository"`
	// CredentialsSecretName is a short-lived Secret in Trove's namespace holding only
	// this item's repository credentials; it is owned by the item.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	CredentialsSecretName string `json:"credentialsSecretName"`
	// StablePath is the path restic records, e.g. /trove/<namespace>/<workload>/<volume>.
	// +required
	// +kubebuilder:validation:Pattern=`^/trove/`
	// +kubebuilder:validation:MaxLength=1024
	StablePath string `json:"stablePath"`
	// +optional
	Throttle Throttle `json:"throttle,omitempty"`
	// Priority orders the node's queue: higher runs first.
	// +optional
	// +kubebuilder:validation:Minimum=-1000
	// +kubebuilder:validation:Maximum=1000
	Priority int32 `json:"priority,omitempty"`
	// Cancel asks the agent to stop the item; it ends Canceled.
	// +optional
	Cancel bool `json:"cancel,omitempty"`
	// Session is the BackupSession or RestoreSession this item belongs to.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Session string `json:"session,omitempty"`
}

// WorkItemStatus is what the agent reports for a work item.
type WorkItemStatus struct {
	// +optional
	Phase WorkPhase `json:"phase,omitempty"`
	// Attempt counts the agent's runs of this item.
	// +optional
	Attempt int32 `json:"attempt,omitempty"`
	// +optional
	Progress Progress `json:"progress,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Reason is a CamelCase failure reason, e.g. WrongPassword or VolumeNotFound.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message says what happened and how to fix it.
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// VolumeBackupSpec is one volume to back up on one node.
type VolumeBackupSpec struct {
	WorkItemCommon `json:",inline"`
	// +required
	Source PodVolume `json:"source"`
	// Paths inside the volume, relative to its root; empty means the whole volume.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:Pattern=`^[^/]`
	Paths []string `json:"paths,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=256
	Exclude []string `json:"exclude,omitempty"`
	// Hostname is the restic host of the snapshot.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Hostname string `json:"hostname"`
	// Tags identify the volume across pod restarts (namespace, workload or PVC, volume).
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Tags []string `json:"tags,omitempty"`
}

// VolumeBackupStatus is the result of a VolumeBackup.
type VolumeBackupStatus struct {
	WorkItemStatus `json:",inline"`
	// SnapshotID is the restic snapshot this item produced.
	// +optional
	SnapshotID string `json:"snapshotID,omitempty"`
	// +optional
	Stats SnapshotStats `json:"stats,omitempty"`
}

// VolumeBackup is a work item: back up one pod volume on one node.
// +kubebuilder:object:root=true
// +kubebuilder:selectablefield:JSONPath=`.spec.nodeName`
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vb,categories=trove
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Percent",type=integer,JSONPath=`.status.progress.percent`
// +kubebuilder:printcolumn:name="Snapshot",type=string,JSONPath=`.status.snapshotID`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VolumeBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec VolumeBackupSpec `json:"spec"`
	// +optional
	Status VolumeBackupStatus `json:"status,omitempty"`
}

// VolumeBackupList is a list of VolumeBackups.
// +kubebuilder:object:root=true
type VolumeBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VolumeBackup `json:"items"`
}

// VolumeRestoreSpec is one snapshot to restore into one pod volume on one node.
// +kubebuilder:validation:XValidation:rule="!has(self.include) || !has(self.exclude)",message="include and exclude cannot both be set"
type VolumeRestoreSpec struct {
	WorkItemCommon `json:",inline"`
	// +required
	Target PodVolume `json:"target"`
	// Snapshot is a restic snapshot ID, or "latest" of sourceHost and tags.
	// +required
	// +kubebuilder:validation:Pattern=`^(latest|[0-9a-f]{8,64})$`
	Snapshot string `json:"snapshot"`
	// SourceHost is the restic host to take "latest" from.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	SourceHost string `json:"sourceHost,omitempty"`
	// Tags narrow "latest" to one volume's snapshots.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Tags []string `json:"tags,omitempty"`
	// Paths inside the snapshot to restore; empty means all.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Paths []string `json:"paths,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=256
	Include []string `json:"include,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=256
	Exclude []string `json:"exclude,omitempty"`
}

// VolumeRestoreStatus is the result of a VolumeRestore.
type VolumeRestoreStatus struct {
	WorkItemStatus `json:",inline"`
	// SnapshotID is the snapshot that was restored ("latest" resolved).
	// +optional
	SnapshotID string `json:"snapshotID,omitempty"`
}

// VolumeRestore is a work item: restore one snapshot into one pod volume on one node.
// +kubebuilder:object:root=true
// +kubebuilder:selectablefield:JSONPath=`.spec.nodeName`
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vr,categories=trove
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Percent",type=integer,JSONPath=`.status.progress.percent`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VolumeRestore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec VolumeRestoreSpec `json:"spec"`
	// +optional
	Status VolumeRestoreStatus `json:"status,omitempty"`
}

// VolumeRestoreList is a list of VolumeRestores.
// +kubebuilder:object:root=true
type VolumeRestoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VolumeRestore `json:"items"`
}

func init() {
	SchemeBuilder.Register(&VolumeBackup{}, &VolumeBackupList{}, &VolumeRestore{}, &VolumeRestoreList{})
}
