package stashimport

import (
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

const (
	driverRestic   = "Restic"
	driverSnapshot = "VolumeSnapshotter"
)

func convertBackupConfiguration(spec *fields, rep *ObjectReport) client.Object {
	bc := &troveapi.BackupConfiguration{}
	s := &bc.Spec
	s.Repository = objectRef(spec.child("repository"))
	if s.Repository.Name == "" {
		rep.Reason = "spec.repository.name is missing: Trove needs the Repository to back up into"
		return nil
	}
	var badSchedule bool
	s.Schedule, badSchedule = schedule(spec, rep)
	s.Paused = spec.boolean("paused") || badSchedule
	if s.Schedule == "" && !s.Paused {
		s.Paused = true
		rep.note("spec.schedule", "not set: Trove needs a schedule unless paused, so the configuration is imported paused (instant backups still run)")
	}
	driver := spec.str("driver")
	s.Target = backupTarget(spec)
	s.Task = taskRef(spec)
	if s.Target != nil {
		s.Task = volumeTask(s.Task, &s.Target.Ref, rep)
	}
	switch driver {
	case "", driverRestic:
	case driverSnapshot:
		if s.Target == nil || s.Target.Ref.Kind == troveapi.KindAppBinding {
			rep.unmapped("spec.driver", "VolumeSnapshotter needs a volume target; dropped")
			break
		}
		s.Target.Source = troveapi.SourceSnapshot
		rep.note("spec.driver", "VolumeSnapshotter imported as target.source: Snapshot: Trove takes a CSI VolumeSnapshot and backs it up with restic into the Repository (Stash kept the VolumeSnapshots themselves)")
	default:
		rep.unmapped("spec.driver", fmt.Sprintf("%q is not Restic or VolumeSnapshotter; dropped", driver))
	}
	s.RetentionPolicy = retentionPolicy(spec)
	s.RuntimeSettings = runtimeSettings(spec)
	tempDir(spec)
	s.InterimVolumeTemplate = interimVolume(spec)
	s.Hooks = backupHooks(spec)
	s.BackupHistoryLimit = spec.int32p("backupHistoryLimit", 0, 1000)
	s.TimeOut = timeOut(spec)
	if r := spec.child("retryConfig"); r != nil {
		rc := &troveapi.RetryConfig{MaxRetry: r.int32v("maxRetry", 0, 100)}
		if d := timeOut(&fields{m: map[string]any{"timeOut": r.m["delay"]}, path: r.path, rep: rep}); d != nil {
			rc.Delay = *d
		}
		r.ignore("delay")
		r.leftovers()
		s.RetryConfig = rc
	}
	if s.Target == nil && s.Task == nil {
		rep.Reason = "neither a target nor a task Trove can use: a configuration backs up a target, or cluster resources through a Task"
		return nil
	}
	return bc
}

// backupTarget takes spec.target.
func backupTarget(spec *fields) *troveapi.BackupTarget {
	t := spec.child("target")
	if t == nil {
		return nil
	}
	defer t.leftovers()
	ref := targetRef(t, "ref")
	paths := absPaths(t, "paths", 64)
	if t.has("directories") {
		t.rep.note(t.at("directories"), "the design proposal's directories imported as paths")
		paths = append(paths, absPaths(t, "directories", 64)...)
	}
	bt := &troveapi.BackupTarget{
		Exclude:           t.strs("exclude"),
		SnapshotClassName: t.str("snapshotClassName"),
	}
	mounts := mountPaths(t)
	if mp := t.str("mountPath"); mp != "" {
		mounts[mp] = true
		t.rep.unmapped(t.at("mountPath"), "Trove reads volumes through the node agent and needs no mounts; dropped")
	}
	t.drop("replicas", "Trove backs up the volumes of every pod of the target; dropped")
	t.drop("alias", "Trove tells snapshots apart by restic host and tags; dropped")
	if ref == nil {
		return nil
	}
	bt.Ref = *ref
	if ref.Kind == troveapi.KindPVC && len(paths) > 0 {
		// Stash's paths of a PVC are under its own Job's mount; Trove reads the whole PVC.
		whole := true
		for _, p := range paths {
			if !mounts[p] {
				whole = false
			}
		}
		if whole && len(mounts) > 0 {
			t.rep.note(t.at("paths"), "the PVC's mount path: Trove backs up the whole PVC, as Stash did")
		} else {
			t.rep.unmapped(t.at("paths"), "for a PVC, Stash's paths lie under its own Job's mount; Trove backs up the whole PVC (narrow it with exclude); dropped")
		}
		paths = nil
	}
	bt.Paths = paths
	if len(bt.Exclude) > 256 {
		t.rep.unmapped(t.at("exclude"), "more than 256 patterns; the rest dropped")
		bt.Exclude = bt.Exclude[:256]
	}
	return bt
}

// mountPaths reports target.volumeMounts and returns their mount paths.
func mountPaths(t *fields) map[string]bool {
	out := map[string]bool{}
	if !t.has("volumeMounts") {
		return out
	}
	for _, m := range t.list("volumeMounts") {
		if p := m.str("mountPath"); p != "" {
			out[p] = true
		}
		m.ignore(keys(m.m)...)
	}
	t.rep.unmapped(t.at("volumeMounts"), "Trove reads volumes through the node agent and needs no mounts; dropped")
	return out
}

// backupHooks maps spec.hooks (preBackup, postBackup); nil when there are none.
func backupHooks(spec *fields) *troveapi.BackupHooks {
	h := spec.child("hooks")
	if h == nil {
		return nil
	}
	hooks := &troveapi.BackupHooks{}
	if p := h.child("preBackup"); p != nil {
		hooks.PreBackup = preHook(p)
	}
	if p := h.child("postBackup"); p != nil {
		hooks.PostBackup = postHook(p)
	}
	h.leftovers()
	if hooks.PreBackup == nil && hooks.PostBackup == nil {
		return nil
	}
	return hooks
}
