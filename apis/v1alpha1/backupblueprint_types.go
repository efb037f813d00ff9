package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BackupBlueprintSpec is a template of a Repository and a BackupConfiguration, applied
// to every workload, PVC or AppBinding annotated trove.dev/backup-blueprint: <name>.
// Strings may use ${TARGET_NAMESPACE}, ${TARGET_KIND} and ${TARGET_NAME}.
// +kubebuilder:validation:XValidation:rule="has(self.schedule)",message="schedule is required"
type BackupBlueprintSpec struct {
	// RepositorySpec is the template of the Repository created per target.
	RepositorySpec `json:",inline"`
	// RepoNamespace puts the Repository into this namespace instead of the target's.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	RepoNamespace string `json:"repoNamespace,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^((CRON_TZ|TZ)=[A-Za-z0-9_+/-]+ +)?(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every +([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+|([0-9*?,/A-Za-z-]+ +){4}[0-9*?,/A-Za-z-]+)$`
	Schedule string `json:"schedule,omitempty"`
	// +optional
	Task *TaskRef `json:"task,omitempty"`
	// +optional
	RetentionPolicy *RetentionPolicy `json:"retentionPolicy,omitempty"`
	// +optional
	RuntimeSettings *RuntimeSettings `json:"runtimeSettings,omitempty"`
	// +optional
	InterimVolumeTemplate *corev1.PersistentVolumeClaim `json:"interimVolumeTemplate,omitempty"`
	// +optional
	Hooks *BackupHooks `json:"hooks,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	BackupHistoryLimit *int32 `json:"backupHistoryLimit,omitempty"`
	// +optional
	TimeOut *metav1.Duration `json:"timeOut,omitempty"`
}

// BackupBlueprint configures backups by annotation.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=bb,categories=trove
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BackupBlueprint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec BackupBlueprintSpec `json:"spec"`
}

// BackupBlueprintList is a list of BackupBlueprints.
// +kubebuilder:object:root=true
type BackupBlueprintList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BackupBlueprint `json:"items"`
}

func init() { SchemeBuilder.Register(&BackupBlueprint{}, &BackupBlueprintList{}) }
