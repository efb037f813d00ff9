package jobbuilder

import (
	"fmt"

	"trove.dev/trove/apis/v1alpha1"
)

// ReasonInvalidTask is the condition reason for a Task or Function that cannot be turned
// into a Job (bad image, unknown volume, malformed template). It belongs in apis/v1alpha1
// next to ReasonFunctionNotFound and ReasonParamMissing.
const ReasonInvalidTask = "InvalidTask"

// UnknownFunctionError: a Task step names a Function that does not exist.
type UnknownFunctionError struct {
	Task     string
	Step     int
	Function string
}

func (e *UnknownFunctionError) Error() string {
	return fmt.Sprintf("task %q: steps[%d]: function %q not found", e.Task, e.Step, e.Function)
}

// Reason is the session condition reason for this error.
func (e *UnknownFunctionError) Reason() string { return v1alpha1.ReasonFunctionNotFound }

// MissingParamError: a ${VAR} without default that neither a built-in nor a param sets,
// or a $(VAR) left unresolved in a field the kubelet does not expand.
type MissingParamError struct {
	// Function is "" for the Task's own fields (volumes).
	Function string
	Task     string
	Field    string
	Variable string
}

func (e *MissingParamError) Error() string {
	where := fmt.Sprintf("function %q", e.Function)
	if e.Function == "" {
		where = fmt.Sprintf("task %q", e.Task)
	}
	return fmt.Sprintf("%s: %s: missing param %q: set it in the Task step's params or in task.params", where, e.Field, e.Variable)
}

// Reason is the session condition reason for this error.
func (e *MissingParamError) Reason() string { return v1alpha1.ReasonParamMissing }

// ImageError: a Function's image is empty or not a valid reference after resolution.
type ImageError struct {
	Function string
	Image    string
	Problem  string
}

func (e *ImageError) Error() string {
	return fmt.Sprintf("function %q: image %q: %s", e.Function, e.Image, e.Problem)
}

// Reason is the session condition reason for this error.
func (e *ImageError) Reason() string { return ReasonInvalidTask }

// UnknownVolumeError: a volumeMount or volumeDevice names a volume the Job does not have.
type UnknownVolumeError struct {
	Function string
	Field    string
	Volume   string
	// Known are the volumes the Job has.
	Known []string
}

func (e *UnknownVolumeError) Error() string {
	return fmt.Sprintf("function %q: %s: volume %q is not among the Task's volumes %q", e.Function, e.Field, e.Volume, e.Known)
}

// Reason is the session condition reason for this error.
func (e *UnknownVolumeError) Reason() string { return ReasonInvalidTask }

// TaskError: the Task itself is unusable (no steps, duplicate volume names, ...).
type TaskError struct {
	Task    string
	Field   string
	Problem string
}

func (e *TaskError) Error() string {
	return fmt.Sprintf("task %q: %s: %s", e.Task, e.Field, e.Problem)
}

// Reason is the session condition reason for this error.
func (e *TaskError) Reason() string { return ReasonInvalidTask }
