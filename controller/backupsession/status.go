package backupsession

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

func finished(p troveapi.SessionPhase) bool {
	return p == troveapi.SessionSucceeded || p == troveapi.SessionFailed || p == troveapi.SessionSkipped
}

func workFinished(p troveapi.WorkPhase) bool {
	return p == troveapi.WorkSucceeded || p == troveapi.WorkFailed || p == troveapi.WorkCanceled
}

func setCondition(s *troveapi.BackupSession, condition string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
		Type: condition, Status: status, Reason: reason, Message: message, ObservedGeneration: s.Generation,
	})
}

// finish ends a session with a phase and the BackupSucceeded condition.
func (r *Reconciler) finish(s *troveapi.BackupSession, phase troveapi.SessionPhase, reason, message string) {
	now := metav1.NewTime(r.Now())
	s.Status.Phase = phase
	s.Status.CompletionTime = &now
	seconds := 0.0
	if s.Status.StartTime != nil {
		s.Status.SessionDuration = now.Sub(s.Status.StartTime.Time).Round(time.Second).String()
		seconds = now.Sub(s.Status.StartTime.Time).Seconds()
	}
	r.Metrics.SessionEnded("backup", phase, seconds)
	status := metav1.ConditionFalse
	if phase == troveapi.SessionSucceeded {
		status = metav1.ConditionTrue
	}
	setCondition(s, troveapi.ConditionBackupSucceeded, status, reason, message)
}

// announce tells users about a phase change.
func (r *Reconciler) announce(s *troveapi.BackupSession, was troveapi.SessionPhase) {
	if s.Status.Phase == was {
		return
	}
	eventType, note := corev1.EventTypeNormal, string(s.Status.Phase)
	if c := meta.FindStatusCondition(s.Status.Conditions, troveapi.ConditionBackupSucceeded); c != nil && finished(s.Status.Phase) {
		note = c.Message
		if c.Status != metav1.ConditionTrue {
			eventType = corev1.EventTypeWarning
		}
	}
	r.Recorder.Eventf(s, nil, eventType, string(s.Status.Phase), "Backup", "%s", note)
}

// aggregate folds the items into per-host stats and session progress; it returns true
// when every item has finished.
func aggregate(s *troveapi.BackupSession, items []troveapi.VolumeBackup) bool {
	if len(s.Status.Targets) == 0 {
		return false
	}
	t := &s.Status.Targets[0]
	byHost := map[string][]troveapi.VolumeBackup{}
	for _, item := range items {
		byHost[item.Spec.Hostname] = append(byHost[item.Spec.Hostname], item)
	}
	var progress troveapi.Progress
	allDone := true
	hostsDone, hostsFailed := 0, 0
	for i := range t.Stats {
		host := &t.Stats[i]
		mine := byHost[host.Hostname]
		host.Phase, host.Snapshots, host.Error, host.Duration = hostResult(mine)
		switch host.Phase {
		case troveapi.HostSucceeded:
			hostsDone++
		case troveapi.HostFailed:
			hostsFailed++
		default:
			allDone = false
		}
		for _, item := range mine {
			progress.Add(item.Status.Progress)
		}
	}
	s.Status.Progress = progress
	switch {
	case !allDone:
		t.Phase = troveapi.HostRunning
	case hostsFailed > 0:
		t.Phase = troveapi.HostFailed
	default:
		t.Phase = troveapi.HostSucceeded
	}
	return allDone
}

// hostResult is a host's phase, snapshots, error and duration from its items.
func hostResult(items []troveapi.VolumeBackup) (troveapi.HostPhase, []troveapi.SnapshotStats, string, string) {
	if len(items) == 0 {
		return troveapi.HostPending, nil, "", ""
	}
	phase := troveapi.HostSucceeded
	var snapshots []troveapi.SnapshotStats
	var errs []string
	var start, end time.Time
	for _, item := range items {
		st := item.Status
		switch st.Phase {
		case troveapi.WorkSucceeded:
			snapshots = append(snapshots, st.Stats)
		case troveapi.WorkFailed, troveapi.WorkCanceled:
			if phase != troveapi.HostRunning {
				phase = troveapi.HostFailed
			}
			errs = append(errs, fmt.Sprintf("volume %s: %s: %s", item.Spec.Source.VolumeName, st.Reason, st.Message))
		default:
			phase = troveapi.HostRunning
		}
		if st.StartTime != nil && (start.IsZero() || st.StartTime.Before(&metav1.Time{Time: start})) {
			start = st.StartTime.Time
		}
		if st.CompletionTime != nil && st.CompletionTime.After(end) {
			end = st.CompletionTime.Time
		}
	}
	duration := ""
	if !start.IsZero() && !end.IsZero() && phase != troveapi.HostRunning {
		duration = end.Sub(start).Round(time.Second).String()
	}
	return phase, snapshots, strings.Join(errs, "; "), duration
}

// failedHosts names the failed hosts ("" when none failed).
func failedHosts(s *troveapi.BackupSession) string {
	var failed []string
	for _, t := range s.Status.Targets {
		for _, h := range t.Stats {
			if h.Phase == troveapi.HostFailed {
				failed = append(failed, h.Hostname+" ("+h.Error+")")
			}
		}
	}
	return strings.Join(failed, ", ")
}
