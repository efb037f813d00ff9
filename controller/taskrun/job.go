package taskrun

import (
	"context"
	"fmt"
	"sort"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/jobbuilder"
)

// ensure creates the session's objects, each unless it exists, the Job last (its pod
// needs the ServiceAccount and its grants). created is true when the Job was made now.
func (r *Runner) ensure(ctx context.Context, objs *jobbuilder.Objects) (job *batchv1.Job, created bool, err error) {
	var rest []client.Object
	if objs.ServiceAccount != nil {
		rest = append(rest, objs.ServiceAccount)
	}
	for _, o := range objs.Roles {
		rest = append(rest, o)
	}
	for _, o := range objs.RoleBindings {
		rest = append(rest, o)
	}
	for _, o := range rest {
		if err := r.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, false, fmt.Errorf("creating %s %s/%s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetNamespace(), o.GetName(), err)
		}
	}
	job = objs.Job
	err = r.Client.Create(ctx, job)
	if err == nil {
		return job, true, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, false, fmt.Errorf("creating Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	existing := &batchv1.Job{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: job.Namespace, Name: job.Name}, existing); err != nil {
		if apierrors.IsNotFound(err) { // created by an earlier pass, not in the cache yet
			return job, true, nil
		}
		return nil, false, fmt.Errorf("reading Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return existing, false, nil
}

// jobOutcome reads the Job's conditions: Complete or Failed end the session.
func (r *Runner) jobOutcome(ctx context.Context, job *batchv1.Job) (Outcome, error) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			node, err := r.jobNode(ctx, job)
			if err != nil {
				return Outcome{}, err
			}
			return Outcome{Phase: Succeeded, Reason: ReasonJobSucceeded, Job: job.Name, Node: node,
				Message: fmt.Sprintf("Job %s completed", job.Name)}, nil
		case batchv1.JobFailed:
			why, err := r.podFailure(ctx, job)
			if err != nil {
				return Outcome{}, err
			}
			msg := fmt.Sprintf("Job %s failed (%s: %s)", job.Name, c.Reason, c.Message)
			if why != "" {
				msg += ": " + why
			}
			return Outcome{Phase: Failed, Reason: ReasonJobFailed, Message: msg, Job: job.Name}, nil
		}
	}
	return Outcome{Phase: Running, Reason: v1alpha1.ReasonInProgress, Job: job.Name, Message: fmt.Sprintf("Job %s is running", job.Name)}, nil
}

// jobPods lists the Job's pods, newest first.
func (r *Runner) jobPods(ctx context.Context, job *batchv1.Job) ([]corev1.Pod, error) {
	if job.Spec.Selector == nil {
		return nil, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, nil
	}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("listing the pods of Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	sort.Slice(pods.Items, func(i, j int) bool {
		return pods.Items[j].CreationTimestamp.Before(&pods.Items[i].CreationTimestamp)
	})
	return pods.Items, nil
}

// jobNode is the node the Job's succeeded pod ran on ("" when no pod is left).
func (r *Runner) jobNode(ctx context.Context, job *batchv1.Job) (string, error) {
	pods, err := r.jobPods(ctx, job)
	for _, pod := range pods {
		if pod.Status.Phase == corev1.PodSucceeded && pod.Spec.NodeName != "" {
			return pod.Spec.NodeName, nil
		}
	}
	return "", err
}

// podFailure names the failed container of the Job's latest failed pod and its
// termination message (what a Trove Function writes to /dev/termination-log).
func (r *Runner) podFailure(ctx context.Context, job *batchv1.Job) (string, error) {
	pods, err := r.jobPods(ctx, job) // newest first: the last retry's failure is the one to report
	if err != nil {
		return "", err
	}
	for _, pod := range pods {
		statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
		for _, cs := range statuses {
			t := cs.State.Terminated
			if t == nil {
				t = cs.LastTerminationState.Terminated
			}
			if t == nil || t.ExitCode == 0 {
				continue
			}
			msg := strings.TrimSpace(t.Message)
			if msg == "" {
				msg = fmt.Sprintf("exit code %d (%s), no termination message", t.ExitCode, t.Reason)
			}
			return fmt.Sprintf("pod %s, container %s: %s", pod.Name, cs.Name, msg), nil
		}
	}
	return "", nil
}
