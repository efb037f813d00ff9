package stashimport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// fields walks one map of a Stash object and consumes what it maps. Every key a
// converter takes is deleted from the map; whatever is left when the object is
// done is reported, leaf by leaf, as not mapped. So a Stash field nobody thought
// of is never lost silently.
type fields struct {
	m    map[string]any
	path string
	rep  *ObjectReport
}

func newFields(m map[string]any, path string, rep *ObjectReport) *fields {
	if m == nil {
		m = map[string]any{}
	}
	return &fields{m: m, path: path, rep: rep}
}

func (f *fields) at(key string) string {
	if f.path == "" {
		return key
	}
	return f.path + "." + key
}

func (f *fields) has(key string) bool {
	_, ok := f.m[key]
	return ok
}

// take removes key and returns its raw value.
func (f *fields) take(key string) (any, bool) {
	v, ok := f.m[key]
	delete(f.m, key)
	if ok && v == nil {
		return nil, false
	}
	return v, ok
}

// str takes a string (numbers and booleans are written as YAML would read them).
func (f *fields) str(key string) string {
	v, ok := f.take(key)
	if !ok {
		return ""
	}
	switch s := v.(type) {
	case string:
		return s
	case bool, int64, float64, int:
		return fmt.Sprint(s)
	}
	f.rep.unmapped(f.at(key), "expected a string; dropped")
	return ""
}

func (f *fields) boolean(key string) bool {
	v, ok := f.take(key)
	if !ok {
		return false
	}
	switch b := v.(type) {
	case bool:
		return b
	case string:
		if b == "true" || b == "false" {
			return b == "true"
		}
	}
	f.rep.unmapped(f.at(key), "expected true or false; dropped")
	return false
}

// int32p takes an integer in [lo, hi]; nil when absent or out of range (reported).
func (f *fields) int32p(key string, lo, hi int64) *int32 {
	v, ok := f.take(key)
	if !ok {
		return nil
	}
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case int:
		n = int64(x)
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) || x > math.MaxInt64 || x < math.MinInt64 {
			f.rep.unmapped(f.at(key), "expected an integer; dropped")
			return nil
		}
		n = int64(x)
	default:
		f.rep.unmapped(f.at(key), "expected an integer; dropped")
		return nil
	}
	if n < lo || n > hi {
		f.rep.unmapped(f.at(key), fmt.Sprintf("%d is outside Trove's range %d..%d; dropped", n, lo, hi))
		return nil
	}
	r := int32(n)
	return &r
}

func (f *fields) int32v(key string, lo, hi int64) int32 {
	if p := f.int32p(key, lo, hi); p != nil {
		return *p
	}
	return 0
}

// strs takes a list of strings.
func (f *fields) strs(key string) []string {
	v, ok := f.take(key)
	if !ok {
		return nil
	}
	l, isList := v.([]any)
	if !isList {
		if s, isStr := v.(string); isStr {
			return []string{s}
		}
		f.rep.unmapped(f.at(key), "expected a list of strings; dropped")
		return nil
	}
	var out []string
	for i, e := range l {
		s, isStr := e.(string)
		if !isStr {
			f.rep.unmapped(fmt.Sprintf("%s[%d]", f.at(key), i), "expected a string; dropped")
			continue
		}
		out = append(out, s)
	}
	return out
}

// child takes a nested map; nil when absent (or not a map, reported).
func (f *fields) child(key string) *fields {
	v, ok := f.take(key)
	if !ok {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		f.rep.unmapped(f.at(key), "expected an object; dropped")
		return nil
	}
	return newFields(m, f.at(key), f.rep)
}

// list takes a list of maps.
func (f *fields) list(key string) []*fields {
	v, ok := f.take(key)
	if !ok {
		return nil
	}
	l, isList := v.([]any)
	if !isList {
		f.rep.unmapped(f.at(key), "expected a list; dropped")
		return nil
	}
	var out []*fields
	for i, e := range l {
		p := fmt.Sprintf("%s[%d]", f.at(key), i)
		m, isMap := e.(map[string]any)
		if !isMap {
			f.rep.unmapped(p, "expected an object; dropped")
			continue
		}
		out = append(out, newFields(m, p, f.rep))
	}
	return out
}

// decode takes key and decodes it strictly into out, a Kubernetes type that Stash
// and Trove share (resources, probes, env, volumes, PVCs, ...). A field the type does
// not have makes the whole value unmapped, with the decoder's words for why.
func (f *fields) decode(key string, out any) bool {
	v, ok := f.take(key)
	if !ok {
		return false
	}
	return decodeStrict(v, out, f.at(key), f.rep)
}

// decodeRest decodes every key left in f into out (for inlined Kubernetes types) and
// consumes them.
func (f *fields) decodeRest(out any) bool {
	m := f.m
	f.m = map[string]any{}
	if len(m) == 0 {
		return false
	}
	return decodeStrict(m, out, f.path, f.rep)
}

func decodeStrict(v any, out any, path string, rep *ObjectReport) bool {
	data, err := json.Marshal(v)
	if err != nil {
		rep.unmapped(path, "cannot be encoded: "+err.Error()+"; dropped")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		rep.unmapped(path, "does not fit Trove's type ("+strings.TrimPrefix(err.Error(), "json: ")+"); dropped")
		return false
	}
	return true
}

// drop consumes key and reports it as not mapped, for why.
func (f *fields) drop(key, why string) {
	if _, ok := f.m[key]; ok {
		delete(f.m, key)
		f.rep.unmapped(f.at(key), why)
	}
}

// ignore consumes key without a word (server-set metadata, empty values).
func (f *fields) ignore(keys ...string) {
	for _, k := range keys {
		delete(f.m, k)
	}
}

// leftovers reports every field still in f, at its leaves, as not mapped. An empty
// object left over means everything in it was taken.
func (f *fields) leftovers() {
	reportLeaves(f.m, f.path, f.rep)
	f.m = map[string]any{}
}

func reportLeaves(v any, path string, rep *ObjectReport) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			reportLeaves(x[k], p, rep)
		}
	default:
		rep.unmapped(path, "Trove has no such field; dropped")
	}
}
