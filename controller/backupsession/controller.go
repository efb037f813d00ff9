// Package backupsession reconciles BackupSessions: it resolves the configuration's
// target into (pod, volume) pairs, hands each pair to the agent of the pod's node as a
// VolumeBackup work item with its own short-lived credentials, and aggregates the
// items' results into per-host status. All state lives in the objects: a restarted
// controller picks up where the last one stopped and never creates an item twice.
package backupsession

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/credentials"
	"trove.dev/trove/controller/exposure"
	"trove.dev/trove/controller/hooks"
	"trove.dev/trove/controller/metrics"
	"trove.dev/trove/controller/taskrun"
)

// DefaultPodWait bounds how long a session waits for its target's pods to run.
const DefaultPodWait = 5 * time.Minute

// pollInterval is how often a session waiting for pods looks again.
const pollInterval = 5 * time.Second

// exposePoll is how often a session waiting for a snapshot or holder pod looks again.
const exposePoll = 2 * time.Second

// Reconciler reconciles BackupSessions.
type Reconciler struct {
	Client ctrl.Client
	// APIReader reads past the cache (optional): a Task-based session that ends
	// rereads the stats its update-status step wrote.
	APIReader   ctrl.Reader
	Credentials *credentials.Store
	Recorder    events.EventRecorder
	Now         func() time.Time
	// PodWait bounds the wait for the target's pods (DefaultPodWait when zero).
	PodWait time.Duration
	// Metrics may be nil.
	Metrics *metrics.Metrics
	// Hooks runs preBackup and postBackup hooks.
	Hooks *hooks.Runner
	// Exposures exposes volumes that are not read live (source: Snapshot, unmounted
	// PVCs); nil fails such sessions.
	Exposures *exposure.Exposures
}

// Reconcile moves a session one step on: start (or skip), create its items, aggregate
// their results, finish; and removes finished items' credentials.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var session troveapi.BackupSession
	if err := r.Client.Get(ctx, req.NamespacedName, &session); err != nil {
		if apierrors.IsNotFound(err) { // deleted: what a Task's Job left in another namespace goes too
			return reconcile.Result{}, r.tasks().CleanupDeleted(ctx, taskrun.Backup, req.Namespace, req.Name)
		}
		return reconcile.Result{}, err
	}
	before := session.Status.DeepCopy()
	result, err := r.advance(ctx, &session)
	if errors.Is(err, errStale) {
		return reconcile.Result{}, nil
	}
	if !equality.Semantic.DeepEqual(before, &session.Status) {
		base := session.DeepCopy()
		base.Status = *before
		if perr := r.Client.Status().Patch(ctx, &session, ctrl.MergeFrom(base)); perr != nil && err == nil {
			err = perr
		}
		r.announce(&session, before.Phase)
	}
	return result, err
}

// advance runs the phase steps in order; each returns done=true when the session
// cannot move further in this pass.
func (r *Reconciler) advance(ctx context.Context, s *troveapi.BackupSession) (reconcile.Result, error) {
	if finished(s.Status.Phase) {
		if err := r.releaseCredentials(ctx, s, nil); err != nil {
			return reconcile.Result{}, err
		}
		if done, err := r.releaseExposures(ctx, s); err != nil {
			return reconcile.Result{}, err
		} else if !done {
			return reconcile.Result{RequeueAfter: exposePoll}, nil
		}
		return r.retry(ctx, s)
	}
	config, err := r.configOf(ctx, s)
	if err != nil || config == nil {
		return reconcile.Result{}, err
	}
	steps := []func(context.Context, *troveapi.BackupSession, *troveapi.BackupConfiguration) (bool, reconcile.Result, error){
		r.start,
		r.runTask, // a Task-based session runs as a Job; the steps below are for volumes
		r.checkDeadline,
		r.ensureItems,
		r.collectResults,
	}
	for _, step := range steps {
		done, result, err := step(ctx, s, config)
		if err != nil || done {
			return result, err
		}
	}
	return reconcile.Result{}, nil
}
