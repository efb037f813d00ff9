package variables

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"trove.dev/trove/apis/v1alpha1"
)

// Names of the built-in variables: Stash's names, so Stash Functions work unchanged.
const (
	Namespace                = "NAMESPACE"
	BackupSession            = "BACKUP_SESSION"
	RestoreSession           = "RESTORE_SESSION"
	InvokerKind              = "INVOKER_KIND"
	InvokerName              = "INVOKER_NAME"
	RepositoryName           = "REPOSITORY_NAME"
	RepositoryNamespace      = "REPOSITORY_NAMESPACE"
	RepositoryProvider       = "REPOSITORY_PROVIDER"
	RepositorySecretName     = "REPOSITORY_SECRET_NAME"
	RepositoryBucket         = "REPOSITORY_BUCKET"
	RepositoryPrefix         = "REPOSITORY_PREFIX"
	RepositoryEndpoint       = "REPOSITORY_ENDPOINT"
	RepositoryRegion         = "REPOSITORY_REGION"
	RepositoryURL            = "REPOSITORY_URL"
	Hostname                 = "HOSTNAME"
	SourceHostname           = "SOURCE_HOSTNAME"
	TargetName               = "TARGET_NAME"
	TargetAPIVersion         = "TARGET_API_VERSION"
	TargetKind               = "TARGET_KIND"
	TargetNamespace          = "TARGET_NAMESPACE"
	TargetMountPath          = "TARGET_MOUNT_PATH"
	TargetPaths              = "TARGET_PATHS"
	ExcludePatterns          = "EXCLUDE_PATTERNS"
	RestorePaths             = "RESTORE_PATHS"
	RestoreSnapshots         = "RESTORE_SNAPSHOTS"
	TargetAppVersion         = "TARGET_APP_VERSION"
	TargetAppGroup           = "TARGET_APP_GROUP"
	TargetAppResource        = "TARGET_APP_RESOURCE"
	TargetAppType            = "TARGET_APP_TYPE"
	TargetAppReplicas        = "TARGET_APP_REPLICAS"
	RetentionKeepLast        = "RETENTION_KEEP_LAST"
	RetentionKeepHourly      = "RETENTION_KEEP_HOURLY"
	RetentionKeepDaily       = "RETENTION_KEEP_DAILY"
	RetentionKeepWeekly      = "RETENTION_KEEP_WEEKLY"
	RetentionKeepMonthly     = "RETENTION_KEEP_MONTHLY"
	RetentionKeepYearly      = "RETENTION_KEEP_YEARLY"
	RetentionKeepTags        = "RETENTION_KEEP_TAGS"
	RetentionPrune           = "RETENTION_PRUNE"
	RetentionDryRun          = "RETENTION_DRY_RUN"
	EnableCache              = "ENABLE_CACHE"
	MaxConnections           = "MAX_CONNECTIONS"
	NiceAdjustment           = "NICE_ADJUSTMENT"
	IONiceClass              = "IONICE_CLASS"
	IONiceClassData          = "IONICE_CLASS_DATA"
	EnableStatusSubresource  = "ENABLE_STATUS_SUBRESOURCE"
	PrometheusPushgatewayURL = "PROMETHEUS_PUSHGATEWAY_URL"
	InterimDataDir           = "INTERIM_DATA_DIR"
)

// Where the interim volume (interimVolumeTemplate) is mounted in every container of a
// Job, and the directory INTERIM_DATA_DIR points at.
const (
	InterimVolumeName      = "trove-interim-volume"
	InterimVolumeMountPath = "/trove-interim-volume"
	InterimDataDirPath     = InterimVolumeMountPath + "/data"
)

// DefaultHostname is the restic host of a Job-based (database, cluster) backup, as in Stash.
const DefaultHostname = "host-0"

// AppFacts are what the AppBinding of a target says about the application.
type AppFacts struct {
	// Version of the application, e.g. "16.1".
	Version string
	// Group and Resource of the application, e.g. "kubedb.com" and "postgres".
	Group    string
	Resource string
	// Type is Group/Resource; derived when empty.
	Type string
	// Replicas of the application; nil when unknown.
	Replicas *int32
}

// Facts are everything the built-in variables are computed from. Exactly one of
// BackupConfiguration and RestoreSession is set; the builder reads no API server.
type Facts struct {
	// Repository the session writes to or reads from.
	Repository *v1alpha1.Repository
	// BackupConfiguration of a backup, with BackupSessionName the session's name.
	BackupConfiguration *v1alpha1.BackupConfiguration
	BackupSessionName   string
	// RestoreSession of a restore.
	RestoreSession *v1alpha1.RestoreSession
	// Namespace of the session (and of its target and Job). Defaults to the
	// configuration's or restore session's namespace.
	Namespace string
	// Hostname is the restic host; DefaultHostname when empty.
	Hostname string
	// TargetMountPath is where a target volume is mounted in the Job, if it is.
	TargetMountPath string
	// App describes an AppBinding target.
	App *AppFacts
	// PrometheusPushgatewayURL is where metrics are pushed ("" when disabled).
	PrometheusPushgatewayURL string
	// DisableCache turns ENABLE_CACHE to "false".
	DisableCache bool
}

// Builtins computes the built-in variables. Every variable Trove provides is present,
// with "" when it does not apply (RESTORE_SESSION of a backup, REPOSITORY_BUCKET of a
// rest repository, ...), so ${RESTORE_SESSION} in a shared Function is never "missing",
// and ${NAME:=default} still falls back to its default.
func Builtins(f Facts) (Vars, error) {
	if (f.BackupConfiguration == nil) == (f.RestoreSession == nil) {
		return nil, fmt.Errorf("built-in variables: exactly one of BackupConfiguration and RestoreSession must be given")
	}
	if f.Repository == nil {
		return nil, fmt.Errorf("built-in variables: Repository must be given")
	}
	v := Vars{}
	for _, n := range AllBuiltins() {
		v[n] = ""
	}
	v[EnableStatusSubresource] = "true"
	v[EnableCache] = strconv.FormatBool(!f.DisableCache)
	v[PrometheusPushgatewayURL] = f.PrometheusPushgatewayURL
	v[TargetMountPath] = f.TargetMountPath

	host := f.Hostname
	if host == "" {
		host = DefaultHostname
	}
	v[Hostname] = host
	v[SourceHostname] = host

	var (
		ns       string
		target   *v1alpha1.TargetRef
		runtime  *v1alpha1.RuntimeSettings
		interim  bool
		tagsJoin = func(ss []string) string { return strings.Join(ss, ",") }
	)
	if bc := f.BackupConfiguration; bc != nil {
		ns = bc.Namespace
		v[BackupSession] = f.BackupSessionName
		v[InvokerKind] = "BackupConfiguration"
		v[InvokerName] = bc.Name
		if t := bc.Spec.Target; t != nil {
			target = &t.Ref
			v[TargetPaths] = tagsJoin(t.Paths)
			v[ExcludePatterns] = tagsJoin(t.Exclude)
		}
		if rp := bc.Spec.RetentionPolicy; rp != nil {
			v[RetentionKeepLast] = i32(rp.KeepLast)
			v[RetentionKeepHourly] = i32(rp.KeepHourly)
			v[RetentionKeepDaily] = i32(rp.KeepDaily)
			v[RetentionKeepWeekly] = i32(rp.KeepWeekly)
			v[RetentionKeepMonthly] = i32(rp.KeepMonthly)
			v[RetentionKeepYearly] = i32(rp.KeepYearly)
			v[RetentionKeepTags] = tagsJoin(rp.KeepTags)
			v[RetentionPrune] = strconv.FormatBool(rp.Prune)
			v[RetentionDryRun] = strconv.FormatBool(rp.DryRun)
		}
		runtime = bc.Spec.RuntimeSettings
		interim = bc.Spec.InterimVolumeTemplate != nil
	} else {
		rs := f.RestoreSession
		ns = rs.Namespace
		v[RestoreSession] = rs.Name
		v[InvokerKind] = "RestoreSession"
		v[InvokerName] = rs.Name
		if t := rs.Spec.Target; t != nil {
			target = t.Ref
			if rule := RuleFor(t.Rules, host); rule != nil {
				if rule.SourceHost != "" {
					v[SourceHostname] = rule.SourceHost
				}
				v[RestorePaths] = tagsJoin(rule.Paths)
				v[RestoreSnapshots] = tagsJoin(rule.Snapshots)
			}
		}
		runtime = rs.Spec.RuntimeSettings
		interim = rs.Spec.InterimVolumeTemplate != nil
	}
	if f.Namespace != "" {
		ns = f.Namespace
	}
	v[Namespace] = ns
	v[TargetNamespace] = ns
	if target != nil {
		v[TargetName] = target.Name
		v[TargetAPIVersion] = target.APIVersion
		v[TargetKind] = string(target.Kind)
	}
	if interim {
		v[InterimDataDir] = InterimDataDirPath
	}
	if runtime != nil && runtime.Container != nil {
		c := runtime.Container
		if c.Nice != nil && c.Nice.Adjustment != nil {
			v[NiceAdjustment] = i32(*c.Nice.Adjustment)
		}
		if c.IONice != nil {
			if c.IONice.Class != nil {
				v[IONiceClass] = i32(*c.IONice.Class)
			}
			if c.IONice.ClassData != nil {
				v[IONiceClassData] = i32(*c.IONice.ClassData)
			}
		}
	}
	if a := f.App; a != nil {
		v[TargetAppVersion] = a.Version
		v[TargetAppGroup] = a.Group
		v[TargetAppResource] = a.Resource
		v[TargetAppType] = a.Type
		if a.Type == "" && (a.Group != "" || a.Resource != "") {
			v[TargetAppType] = a.Group + "/" + a.Resource
		}
		if a.Replicas != nil {
			v[TargetAppReplicas] = i32(*a.Replicas)
		}
	}
	repositoryVars(v, f.Repository, ns)
	return v, nil
}

// repositoryVars sets REPOSITORY_* and MAX_CONNECTIONS from the Repository's backend.
func repositoryVars(v Vars, repo *v1alpha1.Repository, sessionNS string) {
	v[RepositoryName] = repo.Name
	v[RepositoryNamespace] = repo.Namespace
	if repo.Namespace == "" {
		v[RepositoryNamespace] = sessionNS
	}
	b := repo.Spec.Backend
	v[RepositorySecretName] = b.StorageSecretName
	var maxConn int32
	v[RepositoryProvider] = string(b.Type())
	switch {
	case b.Local != nil:
		v[RepositoryBucket] = b.Local.MountPath
		v[RepositoryPrefix] = b.Local.SubPath
	case b.S3 != nil:
		v[RepositoryEndpoint] = b.S3.Endpoint
		v[RepositoryBucket] = b.S3.Bucket
		v[RepositoryPrefix] = b.S3.Prefix
		v[RepositoryRegion] = b.S3.Region
	case b.GCS != nil:
		v[RepositoryBucket] = b.GCS.Bucket
		v[RepositoryPrefix] = b.GCS.Prefix
		maxConn = b.GCS.MaxConnections
	case b.Azure != nil:
		v[RepositoryBucket] = b.Azure.Container
		v[RepositoryPrefix] = b.Azure.Prefix
		maxConn = b.Azure.MaxConnections
	case b.Swift != nil:
		v[RepositoryBucket] = b.Swift.Container
		v[RepositoryPrefix] = b.Swift.Prefix
	case b.B2 != nil:
		v[RepositoryBucket] = b.B2.Bucket
		v[RepositoryPrefix] = b.B2.Prefix
		maxConn = b.B2.MaxConnections
	case b.Rest != nil:
		v[RepositoryURL] = b.Rest.URL
	case b.SFTP != nil:
		v[RepositoryEndpoint] = b.SFTP.Host
		if b.SFTP.Port != 0 {
			v[RepositoryEndpoint] = b.SFTP.Host + ":" + i32(b.SFTP.Port)
		}
		v[RepositoryPrefix] = b.SFTP.Path
		v[RepositoryURL] = "sftp://" + b.SFTP.User + "@" + v[RepositoryEndpoint] + "/" + strings.TrimPrefix(b.SFTP.Path, "/")
	}
	v[MaxConnections] = i32(maxConn)
}

// RuleFor picks the restore rule for host: the first rule that lists host in
// targetHosts, else the first rule without targetHosts, else nil.
func RuleFor(rules []v1alpha1.RestoreRule, host string) *v1alpha1.RestoreRule {
	for i := range rules {
		if slices.Contains(rules[i].TargetHosts, host) {
			return &rules[i]
		}
	}
	for i := range rules {
		if len(rules[i].TargetHosts) == 0 {
			return &rules[i]
		}
	}
	return nil
}

// AllBuiltins lists the names of every built-in variable Trove provides, sorted.
func AllBuiltins() []string {
	names := []string{
		Namespace, BackupSession, RestoreSession, InvokerKind, InvokerName,
		RepositoryName, RepositoryNamespace, RepositoryProvider, RepositorySecretName,
		RepositoryBucket, RepositoryPrefix, RepositoryEndpoint, RepositoryRegion, RepositoryURL,
		Hostname, SourceHostname,
		TargetName, TargetAPIVersion, TargetKind, TargetNamespace, TargetMountPath, TargetPaths,
		ExcludePatterns, RestorePaths, RestoreSnapshots,
		TargetAppVersion, TargetAppGroup, TargetAppResource, TargetAppType, TargetAppReplicas,
		RetentionKeepLast, RetentionKeepHourly, RetentionKeepDaily, RetentionKeepWeekly,
		RetentionKeepMonthly, RetentionKeepYearly, RetentionKeepTags, RetentionPrune, RetentionDryRun,
		EnableCache, MaxConnections, NiceAdjustment, IONiceClass, IONiceClassData,
		EnableStatusSubresource, PrometheusPushgatewayURL, InterimDataDir,
	}
	slices.Sort(names)
	return names
}

func i32(n int32) string { return strconv.FormatInt(int64(n), 10) }
