package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BackupTarget is what a configuration backs up.
// +kubebuilder:validation:XValidation:rule="!has(self.source) || self.source == 'Live' || self.ref.kind != 'AppBinding'",message="source: Snapshot needs a volume target; an AppBinding is backed up by its Task"
type BackupTarget struct {
	// +required
	Ref TargetRef `json:"ref"`
	// Paths inside the target's containers to back up; each must lie on a volume.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:Pattern=`^/`
	// +kubebuilder:validation:items:MaxLength=4096
	Paths []string `json:"paths,omitempty"`
	// Exclude holds restic exclude patterns.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=4096
	Exclude []string `json:"exclude,omitempty"`
	// Volumes names pod volumes to back up whole; with paths, both are backed up.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	Volumes []string `json:"volumes,omitempty"`
	// Source is Live (default: read the running pod's volume) or Snapshot (CSI VolumeSnapshot first).
	// +optional
	// +kubebuilder:default=Live
	Source CopySource `json:"source,omitempty"`
	// SnapshotClassName is the VolumeSnapshotClass for source: Snapshot; default: chosen by annotations.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	SnapshotClassName string `json:"snapshotClassName,omitempty"`
	// KeepSnapshots keeps, with source: Snapshot, the newest N ready VolumeSnapshots of
	// each PVC as local restore points after their sessions; 0 deletes every session's.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	KeepSnapshots int32 `json:"keepSnapshots,omitempty"`
}

// BackupConfigurationSpec says what to back up, where to, and when.
// +kubebuilder:validation:XValidation:rule="(has(self.paused) && self.paused) || has(self.schedule)",message="schedule is required unless paused is true"
// +kubebuilder:validation:XValidation:rule="has(self.target) || has(self.task)",message="a configuration without target backs up cluster resources and needs task"
type BackupConfigurationSpec struct {
	// Schedule is a cron expression (5 fields), a descriptor (@hourly, @daily, ...) or
	// "@every <duration>", optionally prefixed with CRON_TZ=<zone>.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^((CRON_TZ|TZ)=[A-Za-z0-9_+/-]+ +)?(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every +([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+|([0-9*?,/A-Za-z-]+ +){4}[0-9*?,/A-Za-z-]+)$`
	Schedule string `json:"schedule,omitempty"`
	// Paused stops new scheduled sessions; running ones finish.
	// +optional
	Paused bool `json:"paused,omitempty"`
	// Repository is where snapshots go; another namespace's only if its usagePolicy allows.
	// +required
	Repository ObjectRef `json:"repository"`
	// Target is the workload, PVC or AppBinding; absent for a cluster resources backup.
	// +optional
	Target *BackupTarget `json:"target,omitempty"`
	// Task backs up through a Job built from Functions (databases, cluster resources).
	// +optional
	Task *TaskRef `json:"task,omitempty"`
	// +optional
	RetentionPolicy *RetentionPolicy `json:"retentionPolicy,omitempty"`
	// +optional
	RuntimeSettings *RuntimeSettings `json:"runtimeSettings,omitempty"`
	// InterimVolumeTemplate is a scratch PVC for Job-based backups that need disk.
	// +optional
	InterimVolumeTemplate *corev1.PersistentVolumeClaim `json:"interimVolumeTemplate,omitempty"`
	// +optional
	Hooks *BackupHooks `json:"hooks,omitempty"`
	// BackupHistoryLimit is how many finished sessions are kept; default 5.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	BackupHistoryLimit *int32 `json:"backupHistoryLimit,omitempty"`
	// TimeOut fails a session that runs longer, e.g. "2h".
	// +optional
	TimeOut *metav1.Duration `json:"timeOut,omitempty"`
	// +optional
	RetryConfig *RetryConfig `json:"retryConfig,omitempty"`
}

// BackupConfigurationStatus reports the configuration's health and schedule.
type BackupConfigurationStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// LastScheduleTime is the last tick a session was created for.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// NextScheduleTime is the next tick.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`
	// LastSuccessfulBackupTime is when the last session succeeded.
	// +optional
	LastSuccessfulBackupTime *metav1.Time `json:"lastSuccessfulBackupTime,omitempty"`
	// LastSessionName is the newest session.
	// +optional
	LastSessionName string `json:"lastSessionName,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// BackupConfiguration schedules backups of one target into one Repository.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=bc,categories=trove
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Paused",type=boolean,JSONPath=`.spec.paused`
// +kubebuilder:printcolumn:name="Last Backup",type=date,JSONPath=`.status.lastSuccessfulBackupTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BackupConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec BackupConfigurationSpec `json:"spec"`
	// +optional
	Status BackupConfigurationStatus `json:"status,omitempty"`
}

// BackupConfigurationList is a list of BackupConfigurations.
// +kubebuilder:object:root=true
type BackupConfigurationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BackupConfiguration `json:"items"`
}

func init() { SchemeBuilder.Register(&BackupConfiguration{}, &BackupConfigurationList{}) }
