// Package taskrun runs a session's Task as a Job: it resolves the Task (named, or the
// default for an AppBinding's engine and version), its Functions and the built-in
// variables, builds the Job with controller/jobbuilder, creates it with its
// ServiceAccount, Roles and RoleBindings, and reads the Job's outcome.
//
// Every step is idempotent and none blocks: Run is called on every pass of a session's
// reconcile and derives where the session stands from the objects alone. Objects are
// created by fixed names, so a restarted controller finds the Job it made and never
// makes a second one.
package taskrun

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"trove.dev/trove/apis/appbinding"
	"trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/jobbuilder"
	"trove.dev/trove/controller/variables"
)

// Phase is where a Task-based session stands.
type Phase string

// Phases of Outcome.
const (
	Running   Phase = "Running"
	Succeeded Phase = "Succeeded"
	Failed    Phase = "Failed"
)

// Condition reasons of a Task-based session, besides those of the typed build errors
// (FunctionNotFound, ParamMissing, InvalidTask) and apis' TaskNotFound and TargetNotFound.
const (
	// ReasonJobFailed: the Job failed; the message holds the failing container's
	// termination message.
	ReasonJobFailed = "JobFailed"
	// ReasonJobSucceeded: the Job completed.
	ReasonJobSucceeded = v1alpha1.ReasonSucceeded
)

// jobPollInterval is how often a session whose Job was just created looks again (the
// Job's own events wake it too).
const jobPollInterval = 5 * time.Second

// Outcome is the result of one pass.
type Outcome struct {
	Phase Phase
	// Reason and Message are for the session's condition (and, on failure, its error).
	Reason, Message string
	// RequeueAfter asks for another pass without an event (0: wait for events).
	RequeueAfter time.Duration
	// Job is the Job's name, once it is known.
	Job string
	// Node is where a completed Job's pod ran ("" when unknown): the repository's
	// maintenance after a backup goes to that node's agent.
	Node string
}

func failed(reason, format string, args ...any) Outcome {
	return Outcome{Phase: Failed, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Runner runs Tasks. Client reads through the manager's cache; Jobs and the session's
// RBAC objects are created through it.
type Runner struct {
	Client client.Client
	// Reader lists the RBAC objects to clean up past the cache (optional; Client when
	// nil), so the controller keeps no cache of every Role in the cluster.
	Reader client.Reader
}

// Run moves a Task-based session one step on; see the package doc.
func (r *Runner) Run(ctx context.Context, req Request) (Outcome, error) {
	// Once the Job exists only its outcome matters: a Task or Function changed or
	// removed meanwhile does not touch a running session.
	existing := &batchv1.Job{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: req.Namespace, Name: req.JobName()}, existing)
	switch {
	case err == nil:
		return r.outcomeOf(ctx, req, existing)
	case !apierrors.IsNotFound(err):
		return Outcome{}, fmt.Errorf("reading Job %s/%s: %w", req.Namespace, req.JobName(), err)
	}
	repo, missing, err := r.repository(ctx, req)
	if err != nil {
		return Outcome{}, err
	}
	if missing != nil {
		return *missing, nil
	}
	var app *appbinding.AppBinding
	if t := req.Target; t != nil && t.Kind == v1alpha1.KindAppBinding {
		app, err = appbinding.Get(ctx, r.Client, req.Namespace, t.Name)
		var aerr *appbinding.Error
		if errors.As(err, &aerr) {
			return failed(v1alpha1.ReasonTargetNotFound, "%v", err), nil
		}
		if err != nil {
			return Outcome{}, err
		}
	}
	taskName := ""
	if req.Task != nil {
		taskName = req.Task.Name
	} else if taskName, err = DefaultTask(req.Direction, app); err != nil {
		return failed(v1alpha1.ReasonTaskNotFound, "%v", err), nil
	}
	task := &v1alpha1.Task{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: taskName}, task); apierrors.IsNotFound(err) {
		how := "fix spec.task.name"
		if req.Task == nil {
			how = "install the default Tasks (deploy/functions) or name a Task in spec.task"
		}
		return failed(v1alpha1.ReasonTaskNotFound, "Task %q does not exist: %s", taskName, how), nil
	} else if err != nil {
		return Outcome{}, fmt.Errorf("reading Task %s: %w", taskName, err)
	}
	functions := map[string]*v1alpha1.Function{}
	for _, step := range task.Spec.Steps {
		fn := &v1alpha1.Function{}
		err := r.Client.Get(ctx, types.NamespacedName{Name: step.Name}, fn)
		switch {
		case err == nil:
			functions[step.Name] = fn
		case !apierrors.IsNotFound(err): // a missing one is the builder's typed error
			return Outcome{}, fmt.Errorf("reading Function %s: %w", step.Name, err)
		}
	}
	objs, err := req.build(task, functions, repo, app)
	if err != nil {
		reason := jobbuilder.ReasonInvalidTask
		var withReason interface{ Reason() string }
		if errors.As(err, &withReason) {
			reason = withReason.Reason()
		}
		return failed(reason, "%v", err), nil
	}
	job, created, err := r.ensure(ctx, objs)
	if err != nil {
		return Outcome{}, err
	}
	if created {
		return Outcome{Phase: Running, Reason: v1alpha1.ReasonInProgress, Job: job.Name,
			Message: fmt.Sprintf("Job %s created", job.Name), RequeueAfter: jobPollInterval}, nil
	}
	return r.outcomeOf(ctx, req, job)
}

// outcomeOf reads the session's Job, unless it belongs to an earlier session of the
// same name that is still being garbage-collected: then it waits for it to go.
func (r *Runner) outcomeOf(ctx context.Context, req Request, job *batchv1.Job) (Outcome, error) {
	if owner := metav1.GetControllerOf(job); owner == nil || owner.UID != req.UID {
		return Outcome{Phase: Running, Reason: v1alpha1.ReasonInProgress, Job: job.Name, RequeueAfter: jobPollInterval,
			Message: fmt.Sprintf("waiting for Job %s of an earlier %s of this name to be deleted", job.Name, req.kind())}, nil
	}
	return r.jobOutcome(ctx, job)
}

// repository reads the session's Repository; a missing one fails the session (the
// Outcome says so).
func (r *Runner) repository(ctx context.Context, req Request) (*v1alpha1.Repository, *Outcome, error) {
	ref := req.Repository
	if ref.Namespace == "" {
		ref.Namespace = req.Namespace
	}
	repo := &v1alpha1.Repository{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, repo)
	if apierrors.IsNotFound(err) {
		o := failed(v1alpha1.ReasonRepositoryNotFound, "Repository %s/%s does not exist", ref.Namespace, ref.Name)
		return nil, &o, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading Repository %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	return repo, nil, nil
}

// appFacts are the built-in variables' view of an AppBinding.
func appFacts(a *appbinding.AppBinding) *variables.AppFacts {
	if a == nil {
		return nil
	}
	f := &variables.AppFacts{Version: a.Version, Type: a.Type}
	if group, resource, ok := strings.Cut(a.Type, "/"); ok {
		f.Group, f.Resource = group, resource
	} else {
		f.Resource = a.Type
	}
	return f
}

func ownerRef(kind, name string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: kind, Name: name, UID: uid}
}
