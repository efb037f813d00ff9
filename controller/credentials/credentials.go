// Package credentials hands a work item the repository credentials it needs, and
// nothing more: the controller copies the Repository's storage Secret into a
// short-lived Secret in Trove's own namespace, which is the only place the agent may
// read Secrets, and deletes it as soon as the item is finished or gone.
//
// Items live in users' namespaces and their Secrets in Trove's, so an owner reference
// cannot tie them together (owners must share the namespace); the Secret is labelled
// with its item instead, and the session reconciler removes it.
package credentials

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// Labels on a credentials Secret name the item it serves.
const (
	LabelItemNamespace = "trove.dev/item-namespace"
	LabelItemName      = "trove.dev/item-name"
	LabelItemKind      = "trove.dev/item-kind"
)

// Store writes and removes per-item credential Secrets.
type Store struct {
	Client ctrl.Client
	// Secrets reads storage Secrets uncached.
	Secrets ctrl.Reader
	// Namespace is Trove's namespace, where credential Secrets live.
	Namespace string
}

// Ensure creates the credentials Secret of an item from its Repository's storage
// Secret. An existing one is left as it is.
func (s *Store) Ensure(ctx context.Context, kind, itemNamespace, itemName, secretName string, repo *troveapi.Repository) error {
	var storage corev1.Secret
	key := types.NamespacedName{Namespace: repo.Namespace, Name: repo.Spec.Backend.StorageSecretName}
	if err := s.Secrets.Get(ctx, key, &storage); err != nil {
		return fmt.Errorf("reading storage Secret %s of Repository %s: %w", key, repo.Name, err)
	}
	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      secretName,
			Namespace: s.Namespace,
			Labels:    map[string]string{LabelItemKind: kind, LabelItemNamespace: itemNamespace, LabelItemName: itemName},
		},
		Type: corev1.SecretTypeOpaque,
		Data: storage.Data,
	}
	if err := s.Client.Create(ctx, creds); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating credentials Secret %s/%s: %w", s.Namespace, secretName, err)
	}
	return nil
}

// Delete removes an item's credentials Secret; it being gone is success.
func (s *Store) Delete(ctx context.Context, secretName string) error {
	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: secretName}}
	return ctrl.IgnoreNotFound(s.Client.Delete(ctx, creds))
}
