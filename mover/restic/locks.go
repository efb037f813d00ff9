package restic

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"syscall"
	"time"

	"trove.dev/trove/mover"
)

// resticStaleAfter is restic's own rule: a lock not refreshed for 30 minutes
// is stale (restic refreshes live locks every 5 minutes).
const resticStaleAfter = 30 * time.Minute

// Locks lists the repository's locks without taking one.
func (m *Restic) Locks(ctx context.Context) ([]mover.Lock, error) {
	stdout, _, err := m.simple(ctx, ListLocksCmd)
	if err != nil {
		return nil, err
	}
	var locks []mover.Lock
	for _, id := range strings.Fields(string(stdout)) {
		raw, _, err := m.simple(ctx, func(g Globals) Command { return CatLockCmd(g, id) })
		if err != nil {
			// The lock may have gone between list and cat: that is fine.
			if strings.Contains(strings.ToLower(err.Error()), "not exist") || strings.Contains(strings.ToLower(err.Error()), "not found") {
				continue
			}
			return nil, err
		}
		var l struct {
			Time      time.Time `json:"time"`
			Exclusive bool      `json:"exclusive"`
			Hostname  string    `json:"hostname"`
			Username  string    `json:"username"`
			PID       int       `json:"pid"`
		}
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, &mover.Error{Kind: mover.KindFatal, Op: "cat lock", Err: err}
		}
		locks = append(locks, mover.Lock{ID: id, Hostname: l.Hostname, PID: l.PID, Exclusive: l.Exclusive, Time: l.Time, Username: l.Username})
	}
	return locks, nil
}

// UnlockStale implements mover.Mover.
//
// A lock's holder is provably gone when the lock was taken on this host
// (same hostname) by a pid that no longer exists, or when req.Alive says so
// for another host. restic offers no command to delete one chosen lock, and
// Trove never runs `unlock --remove-all`; it runs plain `restic unlock`, which
// removes the locks restic judges stale (same host and dead pid, or not
// refreshed for 30 minutes), and only when every lock restic would remove is
// also provably gone by Trove's rule. Locks whose holder is gone but that
// restic would not remove yet (another host, younger than 30 minutes) are
// reported as Deferred; they become removable once restic agrees.
func (m *Restic) UnlockStale(ctx context.Context, req mover.UnlockRequest) (*mover.UnlockResult, error) {
	locks, err := m.Locks(ctx)
	if err != nil {
		return nil, err
	}
	res := &mover.UnlockResult{}
	var gone, resticWould []mover.Lock
	unsafe := false
	now := time.Now()
	for _, l := range locks {
		isGone := m.holderGone(l, req)
		would := now.Sub(l.Time) > resticStaleAfter || (l.Hostname == m.cfg.Hostname && !pidAlive(l.PID))
		switch {
		case would && !isGone:
			unsafe = true
			res.Kept = append(res.Kept, l)
		case would:
			resticWould = append(resticWould, l)
			gone = append(gone, l)
		case isGone:
			res.Deferred = append(res.Deferred, l)
		default:
			res.Kept = append(res.Kept, l)
		}
	}
	if unsafe {
		// restic would also remove a lock whose holder may live: remove nothing.
		res.Deferred = append(res.Deferred, gone...)
		return res, nil
	}
	if len(resticWould) == 0 {
		return res, nil
	}
	if _, _, err := m.simple(ctx, UnlockCmd); err != nil {
		return nil, err
	}
	after, err := m.Locks(ctx)
	if err != nil {
		return nil, err
	}
	still := map[string]bool{}
	for _, l := range after {
		still[l.ID] = true
	}
	for _, l := range resticWould {
		if still[l.ID] {
			res.Deferred = append(res.Deferred, l)
		} else {
			res.Removed = append(res.Removed, l)
		}
	}
	return res, nil
}

func (m *Restic) holderGone(l mover.Lock, req mover.UnlockRequest) bool {
	if l.Hostname == m.cfg.Hostname {
		return !pidAlive(l.PID)
	}
	if req.Alive == nil {
		return false
	}
	alive, known := req.Alive(l)
	return known && !alive
}

// pidAlive reports whether a process with this pid exists here.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
