package stashimport

import (
	"fmt"
	"reflect"
	"regexp"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

func convertRestoreSession(spec *fields, rep *ObjectReport) client.Object {
	rs := &troveapi.RestoreSession{}
	s := &rs.Spec
	s.Repository = objectRef(spec.child("repository"))
	if s.Repository.Name == "" {
		rep.Reason = "spec.repository.name is missing: Trove needs the Repository to restore from"
		return nil
	}
	switch d := spec.str("driver"); d {
	case "", driverRestic:
	case driverSnapshot:
		rep.unmapped("spec.driver", "Trove restores from restic snapshots; to restore a CSI VolumeSnapshot, create a PVC with the snapshot as its dataSource; dropped")
	default:
		rep.unmapped("spec.driver", fmt.Sprintf("%q is not Restic or VolumeSnapshotter; dropped", d))
	}
	s.Task = taskRef(spec)
	s.Target = restoreTarget(spec)
	if s.Target != nil {
		s.Task = volumeTask(s.Task, s.Target.Ref, rep)
	}
	s.RuntimeSettings = runtimeSettings(spec)
	tempDir(spec)
	s.InterimVolumeTemplate = interimVolume(spec)
	if h := spec.child("hooks"); h != nil {
		s.Hooks = &troveapi.RestoreHooks{}
		if p := h.child("preRestore"); p != nil {
			s.Hooks.PreRestore = preHook(p)
		}
		if p := h.child("postRestore"); p != nil {
			s.Hooks.PostRestore = postHook(p)
		}
		h.leftovers()
		if s.Hooks.PreRestore == nil && s.Hooks.PostRestore == nil {
			s.Hooks = nil
		}
	}
	s.TimeOut = timeOut(spec)
	if s.Target == nil && s.Task == nil {
		rep.Reason = "neither a target (ref or volumeClaimTemplates) nor a task Trove can use"
		return nil
	}
	return rs
}

// restoreTarget takes spec.target, and the rules of older Stash at spec.rules.
func restoreTarget(spec *fields) *troveapi.RestoreTarget {
	t := spec.child("target")
	oldRules := spec.list("rules")
	if t == nil && len(oldRules) == 0 {
		return nil
	}
	if t == nil {
		t = newFields(nil, "spec.target", spec.rep)
	}
	defer t.leftovers()
	rt := &troveapi.RestoreTarget{Ref: targetRef(t, "ref")}
	for _, r := range append(oldRules, t.list("rules")...) {
		rt.Rules = append(rt.Rules, restoreRule(r))
	}
	if t.has("directories") {
		t.rep.note(t.at("directories"), "the design proposal's directories imported as a rule's paths")
		if p := absPaths(t, "directories", 64); len(p) > 0 {
			rt.Rules = append(rt.Rules, troveapi.RestoreRule{Paths: p})
		}
	}
	if len(rt.Rules) > 64 {
		t.rep.unmapped(t.at("rules"), "more than 64 rules; the rest dropped")
		rt.Rules = rt.Rules[:64]
	}
	if t.has("volumeClaimTemplates") {
		var pvcs []corev1.PersistentVolumeClaim
		if t.decode("volumeClaimTemplates", &pvcs) {
			rt.VolumeClaimTemplates = pvcs
		}
	}
	rt.Replicas = t.int32p("replicas", 1, 1<<31-1)
	mounts := mountPaths(t)
	if mp := t.str("mountPath"); mp != "" {
		mounts[mp] = true
		t.rep.unmapped(t.at("mountPath"), "Trove writes volumes through the node agent and needs no mounts; dropped")
	}
	if rt.Ref != nil && rt.Ref.Kind == troveapi.KindPVC {
		pvcRulePaths(t, rt.Rules, mounts)
	}
	// a rule left empty restores everything of the latest snapshot, as no rule does
	kept := rt.Rules[:0]
	for _, r := range rt.Rules {
		if !reflect.DeepEqual(r, troveapi.RestoreRule{}) {
			kept = append(kept, r)
		}
	}
	rt.Rules = kept
	if len(rt.Rules) == 0 {
		rt.Rules = nil
	}
	t.drop("alias", "Trove tells snapshots apart by restic host and tags; dropped")
	if rt.Ref == nil && len(rt.VolumeClaimTemplates) == 0 {
		if len(rt.Rules) > 0 {
			t.rep.unmapped(t.path, "rules without a ref or volumeClaimTemplates to restore into; dropped")
		}
		return nil
	}
	return rt
}

// snapshotID is how Stash names a snapshot: <repository>-<restic short ID>.
var (
	resticID      = regexp.MustCompile(`^(latest|[0-9a-f]{8,64})$`)
	stashSnapshot = regexp.MustCompile(`^.+-([0-9a-f]{8,64})$`)
)

func restoreRule(r *fields) troveapi.RestoreRule {
	defer r.leftovers()
	rule := troveapi.RestoreRule{
		TargetHosts: r.strs("targetHosts"),
		SourceHost:  r.str("sourceHost"),
		Paths:       absPaths(r, "paths", 64),
		Include:     r.strs("include"),
		Exclude:     r.strs("exclude"),
	}
	for i, snap := range r.strs("snapshots") {
		p := fmt.Sprintf("%s[%d]", r.at("snapshots"), i)
		switch {
		case resticID.MatchString(snap):
			rule.Snapshots = append(rule.Snapshots, snap)
		case stashSnapshot.MatchString(snap):
			id := stashSnapshot.FindStringSubmatch(snap)[1]
			rule.Snapshots = append(rule.Snapshots, id)
			r.rep.note(p, fmt.Sprintf("Stash's snapshot name %q written as its restic ID %q", snap, id))
		default:
			r.rep.unmapped(p, fmt.Sprintf("%q is neither latest nor a restic snapshot ID; dropped", snap))
		}
	}
	if len(rule.Include) > 0 && len(rule.Exclude) > 0 {
		r.rep.unmapped(r.at("exclude"), "Trove takes include or exclude in one rule, not both; include kept, exclude dropped")
		rule.Exclude = nil
	}
	return rule
}

// pvcRulePaths drops the paths of rules restoring into a PVC: Stash's lie under its own
// Job's mount, and Trove restores the whole PVC.
func pvcRulePaths(t *fields, rules []troveapi.RestoreRule, mounts map[string]bool) {
	for i := range rules {
		if len(rules[i].Paths) == 0 {
			continue
		}
		whole := len(mounts) > 0
		for _, p := range rules[i].Paths {
			whole = whole && mounts[p]
		}
		path := fmt.Sprintf("%s.rules[%d].paths", t.path, i)
		if whole {
			t.rep.note(path, "the PVC's mount path: Trove restores the whole PVC, as Stash did")
		} else {
			t.rep.unmapped(path, "for a PVC, Stash's paths lie under its own Job's mount; Trove restores the whole PVC (narrow it with include or exclude); dropped")
		}
		rules[i].Paths = nil
	}
}
