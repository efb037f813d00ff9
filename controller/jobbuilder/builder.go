// Package jobbuilder turns a Task, its Functions and the resolved variables of a session
// into the Job that runs it, with the ServiceAccount, Role and RoleBinding the Job's steps
// need and nothing more. It is pure: it reads no API server and creates nothing.
//
// Steps 0..n-2 become init-containers (run in order, each must succeed), step n-1 the main
// container. Each container is the step's Function with every ${VAR} resolved (built-ins,
// overridden by the step's params, overridden by task.params), the Function's
// runtimeSettings overridden by the session's runtimeSettings.container, and NICE_ADJUSTMENT,
// IONICE_CLASS and IONICE_CLASS_DATA exported for the tools that honour them.
package jobbuilder

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/variables"
)

// LabelManagedBy marks every object the builder makes.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "trove"
)

// Input is everything a Job is built from.
type Input struct {
	// Task to run, and its Functions by name (at least every step's).
	Task      *v1alpha1.Task
	Functions map[string]*v1alpha1.Function
	// Builtins are the built-in variables of the session (variables.Builtins).
	Builtins variables.Vars
	// TaskParams are the BackupConfiguration's (or RestoreSession's) task.params; they
	// override the Task steps' params.
	TaskParams []v1alpha1.Param
	// SessionName labels every object (trove.dev/session).
	SessionName string
	// Owner is the session's controller ownerReference, set on every object of Namespace.
	Owner metav1.OwnerReference
	// Namespace of the target, where the Job runs.
	Namespace string
	// Name of the Job, ServiceAccount, Role and RoleBinding; default "trove-<session>".
	Name string
	// RuntimeSettings of the BackupConfiguration or RestoreSession.
	RuntimeSettings *v1alpha1.RuntimeSettings
	// InterimVolumeTemplate, when set, gives every container a scratch volume at
	// variables.InterimVolumeMountPath (a generic ephemeral volume: its PVC lives and dies
	// with the pod).
	InterimVolumeTemplate *corev1.PersistentVolumeClaim
	// Retries is how often a failed pod is retried (the Job's backoffLimit); default 0.
	Retries int32
	// ActiveDeadline bounds the Job (the session's timeOut).
	ActiveDeadline *metav1.Duration
	// LocalBackend is the Repository's local backend, if it has one: its volume is
	// mounted at its mountPath in every container (as the node agent mounts it), so
	// the Functions reach the repository at mountPath/subPath.
	LocalBackend *v1alpha1.LocalSpec
	// AppBindingSecretName is the Secret of an AppBinding target; a step that is told the
	// target's name may read it.
	AppBindingSecretName string
}

// Objects are what the controller creates for one session.
type Objects struct {
	Job *batchv1.Job
	// ServiceAccount, Roles and RoleBindings are nil when runtimeSettings.pod names a
	// serviceAccountName. A Role and RoleBinding in another namespace than the Job's (the
	// Repository's) carry no ownerReference, which cannot cross namespaces: delete them by
	// their trove.dev/session label when the session ends.
	ServiceAccount *corev1.ServiceAccount
	Roles          []*rbacv1.Role
	RoleBindings   []*rbacv1.RoleBinding
}

// Build makes the Job and its RBAC. Errors are typed (errors.As): *UnknownFunctionError,
// *MissingParamError (every missing param, joined), *ImageError, *UnknownVolumeError,
// *TaskError and *variables.SyntaxError.
func Build(in Input) (*Objects, error) {
	if in.Task == nil || len(in.Task.Spec.Steps) == 0 {
		name := ""
		if in.Task != nil {
			name = in.Task.Name
		}
		return nil, &TaskError{Task: name, Field: "spec.steps", Problem: "a Task needs at least one step"}
	}
	task := in.Task
	name := in.Name
	if name == "" {
		name = dnsLabel("trove-"+in.SessionName, "trove")
	}

	// The Task's own fields resolve with the built-ins and task.params.
	taskVars := variables.Merge(in.Builtins, variables.FromParams(in.TaskParams))
	tr := variables.NewTaskResolver(task.Name, taskVars)
	volumes, err := resolveTree(tr, "spec.volumes", task.Spec.Volumes)
	if err != nil {
		return nil, err
	}
	if errs := missingParams(tr, task.Name); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if in.InterimVolumeTemplate != nil {
		volumes = append(volumes, interimVolume(in.InterimVolumeTemplate))
	}
	if lb := in.LocalBackend; lb != nil {
		volumes = append(volumes, corev1.Volume{Name: LocalBackendVolumeName, VolumeSource: *lb.VolumeSource.DeepCopy()})
	}
	volumeNames := make([]string, 0, len(volumes))
	for i, v := range volumes {
		if slices.Contains(volumeNames, v.Name) {
			field := fmt.Sprintf("spec.volumes[%d].name", i)
			switch v.Name {
			case variables.InterimVolumeName:
				field = "interimVolumeTemplate"
			case LocalBackendVolumeName:
				field = "the Repository's local backend"
			}
			return nil, &TaskError{Task: task.Name, Field: field, Problem: fmt.Sprintf("duplicate volume %q", v.Name)}
		}
		volumeNames = append(volumeNames, v.Name)
	}

	stepNames := make([]string, len(task.Spec.Steps))
	for i, s := range task.Spec.Steps {
		stepNames[i] = s.Name
	}
	cnames := containerNames(stepNames)

	var (
		containers []corev1.Container
		resolvers  = []*variables.Resolver{tr}
		errs       []error
	)
	for i, step := range task.Spec.Steps {
		fn := in.Functions[step.Name]
		if fn == nil {
			return nil, &UnknownFunctionError{Task: task.Name, Step: i, Function: step.Name}
		}
		r := variables.NewFunctionResolver(fn.Name, variables.ForStep(in.Builtins, step, in.TaskParams))
		c, err := buildContainer(r, task.Name, fn, cnames[i], in.settings(), volumeNames, in.InterimVolumeTemplate != nil)
		if err != nil {
			var mp *MissingParamError
			if errors.As(err, &mp) {
				errs = append(errs, err) // gather every missing param before failing
				continue
			}
			return nil, err
		}
		if lb := in.LocalBackend; lb != nil && !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == LocalBackendVolumeName }) {
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: LocalBackendVolumeName, MountPath: lb.MountPath})
		}
		resolvers = append(resolvers, r)
		containers = append(containers, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	labels := map[string]string{
		v1alpha1.LabelSession: shorten(in.SessionName, in.SessionName, maxNameLen),
		LabelManagedBy:        ManagedBy,
	}
	meta := func(namespace string, owned bool) metav1.ObjectMeta {
		m := metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: copyMap(labels)}
		if owned && in.Owner.UID != "" {
			owner := in.Owner
			owner.Controller, owner.BlockOwnerDeletion = ptr.To(true), ptr.To(true)
			m.OwnerReferences = []metav1.OwnerReference{owner}
		}
		return m
	}

	pod := corev1.PodSpec{
		InitContainers: containers[:len(containers)-1],
		Containers:     containers[len(containers)-1:],
		Volumes:        volumes,
		RestartPolicy:  corev1.RestartPolicyNever,
	}
	if len(pod.InitContainers) == 0 {
		pod.InitContainers = nil
	}
	ps := in.podSettings()
	applyPodSettings(&pod, ps)

	out := &Objects{}
	if ps.ServiceAccountName == "" {
		pod.ServiceAccountName = name
		uses := func(v string) bool {
			return slices.ContainsFunc(resolvers, func(r *variables.Resolver) bool {
				return r.Function() != "" && r.Uses(v)
			})
		}
		out.ServiceAccount = &corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: meta(in.Namespace, true),
		}
		namespaces, rules := rulesByNamespace(grantsFor(uses, in.Builtins, in.Namespace, in.AppBindingSecretName))
		// The Job's namespace first, then the others (the Repository's) by name.
		slices.SortStableFunc(namespaces, func(a, b string) int {
			switch {
			case a == b:
				return 0
			case a == in.Namespace:
				return -1
			case b == in.Namespace:
				return 1
			}
			return strings.Compare(a, b)
		})
		for _, ns := range namespaces {
			out.Roles = append(out.Roles, &rbacv1.Role{
				TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
				ObjectMeta: meta(ns, ns == in.Namespace),
				Rules:      rules[ns],
			})
			out.RoleBindings = append(out.RoleBindings, &rbacv1.RoleBinding{
				TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
				ObjectMeta: meta(ns, ns == in.Namespace),
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: in.Namespace}},
			})
		}
		if len(namespaces) == 0 && pod.AutomountServiceAccountToken == nil {
			// Nothing to call the API for: no token in the pod.
			pod.AutomountServiceAccountToken = ptr.To(false)
		}
	}

	job := &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "Job"},
		ObjectMeta: meta(in.Namespace, true),
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(in.Retries),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: copyMap(labels)},
				Spec:       pod,
			},
		},
	}
	if in.ActiveDeadline != nil && in.ActiveDeadline.Duration > 0 {
		secs := int64(in.ActiveDeadline.Seconds())
		job.Spec.ActiveDeadlineSeconds = ptr.To(max(secs, 1))
	}
	out.Job = job
	return out, nil
}

func (in Input) settings() *v1alpha1.ContainerRuntimeSettings {
	if in.RuntimeSettings == nil {
		return nil
	}
	return in.RuntimeSettings.Container
}

func (in Input) podSettings() v1alpha1.PodRuntimeSettings {
	if in.RuntimeSettings == nil || in.RuntimeSettings.Pod == nil {
		return v1alpha1.PodRuntimeSettings{}
	}
	return *in.RuntimeSettings.Pod.DeepCopy()
}

// applyPodSettings copies runtimeSettings.pod into the pod.
func applyPodSettings(pod *corev1.PodSpec, ps v1alpha1.PodRuntimeSettings) {
	pod.NodeSelector = ps.NodeSelector
	pod.ServiceAccountName = ps.ServiceAccountName
	pod.AutomountServiceAccountToken = ps.AutomountServiceAccountToken
	pod.SecurityContext = ps.SecurityContext
	pod.ImagePullSecrets = ps.ImagePullSecrets
	pod.Affinity = ps.Affinity
	pod.SchedulerName = ps.SchedulerName
	pod.Tolerations = ps.Tolerations
	pod.PriorityClassName = ps.PriorityClassName
	pod.Priority = ps.Priority
	pod.RuntimeClassName = ps.RuntimeClassName
	pod.EnableServiceLinks = ps.EnableServiceLinks
}

// LocalBackendVolumeName is the pod volume of a Repository's local backend.
const LocalBackendVolumeName = "trove-local-backend"

// interimVolume is the scratch volume of interimVolumeTemplate: a generic ephemeral
// volume, so its PVC is created with the pod and deleted with it.
func interimVolume(t *corev1.PersistentVolumeClaim) corev1.Volume {
	meta := metav1.ObjectMeta{Labels: copyMap(t.Labels), Annotations: copyMap(t.Annotations)}
	if len(meta.Labels) == 0 {
		meta.Labels = nil
	}
	if len(meta.Annotations) == 0 {
		meta.Annotations = nil
	}
	return corev1.Volume{
		Name: variables.InterimVolumeName,
		VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
			VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
				ObjectMeta: meta,
				Spec:       *t.Spec.DeepCopy(),
			},
		}},
	}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
