package agent

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/builder"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// onThisNode keeps the items assigned to this agent's node. The cache is also
// restricted to them (see the agent command), so this is a second line.
func (a *Agent) onThisNode() predicate.Predicate {
	return predicate.NewPredicateFuncs(func(obj ctrl.Object) bool {
		switch it := obj.(type) {
		case *troveapi.VolumeBackup:
			return it.Spec.NodeName == a.cfg.NodeName
		case *troveapi.VolumeRestore:
			return it.Spec.NodeName == a.cfg.NodeName
		case *troveapi.RepositoryMaintenance:
			return it.Spec.NodeName == a.cfg.NodeName
		}
		return false
	})
}

func (a *Agent) setupBackups(mgr manager.Manager) error {
	return builder.ControllerManagedBy(mgr).
		Named("volumebackup").
		For(&troveapi.VolumeBackup{}, builder.WithPredicates(a.onThisNode())).
		Complete(reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			vb := &troveapi.VolumeBackup{}
			if err := a.client.Get(ctx, req.NamespacedName, vb); err != nil {
				a.queue.Cancel(kindBackup + "/" + req.Namespace + "/" + req.Name) // deleted: stop it
				return reconcile.Result{}, ctrl.IgnoreNotFound(err)
			}
			return reconcile.Result{}, a.admit(ctx, kindBackup, backupItem{vb})
		}))
}

func (a *Agent) setupRestores(mgr manager.Manager) error {
	return builder.ControllerManagedBy(mgr).
		Named("volumerestore").
		For(&troveapi.VolumeRestore{}, builder.WithPredicates(a.onThisNode())).
		Complete(reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			vr := &troveapi.VolumeRestore{}
			if err := a.client.Get(ctx, req.NamespacedName, vr); err != nil {
				a.queue.Cancel(kindRestore + "/" + req.Namespace + "/" + req.Name)
				return reconcile.Result{}, ctrl.IgnoreNotFound(err)
			}
			return reconcile.Result{}, a.admit(ctx, kindRestore, restoreItem{vr})
		}))
}

func (a *Agent) setupMaintenance(mgr manager.Manager) error {
	return builder.ControllerManagedBy(mgr).
		Named("repositorymaintenance").
		For(&troveapi.RepositoryMaintenance{}, builder.WithPredicates(a.onThisNode())).
		Complete(reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			rm := &troveapi.RepositoryMaintenance{}
			if err := a.client.Get(ctx, req.NamespacedName, rm); err != nil {
				a.queue.Cancel(kindMaintenance + "/" + req.Namespace + "/" + req.Name)
				return reconcile.Result{}, ctrl.IgnoreNotFound(err)
			}
			return reconcile.Result{}, a.admit(ctx, kindMaintenance, maintenanceItem{rm})
		}))
}
