package backupconfiguration

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// SetupWithManager registers the reconciler: it runs on changes to configurations,
// their sessions, and the Repositories and Secrets they depend on.
func (r *Reconciler) SetupWithManager(mgr manager.Manager, workers int) error {
	return builder.ControllerManagedBy(mgr).
		Named("backupconfiguration").
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: workers}).
		For(&troveapi.BackupConfiguration{}).
		Owns(&troveapi.BackupSession{}).
		Watches(&troveapi.Repository{}, handler.EnqueueRequestsFromMapFunc(r.configsOfRepository)).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.configsOfSecret)).
		Watches(&troveapi.Task{}, handler.EnqueueRequestsFromMapFunc(r.configsWithTask)).
		Watches(&troveapi.Function{}, handler.EnqueueRequestsFromMapFunc(r.configsWithTask)).
		Complete(r)
}

// configsOfRepository maps a Repository to the configurations that use it.
func (r *Reconciler) configsOfRepository(ctx context.Context, obj ctrl.Object) []reconcile.Request {
	return r.configsWhere(ctx, func(c *troveapi.BackupConfiguration) bool {
		ref := repositoryRef(c)
		return ref.Namespace == obj.GetNamespace() && ref.Name == obj.GetName()
	})
}

// configsOfSecret maps a Secret to the configurations whose Repository names it.
func (r *Reconciler) configsOfSecret(ctx context.Context, obj ctrl.Object) []reconcile.Request {
	var repos troveapi.RepositoryList
	if err := r.Client.List(ctx, &repos, ctrl.InNamespace(obj.GetNamespace())); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, repo := range repos.Items {
		if repo.Spec.Backend.StorageSecretName == obj.GetName() {
			reqs = append(reqs, r.configsOfRepository(ctx, &repo)...)
		}
	}
	return reqs
}

// configsWithTask maps a Task or Function to every configuration that uses a Task,
// named or the default of its AppBinding target (Tasks and Functions change rarely;
// which Task uses which Function is not indexed).
func (r *Reconciler) configsWithTask(ctx context.Context, _ ctrl.Object) []reconcile.Request {
	return r.configsWhere(ctx, func(c *troveapi.BackupConfiguration) bool {
		return c.Spec.Task != nil || c.Spec.Target != nil && c.Spec.Target.Ref.Kind == troveapi.KindAppBinding
	})
}

func (r *Reconciler) configsWhere(ctx context.Context, match func(*troveapi.BackupConfiguration) bool) []reconcile.Request {
	var configs troveapi.BackupConfigurationList
	if err := r.Client.List(ctx, &configs); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range configs.Items {
		if c := &configs.Items[i]; match(c) {
			reqs = append(reqs, reconcile.Request{NamespacedName: ctrl.ObjectKeyFromObject(c)})
		}
	}
	return reqs
}
