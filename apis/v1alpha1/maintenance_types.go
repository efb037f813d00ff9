package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ForgetGroup applies a retention policy to the snapshots of one host and tag set.
type ForgetGroup struct {
	// Host limits the group to one restic host; empty means every host.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host,omitempty"`
	// Tags limit the group to snapshots that have all of them.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Tags []string `json:"tags,omitempty"`
	// +required
	Policy RetentionPolicy `json:"policy"`
}

// CheckOptions tune `restic check`.
type CheckOptions struct {
	// ReadDataSubset also reads this part of the data, e.g. "10%" or "1/5"; empty
	// checks the structure only.
	// +optional
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?%|[0-9]+/[0-9]+)?$`
	ReadDataSubset string `json:"readDataSubset,omitempty"`
}

// RepositoryMaintenanceSpec is repository housekeeping for one agent. Steps run in
// this order: unlock stale locks, forget (or wipe out), prune, check, stats.
type RepositoryMaintenanceSpec struct {
	// NodeName is the node whose agent runs the maintenance.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	NodeName string `json:"nodeName"`
	// +required
	Repository ObjectRef `json:"repository"`
	// CredentialsSecretName is the short-lived Secret in Trove's namespace with the
	// repository's credentials.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	CredentialsSecretName string `json:"credentialsSecretName"`
	// +optional
	Throttle Throttle `json:"throttle,omitempty"`
	// +optional
	Cancel bool `json:"cancel,omitempty"`
	// UnlockStale removes locks whose holder is provably gone.
	// +optional
	UnlockStale bool `json:"unlockStale,omitempty"`
	// Forget applies retention policies.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Forget []ForgetGroup `json:"forget,omitempty"`
	// WipeOut forgets every snapshot of the repository (with Prune, the data goes too):
	// the deletion of a Repository with wipeOut: true.
	// +optional
	WipeOut bool `json:"wipeOut,omitempty"`
	// Prune removes data no snapshot refers to.
	// +optional
	Prune bool `json:"prune,omitempty"`
	// Check verifies the repository's integrity.
	// +optional
	Check *CheckOptions `json:"check,omitempty"`
	// Stats measures the repository (snapshot count and size).
	// +optional
	Stats bool `json:"stats,omitempty"`
}

// RepositoryMaintenanceStatus is what the maintenance found and did.
type RepositoryMaintenanceStatus struct {
	WorkItemStatus `json:",inline"`
	// Forgotten counts the snapshots removed by the retention policies.
	// +optional
	Forgotten int32 `json:"forgotten,omitempty"`
	// SnapshotCount is the number of snapshots after maintenance (with stats).
	// +optional
	SnapshotCount *int64 `json:"snapshotCount,omitempty"`
	// TotalSize is the repository's stored size (with stats), e.g. "1.2Gi".
	// +optional
	TotalSize string `json:"totalSize,omitempty"`
	// Integrity is the result of the check (with check).
	// +optional
	Integrity IntegrityState `json:"integrity,omitempty"`
}

// RepositoryMaintenance is a work item: housekeeping of one repository (retention,
// prune, check, stats) by one node's agent. Created by the controller after backups
// and on schedule; restic's exclusive lock serializes maintenance per repository.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:selectablefield:JSONPath=`.spec.nodeName`
// +kubebuilder:resource:shortName=rmaint,categories=trove
// +kubebuilder:printcolumn:name="Repository",type=string,JSONPath=`.spec.repository.name`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RepositoryMaintenance struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec RepositoryMaintenanceSpec `json:"spec"`
	// +optional
	Status RepositoryMaintenanceStatus `json:"status,omitempty"`
}

// RepositoryMaintenanceList is a list of RepositoryMaintenances.
// +kubebuilder:object:root=true
type RepositoryMaintenanceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RepositoryMaintenance `json:"items"`
}

func init() { SchemeBuilder.Register(&RepositoryMaintenance{}, &RepositoryMaintenanceList{}) }
