// Package restoresession reconciles RestoreSessions into an existing workload, Pod or
// PVC, or into new PVCs from volumeClaimTemplates (written through holder pods): it
// resolves the target into (pod, volume) pairs, picks each host's rule, hands each pair
// to its node's agent as a VolumeRestore with short-lived credentials, and aggregates
// the results per host. Restores never leave the session's namespace.
package restoresession

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/credentials"
	"trove.dev/trove/controller/exposure"
	"trove.dev/trove/controller/metrics"
	"trove.dev/trove/controller/target"
	"trove.dev/trove/controller/taskrun"
	"trove.dev/trove/controller/workitem"
)

// Reconciler reconciles RestoreSessions.
type Reconciler struct {
	Client ctrl.Client
	// APIReader reads past the cache (optional): a Task-based session that ends
	// rereads the stats its update-status step wrote.
	APIReader   ctrl.Reader
	Credentials *credentials.Store
	Recorder    events.EventRecorder
	Now         func() time.Time
	// Metrics may be nil.
	Metrics *metrics.Metrics
	// Exposures creates the PVCs of volumeClaimTemplates and exposes them through
	// holder pods; nil fails such restores.
	Exposures *exposure.Exposures
}

// exposePoll is how often a session waiting for a holder pod looks again.
const exposePoll = 2 * time.Second

// SetupWithManager registers the reconciler: it runs on sessions and their items.
func (r *Reconciler) SetupWithManager(mgr manager.Manager, workers int) error {
	return builder.ControllerManagedBy(mgr).
		Named("restoresession").
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: workers}).
		For(&troveapi.RestoreSession{}).
		Owns(&troveapi.VolumeRestore{}).
		Owns(&batchv1.Job{}).
		Complete(r)
}

// Reconcile moves a restore one step on: hand out its items, then collect results.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var s troveapi.RestoreSession
	if err := r.Client.Get(ctx, req.NamespacedName, &s); err != nil {
		if apierrors.IsNotFound(err) { // deleted: what a Task's Job left in another namespace goes too
			return reconcile.Result{}, r.tasks().CleanupDeleted(ctx, taskrun.Restore, req.Namespace, req.Name)
		}
		return reconcile.Result{}, err
	}
	before := s.Status.DeepCopy()
	result, err := r.advance(ctx, &s)
	if !equality.Semantic.DeepEqual(before, &s.Status) {
		base := s.DeepCopy()
		base.Status = *before
		if perr := r.Client.Status().Patch(ctx, &s, ctrl.MergeFrom(base)); perr != nil && err == nil {
			err = perr
		}
		if s.Status.Phase != before.Phase {
			r.announce(&s)
		}
	}
	return result, err
}

func (r *Reconciler) advance(ctx context.Context, s *troveapi.RestoreSession) (reconcile.Result, error) {
	items, err := r.items(ctx, s)
	if err != nil {
		return reconcile.Result{}, err
	}
	if finished(s.Status.Phase) {
		if err := r.release(ctx, s, items); err != nil {
			return reconcile.Result{}, err
		}
		if done, err := r.releaseExposures(ctx, s); err != nil {
			return reconcile.Result{}, err
		} else if !done {
			return reconcile.Result{RequeueAfter: exposePoll}, nil
		}
		return reconcile.Result{}, nil
	}
	if s.Spec.Target == nil && s.Spec.Task != nil || s.Spec.Target != nil && taskrun.Uses(s.Spec.Task, s.Spec.Target.Ref) {
		return reconcile.Result{}, r.runTask(ctx, s) // a Task-based restore runs as a Job
	}
	if s.Status.Phase == "" && !r.start(s) {
		return reconcile.Result{}, nil
	}
	if len(s.Status.Stats) == 0 {
		handedOut, err := r.handOut(ctx, s)
		if err != nil {
			return reconcile.Result{}, err
		} else if !handedOut {
			return reconcile.Result{RequeueAfter: exposePoll}, nil
		}
		if items, err = r.items(ctx, s); err != nil {
			return reconcile.Result{}, err
		}
	}
	if err := r.release(ctx, s, items); err != nil {
		return reconcile.Result{}, err
	}
	if aggregate(s, items) {
		if failed := failedHosts(s); failed != "" {
			r.finish(s, troveapi.SessionFailed, troveapi.ReasonFailed, "restore failed on "+failed)
		} else {
			r.finish(s, troveapi.SessionSucceeded, troveapi.ReasonSucceeded, "every host was restored")
		}
	}
	return reconcile.Result{}, nil
}

// start marks the session Running, or fails it when it asks for what this controller
// does not do; false when it ended here.
func (r *Reconciler) start(s *troveapi.RestoreSession) bool {
	now := metav1.NewTime(r.Now())
	s.Status.Phase, s.Status.StartTime = troveapi.SessionRunning, &now
	t := s.Spec.Target
	switch {
	case t == nil:
		r.finish(s, troveapi.SessionFailed, troveapi.ReasonTargetKindUnsupported, "a restore needs a target or a task")
		return false
	case t.Ref == nil && t.SourceRef == nil:
		r.finish(s, troveapi.SessionFailed, troveapi.ReasonTargetNotFound,
			"a restore into volumeClaimTemplates needs target.sourceRef: the workload or PVC whose backups to restore")
		return false
	}
	for i, rule := range t.Rules {
		if len(rule.Snapshots) > 1 {
			r.finish(s, troveapi.SessionFailed, troveapi.ReasonFailed,
				fmt.Sprintf("rule %d names %d snapshots: give each snapshot its own rule (with targetHosts)", i, len(rule.Snapshots)))
			return false
		}
		if t.Ref == nil && len(rule.Paths) > 0 {
			r.finish(s, troveapi.SessionFailed, troveapi.ReasonFailed,
				fmt.Sprintf("rule %d has paths, which pick volumes of target.ref: with volumeClaimTemplates, give each source volume its own template", i))
			return false
		}
	}
	if replicas := ptr.Deref(t.Replicas, 1); t.Ref == nil && replicas > 1 {
		for _, tpl := range t.VolumeClaimTemplates {
			if !strings.Contains(tpl.Name, troveapi.PodOrdinalVariable) {
				r.finish(s, troveapi.SessionFailed, troveapi.ReasonFailed, fmt.Sprintf(
					"volumeClaimTemplate %q makes %d PVCs of one name: put %s in its name", tpl.Name, replicas, troveapi.PodOrdinalVariable))
				return false
			}
		}
	}
	return true
}

// handOut resolves the target and creates one VolumeRestore per pair; false while new
// PVCs are still being exposed (or when the session ended here).
func (r *Reconciler) handOut(ctx context.Context, s *troveapi.RestoreSession) (bool, error) {
	t := s.Spec.Target
	var repo troveapi.Repository
	ref := s.Spec.Repository
	if ref.Namespace == "" {
		ref.Namespace = s.Namespace
	}
	key := types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}
	err := r.Client.Get(ctx, key, &repo)
	if apierrors.IsNotFound(err) && r.APIReader != nil {
		err = r.APIReader.Get(ctx, key, &repo) // the cache may lag behind a Repository just created
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			r.finish(s, troveapi.SessionFailed, troveapi.ReasonRepositoryNotFound, fmt.Sprintf("Repository %s/%s does not exist", ref.Namespace, ref.Name))
			return false, nil
		}
		return false, err
	}
	hosts, identity, err := r.hosts(ctx, s)
	var terr *target.Error
	var xerr *exposure.Error
	switch {
	case errors.As(err, &terr):
		r.finish(s, troveapi.SessionFailed, terr.Reason, terr.Message)
		return false, nil
	case errors.As(err, &xerr):
		r.finish(s, troveapi.SessionFailed, xerr.Reason, xerr.Message)
		return false, nil
	case err != nil || hosts == nil:
		return false, err
	}
	var stats []troveapi.HostRestoreStats
	for _, host := range hosts {
		rule, ok := ruleFor(t.Rules, host.Name)
		if !ok {
			continue // no rule restores into this host
		}
		pairs := host.Pairs
		if len(rule.Paths) > 0 {
			if pairs, err = target.PairsOf(host.Pairs[0].Pod, target.Spec{Paths: rule.Paths}); err != nil {
				r.finish(s, troveapi.SessionFailed, troveapi.ReasonPathNotOnVolume, err.Error())
				return false, nil
			}
		}
		for _, pair := range pairs {
			item := workitem.VolumeRestoreFor(s, identity, host, pair, rule)
			if err := r.Credentials.Ensure(ctx, "VolumeRestore", item.Namespace, item.Name, item.Spec.CredentialsSecretName, &repo); err != nil {
				return false, err
			}
			if err := r.Client.Create(ctx, item); err == nil {
				r.Metrics.ItemCreated("VolumeRestore")
			} else if !apierrors.IsAlreadyExists(err) {
				return false, fmt.Errorf("creating VolumeRestore %s: %w", item.Name, err)
			}
		}
		stats = append(stats, troveapi.HostRestoreStats{Hostname: host.Name, Phase: troveapi.HostPending})
	}
	if len(stats) == 0 {
		r.finish(s, troveapi.SessionFailed, troveapi.ReasonFailed, "no rule matches any host of the target: check the rules' targetHosts")
		return false, nil
	}
	s.Status.Stats, s.Status.TotalHosts = stats, int32(len(stats))
	return true, nil
}

// hosts resolves where the restore writes: the pairs of target.ref, or new PVCs from
// volumeClaimTemplates written through holder pods (nil hosts while those are on their
// way). identity is the target the restored data is named after.
func (r *Reconciler) hosts(ctx context.Context, s *troveapi.RestoreSession) (_ []target.Host, identity troveapi.TargetRef, _ error) {
	t := s.Spec.Target
	if t.Ref != nil {
		fetch := target.Fetcher{Client: r.Client}
		hosts, err := fetch.Hosts(ctx, s.Namespace, *t.Ref, target.Spec{})
		if err != nil {
			return nil, *t.Ref, err
		}
		for _, h := range hosts {
			for _, p := range h.Pairs {
				if pod, _ := p.Via(); pod == nil {
					return nil, *t.Ref, &target.Error{Reason: troveapi.ReasonTargetNotFound, Message: fmt.Sprintf(
						"PersistentVolumeClaim %s is not mounted by a running pod: mount it in a pod to restore into it, or restore into a new PVC with volumeClaimTemplates", p.PVC)}
				}
			}
		}
		return hosts, *t.Ref, nil
	}
	hosts, err := r.newPVCHosts(ctx, s)
	return hosts, *t.SourceRef, err
}

// newPVCHosts makes the PVCs of volumeClaimTemplates (replicas sets of them, host-<n>
// each) and exposes them writable; nil until every holder pod runs.
func (r *Reconciler) newPVCHosts(ctx context.Context, s *troveapi.RestoreSession) ([]target.Host, error) {
	if r.Exposures == nil {
		return nil, &exposure.Error{Reason: troveapi.ReasonFailed, Message: "this controller exposes no volumes (it was started without a holder pod image)"}
	}
	t := s.Spec.Target
	var hosts []target.Host
	var waiting []string
	for i := range ptr.Deref(t.Replicas, 1) {
		ordinal := strconv.Itoa(int(i))
		host := target.Host{Name: "host-" + ordinal}
		for _, tpl := range t.VolumeClaimTemplates {
			tpl := *tpl.DeepCopy()
			volume := tpl.Annotations[troveapi.AnnotationSourceVolume]
			if volume == "" {
				volume = strings.TrimSuffix(strings.ReplaceAll(tpl.Name, "-"+troveapi.PodOrdinalVariable, ""), troveapi.PodOrdinalVariable)
			}
			tpl.Name = strings.ReplaceAll(tpl.Name, troveapi.PodOrdinalVariable, ordinal)
			x := r.Exposures.For(s.Spec.RuntimeSettings)
			pair, why, err := x.Ensure(ctx, x.ForNewPVC(s, tpl), target.Pair{Volume: volume, PVC: tpl.Name})
			if err != nil {
				return nil, err
			}
			if why != "" {
				waiting = append(waiting, why)
			}
			host.Pairs = append(host.Pairs, pair)
		}
		hosts = append(hosts, host)
	}
	if len(waiting) > 0 {
		setExposed(s, metav1.ConditionFalse, troveapi.ReasonInProgress, strings.Join(waiting, "; "))
		return nil, nil
	}
	setExposed(s, metav1.ConditionTrue, troveapi.ReasonValid, fmt.Sprintf("%d new PVC(s) written through holder pods", len(hosts)*len(t.VolumeClaimTemplates)))
	return hosts, nil
}

// releaseExposures removes the holder pods of a finished session (the new PVCs stay);
// done is false while they are on their way out.
func (r *Reconciler) releaseExposures(ctx context.Context, s *troveapi.RestoreSession) (bool, error) {
	c := meta.FindStatusCondition(s.Status.Conditions, troveapi.ConditionVolumesExposed)
	if c == nil || c.Reason == troveapi.ReasonReleased || r.Exposures == nil {
		return true, nil
	}
	done, err := r.Exposures.Exposer.CleanupSession(ctx, s.Namespace, s.Name, false)
	if done && err == nil {
		setExposed(s, metav1.ConditionFalse, troveapi.ReasonReleased, "the holder pods are removed; the restored PVCs stay")
	}
	return done, err
}

func setExposed(s *troveapi.RestoreSession, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
		Type: troveapi.ConditionVolumesExposed, Status: status, Reason: reason, Message: message, ObservedGeneration: s.Generation,
	})
}

// ruleFor is the first rule for host (all hosts when it names none); no rules at all
// restores the latest snapshot of each host.
func ruleFor(rules []troveapi.RestoreRule, host string) (troveapi.RestoreRule, bool) {
	if len(rules) == 0 {
		return troveapi.RestoreRule{}, true
	}
	for _, r := range rules {
		if len(r.TargetHosts) == 0 || slices.Contains(r.TargetHosts, host) {
			return r, true
		}
	}
	return troveapi.RestoreRule{}, false
}

func (r *Reconciler) items(ctx context.Context, s *troveapi.RestoreSession) ([]troveapi.VolumeRestore, error) {
	var list troveapi.VolumeRestoreList
	err := r.Client.List(ctx, &list, ctrl.InNamespace(s.Namespace), ctrl.MatchingLabels{troveapi.LabelSession: s.Name})
	return list.Items, err
}

// release deletes the credentials of finished items (of all, once the session ended).
func (r *Reconciler) release(ctx context.Context, s *troveapi.RestoreSession, items []troveapi.VolumeRestore) error {
	for _, item := range items {
		if workFinished(item.Status.Phase) || finished(s.Status.Phase) {
			if err := r.Credentials.Delete(ctx, item.Spec.CredentialsSecretName); err != nil {
				return err
			}
		}
	}
	return nil
}

// aggregate folds items into per-host status; true when all finished.
func aggregate(s *troveapi.RestoreSession, items []troveapi.VolumeRestore) bool {
	byHost := map[string][]troveapi.VolumeRestore{}
	var progress troveapi.Progress
	for _, it := range items {
		host := it.Labels[troveapi.LabelHost]
		byHost[host] = append(byHost[host], it)
		progress.Add(it.Status.Progress)
	}
	s.Status.Progress = progress
	all := len(s.Status.Stats) > 0
	for i := range s.Status.Stats {
		h := &s.Status.Stats[i]
		h.Phase, h.Error = hostResult(byHost[h.Hostname])
		if h.Phase == troveapi.HostPending || h.Phase == troveapi.HostRunning {
			all = false
		}
	}
	return all
}

// hostResult is a host's phase and error from its items.
func hostResult(items []troveapi.VolumeRestore) (troveapi.HostPhase, string) {
	if len(items) == 0 {
		return troveapi.HostPending, ""
	}
	phase := troveapi.HostSucceeded
	var errs []string
	for _, it := range items {
		switch it.Status.Phase {
		case troveapi.WorkSucceeded:
		case troveapi.WorkFailed, troveapi.WorkCanceled:
			if phase != troveapi.HostRunning {
				phase = troveapi.HostFailed
			}
			errs = append(errs, fmt.Sprintf("volume %s: %s: %s", it.Spec.Target.VolumeName, it.Status.Reason, it.Status.Message))
		default:
			phase = troveapi.HostRunning
		}
	}
	return phase, strings.Join(errs, "; ")
}

func failedHosts(s *troveapi.RestoreSession) string {
	var failed []string
	for _, h := range s.Status.Stats {
		if h.Phase == troveapi.HostFailed {
			failed = append(failed, h.Hostname+" ("+h.Error+")")
		}
	}
	return strings.Join(failed, ", ")
}

func (r *Reconciler) finish(s *troveapi.RestoreSession, phase troveapi.SessionPhase, reason, message string) {
	now := r.Now()
	s.Status.Phase = phase
	s.Status.CompletionTime = &metav1.Time{Time: now}
	seconds := 0.0
	if s.Status.StartTime != nil {
		s.Status.SessionDuration = now.Sub(s.Status.StartTime.Time).Round(time.Second).String()
		seconds = now.Sub(s.Status.StartTime.Time).Seconds()
	}
	r.Metrics.SessionEnded("restore", phase, seconds)
	status := metav1.ConditionFalse
	if phase == troveapi.SessionSucceeded {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
		Type: troveapi.ConditionRestoreSucceeded, Status: status, Reason: reason, Message: message, ObservedGeneration: s.Generation,
	})
}

func (r *Reconciler) announce(s *troveapi.RestoreSession) {
	eventType, note := corev1.EventTypeNormal, string(s.Status.Phase)
	if c := meta.FindStatusCondition(s.Status.Conditions, troveapi.ConditionRestoreSucceeded); c != nil {
		note = c.Message
		if c.Status != metav1.ConditionTrue {
			eventType = corev1.EventTypeWarning
		}
	}
	r.Recorder.Eventf(s, nil, eventType, string(s.Status.Phase), "Restore", "%s", note)
}

func finished(p troveapi.SessionPhase) bool {
	return p == troveapi.SessionSucceeded || p == troveapi.SessionFailed || p == troveapi.SessionSkipped
}

func workFinished(p troveapi.WorkPhase) bool {
	return p == troveapi.WorkSucceeded || p == troveapi.WorkFailed || p == troveapi.WorkCanceled
}
