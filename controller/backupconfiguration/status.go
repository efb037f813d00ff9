package backupconfiguration

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// setCondition records a condition, emitting an event when Ready changes.
func setCondition(config *troveapi.BackupConfiguration, condition string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&config.Status.Conditions, metav1.Condition{
		Type:               condition,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: config.Generation,
	})
}

// patchStatus writes the status if it changed, and tells users when Ready flips.
func (r *Reconciler) patchStatus(ctx context.Context, config *troveapi.BackupConfiguration, before *troveapi.BackupConfigurationStatus) error {
	if equality.Semantic.DeepEqual(before, &config.Status) {
		return nil
	}
	was := meta.FindStatusCondition(before.Conditions, troveapi.ConditionReady)
	now := meta.FindStatusCondition(config.Status.Conditions, troveapi.ConditionReady)
	if now != nil && (was == nil || was.Status != now.Status || was.Reason != now.Reason) {
		eventType, note := "Normal", "configuration is ready"
		if now.Status != metav1.ConditionTrue {
			eventType, note = "Warning", now.Message
		}
		r.Recorder.Eventf(config, nil, eventType, now.Reason, "Validate", "%s", note)
	}
	patchBase := config.DeepCopy()
	patchBase.Status = *before
	return r.Client.Status().Patch(ctx, config, ctrl.MergeFrom(patchBase))
}
