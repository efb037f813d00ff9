package restoresession

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/taskrun"
	"trove.dev/trove/controller/variables"
)

// runTask delegates a restore that names a Task, or whose target is an AppBinding, to
// taskrun: its Job's outcome ends the session; update-status writes the hosts' stats.
func (r *Reconciler) runTask(ctx context.Context, s *troveapi.RestoreSession) error {
	if s.Status.Phase == "" {
		now := metav1.NewTime(r.Now())
		s.Status.Phase, s.Status.StartTime = troveapi.SessionRunning, &now
	}
	runner := r.tasks()
	req := taskrun.ForRestore(s)
	out, err := runner.Run(ctx, req)
	if err != nil {
		return err
	}
	if out.Phase == taskrun.Running {
		meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{Type: troveapi.ConditionRestoreSucceeded,
			Status: metav1.ConditionUnknown, Reason: out.Reason, Message: out.Message, ObservedGeneration: s.Generation})
		return nil
	}
	if err := runner.Cleanup(ctx, req); err != nil {
		return err
	}
	if out.Phase == taskrun.Succeeded {
		if len(s.Status.Stats) == 0 && r.APIReader != nil { // the cache may lag behind update-status's write
			fresh := &troveapi.RestoreSession{}
			if err := r.APIReader.Get(ctx, ctrl.ObjectKeyFromObject(s), fresh); err != nil {
				return err
			}
			s.Status.Stats, s.Status.TotalHosts = fresh.Status.Stats, fresh.Status.TotalHosts
		}
		if len(s.Status.Stats) == 0 {
			out.Message += "; no step wrote stats into this session (the Task has no update-status step?)"
		}
		r.finish(s, troveapi.SessionSucceeded, out.Reason, out.Message)
		return nil
	}
	if len(s.Status.Stats) == 0 { // the Job's host failed before update-status could say anything
		s.Status.Stats, s.Status.TotalHosts = []troveapi.HostRestoreStats{{Hostname: variables.DefaultHostname}}, 1
	}
	for i := range s.Status.Stats {
		if h := &s.Status.Stats[i]; h.Phase != troveapi.HostSucceeded && h.Phase != troveapi.HostFailed {
			h.Phase, h.Error = troveapi.HostFailed, out.Message
		}
	}
	r.finish(s, troveapi.SessionFailed, out.Reason, out.Message)
	return nil
}

func (r *Reconciler) tasks() *taskrun.Runner {
	return &taskrun.Runner{Client: r.Client, Reader: r.APIReader}
}
