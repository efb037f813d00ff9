package stashimport

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// schedulePattern is the pattern of Trove's spec.schedule (apis/v1alpha1); the tests
// create every converted object on a real apiserver, so a drift shows there.
var schedulePattern = regexp.MustCompile(`^((CRON_TZ|TZ)=[A-Za-z0-9_+/-]+ +)?(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every +([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+|([0-9*?,/A-Za-z-]+ +){4}[0-9*?,/A-Za-z-]+)$`)

// schedule takes spec.schedule; an expression Trove does not accept is reported and
// the object is paused, so nothing runs on a guessed schedule.
func schedule(spec *fields, rep *ObjectReport) (sched string, paused bool) {
	s := strings.TrimSpace(spec.str("schedule"))
	if s == "" || schedulePattern.MatchString(s) {
		return s, false
	}
	rep.unmapped(spec.at("schedule"), fmt.Sprintf("%q is not a schedule Trove accepts (5-field cron, @hourly/@daily/..., @every <duration>, optional CRON_TZ=); dropped and the configuration paused: set spec.schedule and unpause", s))
	return "", true
}

// objectRef takes a {name, namespace} reference.
func objectRef(f *fields) troveapi.ObjectRef {
	if f == nil {
		return troveapi.ObjectRef{}
	}
	r := troveapi.ObjectRef{Name: fixName(f.str("name"), f.at("name"), f.rep), Namespace: f.str("namespace")}
	f.leftovers()
	return r
}

// timeOut takes Stash's timeOut, a Go duration string.
func timeOut(spec *fields) *metav1.Duration {
	s := spec.str("timeOut")
	if s == "" {
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		spec.rep.unmapped(spec.at("timeOut"), fmt.Sprintf("%q is not a positive duration (e.g. 30m, 2h); dropped", s))
		return nil
	}
	return &metav1.Duration{Duration: d}
}

// params takes a Task's params: Stash's list of {name, value} or the design
// proposal's map (inputs), sorted by name.
func params(f *fields, listKey, mapKey string) []troveapi.Param {
	var out []troveapi.Param
	for _, p := range f.list(listKey) {
		out = append(out, troveapi.Param{Name: p.str("name"), Value: p.str("value")})
		p.leftovers()
	}
	if m := f.child(mapKey); m != nil {
		f.rep.note(m.path, "the design proposal's map of inputs is imported as params")
		keys := make([]string, 0, len(m.m))
		for k := range m.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, troveapi.Param{Name: k, Value: m.str(k)})
		}
	}
	return dedupParams(out, f)
}

func dedupParams(ps []troveapi.Param, f *fields) []troveapi.Param {
	seen := map[string]bool{}
	var out []troveapi.Param
	for _, p := range ps {
		if p.Name == "" {
			f.rep.unmapped(f.path+".params", "a param without a name; dropped")
			continue
		}
		if seen[p.Name] {
			f.rep.unmapped(f.path+".params["+p.Name+"]", "given twice; the first is kept")
			continue
		}
		seen[p.Name] = true
		out = append(out, p)
	}
	return out
}

// taskRef takes spec.task {name, params} (or the proposal's inputs).
func taskRef(spec *fields) *troveapi.TaskRef {
	t := spec.child("task")
	if t == nil {
		return nil
	}
	ref := &troveapi.TaskRef{Name: fixName(t.str("name"), t.at("name"), t.rep), Params: params(t, "params", "inputs")}
	t.leftovers()
	if ref.Name == "" {
		spec.rep.unmapped(t.path, "a task without a name; dropped")
		return nil
	}
	return ref
}

// stashVolumeTasks are Stash's own Tasks for volumes; Trove's node agent does their
// work, so they are dropped from workload and PVC targets with a note.
var stashVolumeTasks = map[string]bool{
	"pvc-backup": true, "pvc-restore": true, "volume-backup": true, "volume-recovery": true,
	"workload-backup": true, "workload-restore": true,
}

// volumeTask drops a task from a volume target: a workload, Pod or PVC (ref), or new
// PVCs (ref nil, volumeClaimTemplates).
func volumeTask(task *troveapi.TaskRef, ref *troveapi.TargetRef, rep *ObjectReport) *troveapi.TaskRef {
	if task == nil || (ref != nil && ref.Kind == troveapi.KindAppBinding) {
		return task
	}
	why := "Trove's node agent backs up and restores the volumes of workloads, Pods and PVCs itself; Tasks are for AppBindings and cluster resources"
	if stashVolumeTasks[task.Name] && len(task.Params) == 0 {
		rep.note("spec.task", fmt.Sprintf("Stash's volume Task %q dropped: %s", task.Name, why))
	} else {
		rep.unmapped("spec.task", fmt.Sprintf("Task %q dropped: %s", task.Name, why))
	}
	return nil
}

// targetKinds are the kinds Trove backs up, with the apiVersion Trove requires.
var targetKinds = map[string]string{
	"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1",
	"Pod": "v1", "PersistentVolumeClaim": "v1", "AppBinding": "appcatalog.appscode.com/v1alpha1",
}

// targetRef takes target.ref; nil when Trove cannot target that kind (reported).
func targetRef(t *fields, key string) *troveapi.TargetRef {
	f := t.child(key)
	if f == nil {
		return nil
	}
	apiVersion, kind, name := f.str("apiVersion"), f.str("kind"), f.str("name")
	f.drop("namespace", "targets stay in the object's own namespace in Trove; dropped")
	f.leftovers()
	want, ok := targetKinds[kind]
	if !ok {
		t.rep.unmapped(f.path, fmt.Sprintf("Trove cannot target kind %q (it backs up Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod, PersistentVolumeClaim and AppBinding); dropped", kind))
		return nil
	}
	if name == "" {
		t.rep.unmapped(f.path, "a ref without a name; dropped")
		return nil
	}
	if apiVersion != want {
		t.rep.note(f.at("apiVersion"), fmt.Sprintf("%q written as %q, the version Trove reads %s at", apiVersion, want, kind))
	}
	return &troveapi.TargetRef{APIVersion: want, Kind: troveapi.TargetKind(kind), Name: name}
}

// absPaths keeps the absolute paths of a list, reporting the others.
func absPaths(f *fields, key string, max int) []string {
	var out []string
	for i, p := range f.strs(key) {
		if !strings.HasPrefix(p, "/") {
			f.rep.unmapped(fmt.Sprintf("%s[%d]", f.at(key), i), fmt.Sprintf("%q is not an absolute path; dropped", p))
			continue
		}
		out = append(out, p)
	}
	if len(out) > max {
		f.rep.unmapped(f.at(key), fmt.Sprintf("%d paths; Trove takes at most %d, the rest dropped", len(out), max))
		out = out[:max]
	}
	return out
}

// retentionPolicy takes spec.retentionPolicy: the same fields in Stash and Trove.
func retentionPolicy(spec *fields) *troveapi.RetentionPolicy {
	f := spec.child("retentionPolicy")
	if f == nil {
		return nil
	}
	const maxKeep = 1<<31 - 1
	p := &troveapi.RetentionPolicy{
		Name:        f.str("name"),
		KeepLast:    f.int32v("keepLast", 0, maxKeep),
		KeepHourly:  f.int32v("keepHourly", 0, maxKeep),
		KeepDaily:   f.int32v("keepDaily", 0, maxKeep),
		KeepWeekly:  f.int32v("keepWeekly", 0, maxKeep),
		KeepMonthly: f.int32v("keepMonthly", 0, maxKeep),
		KeepYearly:  f.int32v("keepYearly", 0, maxKeep),
		KeepTags:    f.strs("keepTags"),
		Prune:       f.boolean("prune"),
		DryRun:      f.boolean("dryRun"),
	}
	f.leftovers()
	return p
}

// runtimeSettings takes spec.runtimeSettings {container, pod}.
func runtimeSettings(spec *fields) *troveapi.RuntimeSettings {
	f := spec.child("runtimeSettings")
	if f == nil {
		return nil
	}
	rs := &troveapi.RuntimeSettings{}
	if c := f.child("container"); c != nil {
		rs.Container = containerSettings(c)
		if reflect.DeepEqual(*rs.Container, troveapi.ContainerRuntimeSettings{}) {
			rs.Container = nil
		}
	}
	if p := f.child("pod"); p != nil {
		rs.Pod = podSettings(p)
		if reflect.DeepEqual(*rs.Pod, troveapi.PodRuntimeSettings{}) {
			rs.Pod = nil
		}
	}
	f.leftovers()
	if rs.Container == nil && rs.Pod == nil {
		return nil
	}
	return rs
}

func containerSettings(c *fields) *troveapi.ContainerRuntimeSettings {
	s := &troveapi.ContainerRuntimeSettings{}
	c.decode("resources", &s.Resources)
	if c.has("livenessProbe") {
		s.LivenessProbe = &corev1.Probe{}
		if !c.decode("livenessProbe", s.LivenessProbe) {
			s.LivenessProbe = nil
		}
	}
	if c.has("readinessProbe") {
		s.ReadinessProbe = &corev1.Probe{}
		if !c.decode("readinessProbe", s.ReadinessProbe) {
			s.ReadinessProbe = nil
		}
	}
	if c.has("lifecycle") {
		s.Lifecycle = &corev1.Lifecycle{}
		if !c.decode("lifecycle", s.Lifecycle) {
			s.Lifecycle = nil
		}
	}
	if c.has("securityContext") {
		s.SecurityContext = &corev1.SecurityContext{}
		if !c.decode("securityContext", s.SecurityContext) {
			s.SecurityContext = nil
		}
	}
	if n := c.child("nice"); n != nil {
		s.Nice = &troveapi.NiceSettings{Adjustment: n.int32p("adjustment", -20, 19)}
		n.leftovers()
		if s.Nice.Adjustment == nil {
			s.Nice = nil
		}
	}
	if n := c.child("ionice"); n != nil {
		s.IONice = &troveapi.IONiceSettings{Class: n.int32p("class", 1, 3), ClassData: n.int32p("classData", 0, 7)}
		n.leftovers()
		if s.IONice.Class == nil && s.IONice.ClassData == nil {
			s.IONice = nil
		}
	}
	c.decode("env", &s.Env)
	c.decode("envFrom", &s.EnvFrom)
	c.leftovers()
	return s
}

func podSettings(p *fields) *troveapi.PodRuntimeSettings {
	s := &troveapi.PodRuntimeSettings{}
	if l := p.child("nodeSelector"); l != nil {
		s.NodeSelector = stringMap(l)
	}
	s.ServiceAccountName = p.str("serviceAccountName")
	if p.has("automountServiceAccountToken") {
		b := p.boolean("automountServiceAccountToken")
		s.AutomountServiceAccountToken = &b
	}
	if p.has("securityContext") {
		s.SecurityContext = &corev1.PodSecurityContext{}
		if !p.decode("securityContext", s.SecurityContext) {
			s.SecurityContext = nil
		}
	}
	p.decode("imagePullSecrets", &s.ImagePullSecrets)
	if p.has("affinity") {
		s.Affinity = &corev1.Affinity{}
		if !p.decode("affinity", s.Affinity) {
			s.Affinity = nil
		}
	}
	s.SchedulerName = p.str("schedulerName")
	p.decode("tolerations", &s.Tolerations)
	s.PriorityClassName = p.str("priorityClassName")
	s.Priority = p.int32p("priority", -1<<31, 1<<31-1)
	if p.has("runtimeClassName") {
		r := p.str("runtimeClassName")
		s.RuntimeClassName = &r
	}
	if p.has("enableServiceLinks") {
		b := p.boolean("enableServiceLinks")
		s.EnableServiceLinks = &b
	}
	p.drop("nodeName", "Trove places volume work on the node of the pod that has the volume, and Jobs by the scheduler; dropped")
	p.drop("podLabels", "Trove labels the pods it creates itself; dropped")
	p.drop("podAnnotations", "Trove has no annotations for the pods it creates; dropped")
	p.drop("serviceAccountAnnotations", "Trove creates the Job's ServiceAccount with least privilege and no annotations; dropped")
	p.leftovers()
	return s
}

// hook takes a Stash hook handler (exec, httpGet, httpPost, tcpSocket, containerName).
func hook(f *fields) *troveapi.HookHandler {
	h := &troveapi.HookHandler{ContainerName: f.str("containerName")}
	if f.has("exec") {
		h.Exec = &corev1.ExecAction{}
		if !f.decode("exec", h.Exec) {
			h.Exec = nil
		}
	}
	if f.has("httpGet") {
		h.HTTPGet = &corev1.HTTPGetAction{}
		if !f.decode("httpGet", h.HTTPGet) {
			h.HTTPGet = nil
		}
	}
	f.drop("httpPost", "Trove's hooks are exec or httpGet; run the POST from an exec hook (e.g. curl -X POST); dropped")
	f.drop("tcpSocket", "Trove's hooks are exec or httpGet; dropped")
	if (h.Exec == nil) == (h.HTTPGet == nil) {
		f.rep.unmapped(f.path, "a Trove hook needs exactly one of exec or httpGet; hook dropped")
		f.leftovers()
		return nil
	}
	return h
}

func postHook(f *fields) *troveapi.PostHook {
	policy := f.str("executionPolicy")
	h := hook(f)
	f.leftovers()
	if h == nil {
		return nil
	}
	p := &troveapi.PostHook{HookHandler: *h}
	switch troveapi.HookExecutionPolicy(policy) {
	case "":
	case troveapi.HookAlways, troveapi.HookOnSuccess, troveapi.HookOnFailure:
		p.ExecutionPolicy = troveapi.HookExecutionPolicy(policy)
	default:
		f.rep.unmapped(f.at("executionPolicy"), fmt.Sprintf("%q is not Always, OnSuccess or OnFailure; dropped (Trove's default is Always)", policy))
	}
	return p
}

func preHook(f *fields) *troveapi.HookHandler {
	h := hook(f)
	f.leftovers()
	return h
}

// tempDir reports Stash's spec.tempDir, which Trove has no use for.
func tempDir(spec *fields) {
	spec.drop("tempDir", "Trove's node agent keeps restic's cache and scratch space itself; for Job-based backups use spec.interimVolumeTemplate; dropped")
}

// interimVolume takes spec.interimVolumeTemplate, a PVC in both.
func interimVolume(spec *fields) *corev1.PersistentVolumeClaim {
	if !spec.has("interimVolumeTemplate") {
		return nil
	}
	pvc := &corev1.PersistentVolumeClaim{}
	if !spec.decode("interimVolumeTemplate", pvc) {
		return nil
	}
	return pvc
}

// dnsName makes name a valid Kubernetes object name (RFC 1123 subdomain), as the
// design proposal's camelCase names (pgBackup, clusterBackup) are not: an upper-case
// letter after a lower-case one or a digit starts a new dash-separated word, and any
// other character not allowed becomes a dash.
func dnsName(name string) string {
	var b strings.Builder
	prevLowerOrDigit := false
	for _, r := range name {
		switch {
		case r >= 'A' && r <= 'Z':
			if prevLowerOrDigit {
				b.WriteByte('-')
			}
			b.WriteRune(r - 'A' + 'a')
			prevLowerOrDigit = false
		case (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
			prevLowerOrDigit = true
		case r == '.' || r == '-':
			b.WriteRune(r)
			prevLowerOrDigit = false
		default:
			b.WriteByte('-')
			prevLowerOrDigit = false
		}
	}
	out := strings.Trim(b.String(), "-.")
	if len(out) > 253 {
		out = strings.Trim(out[:253], "-.")
	}
	return out
}

// fixName returns name as a valid object name, noting a change at path.
func fixName(name, path string, rep *ObjectReport) string {
	n := dnsName(name)
	if n != name && name != "" {
		rep.note(path, fmt.Sprintf("%q is not a valid Kubernetes name; written as %q (a Function, Task or Repository it names is renamed the same way)", name, n))
	}
	return n
}
