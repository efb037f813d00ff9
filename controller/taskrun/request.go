package taskrun

import (
	"fmt"
	"hash/fnv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"trove.dev/trove/apis/appbinding"
	"trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/jobbuilder"
	"trove.dev/trove/controller/variables"
)

// Direction says whether a session backs up or restores.
type Direction string

// Directions.
const (
	Backup  Direction = "backup"
	Restore Direction = "restore"
)

// LabelSessionUID marks the Roles and RoleBindings a session gets outside its own
// namespace (in the Repository's): they cannot be owned across namespaces, so Cleanup
// finds them by this label when the session ends.
const LabelSessionUID = "trove.dev/session-uid"

// Request is what one Task-based session needs run, read from a BackupSession and its
// BackupConfiguration or from a RestoreSession.
type Request struct {
	Direction Direction
	// Session is the session's name, Namespace its (and its target's and Job's) namespace.
	Session   string
	Namespace string
	UID       types.UID
	// Task is the named Task; nil picks the default for the AppBinding target.
	Task       *v1alpha1.TaskRef
	Target     *v1alpha1.TargetRef
	Repository v1alpha1.ObjectRef

	backupConfiguration *v1alpha1.BackupConfiguration
	restoreSession      *v1alpha1.RestoreSession
}

// ForBackup is the request of a BackupSession of config.
func ForBackup(s *v1alpha1.BackupSession, config *v1alpha1.BackupConfiguration) Request {
	req := Request{Direction: Backup, Session: s.Name, Namespace: s.Namespace, UID: s.UID,
		Task: config.Spec.Task, Repository: config.Spec.Repository, backupConfiguration: config}
	if t := config.Spec.Target; t != nil {
		req.Target = &t.Ref
	}
	return req
}

// ForRestore is the request of a RestoreSession.
func ForRestore(s *v1alpha1.RestoreSession) Request {
	req := Request{Direction: Restore, Session: s.Name, Namespace: s.Namespace, UID: s.UID,
		Task: s.Spec.Task, Repository: s.Spec.Repository, restoreSession: s}
	if t := s.Spec.Target; t != nil {
		req.Target = t.Ref
	}
	return req
}

// Uses reports whether a session runs as a Task-based Job: it names a Task, or its
// target is an AppBinding (whose default Task is then used).
func Uses(task *v1alpha1.TaskRef, target *v1alpha1.TargetRef) bool {
	return task != nil || target != nil && target.Kind == v1alpha1.KindAppBinding
}

// JobName is the name of the session's Job, ServiceAccount, and the Role and
// RoleBinding in its own namespace: trove-backup-<session> or trove-restore-<session>
// (so a BackupSession and a RestoreSession of one name do not collide).
func (req Request) JobName() string {
	return shortName(fmt.Sprintf("trove-%s-%s", req.Direction, req.Session))
}

// foreignName is the name of the Role and RoleBinding in another namespace (the
// Repository's), where sessions of many namespaces meet: it holds the session's
// namespace too.
func (req Request) foreignName() string {
	return shortName(fmt.Sprintf("trove-%s-%s-%s", req.Direction, req.Namespace, req.Session))
}

func (req Request) kind() string {
	if req.Direction == Restore {
		return "RestoreSession"
	}
	return "BackupSession"
}

// build resolves the variables and builds the session's objects.
func (req Request) build(task *v1alpha1.Task, functions map[string]*v1alpha1.Function, repo *v1alpha1.Repository, app *appbinding.AppBinding) (*jobbuilder.Objects, error) {
	facts := variables.Facts{Repository: repo, Namespace: req.Namespace, App: appFacts(app)}
	in := jobbuilder.Input{
		Task: task, Functions: functions, SessionName: req.Session, Namespace: req.Namespace,
		Name: req.JobName(), Owner: ownerRef(req.kind(), req.Session, req.UID),
	}
	var timeout *metav1.Duration
	var interim *corev1.PersistentVolumeClaim
	if bc := req.backupConfiguration; bc != nil {
		facts.BackupConfiguration, facts.BackupSessionName = bc, req.Session
		if bc.Spec.Task != nil {
			in.TaskParams = bc.Spec.Task.Params
		}
		in.RuntimeSettings, timeout, interim = bc.Spec.RuntimeSettings, bc.Spec.TimeOut, bc.Spec.InterimVolumeTemplate
	} else {
		rs := req.restoreSession
		facts.RestoreSession = rs
		if rs.Spec.Task != nil {
			in.TaskParams = rs.Spec.Task.Params
		}
		in.RuntimeSettings, timeout, interim = rs.Spec.RuntimeSettings, rs.Spec.TimeOut, rs.Spec.InterimVolumeTemplate
	}
	in.ActiveDeadline, in.InterimVolumeTemplate = timeout, interim
	if app != nil {
		in.AppBindingSecretName = app.SecretName
	}
	if repo != nil && repo.Spec.Backend.Local != nil {
		in.LocalBackend = repo.Spec.Backend.Local
	}
	builtins, err := variables.Builtins(facts)
	if err != nil {
		return nil, err
	}
	in.Builtins = builtins
	objs, err := jobbuilder.Build(in)
	if err != nil {
		return nil, err
	}
	// Roles and RoleBindings outside the Job's namespace: a name that holds the
	// session's namespace, and the label Cleanup deletes them by.
	for i, role := range objs.Roles {
		if role.Namespace == req.Namespace {
			continue
		}
		role.Name = req.foreignName()
		role.Labels[LabelSessionUID] = string(req.UID)
		binding := objs.RoleBindings[i]
		binding.Name, binding.RoleRef.Name = role.Name, role.Name
		binding.Labels[LabelSessionUID] = string(req.UID)
	}
	return objs, nil
}

// shortName keeps a name within 63 characters (a Job's name is a pod label value),
// ending a shortened one with a hash of the whole so that names stay distinct.
func shortName(name string) string {
	const max = 63
	name = strings.ToLower(name)
	if len(name) <= max {
		return name
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	suffix := fmt.Sprintf("-%08x", h.Sum32())
	return strings.TrimRight(name[:max-len(suffix)], "-.") + suffix
}
