// Package backupconfiguration reconciles BackupConfigurations: it validates them as an
// ordered chain of checks (each a condition that says how to fix what is wrong), and
// turns schedule ticks into BackupSessions named after their tick, so that one tick
// never yields two sessions, even across controller restarts.
package backupconfiguration

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"trove.dev/trove/apis/appbinding"
	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/metrics"
	"trove.dev/trove/controller/taskrun"
)

// Reconciler reconciles BackupConfigurations.
type Reconciler struct {
	Client ctrl.Client
	// Secrets reads storage Secrets uncached (the manager's API reader), so the
	// controller never caches every Secret of the cluster.
	Secrets  ctrl.Reader
	Recorder events.EventRecorder
	// Now is the clock; injected so tests control time.
	Now func() time.Time
	// Spread is the largest stable delay added to a configuration's ticks (0: none).
	Spread time.Duration
	// Metrics may be nil.
	Metrics *metrics.Metrics
}

// Reconcile validates a configuration, creates the session of a due tick, prunes old
// sessions and requeues at the next tick.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var config troveapi.BackupConfiguration
	if err := r.Client.Get(ctx, req.NamespacedName, &config); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.ConfigurationGone(req.Namespace, req.Name)
		}
		return reconcile.Result{}, ctrl.IgnoreNotFound(err)
	}
	before := config.Status.DeepCopy()

	f, err := r.gather(ctx, &config)
	if err != nil {
		return reconcile.Result{}, err
	}
	ready := r.validate(f)

	var result reconcile.Result
	if ready && !config.Spec.Paused {
		if result, err = r.runSchedule(ctx, &config); err != nil {
			return reconcile.Result{}, err
		}
	}
	if err := r.pruneHistory(ctx, &config); err != nil {
		return reconcile.Result{}, err
	}
	if last := config.Status.LastSuccessfulBackupTime; last != nil {
		r.Metrics.LastSuccess(config.Namespace, config.Name, float64(last.Unix()))
	}
	config.Status.ObservedGeneration = config.Generation
	if err := r.patchStatus(ctx, &config, before); err != nil {
		return reconcile.Result{}, err
	}
	return result, nil
}

// gather fetches what the checks decide on.
func (r *Reconciler) gather(ctx context.Context, config *troveapi.BackupConfiguration) (*facts, error) {
	f := &facts{config: config, configNamespace: &corev1.Namespace{}}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: config.Namespace}, f.configNamespace); err != nil {
		return nil, err
	}
	ref := repositoryRef(config)
	repo := &troveapi.Repository{}
	if err := getOptional(ctx, r.Client, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, repo); err != nil {
		return nil, err
	} else if repo.Name != "" {
		f.repository = repo
		secret := &corev1.Secret{}
		key := types.NamespacedName{Namespace: repo.Namespace, Name: repo.Spec.Backend.StorageSecretName}
		if err := getOptional(ctx, r.Secrets, key, secret); err != nil {
			return nil, err
		} else if secret.Name != "" {
			f.secret = secret
		}
	}
	if t := config.Spec.Target; t != nil {
		msg, err := r.findTarget(ctx, config.Namespace, t.Ref)
		if err != nil {
			return nil, err
		}
		f.targetErr = msg
	}
	if task := config.Spec.Task; task != nil {
		reason, msg, err := r.findTask(ctx, task.Name)
		if err != nil {
			return nil, err
		}
		f.taskReason, f.taskErr = reason, msg
	} else if t := config.Spec.Target; t != nil && t.Ref.Kind == troveapi.KindAppBinding && f.targetErr == "" {
		// No Task named: the AppBinding's default Task must exist.
		app, err := appbinding.Get(ctx, r.Client, config.Namespace, t.Ref.Name)
		var aerr *appbinding.Error
		switch {
		case errors.As(err, &aerr):
			f.targetErr = aerr.Error()
		case err != nil:
			return nil, err
		default:
			name, derr := taskrun.DefaultTask(taskrun.Backup, app)
			if derr != nil {
				f.taskReason, f.taskErr = troveapi.ReasonTaskNotFound, derr.Error()
				break
			}
			reason, msg, err := r.findTask(ctx, name)
			if err != nil {
				return nil, err
			}
			if reason == troveapi.ReasonTaskNotFound {
				msg = fmt.Sprintf("the default Task %q of AppBinding %s (%s %s) does not exist: install the default Tasks (deploy/functions) or name a Task in spec.task", name, app.Name, app.Type, app.Version)
			}
			f.taskReason, f.taskErr = reason, msg
		}
	}
	return f, nil
}

// findTarget says why the target cannot be found ("" when it exists).
func (r *Reconciler) findTarget(ctx context.Context, namespace string, ref troveapi.TargetRef) (string, error) {
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion(ref.APIVersion)
	obj.SetKind(string(ref.Kind))
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.Name}, obj)
	switch {
	case err == nil:
		return "", nil
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("%s %s/%s does not exist: create it, or fix spec.target.ref", ref.Kind, namespace, ref.Name), nil
	case meta.IsNoMatchError(err):
		return fmt.Sprintf("the cluster does not serve %s %s: install its CRD (for AppBinding, deploy/optional/appbinding-crd.yaml)", ref.APIVersion, ref.Kind), nil
	}
	return "", err
}

// findTask says why the Task or one of its Functions cannot be found.
func (r *Reconciler) findTask(ctx context.Context, name string) (reason, message string, err error) {
	var task troveapi.Task
	if err := getOptional(ctx, r.Client, types.NamespacedName{Name: name}, &task); err != nil {
		return "", "", err
	} else if task.Name == "" {
		return troveapi.ReasonTaskNotFound, fmt.Sprintf("Task %q does not exist: install it (cluster administrators) or fix spec.task.name", name), nil
	}
	for i, step := range task.Spec.Steps {
		var fn troveapi.Function
		if err := getOptional(ctx, r.Client, types.NamespacedName{Name: step.Name}, &fn); err != nil {
			return "", "", err
		} else if fn.Name == "" {
			return troveapi.ReasonFunctionNotFound, fmt.Sprintf("Task %q step %d uses Function %q, which does not exist: install it or fix the Task", name, i, step.Name), nil
		}
	}
	return "", "", nil
}

// validate runs the checks in order and records them as conditions; the first
// failure stops the chain and makes Ready false.
func (r *Reconciler) validate(f *facts) bool {
	config := f.config
	for i, c := range checks {
		reason, message := c.run(f)
		if reason == "" {
			setCondition(config, c.condition, metav1.ConditionTrue, troveapi.ReasonValid, "")
			continue
		}
		setCondition(config, c.condition, metav1.ConditionFalse, reason, message)
		setCondition(config, troveapi.ConditionReady, metav1.ConditionFalse, reason, message)
		for _, later := range checks[i+1:] { // not checked: no stale verdicts
			meta.RemoveStatusCondition(&config.Status.Conditions, later.condition)
		}
		return false
	}
	setCondition(config, troveapi.ConditionReady, metav1.ConditionTrue, troveapi.ReasonValid, "the configuration is valid and its repository, secret and target exist")
	return true
}

func getOptional(ctx context.Context, c ctrl.Reader, key types.NamespacedName, obj ctrl.Object) error {
	if err := c.Get(ctx, key, obj); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}
