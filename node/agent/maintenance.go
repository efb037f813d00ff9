package agent

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/mover"
)

const kindMaintenance = "RepositoryMaintenance"

type maintenanceItem struct {
	*troveapi.RepositoryMaintenance
}

func (m maintenanceItem) obj() ctrl.Object { return m.RepositoryMaintenance }
func (m maintenanceItem) common() *troveapi.WorkItemCommon {
	// Maintenance has no volume: only the fields admit and claim read.
	return &troveapi.WorkItemCommon{NodeName: m.Spec.NodeName, Cancel: m.Spec.Cancel}
}
func (m maintenanceItem) status() *troveapi.WorkItemStatus { return &m.Status.WorkItemStatus }

// lockedRetries and lockedBackoff bound the wait for another maintenance (or backup)
// holding the repository's exclusive lock.
const (
	lockedRetries = 5
	lockedBackoff = 30 * time.Second
)

// runMaintenance is the queue's runner for one RepositoryMaintenance.
func (a *Agent) runMaintenance(ctx context.Context, name types.NamespacedName) {
	rm := &troveapi.RepositoryMaintenance{}
	if err := a.reader.Get(ctx, name, rm); err != nil {
		return
	}
	it := maintenanceItem{rm}
	if finished(rm.Status.Phase) || rm.Spec.Cancel || rm.DeletionTimestamp != nil {
		return
	}
	if err := a.claim(ctx, it); err != nil {
		return
	}
	var res maintenanceResult
	err := a.maintain(ctx, rm, &res)
	a.end(ctx, it, err, func(i item) {
		st := &i.(maintenanceItem).Status
		st.Forgotten, st.SnapshotCount, st.TotalSize, st.Integrity = res.forgotten, res.snapshots, res.size, res.integrity
	})
}

type maintenanceResult struct {
	forgotten int32
	snapshots *int64
	size      string
	integrity troveapi.IntegrityState
}

// maintain runs the steps in order: unlock, forget, wipe out, prune, check, stats. A repository
// locked by someone else is waited for, a bounded number of times.
func (a *Agent) maintain(ctx context.Context, rm *troveapi.RepositoryMaintenance, res *maintenanceResult) error {
	common := troveapi.WorkItemCommon{Repository: rm.Spec.Repository, CredentialsSecretName: rm.Spec.CredentialsSecretName, Throttle: rm.Spec.Throttle}
	m, err := a.moverFor(ctx, common, nil)
	if err != nil {
		return err
	}
	steps := []func() error{
		func() error {
			if !rm.Spec.UnlockStale {
				return nil
			}
			_, err := m.UnlockStale(ctx, mover.UnlockRequest{Alive: a.lockHolderAlive(ctx)})
			return err
		},
		func() error {
			for _, g := range rm.Spec.Forget {
				out, err := m.Forget(ctx, mover.ForgetRequest{Policy: mover.RetentionFromAPI(g.Policy), Host: g.Host, Tags: tagFilter(g.Tags)})
				if err != nil {
					return err
				}
				res.forgotten += int32(len(out.Removed))
			}
			return nil
		},
		func() error {
			if !rm.Spec.WipeOut {
				return nil
			}
			snaps, err := m.Snapshots(ctx, mover.SnapshotFilter{})
			if err != nil || len(snaps) == 0 {
				return err
			}
			ids := make([]string, len(snaps))
			for i, s := range snaps {
				ids[i] = s.ID
			}
			if err := m.ForgetSnapshots(ctx, ids); err != nil {
				return err
			}
			res.forgotten += int32(len(ids))
			return nil
		},
		func() error {
			if !rm.Spec.Prune {
				return nil
			}
			return m.Prune(ctx)
		},
		func() error {
			if rm.Spec.Check == nil {
				return nil
			}
			out, err := m.Check(ctx, mover.CheckRequest{ReadDataSubset: rm.Spec.Check.ReadDataSubset})
			if err != nil {
				return err
			}
			res.integrity = troveapi.IntegrityHealthy
			if !out.Healthy {
				res.integrity = troveapi.IntegrityCorrupted
			}
			return nil
		},
		func() error {
			if !rm.Spec.Stats {
				return nil
			}
			snaps, err := m.Snapshots(ctx, mover.SnapshotFilter{})
			if err != nil {
				return err
			}
			st, err := m.Stats(ctx, mover.StatsRequest{Mode: "raw-data"})
			if err != nil {
				return err
			}
			n := int64(len(snaps))
			res.snapshots, res.size = &n, size(st.TotalSize)
			return nil
		},
	}
	for i, step := range steps {
		for attempt := 1; ; attempt++ {
			err := step()
			if mover.KindOf(err) != mover.KindLocked || attempt == lockedRetries {
				if err != nil {
					return fmt.Errorf("maintenance step %d: %w", i+1, err)
				}
				break
			}
			a.log.Info("repository locked; waiting", "item", rm.Name, "attempt", attempt)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(lockedBackoff):
			}
		}
	}
	return nil
}
