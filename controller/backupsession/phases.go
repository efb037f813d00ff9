package backupsession

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/exposure"
	"trove.dev/trove/controller/target"
	"trove.dev/trove/controller/workitem"
)

// configOf fetches the session's BackupConfiguration; a missing one fails the session.
func (r *Reconciler) configOf(ctx context.Context, s *troveapi.BackupSession) (*troveapi.BackupConfiguration, error) {
	var config troveapi.BackupConfiguration
	key := types.NamespacedName{Namespace: s.Namespace, Name: s.Spec.Invoker.Name}
	err := r.Client.Get(ctx, key, &config)
	if apierrors.IsNotFound(err) && r.APIReader != nil {
		// The cache may not have a configuration created a moment before its session.
		err = r.APIReader.Get(ctx, key, &config)
	}
	if apierrors.IsNotFound(err) {
		r.finish(s, troveapi.SessionFailed, troveapi.ReasonFailed,
			fmt.Sprintf("BackupConfiguration %s does not exist: a session runs an existing configuration", s.Spec.Invoker.Name))
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &config, nil
}

// start begins a new session, or skips it while an earlier session of the same
// configuration is still going (two backups of one target never overlap).
func (r *Reconciler) start(ctx context.Context, s *troveapi.BackupSession, config *troveapi.BackupConfiguration) (bool, reconcile.Result, error) {
	if s.Status.Phase != "" {
		return false, reconcile.Result{}, nil
	}
	var others troveapi.BackupSessionList
	if err := r.Client.List(ctx, &others, ctrl.InNamespace(s.Namespace), ctrl.MatchingLabels{troveapi.LabelConfiguration: config.Name}); err != nil {
		return true, reconcile.Result{}, err
	}
	for _, o := range others.Items {
		if o.Name != s.Name && (o.Status.Phase == troveapi.SessionRunning || o.Status.Phase == troveapi.SessionPending) {
			r.finish(s, troveapi.SessionSkipped, troveapi.ReasonPreviousStillRunning,
				fmt.Sprintf("BackupSession %s of the same configuration is still %s; this run is skipped", o.Name, o.Status.Phase))
			return true, reconcile.Result{}, nil
		}
	}
	now := metav1.NewTime(r.Now())
	s.Status.Phase = troveapi.SessionRunning
	s.Status.StartTime = &now
	if config.Spec.TimeOut != nil {
		s.Status.SessionDeadline = &metav1.Time{Time: now.Add(config.Spec.TimeOut.Duration)}
	}
	return false, reconcile.Result{}, nil
}

// checkDeadline fails a session past its timeOut and cancels its unfinished items.
func (r *Reconciler) checkDeadline(ctx context.Context, s *troveapi.BackupSession, _ *troveapi.BackupConfiguration) (bool, reconcile.Result, error) {
	if s.Status.SessionDeadline == nil || r.Now().Before(s.Status.SessionDeadline.Time) {
		return false, reconcile.Result{}, nil
	}
	items, err := r.itemsOf(ctx, s)
	if err != nil {
		return true, reconcile.Result{}, err
	}
	for i := range items {
		if item := &items[i]; !workFinished(item.Status.Phase) && !item.Spec.Cancel {
			patch := ctrl.MergeFrom(item.DeepCopy())
			item.Spec.Cancel = true
			if err := r.Client.Patch(ctx, item, patch); ctrl.IgnoreNotFound(err) != nil {
				return true, reconcile.Result{}, err
			}
		}
	}
	aggregate(s, items)
	r.finish(s, troveapi.SessionFailed, troveapi.ReasonTimedOut,
		fmt.Sprintf("the session ran longer than the configuration's timeOut (deadline %s); unfinished items were canceled", s.Status.SessionDeadline.Format(time.RFC3339)))
	return true, reconcile.Result{}, nil
}

// ensureItems resolves the target once and creates one VolumeBackup (and its
// credentials) per (pod, volume) pair; waits, bounded, for the target's pods to run
// and for the exposures of volumes that are not read live.
func (r *Reconciler) ensureItems(ctx context.Context, s *troveapi.BackupSession, config *troveapi.BackupConfiguration) (bool, reconcile.Result, error) {
	if len(s.Status.Targets) > 0 { // resolved and handed out in an earlier pass
		return false, reconcile.Result{}, nil
	}
	fetch := target.Fetcher{Client: r.Client}
	hosts, err := fetch.Hosts(ctx, config.Namespace, config.Spec.Target.Ref, target.FromBackupTarget(config.Spec.Target))
	var resolveErr *target.Error
	if errors.As(err, &resolveErr) {
		if r.Now().Sub(s.Status.StartTime.Time) < r.podWait() {
			setCondition(s, troveapi.ConditionTargetFound, metav1.ConditionFalse, resolveErr.Reason, resolveErr.Message+" (waiting)")
			return true, reconcile.Result{RequeueAfter: pollInterval}, nil
		}
		r.finish(s, troveapi.SessionFailed, resolveErr.Reason, resolveErr.Message)
		return true, reconcile.Result{}, nil
	}
	if err != nil {
		return true, reconcile.Result{}, err
	}
	var repo troveapi.Repository
	ref := config.Spec.Repository
	if ref.Namespace == "" {
		ref.Namespace = config.Namespace
	}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &repo); err != nil {
		return true, reconcile.Result{}, fmt.Errorf("reading Repository %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	// The hook ran when an earlier pass (waiting for exposures) recorded its success.
	if h := config.Spec.Hooks; h != nil && h.PreBackup != nil && !meta.IsStatusConditionTrue(s.Status.Conditions, troveapi.ConditionHooksSucceeded) {
		if err := r.claimStep(ctx, s, "RunningPreBackupHook"); err != nil {
			return true, reconcile.Result{}, err
		}
		if err := r.runHook(ctx, h.PreBackup, podsOf(hosts)); err != nil {
			r.finish(s, troveapi.SessionFailed, troveapi.ReasonHookFailed, "preBackup hook failed, nothing was backed up: "+err.Error())
			return true, reconcile.Result{}, nil
		}
		setCondition(s, troveapi.ConditionHooksSucceeded, metav1.ConditionTrue, troveapi.ReasonSucceeded, "preBackup hook succeeded")
	}
	// After the hook (which may quiesce the application): snapshots, holder pods.
	hosts, waiting, err := r.exposeHosts(ctx, s, config, hosts)
	var exposeErr *exposure.Error
	if errors.As(err, &exposeErr) {
		r.finish(s, troveapi.SessionFailed, exposeErr.Reason, exposeErr.Message)
		return true, reconcile.Result{}, nil
	}
	if err != nil {
		return true, reconcile.Result{}, err
	}
	if waiting {
		return true, reconcile.Result{RequeueAfter: exposePoll}, nil
	}
	status := troveapi.TargetStatus{Ref: config.Spec.Target.Ref.DeepCopy(), TotalHosts: int32(len(hosts)), Phase: troveapi.HostRunning}
	for _, host := range hosts {
		for _, pair := range host.Pairs {
			item := workitem.VolumeBackupFor(s, config, host, pair)
			if err := r.Credentials.Ensure(ctx, "VolumeBackup", item.Namespace, item.Name, item.Spec.CredentialsSecretName, &repo); err != nil {
				return true, reconcile.Result{}, err
			}
			if err := r.Client.Create(ctx, item); err == nil {
				r.Metrics.ItemCreated("VolumeBackup")
			} else if !apierrors.IsAlreadyExists(err) {
				return true, reconcile.Result{}, fmt.Errorf("creating VolumeBackup %s: %w", item.Name, err)
			}
		}
		status.Stats = append(status.Stats, troveapi.HostBackupStats{Hostname: host.Name, Phase: troveapi.HostPending})
	}
	s.Status.Targets = []troveapi.TargetStatus{status}
	setCondition(s, troveapi.ConditionTargetFound, metav1.ConditionTrue, troveapi.ReasonValid,
		fmt.Sprintf("%d host(s) handed to their nodes' agents", len(hosts)))
	return false, reconcile.Result{}, nil
}

// exposeHosts exposes the pairs that are not read live through holder pods: every PVC
// of a source: Snapshot target (from a CSI snapshot) and a PVC target no pod mounts.
// waiting is true until every exposure runs; hosts then read through the holders.
func (r *Reconciler) exposeHosts(ctx context.Context, s *troveapi.BackupSession, config *troveapi.BackupConfiguration, hosts []target.Host) (_ []target.Host, waiting bool, _ error) {
	snapshot := config.Spec.Target.Source == troveapi.SourceSnapshot
	var exposed int
	var reasons []string
	for h := range hosts {
		for p, pair := range hosts[h].Pairs {
			if !snapshot && pair.Pod != nil {
				continue // read live
			}
			if r.Exposures == nil {
				return nil, false, &exposure.Error{Reason: troveapi.ReasonFailed, Message: "this controller exposes no volumes (it was started without a holder pod image)"}
			}
			x := r.Exposures.For(config.Spec.RuntimeSettings)
			req := x.ForPVC(s, pair.PVC)
			if snapshot {
				var err error
				if req, err = x.ForSnapshot(ctx, s, pair, config.Spec.Target.SnapshotClassName); err != nil {
					return nil, false, err
				}
			}
			through, why, err := x.Ensure(ctx, req, pair)
			if err != nil {
				return nil, false, err
			}
			exposed++
			if why != "" {
				reasons = append(reasons, why)
				continue
			}
			hosts[h].Pairs[p] = through
		}
	}
	switch {
	case len(reasons) > 0:
		setCondition(s, troveapi.ConditionVolumesExposed, metav1.ConditionFalse, troveapi.ReasonInProgress, strings.Join(reasons, "; "))
	case exposed > 0:
		how := "an unmounted PVC is read through a holder pod"
		if snapshot {
			how = "CSI snapshots are read through holder pods"
		}
		setCondition(s, troveapi.ConditionVolumesExposed, metav1.ConditionTrue, troveapi.ReasonValid, fmt.Sprintf("%d volume(s) exposed: %s", exposed, how))
	}
	return hosts, len(reasons) > 0, nil
}

// releaseExposures removes the holder pods, temporary PVCs and VolumeSnapshots of a
// finished session (keeping the configuration's keepSnapshots newest VolumeSnapshots);
// done is false while they are on their way out.
func (r *Reconciler) releaseExposures(ctx context.Context, s *troveapi.BackupSession) (done bool, err error) {
	c := meta.FindStatusCondition(s.Status.Conditions, troveapi.ConditionVolumesExposed)
	if c == nil || c.Reason == troveapi.ReasonReleased || r.Exposures == nil {
		return true, nil
	}
	keep := 0
	var config troveapi.BackupConfiguration // gone: nothing is kept
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: s.Spec.Invoker.Name}, &config); err == nil && config.Spec.Target != nil {
		keep = int(config.Spec.Target.KeepSnapshots)
	}
	done, err = r.Exposures.Release(ctx, s, keep)
	if done && err == nil {
		msg := "the holder pods, temporary PVCs and VolumeSnapshots are removed"
		if keep > 0 {
			msg = fmt.Sprintf("the holder pods and temporary PVCs are removed; the newest %d VolumeSnapshot(s) of each PVC are kept as restore points", keep)
		}
		setCondition(s, troveapi.ConditionVolumesExposed, metav1.ConditionFalse, troveapi.ReasonReleased, msg)
	}
	return done, err
}

// collectResults aggregates the items into the session and finishes it when every
// item has finished.
func (r *Reconciler) collectResults(ctx context.Context, s *troveapi.BackupSession, config *troveapi.BackupConfiguration) (bool, reconcile.Result, error) {
	items, err := r.itemsOf(ctx, s)
	if err != nil {
		return true, reconcile.Result{}, err
	}
	if err := r.releaseCredentials(ctx, s, items); err != nil {
		return true, reconcile.Result{}, err
	}
	if !aggregate(s, items) {
		return true, reconcile.Result{}, nil // items report back through the watch
	}
	if err := r.afterBackup(ctx, s, config, items); err != nil {
		return true, reconcile.Result{}, err
	}
	if h := config.Spec.Hooks; h != nil && h.PostBackup != nil {
		if err := r.claimStep(ctx, s, "RunningPostBackupHook"); err != nil {
			return true, reconcile.Result{}, err
		}
	}
	if hookErr := r.postBackupHook(ctx, s, config); hookErr != nil {
		r.finish(s, troveapi.SessionFailed, troveapi.ReasonHookFailed, "postBackup hook failed: "+hookErr.Error())
		return true, reconcile.Result{}, nil
	}
	if failed := failedHosts(s); failed != "" {
		r.finish(s, troveapi.SessionFailed, troveapi.ReasonFailed, "backup failed on "+failed)
	} else {
		r.finish(s, troveapi.SessionSucceeded, troveapi.ReasonSucceeded, "every host was backed up")
	}
	return true, reconcile.Result{}, nil
}

// postBackupHook runs the postBackup hook in each running pod of the target, as its
// executionPolicy says (Always by default, OnSuccess, OnFailure).
func (r *Reconciler) postBackupHook(ctx context.Context, s *troveapi.BackupSession, config *troveapi.BackupConfiguration) error {
	h := config.Spec.Hooks
	if h == nil || h.PostBackup == nil {
		return nil
	}
	succeeded := failedHosts(s) == ""
	switch h.PostBackup.ExecutionPolicy {
	case troveapi.HookOnSuccess:
		if !succeeded {
			return nil
		}
	case troveapi.HookOnFailure:
		if succeeded {
			return nil
		}
	}
	// The target's pods as they are now (items may have read through holder pods).
	fetch := target.Fetcher{Client: r.Client}
	hosts, err := fetch.Hosts(ctx, config.Namespace, config.Spec.Target.Ref, target.FromBackupTarget(config.Spec.Target))
	if err != nil {
		return fmt.Errorf("finding the target's pods: %w", err)
	}
	pods := podsOf(hosts)
	if err := r.runHook(ctx, &h.PostBackup.HookHandler, pods); err != nil {
		return err
	}
	setCondition(s, troveapi.ConditionHooksSucceeded, metav1.ConditionTrue, troveapi.ReasonSucceeded, "hooks succeeded")
	return nil
}

// errStale ends a pass that works on a stale copy of the session: nothing it did is
// written, and the watch brings the current copy.
var errStale = errors.New("stale copy of the session")

// claimStep records that a step with side effects (a hook) starts, with an optimistic
// lock: a pass working on a stale copy of the session (the cache lags behind the
// last pass's writes) fails to claim it with errStale and does not run the step a
// second time.
func (r *Reconciler) claimStep(ctx context.Context, s *troveapi.BackupSession, reason string) error {
	// The patch writes the whole status this pass has built so far (from an empty
	// base), so that the server's answer, which replaces s, loses none of it.
	base := s.DeepCopy()
	base.Status = troveapi.BackupSessionStatus{}
	setCondition(s, troveapi.ConditionHooksSucceeded, metav1.ConditionUnknown, reason, "")
	err := r.Client.Status().Patch(ctx, s, ctrl.MergeFromWithOptions(base, ctrl.MergeFromWithOptimisticLock{}))
	if apierrors.IsConflict(err) {
		return errStale
	}
	return err
}

// runHook runs a hook in every pod, stopping at the first failure.
func (r *Reconciler) runHook(ctx context.Context, h *troveapi.HookHandler, pods []*corev1.Pod) error {
	if r.Hooks == nil {
		return fmt.Errorf("this controller runs no hooks")
	}
	for _, pod := range pods {
		if err := r.Hooks.Run(ctx, pod, h); err != nil {
			return err
		}
	}
	return nil
}

// podsOf lists the distinct pods of hosts.
func podsOf(hosts []target.Host) []*corev1.Pod {
	var pods []*corev1.Pod
	seen := map[string]bool{}
	for _, h := range hosts {
		for _, p := range h.Pairs {
			if p.Pod != nil && !seen[p.Pod.Name] {
				seen[p.Pod.Name] = true
				pods = append(pods, p.Pod)
			}
		}
	}
	return pods
}

// retry starts the next attempt of a failed session once the configuration's
// retryConfig.delay has passed: a new session named after this one, with one retry
// less. Its name is derived, so a restart never starts a retry twice.
func (r *Reconciler) retry(ctx context.Context, s *troveapi.BackupSession) (reconcile.Result, error) {
	if s.Status.Phase != troveapi.SessionFailed || s.Spec.RetryLeft <= 0 || s.Status.CompletionTime == nil {
		return reconcile.Result{}, nil
	}
	var config troveapi.BackupConfiguration
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: s.Spec.Invoker.Name}, &config); err != nil {
		return reconcile.Result{}, ctrl.IgnoreNotFound(err)
	}
	rc := config.Spec.RetryConfig
	if rc == nil {
		return reconcile.Result{}, nil
	}
	if wait := s.Status.CompletionTime.Add(rc.Delay.Duration).Sub(r.Now()); wait > 0 {
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	attempt := rc.MaxRetry - s.Spec.RetryLeft + 1
	next := &troveapi.BackupSession{
		ObjectMeta: metav1.ObjectMeta{
			Name:            workitem.Name(strings.TrimSuffix(s.Name, fmt.Sprintf("-retry-%d", attempt-1)), fmt.Sprintf("retry-%d", attempt)),
			Namespace:       s.Namespace,
			Labels:          s.Labels,
			OwnerReferences: s.OwnerReferences,
		},
		Spec: troveapi.BackupSessionSpec{Invoker: s.Spec.Invoker, RetryLeft: s.Spec.RetryLeft - 1},
	}
	err := r.Client.Create(ctx, next)
	if err == nil {
		r.Recorder.Eventf(s, next, corev1.EventTypeNormal, "Retrying", "Retry", "retry %d of %d: BackupSession %s", attempt, rc.MaxRetry, next.Name)
	}
	if apierrors.IsAlreadyExists(err) {
		err = nil
	}
	return reconcile.Result{}, err
}

// afterBackup hands the repository's maintenance (retention, prune, stats) to the
// agent of a node that just backed up into it, and records the backup time on the
// Repository. It runs before the session is marked finished, so a restart repeats it
// (it is idempotent) rather than skipping it.
func (r *Reconciler) afterBackup(ctx context.Context, s *troveapi.BackupSession, config *troveapi.BackupConfiguration, items []troveapi.VolumeBackup) error {
	node, hosts := "", []string{}
	for _, item := range items {
		if item.Status.Phase == troveapi.WorkSucceeded {
			node = item.Spec.NodeName
			if !slices.Contains(hosts, item.Spec.Hostname) {
				hosts = append(hosts, item.Spec.Hostname)
			}
		}
	}
	if node == "" {
		return nil // no snapshot was made: nothing to keep or forget
	}
	var repo troveapi.Repository
	ref := config.Spec.Repository
	if ref.Namespace == "" {
		ref.Namespace = config.Namespace
	}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &repo); err != nil {
		return ctrl.IgnoreNotFound(err)
	}
	m := workitem.MaintenanceAfter(s, config, &repo, hosts, node)
	if err := r.Credentials.Ensure(ctx, "RepositoryMaintenance", m.Namespace, m.Name, m.Spec.CredentialsSecretName, &repo); err != nil {
		return err
	}
	if err := r.Client.Create(ctx, m); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating RepositoryMaintenance %s: %w", m.Name, err)
	}
	now := metav1.NewTime(r.Now())
	if last := repo.Status.LastBackupTime; last == nil || last.Before(&now) {
		base := repo.DeepCopy()
		repo.Status.LastBackupTime = &now
		return ctrl.IgnoreNotFound(r.Client.Status().Patch(ctx, &repo, ctrl.MergeFrom(base)))
	}
	return nil
}

func (r *Reconciler) itemsOf(ctx context.Context, s *troveapi.BackupSession) ([]troveapi.VolumeBackup, error) {
	var list troveapi.VolumeBackupList
	err := r.Client.List(ctx, &list, ctrl.InNamespace(s.Namespace), ctrl.MatchingLabels{troveapi.LabelSession: s.Name})
	return list.Items, err
}

// releaseCredentials deletes the credentials of finished items (all items' when items
// is nil and the session is finished).
func (r *Reconciler) releaseCredentials(ctx context.Context, s *troveapi.BackupSession, items []troveapi.VolumeBackup) error {
	if items == nil {
		var err error
		if items, err = r.itemsOf(ctx, s); err != nil {
			return err
		}
	}
	for _, item := range items {
		if workFinished(item.Status.Phase) || finished(s.Status.Phase) {
			if err := r.Credentials.Delete(ctx, item.Spec.CredentialsSecretName); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Reconciler) podWait() time.Duration {
	if r.PodWait > 0 {
		return r.PodWait
	}
	return DefaultPodWait
}
