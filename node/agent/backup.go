package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/mover"
	"trove.dev/trove/mover/trampoline"
	"trove.dev/trove/node/hostpath"
)

// TagItem marks a snapshot with the UID of the work item that made it, so a retried
// item finds the snapshot of an attempt that died after restic saved it.
const TagItem = "trove.dev/item="

// runBackup is the queue's runner for one VolumeBackup.
func (a *Agent) runBackup(ctx context.Context, name types.NamespacedName) {
	vb := &troveapi.VolumeBackup{}
	if err := a.reader.Get(ctx, name, vb); err != nil {
		return // gone, or the API is unreachable: the next event re-admits it
	}
	it := backupItem{vb}
	if finished(vb.Status.Phase) || vb.Spec.Cancel || vb.DeletionTimestamp != nil {
		return
	}
	if err := a.claim(ctx, it); err != nil {
		a.log.V(1).Info("not claimed", "item", name.String(), "error", err.Error())
		return
	}
	res, err := a.backup(ctx, vb)
	a.end(ctx, it, err, func(i item) {
		if res == nil {
			return
		}
		b := i.(backupItem)
		b.Status.SnapshotID = res.SnapshotID
		b.Status.Stats = statsOf(res, b.Spec.StablePath)
		b.Status.Progress.Percent = 100
		b.Status.Progress.BytesDone = int64(res.TotalBytesProcessed)
		b.Status.Progress.TotalBytes = int64(res.TotalBytesProcessed)
		b.Status.Progress.FilesDone = int64(res.TotalFilesProcessed)
		b.Status.Progress.TotalFiles = int64(res.TotalFilesProcessed)
		b.Status.Progress.ETASeconds = 0
		a.metrics.moved(kindBackup, res.TotalBytesProcessed, res.TotalFilesProcessed)
	})
}

// backup does the work of one VolumeBackup: find the volume, reach the repository,
// adopt a snapshot an earlier attempt made, or back up with the right parent.
func (a *Agent) backup(ctx context.Context, vb *troveapi.VolumeBackup) (*mover.BackupResult, error) {
	loc, err := a.locate(ctx, vb.Spec.Source)
	if err != nil {
		return nil, err
	}
	mounts := []trampoline.Mount{{Source: loc.Path, Target: vb.Spec.StablePath, ReadOnly: true}}
	if loc.Block {
		mounts = nil // a block device is read as a stream
	}
	m, err := a.moverFor(ctx, vb.Spec.WorkItemCommon, mounts)
	if err != nil {
		return nil, err
	}
	if _, err := m.EnsureRepository(ctx); err != nil {
		return nil, err
	}
	if vb.Status.Attempt > 1 { // an earlier attempt died: its locks and maybe its snapshot remain
		if _, err := m.UnlockStale(ctx, mover.UnlockRequest{Alive: a.lockHolderAlive(ctx)}); err != nil {
			return nil, err
		}
		done, err := m.Snapshots(ctx, mover.SnapshotFilter{Tags: []string{TagItem + string(vb.UID)}})
		if err != nil {
			return nil, err
		}
		if len(done) > 0 {
			a.log.Info("adopting the snapshot of an interrupted attempt", "item", vb.Name, "snapshot", done[0].ID)
			return adopt(done[0]), nil
		}
	}
	parent, err := parentOf(ctx, m, vb)
	if err != nil {
		return nil, err
	}
	req := mover.BackupRequest{
		Host:     vb.Spec.Hostname,
		Tags:     append(append([]string{}, vb.Spec.Tags...), TagItem+string(vb.UID)),
		Excludes: vb.Spec.Exclude,
		Parent:   parent,
		Progress: mover.ProgressOptions{Func: a.progressTo(ctx, backupItem{vb}), Interval: a.cfg.ProgressInterval},
	}
	if loc.Block {
		dev, err := os.Open(loc.Path)
		if err != nil {
			return nil, fmt.Errorf("opening block volume %s: %w", loc.Path, err)
		}
		defer dev.Close()
		req.Stdin, req.StdinFilename = dev, path.Base(vb.Spec.StablePath)+".img"
	} else {
		req.Paths = []string{vb.Spec.StablePath}
		if len(vb.Spec.Paths) > 0 {
			req.Paths = nil
			for _, p := range vb.Spec.Paths {
				req.Paths = append(req.Paths, path.Join(vb.Spec.StablePath, path.Clean("/"+p)))
			}
		}
	}
	return m.Backup(ctx, req)
}

// lockHolderAlive judges restic locks of other hosts: restic names a lock after the
// host name of the process that took it, which for an agent is its pod's name. A lock
// of an agent pod that no longer exists is provably stale; any other is alive or
// unknown, and kept.
func (a *Agent) lockHolderAlive(ctx context.Context) func(mover.Lock) (bool, bool) {
	return func(l mover.Lock) (alive, known bool) {
		err := a.reader.Get(ctx, types.NamespacedName{Namespace: a.cfg.Namespace, Name: l.Hostname}, &corev1.Pod{})
		switch {
		case apierrors.IsNotFound(err):
			return false, true
		case err == nil:
			return true, true
		}
		return false, false
	}
}

// parentOf picks the newest snapshot of the same host and volume identity, so that
// unchanged files are skipped even after the pod (and its host path) changed.
func parentOf(ctx context.Context, m mover.Mover, vb *troveapi.VolumeBackup) (string, error) {
	snaps, err := m.Snapshots(ctx, mover.SnapshotFilter{Host: vb.Spec.Hostname, Tags: tagFilter(vb.Spec.Tags)})
	if err != nil || len(snaps) == 0 {
		return "", err
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].Time.After(snaps[j].Time) })
	return snaps[0].ID, nil
}

// joinTags is restic's "all of these tags" filter: one comma-separated --tag
// (several --tag flags would match any of them).
func joinTags(tags []string) string { return strings.Join(tags, ",") }

func adopt(s mover.Snapshot) *mover.BackupResult {
	if s.Summary != nil {
		r := *s.Summary
		r.SnapshotID = s.ID
		return &r
	}
	return &mover.BackupResult{SnapshotID: s.ID}
}

func statsOf(r *mover.BackupResult, stablePath string) troveapi.SnapshotStats {
	return troveapi.SnapshotStats{
		Name:           r.SnapshotID,
		Path:           stablePath,
		TotalSize:      size(r.TotalBytesProcessed),
		Uploaded:       size(r.DataAddedPacked),
		ProcessingTime: r.Duration.Round(time.Millisecond).String(),
		FileStats: troveapi.FileStats{
			New: int64(r.FilesNew), Modified: int64(r.FilesChanged), Unmodified: int64(r.FilesUnmodified),
			Total: int64(r.FilesNew + r.FilesChanged + r.FilesUnmodified),
		},
	}
}

func size(bytes uint64) string { return resource.NewQuantity(int64(bytes), resource.BinarySI).String() }

// locate resolves a work item's pod volume on this node.
func (a *Agent) locate(ctx context.Context, pv troveapi.PodVolume) (hostpath.Location, error) {
	pod := &corev1.Pod{}
	if err := a.client.Get(ctx, types.NamespacedName{Namespace: pv.Pod.Namespace, Name: pv.Pod.Name}, pod); err != nil {
		return hostpath.Location{}, &hostpath.Error{Reason: ReasonPodGone, Message: fmt.Sprintf("pod %s/%s: %v", pv.Pod.Namespace, pv.Pod.Name, err)}
	}
	if string(pod.UID) != pv.Pod.UID {
		return hostpath.Location{}, &hostpath.Error{Reason: ReasonPodGone,
			Message: fmt.Sprintf("pod %s/%s was replaced (UID %s, the item names %s): the session resolves targets again on its next run", pod.Namespace, pod.Name, pod.UID, pv.Pod.UID)}
	}
	facts := hostpath.Facts{KubeletRoot: a.cfg.KubeletRoot, NodeName: a.cfg.NodeName, Pod: pod, VolumeName: pv.VolumeName, AllowConfigVolumes: a.cfg.AllowConfigVolumes}
	for _, v := range pod.Spec.Volumes {
		if v.Name != pv.VolumeName {
			continue
		}
		claim := ""
		if v.PersistentVolumeClaim != nil {
			claim = v.PersistentVolumeClaim.ClaimName
		} else if v.Ephemeral != nil {
			claim = pod.Name + "-" + v.Name
		}
		if claim != "" {
			pvc := &corev1.PersistentVolumeClaim{}
			if err := a.client.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: claim}, pvc); err != nil {
				return hostpath.Location{}, fmt.Errorf("reading claim %s/%s: %w", pod.Namespace, claim, err)
			}
			if pvc.Spec.VolumeName != "" {
				facts.PV = &corev1.PersistentVolume{}
				if err := a.client.Get(ctx, types.NamespacedName{Name: pvc.Spec.VolumeName}, facts.PV); err != nil {
					return hostpath.Location{}, fmt.Errorf("reading PersistentVolume %s: %w", pvc.Spec.VolumeName, err)
				}
			}
		}
	}
	return hostpath.Resolve(facts)
}

// moverFor builds the mover of an item from its Repository and credentials.
func (a *Agent) moverFor(ctx context.Context, c troveapi.WorkItemCommon, mounts []trampoline.Mount) (mover.Mover, error) {
	repo := &troveapi.Repository{}
	if err := a.client.Get(ctx, types.NamespacedName{Namespace: c.Repository.Namespace, Name: c.Repository.Name}, repo); err != nil {
		return nil, &reasoned{ReasonRepository, fmt.Errorf("reading Repository %s/%s: %w", c.Repository.Namespace, c.Repository.Name, err)}
	}
	secret := &corev1.Secret{}
	if err := a.reader.Get(ctx, types.NamespacedName{Namespace: a.cfg.Namespace, Name: c.CredentialsSecretName}, secret); err != nil {
		return nil, &reasoned{ReasonCredentials, fmt.Errorf("reading the item's credentials %s/%s: %w", a.cfg.Namespace, c.CredentialsSecretName, err)}
	}
	return a.cfg.Movers.For(ctx, MoverRequest{Repository: repo, Secret: secret.Data, Throttle: c.Throttle, Mounts: mounts})
}

// reasoned is an error with a status reason.
type reasoned struct {
	reason string
	err    error
}

func (r *reasoned) Error() string { return r.err.Error() }
func (r *reasoned) Unwrap() error { return r.err }

// reasonOf gives a failure's status reason.
func reasonOf(err error) string {
	var r *reasoned
	var h *hostpath.Error
	var m *mover.Error
	switch {
	case errors.As(err, &r):
		return r.reason
	case errors.As(err, &h):
		return h.Reason
	case errors.As(err, &m):
		return string(m.Kind)
	}
	return "Failed"
}
