// Package repository reconciles Repositories: a finalizer that holds deletion while
// configurations still use the repository, a Ready condition for the storage Secret,
// and status (snapshot count, size, integrity) from the maintenance the agents report.
// It also tidies maintenance items: their credentials go when they finish, and only
// the newest few are kept.
package repository

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

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
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/credentials"
	"trove.dev/trove/controller/workitem"
)

// KeepMaintenance is how many finished maintenance items are kept per repository.
const KeepMaintenance = 5

// inUseRecheck is how often a deletion held by users is looked at again.
const inUseRecheck = 30 * time.Second

// wipeOutRetry is how long after a failed wipe-out the next attempt starts.
const wipeOutRetry = time.Minute

// Reconciler reconciles Repositories.
type Reconciler struct {
	Client ctrl.Client
	// Secrets reads storage Secrets uncached.
	Secrets     ctrl.Reader
	Credentials *credentials.Store
	Recorder    events.EventRecorder
}

// SetupWithManager registers the reconciler; it runs on Repositories and their
// maintenance items.
func (r *Reconciler) SetupWithManager(mgr manager.Manager, workers int) error {
	return builder.ControllerManagedBy(mgr).
		Named("repository").
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: workers}).
		For(&troveapi.Repository{}).
		Watches(&troveapi.RepositoryMaintenance{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj ctrl.Object) []reconcile.Request {
			name := obj.GetLabels()[troveapi.LabelRepository]
			if name == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
		})).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.reposOfSecret)).
		Watches(&troveapi.BackupConfiguration{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj ctrl.Object) []reconcile.Request {
			c := obj.(*troveapi.BackupConfiguration)
			ns := c.Spec.Repository.Namespace
			if ns == "" {
				ns = c.Namespace
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: c.Spec.Repository.Name}}}
		})).
		Complete(r)
}

// reposOfSecret maps a Secret to the Repositories of its namespace that use it.
func (r *Reconciler) reposOfSecret(ctx context.Context, obj ctrl.Object) []reconcile.Request {
	var repos troveapi.RepositoryList
	if err := r.Client.List(ctx, &repos, ctrl.InNamespace(obj.GetNamespace())); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, repo := range repos.Items {
		if repo.Spec.Backend.StorageSecretName == obj.GetName() {
			reqs = append(reqs, reconcile.Request{NamespacedName: ctrl.ObjectKeyFromObject(&repo)})
		}
	}
	return reqs
}

// Reconcile runs the named steps: finalizer or deletion, Ready, status, tidying.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var repo troveapi.Repository
	if err := r.Client.Get(ctx, req.NamespacedName, &repo); err != nil {
		return reconcile.Result{}, ctrl.IgnoreNotFound(err)
	}
	if !repo.DeletionTimestamp.IsZero() {
		return r.delete(ctx, &repo)
	}
	if controllerutil.AddFinalizer(&repo, troveapi.FinalizerRepository) {
		if err := r.Client.Update(ctx, &repo); err != nil {
			return reconcile.Result{}, err
		}
	}
	before := repo.Status.DeepCopy()
	if err := r.checkSecret(ctx, &repo); err != nil {
		return reconcile.Result{}, err
	}
	maintenance, err := r.maintenanceOf(ctx, &repo)
	if err != nil {
		return reconcile.Result{}, err
	}
	applyMaintenance(&repo.Status, maintenance)
	if err := r.tidy(ctx, maintenance); err != nil {
		return reconcile.Result{}, err
	}
	repo.Status.ObservedGeneration = repo.Generation
	if equality.Semantic.DeepEqual(before, &repo.Status) {
		return reconcile.Result{}, nil
	}
	base := repo.DeepCopy()
	base.Status = *before
	return reconcile.Result{}, r.Client.Status().Patch(ctx, &repo, ctrl.MergeFrom(base))
}

// checkSecret sets Ready from the storage Secret and its keys.
func (r *Reconciler) checkSecret(ctx context.Context, repo *troveapi.Repository) error {
	backend := &repo.Spec.Backend
	var secret corev1.Secret
	err := r.Secrets.Get(ctx, types.NamespacedName{Namespace: repo.Namespace, Name: backend.StorageSecretName}, &secret)
	cond := metav1.Condition{Type: troveapi.ConditionReady, Status: metav1.ConditionTrue, Reason: troveapi.ReasonValid,
		Message: fmt.Sprintf("%s backend; storage Secret %s has the keys it needs", backend.Type(), backend.StorageSecretName), ObservedGeneration: repo.Generation}
	switch {
	case apierrors.IsNotFound(err):
		cond.Status, cond.Reason = metav1.ConditionFalse, troveapi.ReasonSecretNotFound
		cond.Message = fmt.Sprintf("storage Secret %s does not exist: create it with %s and the %s backend's keys", backend.StorageSecretName, troveapi.SecretResticPassword, backend.Type())
	case err != nil:
		return err
	default:
		if missing := backend.MissingSecretKeys(secret.Data); len(missing) > 0 {
			cond.Status, cond.Reason = metav1.ConditionFalse, troveapi.ReasonSecretKeyMissing
			cond.Message = fmt.Sprintf("storage Secret %s lacks %s", backend.StorageSecretName, strings.Join(missing, ", "))
		}
	}
	meta.SetStatusCondition(&repo.Status.Conditions, cond)
	return nil
}

// maintenanceOf lists the repository's maintenance items, newest first.
func (r *Reconciler) maintenanceOf(ctx context.Context, repo *troveapi.Repository) ([]troveapi.RepositoryMaintenance, error) {
	var list troveapi.RepositoryMaintenanceList
	if err := r.Client.List(ctx, &list, ctrl.InNamespace(repo.Namespace), ctrl.MatchingLabels{troveapi.LabelRepository: repo.Name}); err != nil {
		return nil, err
	}
	items := list.Items
	sort.Slice(items, func(i, j int) bool {
		return items[j].CreationTimestamp.Before(&items[i].CreationTimestamp) ||
			items[i].CreationTimestamp.Equal(&items[j].CreationTimestamp) && items[i].Name > items[j].Name
	})
	return items, nil
}

// applyMaintenance takes snapshot count and size from the newest maintenance that
// measured them, and integrity from the newest that checked.
func applyMaintenance(st *troveapi.RepositoryStatus, items []troveapi.RepositoryMaintenance) {
	measured, checked := false, false
	for _, m := range items {
		if m.Status.Phase != troveapi.WorkSucceeded {
			continue
		}
		if !measured && m.Status.SnapshotCount != nil {
			st.SnapshotCount, st.TotalSize, measured = *m.Status.SnapshotCount, m.Status.TotalSize, true
		}
		if !checked && m.Status.Integrity != "" {
			st.Integrity, st.LastCheckTime, checked = m.Status.Integrity, m.Status.CompletionTime, true
		}
	}
	if st.Integrity == "" {
		st.Integrity = troveapi.IntegrityUnknown
	}
}

// tidy removes finished maintenance items' credentials and all but the newest
// KeepMaintenance finished items.
func (r *Reconciler) tidy(ctx context.Context, items []troveapi.RepositoryMaintenance) error {
	kept := 0
	for i := range items {
		m := &items[i]
		if !finished(m.Status.Phase) {
			continue
		}
		if err := r.Credentials.Delete(ctx, m.Spec.CredentialsSecretName); err != nil {
			return err
		}
		if kept < KeepMaintenance {
			kept++
			continue
		}
		if err := r.Client.Delete(ctx, m); ctrl.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

// delete holds the deletion while configurations use the repository or maintenance
// runs on it, wipes the backend's data out when the Repository says so (else leaves it
// as it is), then releases the finalizer.
func (r *Reconciler) delete(ctx context.Context, repo *troveapi.Repository) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(repo, troveapi.FinalizerRepository) {
		return reconcile.Result{}, nil
	}
	users, err := r.users(ctx, repo)
	if err != nil {
		return reconcile.Result{}, err
	}
	if len(users) > 0 {
		r.Recorder.Eventf(repo, nil, corev1.EventTypeWarning, "InUse", "Delete",
			"deletion waits: still used by %s; delete or repoint them first", strings.Join(users, ", "))
		return reconcile.Result{RequeueAfter: inUseRecheck}, nil
	}
	if repo.Spec.WipeOut {
		if done, result, err := r.wipeOut(ctx, repo); !done || err != nil {
			return result, err
		}
	}
	controllerutil.RemoveFinalizer(repo, troveapi.FinalizerRepository)
	return reconcile.Result{}, r.Client.Update(ctx, repo)
}

// wipeOut hands the forgetting of every snapshot (and the prune) to an agent and waits
// for it; done once it succeeded. A failed attempt is reported and retried as a new
// item after wipeOutRetry; setting wipeOut: false releases the Repository instead.
func (r *Reconciler) wipeOut(ctx context.Context, repo *troveapi.Repository) (done bool, _ reconcile.Result, _ error) {
	var list troveapi.RepositoryMaintenanceList
	if err := r.Client.List(ctx, &list, ctrl.InNamespace(repo.Namespace),
		ctrl.MatchingLabels{troveapi.LabelRepository: repo.Name, workitem.LabelWipeOut: "true"}); err != nil {
		return false, reconcile.Result{}, err
	}
	attempts, lastFailed := len(list.Items), time.Time{}
	for _, m := range list.Items {
		switch m.Status.Phase {
		case troveapi.WorkSucceeded:
			r.Recorder.Eventf(repo, nil, corev1.EventTypeNormal, "WipedOut", "Delete",
				"%d snapshot(s) forgotten and their data pruned from the %s backend", m.Status.Forgotten, repo.Spec.Backend.Type())
			return true, reconcile.Result{}, r.Credentials.Delete(ctx, m.Spec.CredentialsSecretName)
		case troveapi.WorkFailed, troveapi.WorkCanceled:
			if err := r.Credentials.Delete(ctx, m.Spec.CredentialsSecretName); err != nil {
				return false, reconcile.Result{}, err
			}
			if t := m.Status.CompletionTime; t != nil && t.After(lastFailed) {
				lastFailed = t.Time
			}
		default:
			return false, reconcile.Result{}, nil // running: its status change wakes us
		}
	}
	if attempts > 0 {
		if wait := time.Until(lastFailed.Add(wipeOutRetry)); wait > 0 {
			r.Recorder.Eventf(repo, nil, corev1.EventTypeWarning, "WipeOutFailed", "Delete",
				"wiping the repository out failed (attempt %d), retrying in %s; set spec.wipeOut: false to delete the Repository and leave its data", attempts, wipeOutRetry)
			return false, reconcile.Result{RequeueAfter: wait}, nil
		}
	}
	node, err := r.maintenanceNode(ctx, repo)
	if err != nil || node == "" {
		return false, reconcile.Result{RequeueAfter: wipeOutRetry}, err
	}
	m := workitem.WipeOut(repo, node, attempts+1)
	if err := r.Credentials.Ensure(ctx, "RepositoryMaintenance", m.Namespace, m.Name, m.Spec.CredentialsSecretName, repo); err != nil {
		return false, reconcile.Result{}, err
	}
	if err := r.Client.Create(ctx, m); err != nil && !apierrors.IsAlreadyExists(err) {
		return false, reconcile.Result{}, fmt.Errorf("creating RepositoryMaintenance %s: %w", m.Name, err)
	}
	r.Recorder.Eventf(repo, nil, corev1.EventTypeNormal, "WipingOut", "Delete", "the agent on %s forgets every snapshot and prunes (%s)", node, m.Name)
	return false, reconcile.Result{}, nil
}

// maintenanceNode is where the repository's latest maintenance ran (an agent that
// reached it), else the first Ready node.
func (r *Reconciler) maintenanceNode(ctx context.Context, repo *troveapi.Repository) (string, error) {
	items, err := r.maintenanceOf(ctx, repo)
	if err != nil {
		return "", err
	}
	for _, m := range items {
		if m.Labels[workitem.LabelWipeOut] == "" {
			return m.Spec.NodeName, nil
		}
	}
	var nodes corev1.NodeList
	if err := r.Client.List(ctx, &nodes); err != nil {
		return "", err
	}
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return n.Name, nil
			}
		}
	}
	r.Recorder.Eventf(repo, nil, corev1.EventTypeWarning, "WipeOutWaiting", "Delete", "no Ready node to run the wipe-out on")
	return "", nil
}

// users names the BackupConfigurations that use the repository and its unfinished
// maintenance items.
func (r *Reconciler) users(ctx context.Context, repo *troveapi.Repository) ([]string, error) {
	var configs troveapi.BackupConfigurationList
	if err := r.Client.List(ctx, &configs); err != nil {
		return nil, err
	}
	var users []string
	for _, c := range configs.Items {
		ns := c.Spec.Repository.Namespace
		if ns == "" {
			ns = c.Namespace
		}
		if ns == repo.Namespace && c.Spec.Repository.Name == repo.Name && c.DeletionTimestamp.IsZero() {
			users = append(users, "BackupConfiguration "+c.Namespace+"/"+c.Name)
		}
	}
	maintenance, err := r.maintenanceOf(ctx, repo)
	if err != nil {
		return nil, err
	}
	for _, m := range maintenance {
		if !finished(m.Status.Phase) && m.Labels[workitem.LabelWipeOut] == "" {
			users = append(users, "RepositoryMaintenance "+m.Name)
		}
	}
	return users, nil
}

func finished(p troveapi.WorkPhase) bool {
	return p == troveapi.WorkSucceeded || p == troveapi.WorkFailed || p == troveapi.WorkCanceled
}
