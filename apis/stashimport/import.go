// Package stashimport converts Stash objects (stash.appscode.com v1alpha1 and
// v1beta1: Repository, BackupConfiguration, RestoreSession, BackupBlueprint,
// Function, Task) into Trove objects (trove.dev/v1alpha1), and reports every Stash
// field it could not carry over, with its path and why.
//
// Each converter consumes the fields it maps from the Stash object; whatever is left
// at the end is reported leaf by leaf, so nothing is lost without a word. Objects of
// other kinds are reported and not converted; a v1 Secret is skipped with a note
// (Trove reads the Secret Stash used as it is), and its data never appears anywhere.
// The report names fields, never their values.
package stashimport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// StashGroup is the API group of Stash's kinds.
const StashGroup = "stash.appscode.com"

// Input is one YAML stream (a file or standard input) and the name errors use for it.
type Input struct {
	Name string
	Data []byte
}

// Object is one converted Trove object and the report entry it came with.
type Object struct {
	Object client.Object
	Report *ObjectReport
}

// Result is the outcome of an import: the Trove objects, in input order, and the report.
type Result struct {
	Objects []Object
	Report  Report
}

// Import converts every object of the inputs. It fails only on input it cannot read
// (malformed YAML, a document that is not an object); everything else, unknown kinds
// included, is in the report.
func Import(inputs ...Input) (*Result, error) {
	res := &Result{}
	for _, in := range inputs {
		docs, err := splitDocuments(in.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.Name, err)
		}
		for i, doc := range docs {
			var m map[string]any
			if err := yaml.Unmarshal(doc, &m); err != nil {
				return nil, fmt.Errorf("%s: document %d: not valid YAML: %w", in.Name, i+1, err)
			}
			if len(m) == 0 {
				// an empty document or one of comments only
				if len(bytes.TrimSpace(stripComments(doc))) > 0 && m == nil {
					return nil, fmt.Errorf("%s: document %d: not a YAML object (a Kubernetes object needs apiVersion and kind)", in.Name, i+1)
				}
				continue
			}
			for _, item := range expandList(m) {
				res.add(in.Name, len(inputs) > 1, i+1, item)
			}
		}
	}
	return res, nil
}

func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", len(docs)+1, err)
		}
		docs = append(docs, doc)
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}

// expandList turns a List (as `kubectl get -o yaml` writes) into its items.
func expandList(m map[string]any) []map[string]any {
	kind, _ := m["kind"].(string)
	items, isList := m["items"].([]any)
	if !isList || !strings.HasSuffix(kind, "List") {
		return []map[string]any{m}
	}
	var out []map[string]any
	for _, it := range items {
		if im, ok := it.(map[string]any); ok {
			out = append(out, im)
		}
	}
	return out
}

func (res *Result) add(file string, nameFile bool, doc int, m map[string]any) {
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	meta, _ := m["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	rep := &ObjectReport{Document: doc, Source: strings.TrimSpace(apiVersion + " " + kind + " " + qualified(ns, name))}
	if nameFile {
		rep.Source = file + ": " + rep.Source
	}
	obj := res.convert(apiVersion, kind, m, rep)
	res.Report.Objects = append(res.Report.Objects, rep)
	if obj != nil {
		rep.Target = obj.GetObjectKind().GroupVersionKind().Kind + " " + qualified(obj.GetNamespace(), obj.GetName())
		rep.Outcome = Converted
		res.Objects = append(res.Objects, Object{Object: obj, Report: rep})
	}
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// converter turns the fields of one Stash object (metadata already taken) into a Trove
// object; nil, with rep.Reason set, when Trove's object could not be valid.
type converter func(spec *fields, rep *ObjectReport) client.Object

func (res *Result) convert(apiVersion, kind string, m map[string]any, rep *ObjectReport) client.Object {
	group := apiVersion
	if i := strings.Index(apiVersion, "/"); i >= 0 {
		group = apiVersion[:i]
	} else {
		group = ""
	}
	notConverted := func(why string) client.Object {
		rep.Outcome, rep.Reason = NotConverted, why
		return nil
	}
	if apiVersion == "" || kind == "" {
		return notConverted("no apiVersion or kind: not a Kubernetes object")
	}
	if group == "" && kind == "Secret" {
		rep.Outcome = Skipped
		rep.Reason = "Secrets are not converted: keep the Secret Stash used; Trove reads it as it is (same key names, see docs/mover.md), and its data is never printed"
		return nil
	}
	if group != StashGroup {
		return notConverted("not a Stash kind (" + StashGroup + "); nothing to import")
	}
	type target struct {
		conv       converter
		namespaced bool
	}
	kinds := map[string]target{
		"Repository":          {convertRepository, true},
		"BackupConfiguration": {convertBackupConfiguration, true},
		"RestoreSession":      {convertRestoreSession, true},
		"BackupBlueprint":     {convertBackupBlueprint, false},
		"BackupTemplate":      {convertBackupBlueprint, false},
		"Function":            {convertFunction, false},
		"Task":                {convertTask, false},
	}
	why := map[string]string{
		"BackupSession":     "a BackupSession is the record of one past run; Trove's schedule creates its own (create a trove.dev BackupSession by hand for an instant backup)",
		"BackupBatch":       "Trove has no BackupBatch: write one BackupConfiguration per target, all into the same Repository",
		"RestoreBatch":      "Trove has no RestoreBatch: write one RestoreSession per target",
		"Restic":            "Stash v1alpha1 Restic (the sidecar era) is not imported: convert it to a v1beta1 BackupConfiguration with Stash's own tools first, or write a Trove BackupConfiguration",
		"Recovery":          "Stash v1alpha1 Recovery is not imported: write a Trove RestoreSession",
		"Snapshot":          "Snapshots are read from the repository, not imported",
		"AppBinding":        "AppBindings are used by Trove as they are (appcatalog.appscode.com/v1alpha1): keep them",
		"BackupSessionList": "",
	}
	t, ok := kinds[kind]
	if !ok {
		if w := why[kind]; w != "" {
			return notConverted(w)
		}
		return notConverted("Stash kind " + kind + " has no Trove counterpart")
	}
	if kind == "BackupTemplate" {
		rep.note("kind", "the design proposal's BackupTemplate is imported as a BackupBlueprint")
	}
	if kind == "Repository" && apiVersion != StashGroup+"/v1alpha1" {
		rep.note("apiVersion", "Stash's Repository is stash.appscode.com/v1alpha1; "+apiVersion+" read the same way")
	}
	top := newFields(m, "", rep)
	top.ignore("apiVersion", "kind")
	om, ok := takeMeta(top, t.namespaced, rep)
	if !ok {
		return notConverted("metadata.name is missing: every object needs a name")
	}
	if st := top.child("status"); st != nil {
		if len(st.m) > 0 {
			rep.note("status", "not imported; Trove computes its own status")
		}
	}
	spec := top.child("spec")
	if spec == nil {
		spec = newFields(nil, "spec", rep)
	}
	obj := t.conv(spec, rep)
	spec.leftovers()
	top.leftovers()
	if obj == nil {
		rep.Outcome = NotConverted
		if rep.Reason == "" {
			rep.Reason = "Trove's object could not be made valid: see the fields reported"
		}
		return nil
	}
	obj.SetName(fixName(om.Name, "metadata.name", rep))
	obj.SetGenerateName(om.GenerateName)
	obj.SetNamespace(om.Namespace)
	obj.SetLabels(om.Labels)
	obj.SetAnnotations(om.Annotations)
	gvk := troveapi.GroupVersion.WithKind(kindOf(kind))
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return obj
}

func kindOf(stashKind string) string {
	if stashKind == "BackupTemplate" {
		return "BackupBlueprint"
	}
	return stashKind
}

// takeMeta keeps what a user wrote (name, namespace, labels, annotations) and drops
// what the apiserver set (uid, resourceVersion, managedFields, ...).
func takeMeta(top *fields, namespaced bool, rep *ObjectReport) (metav1.ObjectMeta, bool) {
	var om metav1.ObjectMeta
	md := top.child("metadata")
	if md == nil {
		return om, false
	}
	om.Name = md.str("name")
	om.GenerateName = md.str("generateName")
	ns := md.str("namespace")
	if namespaced {
		om.Namespace = ns
	} else if ns != "" {
		rep.note("metadata.namespace", "dropped: this kind is cluster-scoped in Trove")
	}
	if l := md.child("labels"); l != nil {
		om.Labels = stringMap(l)
	}
	if a := md.child("annotations"); a != nil {
		if _, ok := a.m["kubectl.kubernetes.io/last-applied-configuration"]; ok {
			a.ignore("kubectl.kubernetes.io/last-applied-configuration")
			rep.note("metadata.annotations[kubectl.kubernetes.io/last-applied-configuration]", "dropped: it holds the Stash object")
		}
		om.Annotations = stringMap(a)
		if len(om.Annotations) == 0 {
			om.Annotations = nil
		}
	}
	md.ignore("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds")
	if _, ok := md.m["finalizers"]; ok {
		md.ignore("finalizers")
		rep.note("metadata.finalizers", "dropped: Stash's finalizers mean nothing to Trove, which adds its own")
	}
	md.drop("ownerReferences", "owner references name Stash-era objects by UID; dropped")
	md.leftovers()
	return om, om.Name != "" || om.GenerateName != ""
}

func stringMap(f *fields) map[string]string {
	out := map[string]string{}
	ks := keys(f.m)
	sort.Strings(ks) // so reports of ill-typed values come in a fixed order
	for _, k := range ks {
		out[k] = f.str(k)
	}
	return out
}

// WriteYAML writes the converted objects as one YAML stream, each preceded by
// comments naming its source and the fields that were not mapped. Keys are sorted,
// so the same input always gives the same bytes.
func (res *Result) WriteYAML(w io.Writer) error {
	var b bytes.Buffer
	for i, o := range res.Objects {
		if i > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, "# document %d: %s\n", o.Report.Document, o.Report.Source)
		for _, f := range o.Report.Unmapped {
			fmt.Fprintf(&b, "# not mapped: %s\n", oneLine(f.String()))
		}
		for _, f := range o.Report.Notes {
			fmt.Fprintf(&b, "# note: %s\n", oneLine(f.String()))
		}
		data, err := marshal(o.Object)
		if err != nil {
			return fmt.Errorf("writing %s: %w", o.Report.Target, err)
		}
		b.Write(data)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// marshal writes obj without the empty status and creationTimestamp a typed object
// carries.
func marshal(obj client.Object) ([]byte, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(u, "status") // a converted object has no status yet
	pruneZero(u)
	return yaml.Marshal(u)
}

// pruneZero removes the empty status, creationTimestamp and resources that Go's zero
// values of Kubernetes types write, and nothing else (an empty emptyDir means something).
func pruneZero(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			pruneZero(e)
			switch k {
			case "status", "creationTimestamp", "resources":
				if m, isMap := e.(map[string]any); e == nil || (isMap && len(m) == 0) {
					delete(x, k)
				}
			}
		}
	case []any:
		for _, e := range x {
			pruneZero(e)
		}
	}
}
