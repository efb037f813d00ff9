package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/node/queue"
)

// item is what the agent needs of a work item, whatever its kind.
type item interface {
	ctrl.Object
	// obj is the API object itself, for the client (which knows its type).
	obj() ctrl.Object
	common() *troveapi.WorkItemCommon
	status() *troveapi.WorkItemStatus
}

type backupItem struct{ *troveapi.VolumeBackup }

func (b backupItem) obj() ctrl.Object                 { return b.VolumeBackup }
func (b backupItem) common() *troveapi.WorkItemCommon { return &b.Spec.WorkItemCommon }
func (b backupItem) status() *troveapi.WorkItemStatus { return &b.Status.WorkItemStatus }

type restoreItem struct{ *troveapi.VolumeRestore }

func (r restoreItem) obj() ctrl.Object                 { return r.VolumeRestore }
func (r restoreItem) common() *troveapi.WorkItemCommon { return &r.Spec.WorkItemCommon }
func (r restoreItem) status() *troveapi.WorkItemStatus { return &r.Status.WorkItemStatus }

// Kinds, as they appear in queue keys.
const (
	kindBackup  = "VolumeBackup"
	kindRestore = "VolumeRestore"
)

// Failure reasons the agent itself gives (mover errors give their own kinds).
const (
	ReasonAgentRestarted = "AgentRestarted"
	ReasonCanceled       = "Canceled"
	ReasonCredentials    = "CredentialsUnavailable"
	ReasonRepository     = "RepositoryUnavailable"
	ReasonPodGone        = "PodGone"
)

func key(kind string, obj ctrl.Object) string {
	return kind + "/" + obj.GetNamespace() + "/" + obj.GetName()
}

func splitKey(k string) (kind string, name types.NamespacedName) {
	parts := strings.SplitN(k, "/", 3)
	return parts[0], types.NamespacedName{Namespace: parts[1], Name: parts[2]}
}

func finished(p troveapi.WorkPhase) bool {
	return p == troveapi.WorkSucceeded || p == troveapi.WorkFailed || p == troveapi.WorkCanceled
}

// admit decides what an item's change means for this agent: queue it, cancel it, or
// recover it from an agent that died while running it.
func (a *Agent) admit(ctx context.Context, kind string, it item) error {
	k := key(kind, it)
	st := it.status()
	if finished(st.Phase) {
		return nil
	}
	if it.GetDeletionTimestamp() != nil || it.common().Cancel {
		if a.queue.Cancel(k) && st.Phase == troveapi.WorkRunning {
			return nil // the runner ends it Canceled
		}
		return a.finish(ctx, it, troveapi.WorkCanceled, ReasonCanceled, "canceled before it ran")
	}
	switch st.Phase {
	case "", troveapi.WorkPending:
		a.queue.Add(queue.Item{Key: k, Priority: it.common().Priority, Created: it.GetCreationTimestamp().Time})
	case troveapi.WorkRunning:
		if a.queue.Has(k) {
			return nil
		}
		return a.recover(ctx, it)
	}
	return nil
}

// recover handles an item left Running by an agent that is gone: it is retried
// (bounded) or failed with the reason.
func (a *Agent) recover(ctx context.Context, it item) error {
	// The cache may lag behind a runner of this process that just finished: only
	// the API server's word counts.
	if err := a.reader.Get(ctx, ctrl.ObjectKeyFromObject(it), it.obj()); err != nil {
		return ctrl.IgnoreNotFound(err)
	}
	st := it.status()
	if st.Phase != troveapi.WorkRunning || a.queue.Has(key(kindOf(it), it)) {
		return nil
	}
	if st.Attempt >= a.cfg.MaxAttempts {
		return a.finish(ctx, it, troveapi.WorkFailed, ReasonAgentRestarted,
			fmt.Sprintf("interrupted by agent restarts %d times (limit %d)", st.Attempt, a.cfg.MaxAttempts))
	}
	a.log.Info("retrying an item left running by a previous agent", "item", key(kindOf(it), it), "attempt", st.Attempt)
	base := copyOf(it)
	st.Phase = troveapi.WorkPending
	st.Message = fmt.Sprintf("attempt %d was interrupted by an agent restart; retrying", st.Attempt)
	return a.client.Status().Patch(ctx, it.obj(), ctrl.MergeFrom(base))
}

// claim marks an item Running for one more attempt. A conflict means someone else
// changed it: the runner gives up and the change re-admits it.
func (a *Agent) claim(ctx context.Context, it item) error {
	st := it.status()
	now := metav1.NewTime(a.cfg.Now())
	st.Phase = troveapi.WorkRunning
	st.Attempt++
	if st.StartTime == nil {
		st.StartTime = &now
	}
	st.Reason, st.Message = "", ""
	return a.client.Status().Update(ctx, it.obj())
}

// finish records an item's end. It retries conflicts against a fresh copy, since
// the controller may have touched the item meanwhile.
func (a *Agent) finish(ctx context.Context, it item, phase troveapi.WorkPhase, reason, message string, fill ...func(item)) error {
	for attempt := 0; ; attempt++ {
		st := it.status()
		now := metav1.NewTime(a.cfg.Now())
		st.Phase, st.Reason, st.Message, st.CompletionTime = phase, reason, message, &now
		for _, f := range fill {
			f(it)
		}
		err := a.client.Status().Update(ctx, it.obj())
		if !apierrors.IsConflict(err) || attempt == 5 {
			if err == nil {
				a.metrics.finished(kindOf(it), phase, reason, it)
				a.announce(it, phase, reason, message)
			}
			return ctrl.IgnoreNotFound(err)
		}
		if err := a.reader.Get(ctx, ctrl.ObjectKeyFromObject(it), it.obj()); err != nil {
			return ctrl.IgnoreNotFound(err)
		}
	}
}

// release leaves an item for a later attempt (the agent is shutting down).
func (a *Agent) release(ctx context.Context, it item) error {
	base := copyOf(it)
	st := it.status()
	st.Phase = troveapi.WorkPending
	st.Message = "the agent stopped during this attempt; it will be retried"
	return ctrl.IgnoreNotFound(a.client.Status().Patch(ctx, it.obj(), ctrl.MergeFrom(base)))
}

// progressWriter writes progress to status at most once per interval.
type progressWriter struct {
	a    *Agent
	ctx  context.Context
	it   item
	last time.Time
}

func (p *progressWriter) write(pr troveapi.Progress) {
	if now := p.a.cfg.Now(); now.Sub(p.last) >= p.a.cfg.ProgressInterval {
		p.last = now
		base := copyOf(p.it)
		p.it.status().Progress = pr
		if err := p.a.client.Status().Patch(p.ctx, p.it.obj(), ctrl.MergeFrom(base)); err != nil {
			p.a.log.V(1).Info("progress not written", "error", err.Error())
		}
	}
}

func (a *Agent) announce(it item, phase troveapi.WorkPhase, reason, message string) {
	eventType := corev1.EventTypeNormal
	if phase != troveapi.WorkSucceeded {
		eventType = corev1.EventTypeWarning
	}
	if reason == "" {
		reason = string(phase)
	}
	note := string(phase)
	if message != "" {
		note += ": " + message
	}
	a.recorder.Eventf(it.obj(), nil, eventType, reason, string(phase), "%s", note)
}

func kindOf(it item) string {
	switch it.(type) {
	case backupItem:
		return kindBackup
	case maintenanceItem:
		return kindMaintenance
	}
	return kindRestore
}

func copyOf(it item) ctrl.Object { return it.DeepCopyObject().(ctrl.Object) }
