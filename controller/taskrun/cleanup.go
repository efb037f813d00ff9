package taskrun

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// deleteRBAC deletes the RoleBindings, then the Roles, that match a selector in one
// namespace (list and delete: the controller holds no deletecollection).
func deleteRBAC(ctx context.Context, c client.Client, ns string, sel client.MatchingLabels) error {
	var bindings rbacv1.RoleBindingList
	if err := c.List(ctx, &bindings, client.InNamespace(ns), sel); err != nil {
		return fmt.Errorf("listing RoleBindings in %s: %w", ns, err)
	}
	for i := range bindings.Items {
		if err := c.Delete(ctx, &bindings.Items[i]); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting RoleBinding %s/%s: %w", ns, bindings.Items[i].Name, err)
		}
	}
	var roles rbacv1.RoleList
	if err := c.List(ctx, &roles, client.InNamespace(ns), sel); err != nil {
		return fmt.Errorf("listing Roles in %s: %w", ns, err)
	}
	for i := range roles.Items {
		if err := c.Delete(ctx, &roles.Items[i]); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting Role %s/%s: %w", ns, roles.Items[i].Name, err)
		}
	}
	return nil
}

// Cleanup deletes the Roles and RoleBindings the session got outside its namespace
// (in the Repository's). Those in its own namespace, its ServiceAccount and Job are
// owned by the session and go with it. Idempotent; call it before a session is marked
// finished, so a failure is retried.
func (r *Runner) Cleanup(ctx context.Context, req Request) error {
	ns := req.Repository.Namespace
	if ns == "" || ns == req.Namespace || req.UID == "" {
		return nil
	}
	sel := client.MatchingLabels{LabelSessionUID: string(req.UID)}
	return deleteRBAC(ctx, r.Client, ns, sel)
}
