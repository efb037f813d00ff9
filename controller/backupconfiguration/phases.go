package backupconfiguration

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/schedule"
)

// DefaultBackupHistoryLimit is how many finished sessions are kept when the
// configuration does not say.
const DefaultBackupHistoryLimit = 5

// runSchedule creates the session of the tick that is due, if any, and requeues at the
// next tick. Only the newest missed tick (within schedule.MaxCatchUp) gets a session.
func (r *Reconciler) runSchedule(ctx context.Context, config *troveapi.BackupConfiguration) (reconcile.Result, error) {
	sched, err := schedule.Parse(config.Spec.Schedule)
	if err != nil { // validated before; a failure here is a bug, not the user's
		return reconcile.Result{}, reconcile.TerminalError(err)
	}
	sched = sched.WithSpread(config.Namespace+"/"+config.Name, r.Spread)
	last := config.CreationTimestamp.Time
	if config.Status.LastScheduleTime != nil {
		last = config.Status.LastScheduleTime.Time
	}
	now := r.Now()
	due := sched.DueAt(last, now)
	if !due.Tick.IsZero() {
		name := schedule.SessionName(config.Name, due.Tick)
		if err := r.ensureSession(ctx, config, name); err != nil {
			return reconcile.Result{}, err
		}
		config.Status.LastSessionName = name
		if due.Missed > 0 {
			r.Recorder.Eventf(config, nil, corev1.EventTypeWarning, "MissedSchedule", "Schedule",
				"%d earlier tick(s) were missed (controller down?); one catch-up session runs for the newest", due.Missed)
		}
		config.Status.LastScheduleTime = &metav1.Time{Time: due.Tick}
	}
	config.Status.NextScheduleTime = &metav1.Time{Time: due.Next}
	return reconcile.Result{RequeueAfter: due.Next.Sub(now)}, nil
}

// ensureSession creates the session of a tick; it already existing is success (a
// controller that restarted mid-tick).
func (r *Reconciler) ensureSession(ctx context.Context, config *troveapi.BackupConfiguration, name string) error {
	session := NewSession(config, name)
	err := r.Client.Create(ctx, session)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating BackupSession %s: %w", name, err)
	}
	r.Recorder.Eventf(config, session, corev1.EventTypeNormal, "SessionCreated", "Schedule", "created BackupSession %s", name)
	return nil
}

// NewSession is a BackupSession of config, owned by it.
func NewSession(config *troveapi.BackupConfiguration, name string) *troveapi.BackupSession {
	s := &troveapi.BackupSession{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       config.Namespace,
			Labels:          map[string]string{troveapi.LabelConfiguration: config.Name},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(config, troveapi.GroupVersion.WithKind("BackupConfiguration"))},
		},
		Spec: troveapi.BackupSessionSpec{
			Invoker: troveapi.Invoker{APIGroup: troveapi.GroupVersion.Group, Kind: "BackupConfiguration", Name: config.Name},
		},
	}
	if rc := config.Spec.RetryConfig; rc != nil {
		s.Spec.RetryLeft = rc.MaxRetry
	}
	return s
}

// pruneHistory deletes finished sessions beyond backupHistoryLimit (oldest first) and
// records the newest session and the last success in status.
func (r *Reconciler) pruneHistory(ctx context.Context, config *troveapi.BackupConfiguration) error {
	var sessions troveapi.BackupSessionList
	if err := r.Client.List(ctx, &sessions, ctrl.InNamespace(config.Namespace),
		ctrl.MatchingLabels{troveapi.LabelConfiguration: config.Name}); err != nil {
		return err
	}
	items := sessions.Items
	sort.Slice(items, func(i, j int) bool { // newest first
		return items[j].CreationTimestamp.Before(&items[i].CreationTimestamp) ||
			items[i].CreationTimestamp.Equal(&items[j].CreationTimestamp) && items[i].Name > items[j].Name
	})
	limit := DefaultBackupHistoryLimit
	if l := config.Spec.BackupHistoryLimit; l != nil {
		limit = int(*l)
	}
	kept := 0
	for i := range items {
		s := &items[i]
		if i == 0 {
			config.Status.LastSessionName = s.Name
		}
		if s.Status.Phase == troveapi.SessionSucceeded && s.Status.CompletionTime != nil {
			if last := config.Status.LastSuccessfulBackupTime; last == nil || last.Before(s.Status.CompletionTime) {
				config.Status.LastSuccessfulBackupTime = s.Status.CompletionTime.DeepCopy()
			}
		}
		if !finished(s.Status.Phase) {
			continue
		}
		if kept < limit {
			kept++
			continue
		}
		if err := r.Client.Delete(ctx, s); ctrl.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting old BackupSession %s: %w", s.Name, err)
		}
	}
	return nil
}

func finished(p troveapi.SessionPhase) bool {
	return p == troveapi.SessionSucceeded || p == troveapi.SessionFailed || p == troveapi.SessionSkipped
}
