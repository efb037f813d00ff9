// Package restoresession reconciles RestoreSessions into an existing workload, Pod or
// PVC: it resolves the target into (pod, volume) pairs, picks each host's rule, hands
// each pair to its node's agent as a VolumeRestore with short-lived credentials, and
// aggregates the results per host. Restores never leave the session's namespace.
package restoresession

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	"sigs.k8s.io/controller-runtime/pkg/builder"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/credentials"
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
}

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
	err := r.advance(ctx, &s)
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
	return reconcile.Result{}, err
}

func (r *Reconciler) advance(ctx context.Context, s *troveapi.RestoreSession) error {
	items, err := r.items(ctx, s)
	if err != nil {
		return err
	}
	if finished(s.Status.Phase) {
		return r.release(ctx, s, items)
	}
	if s.Spec.Target == nil && s.Spec.Task != nil || s.Spec.Target != nil && taskrun.Uses(s.Spec.Task, s.Spec.Target.Ref) {
		return r.runTask(ctx, s) // a Task-based restore runs as a Job
	}
	if s.Status.Phase == "" {
		if done, err := r.handOut(ctx, s); err != nil || done {
			return err
		}
		if items, err = r.items(ctx, s); err != nil {
			return err
		}
	}
	if err := r.release(ctx, s, items); err != nil {
		return err
	}
	if aggregate(s, items) {
		if failed := failedHosts(s); failed != "" {
			r.finish(s, troveapi.SessionFailed, troveapi.ReasonFailed, "restore failed on "+failed)
		} else {
			r.finish(s, troveapi.SessionSucceeded, troveapi.ReasonSucceeded, "every host was restored")
		}
	}
	return nil
}

// handOut resolves the target and creates one VolumeRestore per pair; done is true
// when the session ended here (nothing to restore into).
func (r *Reconciler) handOut(ctx context.Context, s *troveapi.RestoreSession) (done bool, err error) {
	now := metav1.NewTime(r.Now())
	s.Status.Phase, s.Status.StartTime = troveapi.SessionRunning, &now
	t := s.Spec.Target
	if t == nil || t.Ref == nil {
		r.finish(s, troveapi.SessionFailed, troveapi.ReasonTargetKindUnsupported,
			"this version restores into existing workloads, Pods and PVCs (target.ref), or through a Task (spec.task); volumeClaimTemplates are not supported yet")
		return true, nil
	}
	for i, rule := range t.Rules {
		if len(rule.Snapshots) > 1 {
			r.finish(s, troveapi.SessionFailed, troveapi.ReasonFailed,
				fmt.Sprintf("rule %d names %d snapshots: give each snapshot its own rule (with targetHosts)", i, len(rule.Snapshots)))
			return true, nil
		}
	}
	var repo troveapi.Repository
	ref := s.Spec.Repository
	if ref.Namespace == "" {
		ref.Namespace = s.Namespace
	}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &repo); err != nil {
		if apierrors.IsNotFound(err) {
			r.finish(s, troveapi.SessionFailed, troveapi.ReasonRepositoryNotFound, fmt.Sprintf("Repository %s/%s does not exist", ref.Namespace, ref.Name))
			return true, nil
		}
		return true, err
	}
	fetch := target.Fetcher{Client: r.Client}
	hosts, err := fetch.Hosts(ctx, s.Namespace, *t.Ref, target.Spec{})
	var terr *target.Error
	if errors.As(err, &terr) {
		r.finish(s, troveapi.SessionFailed, terr.Reason, terr.Message)
		return true, nil
	}
	if err != nil {
		return true, err
	}
	for _, host := range hosts {
		rule, ok := ruleFor(t.Rules, host.Name)
		if !ok {
			continue // no rule restores into this host
		}
		pairs := host.Pairs
		if len(rule.Paths) > 0 {
			if pairs, err = target.PairsOf(host.Pairs[0].Pod, target.Spec{Paths: rule.Paths}); err != nil {
				r.finish(s, troveapi.SessionFailed, troveapi.ReasonPathNotOnVolume, err.Error())
				return true, nil
			}
		}
		for _, pair := range pairs {
			item := workitem.VolumeRestoreFor(s, *t.Ref, host, pair, rule)
			if err := r.Credentials.Ensure(ctx, "VolumeRestore", item.Namespace, item.Name, item.Spec.CredentialsSecretName, &repo); err != nil {
				return true, err
			}
			if err := r.Client.Create(ctx, item); err == nil {
				r.Metrics.ItemCreated("VolumeRestore")
			} else if !apierrors.IsAlreadyExists(err) {
				return true, fmt.Errorf("creating VolumeRestore %s: %w", item.Name, err)
			}
		}
		s.Status.Stats = append(s.Status.Stats, troveapi.HostRestoreStats{Hostname: host.Name, Phase: troveapi.HostPending})
	}
	s.Status.TotalHosts = int32(len(s.Status.Stats))
	if s.Status.TotalHosts == 0 {
		r.finish(s, troveapi.SessionFailed, troveapi.ReasonFailed, "no rule matches any host of the target: check the rules' targetHosts")
		return true, nil
	}
	return false, nil
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
