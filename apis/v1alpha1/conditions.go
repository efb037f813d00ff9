package v1alpha1

// Condition types.
const (
	// ConditionReady is True when an object is valid and its dependencies are in place.
	ConditionReady = "Ready"
	// ConditionRepositoryFound is about the configuration's Repository and its usagePolicy.
	ConditionRepositoryFound = "RepositoryFound"
	// ConditionStorageSecretFound is about the Repository's storage Secret and its keys.
	ConditionStorageSecretFound = "StorageSecretFound"
	// ConditionTargetFound is about the target object.
	ConditionTargetFound = "TargetFound"
	// ConditionTaskResolved is about the Task and its Functions.
	ConditionTaskResolved = "TaskResolved"
	// ConditionScheduleValid is about the schedule expression.
	ConditionScheduleValid = "ScheduleValid"
	// ConditionBackupSucceeded is set on a session when every host finished.
	ConditionBackupSucceeded = "BackupSucceeded"
	// ConditionRestoreSucceeded is set on a restore session when every host finished.
	ConditionRestoreSucceeded = "RestoreSucceeded"
	// ConditionHooksSucceeded is about pre/post hooks.
	ConditionHooksSucceeded = "HooksSucceeded"
	// ConditionSnapshotReady is about the CSI VolumeSnapshot of a Snapshot source.
	ConditionSnapshotReady = "SnapshotReady"
	// ConditionVolumesExposed is set on a session that reaches volumes through holder
	// pods (source: Snapshot, an unmounted PVC, volumeClaimTemplates): True while they
	// exist, False once they are cleaned up.
	ConditionVolumesExposed = "VolumesExposed"
)

// Condition reasons. Each says what is wrong in a word; the message says how to fix it.
const (
	ReasonValid                  = "Valid"
	ReasonRepositoryNotFound     = "RepositoryNotFound"
	ReasonNamespaceNotAllowed    = "NamespaceNotAllowed"
	ReasonSecretNotFound         = "SecretNotFound"
	ReasonSecretKeyMissing       = "SecretKeyMissing"
	ReasonTargetNotFound         = "TargetNotFound"
	ReasonTargetKindUnsupported  = "TargetKindUnsupported"
	ReasonPathNotOnVolume        = "PathNotOnVolume"
	ReasonTaskNotFound           = "TaskNotFound"
	ReasonFunctionNotFound       = "FunctionNotFound"
	ReasonParamMissing           = "ParamMissing"
	ReasonInvalidSchedule        = "InvalidSchedule"
	ReasonPreviousStillRunning   = "PreviousSessionStillRunning"
	ReasonTimedOut               = "TimedOut"
	ReasonHookFailed             = "HookFailed"
	ReasonSnapshotClassNotFound  = "SnapshotClassNotFound"
	ReasonSnapshotClassAmbiguous = "SnapshotClassAmbiguous"
	ReasonSucceeded              = "Succeeded"
	ReasonFailed                 = "Failed"
	ReasonInProgress             = "InProgress"
	ReasonReleased               = "Released"
)

// Labels, annotations and finalizers.
const (
	// LabelSession marks objects created for a session (work items, Jobs, holder pods).
	LabelSession = "trove.dev/session"
	// LabelHost names the host (of its session's target) a work item belongs to.
	LabelHost = "trove.dev/host"
	// LabelRepository marks maintenance items of a Repository.
	LabelRepository = "trove.dev/repository"
	// LabelConfiguration marks sessions and items of a BackupConfiguration.
	LabelConfiguration = "trove.dev/backup-configuration"
	// AnnotationBackupBlueprint applies a BackupBlueprint to a workload, PVC or AppBinding.
	AnnotationBackupBlueprint = "trove.dev/backup-blueprint"
	// AnnotationTargetPaths lists the paths a blueprint backs up, comma separated.
	AnnotationTargetPaths = "trove.dev/target-paths"
	// AnnotationSchedule overrides a blueprint's schedule for one target.
	AnnotationSchedule = "trove.dev/schedule"
	// AnnotationParamPrefix prefixes blueprint Task params set on a target.
	AnnotationParamPrefix = "params.trove.dev/"
	// AnnotationSourceVolume on a RestoreSession's volumeClaimTemplate names the volume
	// of target.sourceRef whose snapshots are restored into it (default: the template's
	// name without -${POD_ORDINAL}).
	AnnotationSourceVolume = "trove.dev/source-volume"
	// PodOrdinalVariable in a volumeClaimTemplate's name is replaced by the replica's ordinal.
	PodOrdinalVariable = "${POD_ORDINAL}"
	// AnnotationSnapshotClass picks the VolumeSnapshotClass for one PVC.
	AnnotationSnapshotClass = "trove.dev/snapshot-class"
	// AnnotationDefaultSnapshotClass marks a driver's default class for Trove.
	AnnotationDefaultSnapshotClass = "trove.dev/default-snapshot-class"
	// FinalizerRepository holds a Repository while sessions use it or its data is wiped.
	FinalizerRepository = "trove.dev/repository"
)
