package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nodeMounts lists the mount points of the node: everything under StateDir
// (containerd keeps the pods' network namespaces there too:
// netns_mounts_under_state_dir) and the kubelet root, deepest first.
func (c Config) nodeMounts() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	prefixes := []string{c.StateDir, c.KubeletRoot}
	var mounts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountPath(fields[4])
		ours := false
		for _, p := range prefixes {
			if mp == p || strings.HasPrefix(mp, p+"/") {
				ours = true
			}
		}
		if ours {
			mounts = append(mounts, mp)
		}
	}
	// Deepest (and, for stacked mounts, last) first.
	sort.SliceStable(mounts, func(i, j int) bool {
		return strings.Count(mounts[i], "/") > strings.Count(mounts[j], "/")
	})
	return mounts, sc.Err()
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountAll unmounts the node's mounts until none is left (a mount may hide
// another at the same place), detaching lazily what stays busy.
func (c Config) unmountAll() error {
	var last []string
	for round := 0; round < 20; round++ {
		mounts, err := c.nodeMounts()
		if err != nil {
			return err
		}
		if len(mounts) == 0 {
			return nil
		}
		last = mounts
		for _, m := range mounts {
			if err := syscall.Unmount(m, 0); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				if round >= 2 {
					_ = syscall.Unmount(m, syscall.MNT_DETACH)
				}
			}
		}
		time.Sleep(time.Duration(round) * 50 * time.Millisecond)
	}
	return fmt.Errorf("mounts left after unmounting: %s", strings.Join(last, ", "))
}
