// Package workitem builds the work items (VolumeBackup, VolumeRestore) the controller
// hands to node agents: their deterministic names (so a restarted controller never
// creates a second item for the same pair), the stable path restic records, the tags
// that identify a volume across pod restarts, and the throttle taken from the
// configuration.
package workitem

import (
	"fmt"
	"hash/fnv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/target"
)

// Name joins parts into a DNS-1123 label of at most 63 characters; a name that would
// be longer is cut and made unique with a hash of the whole.
func Name(parts ...string) string {
	full := strings.ToLower(strings.Join(parts, "-"))
	full = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, full)
	full = strings.Trim(full, "-")
	if len(full) <= validation.DNS1123LabelMaxLength {
		return full
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(strings.Join(parts, "\x00")))
	suffix := fmt.Sprintf("-%08x", h.Sum32())
	return strings.TrimRight(full[:validation.DNS1123LabelMaxLength-len(suffix)], "-") + suffix
}

// labelValue fits a host name (a node name may be a 253-character DNS name) into a
// label value.
func labelValue(s string) string {
	if len(s) <= validation.LabelValueMaxLength {
		return s
	}
	return Name(s)
}

// Identity is what a volume's snapshots are found by across pod restarts: the restic
// tags and the stable path.
type Identity struct {
	StablePath string
	Tags       []string
}

// IdentityOf names a pair's data: by its PVC when it has one (the claim outlives pods),
// otherwise by the target and the volume name.
func IdentityOf(namespace string, ref troveapi.TargetRef, pair target.Pair) Identity {
	owner := strings.ToLower(string(ref.Kind)) + "-" + ref.Name
	tags := []string{"trove.dev/namespace=" + namespace, "trove.dev/target=" + string(ref.Kind) + "/" + ref.Name}
	if pair.PVC != "" {
		owner = "pvc-" + pair.PVC
		tags = append(tags, "trove.dev/pvc="+pair.PVC)
	}
	tags = append(tags, "trove.dev/volume="+pair.Volume)
	return Identity{
		StablePath: "/trove/" + namespace + "/" + owner + "/" + pair.Volume,
		Tags:       tags,
	}
}

// SourceTags select the snapshots of one volume of a source target: by namespace,
// target and volume name (not by PVC, which a restore target may not share).
func SourceTags(namespace string, source troveapi.TargetRef, volume string) []string {
	return []string{"trove.dev/namespace=" + namespace, "trove.dev/target=" + string(source.Kind) + "/" + source.Name, "trove.dev/volume=" + volume}
}

// ThrottleOf takes a work item's throttle from runtime settings.
func ThrottleOf(rs *troveapi.RuntimeSettings) troveapi.Throttle {
	if rs == nil || rs.Container == nil {
		return troveapi.Throttle{}
	}
	c := rs.Container
	return troveapi.Throttle{
		Nice:               c.Nice.DeepCopy(),
		IONice:             c.IONice.DeepCopy(),
		LimitUploadKiBps:   c.LimitUploadKiBps,
		LimitDownloadKiBps: c.LimitDownloadKiBps,
	}
}

// CredentialsSecretName is the per-item Secret in Trove's namespace that carries the
// item's repository credentials. Items of all namespaces share Trove's namespace, so
// the item's namespace is part of the name.
func CredentialsSecretName(kind, namespace, name string) string {
	return Name("creds", kind, namespace, name)
}

// VolumeBackupFor builds the VolumeBackup of one pair of one host of a session, read
// through the pair's Via pod volume (which must be set). The session owns it
// (garbage-collected with it).
func VolumeBackupFor(session *troveapi.BackupSession, config *troveapi.BackupConfiguration, host target.Host, pair target.Pair) *troveapi.VolumeBackup {
	id := IdentityOf(session.Namespace, config.Spec.Target.Ref, pair)
	name := Name(session.Name, host.Name, pair.Volume)
	pod, volume := pair.Via()
	repo := config.Spec.Repository
	if repo.Namespace == "" {
		repo.Namespace = config.Namespace
	}
	return &troveapi.VolumeBackup{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: session.Namespace,
			Labels: map[string]string{
				troveapi.LabelSession:       session.Name,
				troveapi.LabelConfiguration: config.Name,
				troveapi.LabelHost:          labelValue(host.Name),
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(session, troveapi.GroupVersion.WithKind("BackupSession"))},
		},
		Spec: troveapi.VolumeBackupSpec{
			WorkItemCommon: troveapi.WorkItemCommon{
				NodeName:              pod.Spec.NodeName,
				Repository:            repo,
				CredentialsSecretName: CredentialsSecretName("vb", session.Namespace, name),
				StablePath:            id.StablePath,
				Throttle:              ThrottleOf(config.Spec.RuntimeSettings),
				Session:               session.Name,
			},
			Source: troveapi.PodVolume{
				Pod:        troveapi.PodRef{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID)},
				VolumeName: volume,
			},
			Paths:    pair.SubPaths,
			Exclude:  config.Spec.Target.Exclude,
			Hostname: host.Name,
			Tags:     id.Tags,
		},
	}
}

// VolumeRestoreFor builds the VolumeRestore of one pair of one host of a restore
// session. The snapshot is "latest" of the source host and the volume's identity
// unless the rule names one.
func VolumeRestoreFor(session *troveapi.RestoreSession, ref troveapi.TargetRef, host target.Host, pair target.Pair, rule troveapi.RestoreRule) *troveapi.VolumeRestore {
	id := IdentityOf(session.Namespace, ref, pair)
	source := ref
	if s := session.Spec.Target.SourceRef; s != nil {
		source = *s
	}
	name := Name(session.Name, host.Name, pair.Volume)
	pod, volume := pair.Via()
	repo := session.Spec.Repository
	if repo.Namespace == "" {
		repo.Namespace = session.Namespace
	}
	snapshot, sourceHost := "latest", rule.SourceHost
	if len(rule.Snapshots) > 0 {
		snapshot = rule.Snapshots[0]
	}
	if sourceHost == "" {
		sourceHost = host.Name
	}
	return &troveapi.VolumeRestore{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       session.Namespace,
			Labels:          map[string]string{troveapi.LabelSession: session.Name, troveapi.LabelHost: labelValue(host.Name)},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(session, troveapi.GroupVersion.WithKind("RestoreSession"))},
		},
		Spec: troveapi.VolumeRestoreSpec{
			WorkItemCommon: troveapi.WorkItemCommon{
				NodeName:              pod.Spec.NodeName,
				Repository:            repo,
				CredentialsSecretName: CredentialsSecretName("vr", session.Namespace, name),
				StablePath:            id.StablePath,
				Throttle:              ThrottleOf(session.Spec.RuntimeSettings),
				Session:               session.Name,
			},
			Target: troveapi.PodVolume{
				Pod:        troveapi.PodRef{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID)},
				VolumeName: volume,
			},
			Snapshot:   snapshot,
			SourceHost: sourceHost,
			Tags:       SourceTags(session.Namespace, source, pair.Volume),
			Include:    rule.Include,
			Exclude:    rule.Exclude,
		},
	}
}

// MaintenanceAfter builds the maintenance that follows a backup session: retention
// for the session's hosts (when the configuration has a policy), prune as the policy
// says, and stats. It runs on node, in the Repository's namespace, owned by it.
func MaintenanceAfter(session *troveapi.BackupSession, config *troveapi.BackupConfiguration, repo *troveapi.Repository, hosts []string, node string) *troveapi.RepositoryMaintenance {
	name := Name(session.Namespace, session.Name, "maintenance")
	m := &troveapi.RepositoryMaintenance{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: repo.Namespace,
			Labels: map[string]string{
				troveapi.LabelRepository: repo.Name,
				troveapi.LabelSession:    session.Name,
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(repo, troveapi.GroupVersion.WithKind("Repository"))},
		},
		Spec: troveapi.RepositoryMaintenanceSpec{
			NodeName:              node,
			Repository:            troveapi.ObjectRef{Namespace: repo.Namespace, Name: repo.Name},
			CredentialsSecretName: CredentialsSecretName("rm", repo.Namespace, name),
			Throttle:              ThrottleOf(config.Spec.RuntimeSettings),
			Stats:                 true,
		},
	}
	if policy := config.Spec.RetentionPolicy; policy != nil && config.Spec.Target != nil {
		ref := config.Spec.Target.Ref
		tags := []string{"trove.dev/namespace=" + config.Namespace, "trove.dev/target=" + string(ref.Kind) + "/" + ref.Name}
		for _, h := range hosts {
			m.Spec.Forget = append(m.Spec.Forget, troveapi.ForgetGroup{Host: h, Tags: tags, Policy: *policy})
		}
		m.Spec.Prune = policy.Prune && !policy.DryRun
	}
	return m
}

// WipeOut builds the maintenance that empties a Repository being deleted with wipeOut:
// unlock stale locks, forget every snapshot, prune, and measure (to show 0 left). Its
// name carries the attempt, so a failed wipe-out is retried as a new item.
func WipeOut(repo *troveapi.Repository, node string, attempt int) *troveapi.RepositoryMaintenance {
	name := Name(repo.Name, "wipeout", fmt.Sprint(attempt))
	return &troveapi.RepositoryMaintenance{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       repo.Namespace,
			Labels:          map[string]string{troveapi.LabelRepository: repo.Name, LabelWipeOut: "true"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(repo, troveapi.GroupVersion.WithKind("Repository"))},
		},
		Spec: troveapi.RepositoryMaintenanceSpec{
			NodeName:              node,
			Repository:            troveapi.ObjectRef{Namespace: repo.Namespace, Name: repo.Name},
			CredentialsSecretName: CredentialsSecretName("rm", repo.Namespace, name),
			UnlockStale:           true,
			WipeOut:               true,
			Prune:                 true,
			Stats:                 true,
		},
	}
}

// LabelWipeOut marks the maintenance items that wipe a Repository out.
const LabelWipeOut = "trove.dev/wipeout"
