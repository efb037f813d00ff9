package backupsession

import (
	"sigs.k8s.io/controller-runtime/pkg/builder"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// SetupWithManager registers the reconciler: it runs on sessions and on their items.
func (r *Reconciler) SetupWithManager(mgr manager.Manager, workers int) error {
	return builder.ControllerManagedBy(mgr).
		Named("backupsession").
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: workers}).
		For(&troveapi.BackupSession{}).
		Owns(&troveapi.VolumeBackup{}).
		Complete(r)
}
