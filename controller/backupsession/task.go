package backupsession

import (
	"context"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/taskrun"
	"trove.dev/trove/controller/variables"
	"trove.dev/trove/controller/workitem"
)

// runTask delegates a session whose configuration names a Task, or whose target is an
// AppBinding, to taskrun: its Job's outcome ends the session. Stats are written into the
// session by the Task's update-status step and kept.
func (r *Reconciler) runTask(ctx context.Context, s *troveapi.BackupSession, config *troveapi.BackupConfiguration) (bool, reconcile.Result, error) {
	var ref *troveapi.TargetRef
	if config.Spec.Target != nil {
		ref = &config.Spec.Target.Ref
	}
	if !taskrun.Uses(config.Spec.Task, ref) {
		return false, reconcile.Result{}, nil
	}
	runner := r.tasks()
	req := taskrun.ForBackup(s, config)
	out, err := runner.Run(ctx, req)
	if err != nil {
		return true, reconcile.Result{}, err
	}
	if out.Phase == taskrun.Running {
		if len(s.Status.Targets) == 0 { // the entry update-status fills in
			s.Status.Targets = []troveapi.TargetStatus{{Ref: ref, TotalHosts: 1, Phase: troveapi.HostRunning}}
		}
		setCondition(s, troveapi.ConditionBackupSucceeded, metav1.ConditionUnknown, out.Reason, out.Message)
		return true, reconcile.Result{RequeueAfter: out.RequeueAfter}, nil
	}
	if err := runner.Cleanup(ctx, req); err != nil {
		return true, reconcile.Result{}, err
	}
	if out.Phase == taskrun.Succeeded {
		if !hasStats(s) && r.APIReader != nil { // the cache may lag behind update-status's write
			fresh := &troveapi.BackupSession{}
			if err := r.APIReader.Get(ctx, ctrl.ObjectKeyFromObject(s), fresh); err != nil {
				return true, reconcile.Result{}, err
			}
			s.Status.Targets = fresh.Status.Targets
		}
		if !hasStats(s) {
			out.Message += "; no step wrote stats into this session (the Task has no update-status step?)"
		}
		note, err := r.maintainAfterTask(ctx, s, config, out.Node)
		if err != nil {
			return true, reconcile.Result{}, err
		}
		r.finish(s, troveapi.SessionSucceeded, out.Reason, out.Message+note)
		return true, reconcile.Result{}, nil
	}
	if !hasStats(s) { // the Job's host failed before update-status could say anything
		s.Status.Targets = []troveapi.TargetStatus{{Ref: ref, TotalHosts: 1, Stats: []troveapi.HostBackupStats{{Hostname: variables.DefaultHostname}}}}
	}
	for i := range s.Status.Targets { // the hosts update-status left running failed with the Job
		s.Status.Targets[i].Phase = troveapi.HostFailed
		for j := range s.Status.Targets[i].Stats {
			if h := &s.Status.Targets[i].Stats[j]; h.Phase != troveapi.HostSucceeded && h.Phase != troveapi.HostFailed {
				h.Phase, h.Error = troveapi.HostFailed, out.Message
			}
		}
	}
	r.finish(s, troveapi.SessionFailed, out.Reason, out.Message)
	return true, reconcile.Result{}, nil
}

func hasStats(s *troveapi.BackupSession) bool {
	for _, t := range s.Status.Targets {
		if len(t.Stats) > 0 {
			return true
		}
	}
	return false
}

// maintainAfterTask hands the repository's maintenance (retention of the hosts that
// were backed up, stats) to the agent of the node the Job ran on, as after a volume
// backup. It returns a note for the session's message when it cannot.
func (r *Reconciler) maintainAfterTask(ctx context.Context, s *troveapi.BackupSession, config *troveapi.BackupConfiguration, node string) (string, error) {
	var hosts []string
	for _, t := range s.Status.Targets {
		for _, h := range t.Stats {
			if h.Phase == troveapi.HostSucceeded && !slices.Contains(hosts, h.Hostname) {
				hosts = append(hosts, h.Hostname)
			}
		}
	}
	if len(hosts) == 0 {
		return "", nil
	}
	if node == "" {
		if config.Spec.RetentionPolicy != nil {
			return "; retention not applied: the Job's pod is gone, so no node's agent was chosen for it", nil
		}
		return "", nil
	}
	var repo troveapi.Repository
	ref := config.Spec.Repository
	if ref.Namespace == "" {
		ref.Namespace = config.Namespace
	}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &repo); err != nil {
		return "", ctrl.IgnoreNotFound(err)
	}
	m := workitem.MaintenanceAfter(s, config, &repo, hosts, node)
	if err := r.Credentials.Ensure(ctx, "RepositoryMaintenance", m.Namespace, m.Name, m.Spec.CredentialsSecretName, &repo); err != nil {
		return "", err
	}
	if err := r.Client.Create(ctx, m); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("creating RepositoryMaintenance %s: %w", m.Name, err)
	}
	return "", nil
}

func (r *Reconciler) tasks() *taskrun.Runner {
	return &taskrun.Runner{Client: r.Client, Reader: r.APIReader}
}
