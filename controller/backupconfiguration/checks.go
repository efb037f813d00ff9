package backupconfiguration

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/schedule"
)

// facts are what the checks decide on, fetched once per reconcile by gather.
type facts struct {
	config *troveapi.BackupConfiguration
	// repository is nil when it does not exist.
	repository *troveapi.Repository
	// configNamespace is the configuration's namespace (its labels, for usage policies).
	configNamespace *corev1.Namespace
	// secret is the Repository's storage Secret; nil when it does not exist.
	secret *corev1.Secret
	// targetErr says why the target could not be found ("" when it was).
	targetErr string
	// taskErr says why the Task or one of its Functions could not be found.
	taskErr string
	// taskReason is the reason for taskErr.
	taskReason string
}

// check is one step of validation, recorded as one condition. When the configuration
// fails it, run returns a reason and a message that says how to fix it ("" otherwise).
type check struct {
	condition string
	run       func(f *facts) (reason, message string)
}

// checks run in order; the first failure makes the configuration not Ready.
var checks = []check{
	{troveapi.ConditionScheduleValid, checkSchedule},
	{troveapi.ConditionRepositoryFound, checkRepository},
	{troveapi.ConditionStorageSecretFound, checkStorageSecret},
	{troveapi.ConditionTargetFound, checkTarget},
	{troveapi.ConditionTaskResolved, checkTask},
}

func checkSchedule(f *facts) (reason, message string) {
	spec := f.config.Spec.Schedule
	if spec == "" { // allowed when paused (enforced by the CRD)
		return "", ""
	}
	if _, err := schedule.Parse(spec); err != nil {
		return troveapi.ReasonInvalidSchedule, err.Error()
	}
	return "", ""
}

func checkRepository(f *facts) (reason, message string) {
	ref := repositoryRef(f.config)
	if f.repository == nil {
		return troveapi.ReasonRepositoryNotFound, fmt.Sprintf("Repository %s/%s does not exist: create it, or point spec.repository at an existing one", ref.Namespace, ref.Name)
	}
	if msg := usageDenied(f.repository, f.configNamespace); msg != "" {
		return troveapi.ReasonNamespaceNotAllowed, msg
	}
	return "", ""
}

// usageDenied says why a Repository's usagePolicy refuses a namespace ("" if it admits it).
func usageDenied(repo *troveapi.Repository, ns *corev1.Namespace) string {
	if repo.Namespace == ns.Name {
		return ""
	}
	var allowed troveapi.AllowedNamespaces
	if repo.Spec.UsagePolicy != nil {
		allowed = repo.Spec.UsagePolicy.AllowedNamespaces
	}
	switch allowed.From {
	case troveapi.NamespacesAll:
		return ""
	case troveapi.NamespacesSelector:
		sel, err := metav1.LabelSelectorAsSelector(allowed.Selector)
		if err == nil && sel.Matches(labels.Set(ns.Labels)) {
			return ""
		}
		return fmt.Sprintf("Repository %s/%s admits only namespaces matching its spec.usagePolicy.allowedNamespaces.selector, and namespace %s does not match: label the namespace or widen the selector",
			repo.Namespace, repo.Name, ns.Name)
	}
	return fmt.Sprintf("Repository %s/%s admits only its own namespace: set its spec.usagePolicy.allowedNamespaces.from to All or Selector, or use a Repository in namespace %s",
		repo.Namespace, repo.Name, ns.Name)
}

func checkStorageSecret(f *facts) (reason, message string) {
	backend := &f.repository.Spec.Backend
	if f.secret == nil {
		return troveapi.ReasonSecretNotFound, fmt.Sprintf("storage Secret %s/%s of Repository %s does not exist: create it with the key %s and the %s backend's keys (see docs/reference.md)",
			f.repository.Namespace, backend.StorageSecretName, f.repository.Name, troveapi.SecretResticPassword, backend.Type())
	}
	missing := backend.MissingSecretKeys(f.secret.Data)
	if len(missing) > 0 {
		return troveapi.ReasonSecretKeyMissing, fmt.Sprintf("storage Secret %s/%s lacks the key(s) %s that the %s backend needs: add them",
			f.secret.Namespace, f.secret.Name, strings.Join(missing, ", "), backend.Type())
	}
	return "", ""
}

func checkTarget(f *facts) (reason, message string) {
	if f.targetErr != "" {
		return troveapi.ReasonTargetNotFound, f.targetErr
	}
	return "", ""
}

func checkTask(f *facts) (reason, message string) {
	if f.taskErr != "" {
		return f.taskReason, f.taskErr
	}
	return "", ""
}

// repositoryRef is the configuration's Repository with its namespace filled in.
func repositoryRef(c *troveapi.BackupConfiguration) troveapi.ObjectRef {
	ref := c.Spec.Repository
	if ref.Namespace == "" {
		ref.Namespace = c.Namespace
	}
	return ref
}
