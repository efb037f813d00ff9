package variables

import (
	"errors"
	"strconv"

	"trove.dev/trove/apis/v1alpha1"
)

// Ref is a variable reference found in a field.
type Ref struct {
	// Name of the variable.
	Name string
	// Field is where it was found, e.g. "args[3]".
	Field string
}

// Resolver resolves the fields of one Function (or of a Task's own fields) and remembers,
// across calls, which variables were missing, deferred and used.
type Resolver struct {
	vars     Vars
	function string
	task     string
	missing  []Ref
	deferred []Ref
	used     []string
	seen     map[string]bool
}

// NewFunctionResolver resolves the fields of Function function with vars.
func NewFunctionResolver(function string, vars Vars) *Resolver {
	return &Resolver{vars: vars, function: function, seen: map[string]bool{}}
}

// NewTaskResolver resolves the Task's own fields (its volumes) with vars.
func NewTaskResolver(task string, vars Vars) *Resolver {
	return &Resolver{vars: vars, task: task, seen: map[string]bool{}}
}

// String resolves one field. A *SyntaxError names the Function (or Task) and field.
func (r *Resolver) String(field, s string) (string, error) {
	res, err := Expand(s, r.vars)
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			se.Function, se.Task, se.Field = r.function, r.task, field
		}
		return "", err
	}
	for _, n := range res.Missing {
		r.missing = append(r.missing, Ref{Name: n, Field: field})
	}
	for _, n := range res.Deferred {
		r.deferred = append(r.deferred, Ref{Name: n, Field: field})
	}
	for _, n := range res.Used {
		if !r.seen[n] {
			r.seen[n] = true
			r.used = append(r.used, n)
		}
	}
	return res.Text, nil
}

// Strings resolves a list field; element i is named field[i].
func (r *Resolver) Strings(field string, ss []string) ([]string, error) {
	if ss == nil {
		return nil, nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		v, err := r.String(indexed(field, i), s)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// Missing lists the ${NAME} references without default that no variable set, in the
// order they were met.
func (r *Resolver) Missing() []Ref { return r.missing }

// Deferred lists the $(NAME) references no variable set, left verbatim for the kubelet.
func (r *Resolver) Deferred() []Ref { return r.deferred }

// Used lists every variable name referenced so far, each once.
func (r *Resolver) Used() []string { return r.used }

// Uses reports whether any field resolved so far referenced name.
func (r *Resolver) Uses(name string) bool { return r.seen[name] }

// Function is the Function this resolver works for ("" for a Task's own fields).
func (r *Resolver) Function() string { return r.function }

// Task is the Task this resolver works for ("" for a Function).
func (r *Resolver) Task() string { return r.task }

func indexed(field string, i int) string {
	return field + "[" + strconv.Itoa(i) + "]"
}

// Merge returns the union of layers; a later layer wins. Nil layers are skipped.
func Merge(layers ...Vars) Vars {
	out := Vars{}
	for _, l := range layers {
		for k, v := range l {
			out[k] = v
		}
	}
	return out
}

// FromParams turns Task step or task.params into Vars; a later param of the same name wins.
func FromParams(params []v1alpha1.Param) Vars {
	out := make(Vars, len(params))
	for _, p := range params {
		out[p.Name] = p.Value
	}
	return out
}

// ForStep is the variables one Task step resolves with: the built-ins, overridden by the
// step's params, overridden by the BackupConfiguration's (or RestoreSession's) task.params.
func ForStep(builtins Vars, step v1alpha1.FunctionRef, taskParams []v1alpha1.Param) Vars {
	return Merge(builtins, FromParams(step.Params), FromParams(taskParams))
}
