package restic_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trove.dev/trove/mover"
	"trove.dev/trove/mover/restic"
	"trove.dev/trove/mover/trampoline"
)

// heldBackup is a backup of a stream whose writer the test holds open, so
// restic keeps running (and keeps its repository lock) until released.
type heldBackup struct {
	w    *os.File
	pid  chan int
	done chan struct{}
	res  *mover.BackupResult
	err  error
}

func startHeldBackup(ctx context.Context, t *testing.T, tweak ...func(*restic.Config)) (*heldBackup, *restic.Restic) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	h := &heldBackup{w: w, pid: make(chan int, 8), done: make(chan struct{})}
	m := local(t, append(tweak, func(c *restic.Config) {
		c.OnStart = func(op string, pid int) {
			if op == "backup" {
				select {
				case h.pid <- pid:
				default:
				}
			}
		}
	})...)
	_, err = w.Write([]byte("some data before the writer stalls\n"))
	require.NoError(t, err)
	go func() {
		defer close(h.done)
		defer r.Close()
		h.res, h.err = m.Backup(ctx, mover.BackupRequest{Stdin: r, StdinFilename: "held.bin", Host: "held-" + t.Name()})
	}()
	return h, m
}

// waitRestic returns restic's pid once the process runs the restic binary
// (after the trampoline's exec).
func (h *heldBackup) waitRestic(t *testing.T) int {
	t.Helper()
	var pid int
	select {
	case pid = <-h.pid:
	case <-time.After(20 * time.Second):
		t.Fatal("restic did not start")
	}
	want, err := filepath.EvalSymlinks(bin(t))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		return err == nil && exe == want
	}, 10*time.Second, 10*time.Millisecond, "pid %d never became restic", pid)
	return pid
}

func (h *heldBackup) finish(t *testing.T) {
	t.Helper()
	require.NoError(t, h.w.Close())
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		t.Fatal("backup did not finish")
	}
}

func procGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// niceOf reads field 19 of /proc/<pid>/task/<tid>/stat for every thread.
func niceOf(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	require.NoError(t, err)
	var out []int
	for _, task := range tasks {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		require.NoError(t, err)
		s := string(raw)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 on
		n, err := strconv.Atoi(fields[19-3])
		require.NoError(t, err)
		out = append(out, n)
	}
	return out
}

func TestThrottleAppliesToRestic(t *testing.T) {
	tests := []struct {
		name             string
		nice, class, dat int
	}{
		{"nice 10, idle I/O", 10, trampoline.IOClassIdle, 0},
		{"nice 5, best-effort 7", 5, trampoline.IOClassBestEffort, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			nice, class := tc.nice, tc.class
			h, _ := startHeldBackup(ctx, t, func(c *restic.Config) {
				c.Throttle = restic.Throttle{Nice: &nice, IOClass: &class, IOClassData: tc.dat}
			})
			pid := h.waitRestic(t)
			for _, n := range niceOf(t, pid) {
				assert.Equal(t, tc.nice, n, "nice of a restic thread")
			}
			gotClass, gotData, err := trampoline.IOPriority(pid)
			require.NoError(t, err)
			assert.Equal(t, tc.class, gotClass)
			assert.Equal(t, tc.dat, gotData)
			// The test process itself is untouched.
			assert.Equal(t, 0, niceOf(t, os.Getpid())[0])

			h.finish(t)
			require.NoError(t, h.err)
			assert.Equal(t, uint64(1), h.res.FilesNew)
		})
	}
}

func TestThrottleRejectsBadValues(t *testing.T) {
	bad := 42
	_, err := restic.New(restic.Config{Binary: bin(t), Backend: restic.BackendSpec{Local: &restic.LocalBackend{Path: "/r"}},
		Secret: map[string][]byte{restic.KeyResticPassword: []byte("x")}, Throttle: restic.Throttle{Nice: &bad}})
	assert.ErrorContains(t, err, "nice 42")
}

func TestCancelStopsResticWithoutLeaks(t *testing.T) {
	baseline := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	h, _ := startHeldBackup(ctx, t, func(c *restic.Config) { c.InterruptGrace = 2 * time.Second })
	pid := h.waitRestic(t)
	cancel()
	select {
	case <-h.done:
	case <-time.After(15 * time.Second):
		t.Fatal("backup did not return after cancel")
	}
	assert.ErrorIs(t, h.err, mover.ErrInterrupted)
	assert.Nil(t, h.res)
	assert.True(t, procGone(pid), "restic pid %d still exists", pid)
	assert.Less(t, time.Since(start), 15*time.Second)
	_ = h.w.Close()
	// Poll by hand: assert.Eventually runs its condition in a goroutine of its own.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !assert.LessOrEqual(t, runtime.NumGoroutine(), baseline, "goroutine leak") {
		buf := make([]byte, 1<<20)
		t.Logf("goroutines: baseline %d, now %d\n%s", baseline, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	}
}
