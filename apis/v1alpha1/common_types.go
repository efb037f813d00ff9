package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ObjectRef names an object of the session's namespace, or of another namespace
// where a kind allows it (a Repository with a usagePolicy).
type ObjectRef struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Namespace defaults to the referring object's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// LocalRef names an object in the referring object's namespace.
type LocalRef struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// TargetKind is a kind Trove can back up or restore into.
// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet;ReplicaSet;Pod;PersistentVolumeClaim;AppBinding
type TargetKind string

const (
	KindDeployment  TargetKind = "Deployment"
	KindStatefulSet TargetKind = "StatefulSet"
	KindDaemonSet   TargetKind = "DaemonSet"
	KindReplicaSet  TargetKind = "ReplicaSet"
	KindPod         TargetKind = "Pod"
	KindPVC         TargetKind = "PersistentVolumeClaim"
	KindAppBinding  TargetKind = "AppBinding"
)

// TargetRef points at the workload, PVC or AppBinding to back up or restore.
// +kubebuilder:validation:XValidation:rule="self.kind == 'AppBinding' ? self.apiVersion == 'appcatalog.appscode.com/v1alpha1' : (self.kind == 'PersistentVolumeClaim' || self.kind == 'Pod' ? self.apiVersion == 'v1' : self.apiVersion == 'apps/v1')",message="apiVersion does not match kind: use apps/v1 for workloads, v1 for Pod and PersistentVolumeClaim, appcatalog.appscode.com/v1alpha1 for AppBinding"
type TargetRef struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	APIVersion string `json:"apiVersion"`
	// +required
	Kind TargetKind `json:"kind"`
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// CopySource says where a volume's data is read from.
// +kubebuilder:validation:Enum=Live;Snapshot
type CopySource string

const (
	// SourceLive reads the running pod's volume through the kubelet's host path.
	SourceLive CopySource = "Live"
	// SourceSnapshot takes a CSI VolumeSnapshot first and reads the snapshot.
	SourceSnapshot CopySource = "Snapshot"
)

// Param is a named value for a Function variable.
type Param struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:MaxLength=16384
	Value string `json:"value,omitempty"`
}

// TaskRef names a Task and overrides its step params.
type TaskRef struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Params override the params of the Task's steps.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=128
	Params []Param `json:"params,omitempty"`
}

// RetentionPolicy says which snapshots `restic forget` keeps. Zero means "not set".
type RetentionPolicy struct {
	// Name of the policy, for reference in status and events.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepLast int32 `json:"keepLast,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepHourly int32 `json:"keepHourly,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepDaily int32 `json:"keepDaily,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepWeekly int32 `json:"keepWeekly,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepMonthly int32 `json:"keepMonthly,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	KeepYearly int32 `json:"keepYearly,omitempty"`
	// KeepTags keeps every snapshot that has one of these tags.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	KeepTags []string `json:"keepTags,omitempty"`
	// Prune removes the data no snapshot refers to any more.
	// +optional
	Prune bool `json:"prune,omitempty"`
	// DryRun reports what would be forgotten and changes nothing.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// NiceSettings is the CPU scheduling priority of restic and the dump tools.
type NiceSettings struct {
	// Adjustment is the nice value, from -20 (highest priority) to 19 (lowest).
	// +optional
	// +kubebuilder:validation:Minimum=-20
	// +kubebuilder:validation:Maximum=19
	Adjustment *int32 `json:"adjustment,omitempty"`
}

// IONiceSettings is the I/O scheduling class and priority of restic and the dump tools.
type IONiceSettings struct {
	// Class is 1 (realtime), 2 (best-effort) or 3 (idle).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3
	Class *int32 `json:"class,omitempty"`
	// ClassData is the priority inside the class, 0 (highest) to 7 (lowest).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=7
	ClassData *int32 `json:"classData,omitempty"`
}

// ContainerRuntimeSettings tunes the process that moves the data.
type ContainerRuntimeSettings struct {
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// +optional
	LivenessProbe *corev1.Probe `json:"livenessProbe,omitempty"`
	// +optional
	ReadinessProbe *corev1.Probe `json:"readinessProbe,omitempty"`
	// +optional
	Lifecycle *corev1.Lifecycle `json:"lifecycle,omitempty"`
	// +optional
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`
	// +optional
	Nice *NiceSettings `json:"nice,omitempty"`
	// +optional
	IONice *IONiceSettings `json:"ionice,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=256
	Env []corev1.EnvVar `json:"env,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=64
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`
	// LimitUploadKiBps caps restic's upload rate (KiB/s); 0 means unlimited.
	// +optional
	// +kubebuilder:validation:Minimum=0
	LimitUploadKiBps int32 `json:"limitUploadKiBps,omitempty"`
	// LimitDownloadKiBps caps restic's download rate (KiB/s); 0 means unlimited.
	// +optional
	// +kubebuilder:validation:Minimum=0
	LimitDownloadKiBps int32 `json:"limitDownloadKiBps,omitempty"`
}

// PodRuntimeSettings tunes the pods of Job-based backups and holder pods.
type PodRuntimeSettings struct {
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// +optional
	AutomountServiceAccountToken *bool `json:"automountServiceAccountToken,omitempty"`
	// +optional
	SecurityContext *corev1.PodSecurityContext `json:"securityContext,omitempty"`
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// +optional
	SchedulerName string `json:"schedulerName,omitempty"`
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// +optional
	Priority *int32 `json:"priority,omitempty"`
	// +optional
	RuntimeClassName *string `json:"runtimeClassName,omitempty"`
	// +optional
	EnableServiceLinks *bool `json:"enableServiceLinks,omitempty"`
}

// RuntimeSettings tunes the container and pod that move the data.
type RuntimeSettings struct {
	// +optional
	Container *ContainerRuntimeSettings `json:"container,omitempty"`
	// +optional
	Pod *PodRuntimeSettings `json:"pod,omitempty"`
}

// HookHandler is an action run in the target's pod (exec) or against it (httpGet).
// +kubebuilder:validation:XValidation:rule="has(self.exec) != has(self.httpGet)",message="exactly one of exec or httpGet must be set"
type HookHandler struct {
	// +optional
	Exec *corev1.ExecAction `json:"exec,omitempty"`
	// +optional
	HTTPGet *corev1.HTTPGetAction `json:"httpGet,omitempty"`
	// ContainerName is the container exec runs in; default: the pod's first container.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	ContainerName string `json:"containerName,omitempty"`
	// TimeoutSeconds bounds the hook; default 60.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
}

// HookExecutionPolicy says when a post hook runs.
// +kubebuilder:validation:Enum=Always;OnSuccess;OnFailure
type HookExecutionPolicy string

const (
	HookAlways    HookExecutionPolicy = "Always"
	HookOnSuccess HookExecutionPolicy = "OnSuccess"
	HookOnFailure HookExecutionPolicy = "OnFailure"
)

// PostHook is a hook run after the data moved.
type PostHook struct {
	HookHandler `json:",inline"`
	// ExecutionPolicy: Always (default), OnSuccess or OnFailure.
	// +optional
	// +kubebuilder:default=Always
	ExecutionPolicy HookExecutionPolicy `json:"executionPolicy,omitempty"`
}

// BackupHooks run around a backup. A failed preBackup hook fails the session.
type BackupHooks struct {
	// +optional
	PreBackup *HookHandler `json:"preBackup,omitempty"`
	// +optional
	PostBackup *PostHook `json:"postBackup,omitempty"`
}

// RestoreHooks run around a restore.
type RestoreHooks struct {
	// +optional
	PreRestore *HookHandler `json:"preRestore,omitempty"`
	// +optional
	PostRestore *PostHook `json:"postRestore,omitempty"`
}

// RetryConfig retries a failed session.
type RetryConfig struct {
	// MaxRetry is how many times a failed session is retried.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MaxRetry int32 `json:"maxRetry"`
	// Delay between a failure and the retry.
	// +optional
	Delay metav1.Duration `json:"delay,omitempty"`
}

// PodRef identifies one pod, UID included, so a recreated pod is never mistaken for it.
type PodRef struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	UID string `json:"uid"`
}

// FileStats counts the files of one snapshot.
type FileStats struct {
	// +optional
	New int64 `json:"new,omitempty"`
	// +optional
	Modified int64 `json:"modified,omitempty"`
	// +optional
	Unmodified int64 `json:"unmodified,omitempty"`
	// +optional
	Total int64 `json:"total,omitempty"`
}

// SnapshotStats is what one restic snapshot holds and cost.
type SnapshotStats struct {
	// Name is the restic snapshot ID.
	// +optional
	Name string `json:"name,omitempty"`
	// Path is the stable path the data was backed up from.
	// +optional
	Path string `json:"path,omitempty"`
	// TotalSize of the files in the snapshot, e.g. "1.720 GiB".
	// +optional
	TotalSize string `json:"totalSize,omitempty"`
	// Uploaded is the data added to the repository.
	// +optional
	Uploaded string `json:"uploaded,omitempty"`
	// ProcessingTime is how long restic took, e.g. "1m5s".
	// +optional
	ProcessingTime string `json:"processingTime,omitempty"`
	// +optional
	FileStats FileStats `json:"fileStats,omitempty"`
}

// Progress of a data transfer.
type Progress struct {
	// +optional
	BytesDone int64 `json:"bytesDone,omitempty"`
	// +optional
	TotalBytes int64 `json:"totalBytes,omitempty"`
	// +optional
	FilesDone int64 `json:"filesDone,omitempty"`
	// +optional
	TotalFiles int64 `json:"totalFiles,omitempty"`
	// Percent done, 0-100.
	// +optional
	Percent int32 `json:"percent,omitempty"`
	// ETASeconds is restic's estimate of the time left.
	// +optional
	ETASeconds int64 `json:"etaSeconds,omitempty"`
}

// Throttle bounds what one work item may take from the node.
type Throttle struct {
	// +optional
	Nice *NiceSettings `json:"nice,omitempty"`
	// +optional
	IONice *IONiceSettings `json:"ionice,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	LimitUploadKiBps int32 `json:"limitUploadKiBps,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	LimitDownloadKiBps int32 `json:"limitDownloadKiBps,omitempty"`
}

// Add adds another transfer's counts (for a session's total over its items) and
// recomputes Percent from bytes.
func (p *Progress) Add(o Progress) {
	p.BytesDone += o.BytesDone
	p.TotalBytes += o.TotalBytes
	p.FilesDone += o.FilesDone
	p.TotalFiles += o.TotalFiles
	if p.TotalBytes > 0 {
		p.Percent = int32(p.BytesDone * 100 / p.TotalBytes)
	}
}
