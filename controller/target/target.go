// Package target resolves a backup or restore target (a workload, a Pod or a PVC) into
// hosts and the (pod, volume) pairs each host's data lives on: the facts the controller
// turns into one work item per pair, on the pair's node.
//
// Resolution is pure: callers fetch the target's pods (and PVCs) and pass them in.
package target

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/csi/expose"
)

// Pair is one volume holding data of a host, and where inside it the data is.
type Pair struct {
	// Pod is the target's pod that mounts the volume; nil for a PVC no pod mounts.
	Pod *corev1.Pod
	// Volume names the data: the pod's volume name, or the claim's name for a PVC
	// target. It is part of the data's identity (tags, stable path), so it stays the
	// same however the data is reached.
	Volume string
	// SubPaths are directories inside the volume, relative to its root; empty means
	// the whole volume.
	SubPaths []string
	// PVC is the claim behind the volume, when it is one.
	PVC string
	// Reader is the pod volume the agent reads (or writes) the data through, when it
	// is not Pod's volume Volume: a holder pod of an exposure, or the pod that
	// happens to mount a PVC target.
	Reader *Reader
}

// Reader is a pod volume the agent reaches through the kubelet's host path.
type Reader struct {
	Pod    *corev1.Pod
	Volume string
}

// Via is the pod volume the agent reads or writes: Reader when set, else Pod's Volume.
// The pod is nil while the pair waits for an exposure.
func (p Pair) Via() (*corev1.Pod, string) {
	if p.Reader != nil {
		return p.Reader.Pod, p.Reader.Volume
	}
	return p.Pod, p.Volume
}

// Host is one restic host of a target: a Deployment's single host, a StatefulSet
// ordinal, a DaemonSet's node, a Pod, a PVC.
type Host struct {
	Name  string
	Pairs []Pair
}

// Error is a resolution failure with a condition reason and a message that says how
// to fix it.
type Error struct {
	Reason  string
	Message string
}

func (e *Error) Error() string { return e.Message }

func fail(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Spec is what to back up from each pod: paths inside the containers and/or whole
// volumes; with neither, every data volume of the pod.
type Spec struct {
	Paths   []string
	Volumes []string
}

// FromBackupTarget reads the resolution spec of a BackupTarget.
func FromBackupTarget(t *troveapi.BackupTarget) Spec {
	return Spec{Paths: t.Paths, Volumes: t.Volumes}
}

// Hosts groups running pods of a workload or Pod target into hosts by the kind's rule
// and resolves each pod's pairs. Pods must be the target's pods; only Running pods on
// a node are used. PVC targets resolve through PVCHost.
func Hosts(kind troveapi.TargetKind, pods []*corev1.Pod, spec Spec) ([]Host, error) {
	running := runningPods(pods)
	if len(running) == 0 {
		return nil, fail(troveapi.ReasonTargetNotFound,
			"no Running pod of the %s was found: Trove reads volumes through a running pod (scale it up, or wait for its pods)", kind)
	}
	var hosts []Host
	switch kind {
	case troveapi.KindDeployment, troveapi.KindReplicaSet, troveapi.KindPod:
		// One host: every replica shares the same data (or it is a single pod).
		hosts = []Host{{Name: "host-0", Pairs: nil}}
		running = running[:1]
	case troveapi.KindStatefulSet:
		for _, p := range running {
			ordinal, ok := statefulSetOrdinal(p.Name)
			if !ok {
				return nil, fail(troveapi.ReasonTargetNotFound, "pod %s has no StatefulSet ordinal in its name", p.Name)
			}
			hosts = append(hosts, Host{Name: "host-" + ordinal})
		}
	case troveapi.KindDaemonSet:
		for _, p := range running {
			hosts = append(hosts, Host{Name: p.Spec.NodeName})
		}
	default: // PVCs resolve through PVCHost

		return nil, fail(troveapi.ReasonTargetKindUnsupported,
			"target kind %s is not read from volumes: use a Task for AppBinding targets", kind)
	}
	for i, p := range running {
		pairs, err := PairsOf(p, spec)
		if err != nil {
			return nil, err
		}
		hosts[i].Pairs = pairs
	}
	return hosts, nil
}

// PVCHost resolves a PVC target into its one host: read through the first running pod
// that mounts the claim or, when none does, a pair without a pod, for the caller to
// expose through a holder pod. The data is named after the claim either way.
func PVCHost(claim string, pods []*corev1.Pod) Host {
	pair := Pair{Volume: claim, PVC: claim}
	for _, p := range runningPods(pods) {
		if _, holder := p.Labels[expose.LabelExposure]; holder {
			continue // Trove's own holder pod of an earlier pass: the claim is unmounted
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
				pair.Pod, pair.Reader = p, &Reader{Pod: p, Volume: v.Name}
				return Host{Name: "host-0", Pairs: []Pair{pair}}
			}
		}
	}
	return Host{Name: "host-0", Pairs: []Pair{pair}}
}

// PairsOf resolves one pod's (volume, subpaths) pairs for spec.
func PairsOf(pod *corev1.Pod, spec Spec) ([]Pair, error) {
	type found struct {
		pair  Pair
		whole bool // the whole volume was asked for: subpaths don't narrow it
	}
	var pairs []*found
	add := func(volume, sub string) error {
		v := podVolume(pod, volume)
		if v == nil {
			return fail(troveapi.ReasonPathNotOnVolume, "pod %s has no volume %q", pod.Name, volume)
		}
		if reason := unsupportedVolume(v); reason != "" {
			return fail(troveapi.ReasonPathNotOnVolume, "volume %q of pod %s is %s", volume, pod.Name, reason)
		}
		var f *found
		for _, p := range pairs {
			if p.pair.Volume == volume {
				f = p
			}
		}
		if f == nil {
			f = &found{pair: Pair{Pod: pod, Volume: volume}}
			if v.PersistentVolumeClaim != nil {
				f.pair.PVC = v.PersistentVolumeClaim.ClaimName
			}
			pairs = append(pairs, f)
		}
		if sub == "" {
			f.whole = true
		} else {
			f.pair.SubPaths = append(f.pair.SubPaths, sub)
		}
		return nil
	}
	for _, vol := range spec.Volumes {
		if err := add(vol, ""); err != nil {
			return nil, err
		}
	}
	for _, want := range spec.Paths {
		volume, sub, ok := volumeOfPath(pod, want)
		if !ok {
			return nil, fail(troveapi.ReasonPathNotOnVolume,
				"path %s is not on a volume of pod %s: Trove backs up volumes, so mount one at (or above) %s, or list volumes instead of paths", want, pod.Name, want)
		}
		if err := add(volume, sub); err != nil {
			return nil, err
		}
	}
	if len(spec.Paths) == 0 && len(spec.Volumes) == 0 {
		for _, v := range pod.Spec.Volumes {
			if unsupportedVolume(&v) == "" {
				_ = add(v.Name, "") // cannot fail: the volume exists and is supported
			}
		}
		if len(pairs) == 0 {
			return nil, fail(troveapi.ReasonPathNotOnVolume, "pod %s has no data volume (emptyDir, PVC, CSI, ...) to back up", pod.Name)
		}
	}
	out := make([]Pair, 0, len(pairs))
	for _, f := range pairs {
		if f.whole {
			f.pair.SubPaths = nil
		} else {
			sort.Strings(f.pair.SubPaths)
			f.pair.SubPaths = slices.Compact(f.pair.SubPaths)
		}
		out = append(out, f.pair)
	}
	return out, nil
}

// volumeOfPath finds the volume mounted at or above want in any container (longest
// mount path wins) and the directory of want inside that volume.
func volumeOfPath(pod *corev1.Pod, want string) (volume, sub string, ok bool) {
	want = path.Clean(want)
	best := -1
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, m := range c.VolumeMounts {
			mp := path.Clean(m.MountPath)
			if want != mp && !strings.HasPrefix(want, strings.TrimSuffix(mp, "/")+"/") {
				continue
			}
			if len(mp) <= best {
				continue
			}
			best = len(mp)
			rel := strings.TrimPrefix(strings.TrimPrefix(want, mp), "/")
			volume, sub, ok = m.Name, path.Join(m.SubPath, rel), true
			if sub == "." {
				sub = ""
			}
		}
	}
	return volume, sub, ok
}

func podVolume(pod *corev1.Pod, name string) *corev1.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

// unsupportedVolume says why a volume is not backed up by default ("" when it is).
// Configuration and secret volumes come from the API (back up the objects instead);
// host paths are the node's, not the pod's.
func unsupportedVolume(v *corev1.Volume) string {
	switch {
	case v.ConfigMap != nil, v.Secret != nil, v.Projected != nil, v.DownwardAPI != nil:
		return "a configuration volume (configMap, secret, projected or downwardAPI): its data lives in the API, back up those objects instead"
	case v.HostPath != nil:
		return "a hostPath volume: it belongs to the node, not the pod, and is not backed up"
	case v.Image != nil:
		return "an image volume: its data comes from a registry"
	}
	return ""
}

func runningPods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func statefulSetOrdinal(podName string) (string, bool) {
	i := strings.LastIndexByte(podName, '-')
	if i < 0 || i == len(podName)-1 {
		return "", false
	}
	for _, r := range podName[i+1:] {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return podName[i+1:], true
}
