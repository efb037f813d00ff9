package trampoline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// MountRoot is where every mount target lies. The trampoline mounts a tmpfs there in
// the tool's private mount namespace, so targets are created in memory and leave no
// trace on the host, and nothing of the host's own MountRoot is visible to the tool.
const MountRoot = "/trove"

// Mount presents Source (a directory) at Target, for the tool only: the agent uses it
// to show a volume's kubelet host path to restic at the volume's stable path, so
// snapshots record /trove/<namespace>/<owner>/<volume> whatever the pod's UID.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

func validateMounts(mounts []Mount) error {
	for _, m := range mounts {
		if !filepath.IsAbs(m.Source) || filepath.Clean(m.Source) != m.Source {
			return fmt.Errorf("mount source %q must be a clean absolute path", m.Source)
		}
		if filepath.Clean(m.Target) != m.Target || !strings.HasPrefix(m.Target, MountRoot+"/") {
			return fmt.Errorf("mount target %q must be a clean path under %s", m.Target, MountRoot)
		}
	}
	return nil
}

// isolate gives the calling thread (and so the tool it execs) a private mount
// namespace with a tmpfs at MountRoot and the requested bind mounts in it. Nothing
// propagates back to the host, and everything is gone when the tool exits.
func isolate(s Spec) error {
	if len(s.Mounts) == 0 {
		return nil
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare a mount namespace (the agent needs CAP_SYS_ADMIN): %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := os.MkdirAll(MountRoot, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("trove", MountRoot, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mounting a tmpfs at %s: %w", MountRoot, err)
	}
	for _, m := range s.Mounts {
		if err := os.MkdirAll(m.Target, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.Source, m.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mounting %s at %s: %w", m.Source, m.Target, err)
		}
		if !m.ReadOnly {
			continue
		}
		// A bind mount becomes read-only through a remount, which must keep the
		// flags the source mount has (nosuid, nodev, ...), or the kernel refuses.
		var st unix.Statfs_t
		if err := unix.Statfs(m.Target, &st); err != nil {
			return err
		}
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
		for _, keep := range []struct{ st, ms int64 }{
			{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
			{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
		} {
			if st.Flags&keep.st != 0 {
				flags |= uintptr(keep.ms)
			}
		}
		if err := unix.Mount("", m.Target, "", flags, ""); err != nil {
			return fmt.Errorf("making %s read-only: %w", m.Target, err)
		}
	}
	return nil
}
