package taskrun

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Cleanup deletes the Roles and RoleBindings the session got outside its namespace
// (in the Repository's). Those in its own namespace, its ServiceAccount and Job are
// owned by the session and go with it. Idempotent; call it before a session is marked
// finished, so a failure is retried.
func (r *Runner) Cleanup(ctx context.Context, req Request) error {
	ns := req.Repository.Namespace
	if ns == "" || ns == req.Namespace || req.UID == "" {
		return nil
	}
	sel := labels.SelectorFromSet(labels.Set{LabelSessionUID: string(req.UID)})
	return r.deleteRBAC(ctx, []client.ListOption{client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}}, nil)
}

// CleanupDeleted deletes the Roles and RoleBindings outside its namespace of a session
// that was deleted before it ended (in whatever namespace they are: the Repository may
// be gone too). They are found by their label and their name, which holds the
// session's namespace and name.
func (r *Runner) CleanupDeleted(ctx context.Context, direction Direction, namespace, session string) error {
	req, err := labels.NewRequirement(LabelSessionUID, selection.Exists, nil)
	if err != nil {
		return err
	}
	name := Request{Direction: direction, Namespace: namespace, Session: session}.foreignName()
	return r.deleteRBAC(ctx, []client.ListOption{client.MatchingLabelsSelector{Selector: labels.NewSelector().Add(*req)}},
		func(n string) bool { return n == name })
}

// deleteRBAC deletes the RoleBindings, then the Roles, that match the list options (and
// keep, when given). Lists go to the API server, so no cache of every Role is kept;
// list and delete, because the controller holds no deletecollection.
func (r *Runner) deleteRBAC(ctx context.Context, opts []client.ListOption, keep func(name string) bool) error {
	reader := r.Reader
	if reader == nil {
		reader = r.Client
	}
	var bindings rbacv1.RoleBindingList
	if err := reader.List(ctx, &bindings, opts...); err != nil {
		return fmt.Errorf("listing the session's RoleBindings: %w", err)
	}
	for i := range bindings.Items {
		b := &bindings.Items[i]
		if keep != nil && !keep(b.Name) {
			continue
		}
		if err := r.Client.Delete(ctx, b); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting RoleBinding %s/%s: %w", b.Namespace, b.Name, err)
		}
	}
	var roles rbacv1.RoleList
	if err := reader.List(ctx, &roles, opts...); err != nil {
		return fmt.Errorf("listing the session's Roles: %w", err)
	}
	for i := range roles.Items {
		role := &roles.Items[i]
		if keep != nil && !keep(role.Name) {
			continue
		}
		if err := r.Client.Delete(ctx, role); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting Role %s/%s: %w", role.Namespace, role.Name, err)
		}
	}
	return nil
}
