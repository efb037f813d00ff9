package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RestoreRule picks what to restore into which hosts.
// +kubebuilder:validation:XValidation:rule="!has(self.include) || !has(self.exclude)",message="include and exclude cannot both be set"
type RestoreRule struct {
	// TargetHosts are the hosts this rule restores into; empty means all.
	// +optional
	// +kubebuilder:validation:MaxItems=1024
	TargetHosts []string `json:"targetHosts,omitempty"`
	// SourceHost is the restic host whose snapshots are restored; default: the target host.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	SourceHost string `json:"sourceHost,omitempty"`
	// Snapshots are restic snapshot IDs, or "latest" (default).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:Pattern=`^(latest|[0-9a-f]{8,64})$`
	Snapshots []string `json:"snapshots,omitempty"`
	// Paths to restore from the snapshots; default: everything.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:Pattern=`^/`
	Paths []string `json:"paths,omitempty"`
	// Include restores only matching files (restic --include).
	// +optional
	// +kubebuilder:validation:MaxItems=256
	Include []string `json:"include,omitempty"`
	// Exclude skips matching files (restic --exclude).
	// +optional
	// +kubebuilder:validation:MaxItems=256
	Exclude []string `json:"exclude,omitempty"`
}

// RestoreTarget is where data is restored to.
type RestoreTarget struct {
	// Ref is an existing workload, PVC or AppBinding; omit it with volumeClaimTemplates.
	// +optional
	Ref *TargetRef `json:"ref,omitempty"`
	// SourceRef is the target whose backups are restored, when it is not Ref (e.g.
	// restoring a Deployment's data into another one). Volumes match by name.
	// +optional
	SourceRef *TargetRef `json:"sourceRef,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Rules []RestoreRule `json:"rules,omitempty"`
	// VolumeClaimTemplates create new PVCs to restore into (names may use ${POD_ORDINAL}).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	VolumeClaimTemplates []corev1.PersistentVolumeClaim `json:"volumeClaimTemplates,omitempty"`
	// Replicas is how many PVC sets volumeClaimTemplates make; default 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Replicas *int32 `json:"replicas,omitempty"`
}

// RestoreSessionSpec restores snapshots of a Repository into the session's namespace.
// +kubebuilder:validation:XValidation:rule="has(self.target) || has(self.task)",message="a restore needs a target or a task"
// +kubebuilder:validation:XValidation:rule="!has(self.target) || has(self.target.ref) || (has(self.target.volumeClaimTemplates) && size(self.target.volumeClaimTemplates) > 0)",message="target needs ref or volumeClaimTemplates"
type RestoreSessionSpec struct {
	// +required
	Repository ObjectRef `json:"repository"`
	// Task restores through a Job built from Functions (databases).
	// +optional
	Task *TaskRef `json:"task,omitempty"`
	// +optional
	Target *RestoreTarget `json:"target,omitempty"`
	// +optional
	RuntimeSettings *RuntimeSettings `json:"runtimeSettings,omitempty"`
	// +optional
	InterimVolumeTemplate *corev1.PersistentVolumeClaim `json:"interimVolumeTemplate,omitempty"`
	// +optional
	Hooks *RestoreHooks `json:"hooks,omitempty"`
	// +optional
	TimeOut *metav1.Duration `json:"timeOut,omitempty"`
}

// HostRestoreStats is the result of one host of a restore.
type HostRestoreStats struct {
	// +required
	Hostname string `json:"hostname"`
	// +optional
	Phase HostPhase `json:"phase,omitempty"`
	// +optional
	Duration string `json:"duration,omitempty"`
	// +optional
	Error string `json:"error,omitempty"`
}

// RestoreSessionStatus is the outcome of a restore.
type RestoreSessionStatus struct {
	// +optional
	Phase SessionPhase `json:"phase,omitempty"`
	// +optional
	TotalHosts int32 `json:"totalHosts,omitempty"`
	// +optional
	Stats []HostRestoreStats `json:"stats,omitempty"`
	// +optional
	Progress Progress `json:"progress,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// +optional
	SessionDuration string `json:"sessionDuration,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RestoreSession restores backed up data into a workload, PVCs or a database.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=restore,categories=trove
// +kubebuilder:printcolumn:name="Repository",type=string,JSONPath=`.spec.repository.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Duration",type=string,JSONPath=`.status.sessionDuration`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RestoreSession struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec RestoreSessionSpec `json:"spec"`
	// +optional
	Status RestoreSessionStatus `json:"status,omitempty"`
}

// RestoreSessionList is a list of RestoreSessions.
// +kubebuilder:object:root=true
type RestoreSessionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RestoreSession `json:"items"`
}

func init() { SchemeBuilder.Register(&RestoreSession{}, &RestoreSessionList{}) }
