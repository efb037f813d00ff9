package backupsession

import (
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// SetupWithManager registers the reconciler: it runs on sessions, on their items and on
// their Jobs.
func (r *Reconciler) SetupWithManager(mgr manager.Manager, workers int) error {
	return builder.ControllerManagedBy(mgr).
		Named("backupsession").
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: workers}).
		For(&troveapi.BackupSession{}).
		Owns(&troveapi.VolumeBackup{}).
		Owns(&batchv1.Job{}).
		Complete(r)
}
