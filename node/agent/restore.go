package agent

import (
	"context"
	"fmt"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/mover"
)

// runRestore is the queue's runner for one VolumeRestore.
func (a *Agent) runRestore(ctx context.Context, name types.NamespacedName) {
	vr := &troveapi.VolumeRestore{}
	if err := a.reader.Get(ctx, name, vr); err != nil {
		return
	}
	it := restoreItem{vr}
	if finished(vr.Status.Phase) || vr.Spec.Cancel || vr.DeletionTimestamp != nil {
		return
	}
	if err := a.claim(ctx, it); err != nil {
		a.log.V(1).Info("not claimed", "item", name.String(), "error", err.Error())
		return
	}
	snapshot, res, err := a.restore(ctx, vr)
	a.end(ctx, it, err, func(i item) {
		r := i.(restoreItem)
		r.Status.SnapshotID = snapshot
		if res != nil {
			r.Status.Progress = troveapi.Progress{BytesDone: int64(res.BytesRestored), TotalBytes: int64(res.TotalBytes),
				FilesDone: int64(res.FilesRestored), TotalFiles: int64(res.TotalFiles), Percent: 100}
			a.metrics.moved(kindRestore, res.BytesRestored, res.FilesRestored)
		}
	})
}

// restore writes a snapshot into the target pod's volume. The snapshot holds the
// volume under its stable path; that subtree is restored into the volume's directory
// on the node, and the mover guarantees nothing is written outside it.
func (a *Agent) restore(ctx context.Context, vr *troveapi.VolumeRestore) (string, *mover.RestoreResult, error) {
	loc, err := a.locate(ctx, vr.Spec.Target)
	if err != nil {
		return "", nil, err
	}
	if loc.Block {
		return "", nil, &reasoned{"BlockVolume", fmt.Errorf("restoring into block volumes is not supported; restore into a filesystem volume")}
	}
	m, err := a.moverFor(ctx, vr.Spec.WorkItemCommon, nil)
	if err != nil {
		return "", nil, err
	}
	snap, err := pickSnapshot(ctx, m, vr)
	if err != nil {
		return "", nil, err
	}
	res, err := m.Restore(ctx, mover.RestoreRequest{
		SnapshotID: snap.ID,
		SubPath:    commonDir(snap.Paths),
		Target:     loc.Path,
		Includes:   vr.Spec.Include,
		Excludes:   vr.Spec.Exclude,
		Progress:   mover.ProgressOptions{Func: a.progressTo(ctx, restoreItem{vr}), Interval: a.cfg.ProgressInterval},
	})
	return snap.ID, res, err
}

// pickSnapshot finds the item's snapshot: the newest of its source host and tags for
// "latest", or the one with the given ID (or ID prefix).
func pickSnapshot(ctx context.Context, m mover.Mover, vr *troveapi.VolumeRestore) (mover.Snapshot, error) {
	filter := mover.SnapshotFilter{}
	if vr.Spec.Snapshot == "latest" {
		filter = mover.SnapshotFilter{Host: vr.Spec.SourceHost, Tags: tagFilter(vr.Spec.Tags)}
	}
	snaps, err := m.Snapshots(ctx, filter)
	if err != nil {
		return mover.Snapshot{}, err
	}
	var found *mover.Snapshot
	for i := range snaps {
		s := &snaps[i]
		if vr.Spec.Snapshot == "latest" && (found == nil || s.Time.After(found.Time)) ||
			vr.Spec.Snapshot != "latest" && strings.HasPrefix(s.ID, vr.Spec.Snapshot) {
			found = s
		}
	}
	if found == nil {
		return mover.Snapshot{}, &reasoned{"SnapshotNotFound", fmt.Errorf("no snapshot %q (host %q, tags %v) in the repository", vr.Spec.Snapshot, vr.Spec.SourceHost, vr.Spec.Tags)}
	}
	return *found, nil
}

// commonDir is the deepest directory holding every path (a snapshot of a whole
// volume has one path: the volume's stable path, which is what is restored).
func commonDir(paths []string) string {
	if len(paths) == 0 {
		return "/"
	}
	dir := paths[0]
	if len(paths) > 1 {
		dir = path.Dir(dir)
	}
	for _, p := range paths[1:] {
		for dir != "/" && p != dir && !strings.HasPrefix(p, dir+"/") {
			dir = path.Dir(dir)
		}
	}
	return dir
}

func tagFilter(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	return []string{joinTags(tags)}
}
