// Package hostpath finds where the kubelet keeps a pod volume on the node,
// <kubelet-root>/pods/<pod-uid>/volumes/<plugin-dir>/<dir>, from API facts (pod, volume,
// PersistentVolume) alone, and proves the answer before the agent reads or writes
// through it: exactly one candidate exists, it belongs to this pod, and no part of the
// path below the kubelet root is a symbolic link (checked with openat2 and
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, so the kernel does the walking).
package hostpath

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// Facts are what the resolver knows about a volume, all from the API.
type Facts struct {
	// KubeletRoot is the kubelet's root directory, e.g. /var/lib/kubelet.
	KubeletRoot string
	// NodeName is the agent's node: the pod must run there.
	NodeName string
	Pod      *corev1.Pod
	// VolumeName is the pod's name for the volume.
	VolumeName string
	// PV is the PersistentVolume bound to the volume's claim, when it is a claim
	// (or a generic ephemeral volume).
	PV *corev1.PersistentVolume
	// AllowConfigVolumes permits configMap, secret, projected and downwardAPI volumes.
	AllowConfigVolumes bool
}

// Location is a resolved volume on the node.
type Location struct {
	// Path is the absolute path of the volume's directory (or block device).
	Path string
	// Block is true for a raw block volume (read as a stream).
	Block bool
}

// Reasons of resolution errors, for work item status.
const (
	ReasonPodNotHere        = "PodNotOnThisNode"
	ReasonVolumeNotFound    = "VolumeNotFound"
	ReasonVolumeRefused     = "VolumeKindRefused"
	ReasonVolumeAmbiguous   = "VolumeAmbiguous"
	ReasonUnsafePath        = "UnsafePath"
	ReasonPodDirNotThisPod  = "PodDirectoryMismatch"
	ReasonMissingPVFacts    = "PersistentVolumeUnknown"
	ReasonVolumeUnsupported = "VolumeKindUnsupported"
)

// Error is a resolution failure with a reason for status.
type Error struct {
	Reason  string
	Message string
}

func (e *Error) Error() string { return e.Message }

func fail(reason, format string, args ...any) error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Resolve finds and checks the volume's location on this node.
func Resolve(f Facts) (Location, error) {
	pod := f.Pod
	if pod.Spec.NodeName != f.NodeName {
		return Location{}, fail(ReasonPodNotHere, "pod %s/%s runs on node %q, not on this agent's node %q", pod.Namespace, pod.Name, pod.Spec.NodeName, f.NodeName)
	}
	if pod.Status.Phase != corev1.PodRunning || pod.DeletionTimestamp != nil {
		return Location{}, fail(ReasonPodNotHere, "pod %s/%s is not running (phase %s)", pod.Namespace, pod.Name, pod.Status.Phase)
	}
	vol := volumeOf(pod, f.VolumeName)
	if vol == nil {
		return Location{}, fail(ReasonVolumeNotFound, "pod %s/%s has no volume %q", pod.Namespace, pod.Name, f.VolumeName)
	}
	candidates, block, err := candidatesFor(f, vol)
	if err != nil {
		return Location{}, err
	}
	for _, name := range []string{string(pod.UID), vol.Name, pvName(f.PV)} {
		if name == "." || name == ".." || strings.ContainsRune(name, '/') {
			return Location{}, fail(ReasonUnsafePath, "%q cannot be part of a path: refusing it", name)
		}
	}
	podDir := filepath.Join("pods", string(pod.UID))
	if err := ownedByPod(f.KubeletRoot, podDir, pod); err != nil {
		return Location{}, err
	}
	var found []string
	for _, rel := range candidates {
		rel = filepath.Join(podDir, rel)
		ok, err := existsBeneath(f.KubeletRoot, rel, block)
		if err != nil {
			return Location{}, err
		}
		if ok {
			found = append(found, rel)
		}
	}
	switch len(found) {
	case 0:
		return Location{}, fail(ReasonVolumeNotFound, "volume %q of pod %s/%s is not at %s on this node (is the kubelet root %s right? set the agent's --kubelet-root)",
			f.VolumeName, pod.Namespace, pod.Name, strings.Join(joinAll(f.KubeletRoot, candidates, podDir), " or "), f.KubeletRoot)
	case 1:
		return Location{Path: filepath.Join(f.KubeletRoot, found[0]), Block: block}, nil
	}
	return Location{}, fail(ReasonVolumeAmbiguous, "volume %q of pod %s/%s matches %d directories (%s): refusing to guess",
		f.VolumeName, pod.Namespace, pod.Name, len(found), strings.Join(found, ", "))
}

// candidatesFor lists where the kubelet may keep the volume, relative to the pod's
// directory, and whether it is a raw block volume.
func candidatesFor(f Facts, vol *corev1.Volume) ([]string, bool, error) {
	name := vol.Name
	switch {
	case vol.EmptyDir != nil:
		return []string{"volumes/kubernetes.io~empty-dir/" + name}, false, nil
	case vol.CSI != nil: // inline (ephemeral) CSI volume
		return []string{"volumes/kubernetes.io~csi/" + name + "/mount"}, false, nil
	case vol.NFS != nil:
		return []string{"volumes/kubernetes.io~nfs/" + name}, false, nil
	case vol.ConfigMap != nil, vol.Secret != nil, vol.Projected != nil, vol.DownwardAPI != nil:
		if !f.AllowConfigVolumes {
			return nil, false, fail(ReasonVolumeRefused, "volume %q is a configuration volume (configMap, secret, projected or downwardAPI): its data lives in the API; back up those objects instead, or allow configuration volumes explicitly", name)
		}
		var plugin string
		switch {
		case vol.ConfigMap != nil:
			plugin = "configmap"
		case vol.Secret != nil:
			plugin = "secret"
		case vol.Projected != nil:
			plugin = "projected"
		case vol.DownwardAPI != nil:
			plugin = "downward-api"
		}
		return []string{"volumes/kubernetes.io~" + plugin + "/" + name}, false, nil
	case vol.HostPath != nil:
		return nil, false, fail(ReasonVolumeRefused, "volume %q is a hostPath volume: it belongs to the node, not the pod, and is not backed up", name)
	case vol.PersistentVolumeClaim != nil, vol.Ephemeral != nil:
		return pvCandidates(f, name)
	}
	return nil, false, fail(ReasonVolumeUnsupported, "volume %q is of a kind Trove does not read from the node", name)
}

// inTreePlugin maps an in-tree PersistentVolume source to its kubelet plugin
// directory. Many are migrated to CSI on current clusters, so the CSI directory is
// always a candidate too.
func inTreePlugin(pv *corev1.PersistentVolume) string {
	s := pv.Spec.PersistentVolumeSource
	switch {
	case s.NFS != nil:
		return "nfs"
	case s.Local != nil:
		return "local-volume"
	case s.ISCSI != nil:
		return "iscsi"
	case s.FC != nil:
		return "fc"
	case s.RBD != nil:
		return "rbd"
	case s.CephFS != nil:
		return "cephfs"
	case s.AzureFile != nil:
		return "azure-file"
	case s.AzureDisk != nil:
		return "azure-disk"
	case s.AWSElasticBlockStore != nil:
		return "aws-ebs"
	case s.GCEPersistentDisk != nil:
		return "gce-pd"
	}
	return ""
}

func pvCandidates(f Facts, name string) ([]string, bool, error) {
	pv := f.PV
	if pv == nil {
		return nil, false, fail(ReasonMissingPVFacts, "volume %q is a claim whose PersistentVolume is unknown (unbound claim?)", name)
	}
	if pv.Spec.HostPath != nil {
		return nil, false, fail(ReasonVolumeRefused, "volume %q is bound to hostPath PersistentVolume %s: it belongs to the node and is not backed up", name, pv.Name)
	}
	if blockVolume(f.Pod, name) {
		return []string{"volumeDevices/kubernetes.io~csi/" + pv.Name}, true, nil
	}
	candidates := []string{"volumes/kubernetes.io~csi/" + pv.Name + "/mount"}
	if plugin := inTreePlugin(pv); plugin != "" && pv.Spec.CSI == nil {
		candidates = append(candidates, "volumes/kubernetes.io~"+plugin+"/"+pv.Name)
	}
	return candidates, false, nil
}

// blockVolume is true when a container uses the volume as a raw device.
func blockVolume(pod *corev1.Pod, name string) bool {
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, d := range c.VolumeDevices {
			if d.Name == name {
				return true
			}
		}
	}
	return false
}

// ownedByPod proves the pod directory is this pod's: the kubelet keeps a directory per
// container under it, named after the pod's containers.
func ownedByPod(root, podDir string, pod *corev1.Pod) error {
	ok, err := existsBeneath(root, podDir, false)
	if err != nil {
		return err
	}
	if !ok {
		return fail(ReasonVolumeNotFound, "the kubelet has no directory for pod %s/%s (UID %s) under %s: is the pod on this node, and the kubelet root right?", pod.Namespace, pod.Name, pod.UID, root)
	}
	for _, c := range pod.Spec.Containers {
		if ok, err := existsBeneath(root, filepath.Join(podDir, "containers", c.Name), false); err != nil || ok {
			return err
		}
	}
	return fail(ReasonPodDirNotThisPod, "the kubelet directory of UID %s holds none of pod %s/%s's containers: refusing to read another pod's data", pod.UID, pod.Namespace, pod.Name)
}

// existsBeneath opens rel under root without following any symbolic link and without
// leaving root; it reports whether rel exists and is a directory (or, for block, a
// device). A symbolic link anywhere on the way is an error, not a miss.
func existsBeneath(root, rel string, block bool) (bool, error) {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("opening the kubelet root %s: %w", root, err)
	}
	defer unix.Close(rootFD)
	fd, err := unix.Openat2(rootFD, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return false, nil
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV):
		return false, fail(ReasonUnsafePath, "%s/%s passes through a symbolic link or leaves the kubelet root: refusing to follow it", root, rel)
	case errors.Is(err, unix.ENOSYS):
		return false, fmt.Errorf("the kernel lacks openat2 (Linux >= 5.6 is required): %w", err)
	case err != nil:
		return false, fmt.Errorf("opening %s/%s: %w", root, rel, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, err
	}
	mode := st.Mode & unix.S_IFMT
	if block {
		return mode == unix.S_IFBLK, nil
	}
	if mode == unix.S_IFLNK {
		return false, fail(ReasonUnsafePath, "%s/%s is a symbolic link: refusing to follow it", root, rel)
	}
	return mode == unix.S_IFDIR, nil
}

func pvName(pv *corev1.PersistentVolume) string {
	if pv == nil {
		return ""
	}
	return pv.Name
}

func volumeOf(pod *corev1.Pod, name string) *corev1.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

func joinAll(root string, rels []string, podDir string) []string {
	out := make([]string, len(rels))
	for i, r := range rels {
		out[i] = filepath.Join(root, podDir, r)
	}
	return out
}
