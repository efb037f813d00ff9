package jobbuilder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"trove.dev/trove/controller/variables"
)

// resolveTree resolves every string of in (a Function spec, a volume, container
// settings) through its JSON form, so each field is named by its JSON path ("args[3]",
// "volumes[0].secret.secretName") in errors. Object keys are visited in sorted order, so
// errors come in a stable order.
func resolveTree[T any](r *variables.Resolver, path string, in T) (T, error) {
	var zero T
	data, err := json.Marshal(in)
	if err != nil {
		return zero, fmt.Errorf("encode %s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return zero, fmt.Errorf("decode %s: %w", path, err)
	}
	tree, err = walk(r, path, tree)
	if err != nil {
		return zero, err
	}
	if data, err = json.Marshal(tree); err != nil {
		return zero, fmt.Errorf("encode resolved %s: %w", path, err)
	}
	var out T
	if err := json.Unmarshal(data, &out); err != nil {
		return zero, fmt.Errorf("resolved %s is no longer valid: %w", path, err)
	}
	return out, nil
}

func walk(r *variables.Resolver, path string, v any) (any, error) {
	switch x := v.(type) {
	case string:
		return r.String(path, x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			res, err := walk(r, p, x[k])
			if err != nil {
				return nil, err
			}
			x[k] = res
		}
		return x, nil
	case []any:
		for i := range x {
			res, err := walk(r, path+"["+strconv.Itoa(i)+"]", x[i])
			if err != nil {
				return nil, err
			}
			x[i] = res
		}
		return x, nil
	default:
		return v, nil
	}
}

// kubeletExpands reports whether the kubelet (or a shell it starts) expands $(NAME) in
// this field: command, args, exec commands, env values and subPathExpr. An unresolved
// $(NAME) anywhere else (an image, a Secret's name, a volume name) is a missing param.
func kubeletExpands(field string) bool {
	last := field
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		last = field[i+1:]
	}
	switch {
	case strings.HasPrefix(last, "command["), strings.HasPrefix(last, "args["), last == "subPathExpr":
		return true
	case last == "value" && strings.Contains(field, "env["):
		return true
	}
	return false
}

// missingParams turns what r could not resolve into *MissingParamErrors.
func missingParams(r *variables.Resolver, task string) []error {
	var errs []error
	add := func(ref variables.Ref) {
		errs = append(errs, &MissingParamError{Function: r.Function(), Task: task, Field: ref.Field, Variable: ref.Name})
	}
	for _, ref := range r.Missing() {
		add(ref)
	}
	for _, ref := range r.Deferred() {
		if !kubeletExpands(ref.Field) {
			add(ref)
		}
	}
	return errs
}
