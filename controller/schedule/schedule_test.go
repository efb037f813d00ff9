package schedule

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return v
}

func TestParseRejectsWithHelpfulErrors(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"", "schedule is empty"},
		{"every hour", "five fields"},
		{"* * *", "five fields"},
		{"75 * * * *", "five fields"},
		{"@every soon", `"soon" is not a duration`},
		{"@every 10s", "at least 1m"},
		{"CRON_TZ=Mars/Olympus 0 2 * * *", `unknown time zone "Mars/Olympus"`},
		{"0 0 30 2 *", "never fires"},
		{"@reboot", "five fields"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			_, err := Parse(tc.spec)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestDueAt(t *testing.T) {
	for _, tc := range []struct {
		name, spec, last, now string
		wantTick              string // "" when nothing is due
		wantMissed            int
		wantNext              string
	}{
		{"hourly, nothing due yet", "@hourly", "2026-11-21T10:00:00Z", "2026-11-21T10:59:59Z",
			"", 0, "2026-11-21T11:00:00Z"},
		{"hourly, due on the tick", "@hourly", "2026-11-21T10:00:00Z", "2026-11-21T11:00:00Z",
			"2026-11-21T11:00:00Z", 0, "2026-11-21T12:00:00Z"},
		{"cron every 15 minutes, late by 5", "*/15 * * * *", "2026-11-21T10:15:00Z", "2026-11-21T10:35:00Z",
			"2026-11-21T10:30:00Z", 0, "2026-11-21T10:45:00Z"},
		{"controller down 3h: one catch-up for the newest tick", "@hourly", "2026-11-21T07:00:00Z", "2026-11-21T10:20:00Z",
			"2026-11-21T10:00:00Z", 2, "2026-11-21T11:00:00Z"},
		{"down longer than MaxCatchUp: only ticks of the last 24h count", "0 * * * *", "2026-11-01T00:00:00Z", "2026-11-21T10:20:00Z",
			"2026-11-21T10:00:00Z", 23, "2026-11-21T11:00:00Z"},
		{"@every is anchored to the epoch, not to last", "@every 6h", "2026-11-21T01:23:00Z", "2026-11-21T06:00:01Z",
			"2026-11-21T06:00:00Z", 0, "2026-11-21T12:00:00Z"},
		{"@every 90m", "@every 90m", "2026-11-21T00:00:00Z", "2026-11-21T01:45:00Z",
			"2026-11-21T01:30:00Z", 0, "2026-11-21T03:00:00Z"},
		{"daily in a zone", "CRON_TZ=Asia/Tokyo 0 2 * * *", "2026-11-20T00:00:00Z", "2026-11-20T17:30:00Z",
			"2026-11-20T17:00:00Z", 0, "2026-11-21T17:00:00Z"},
		{"weekly descriptor", "@weekly", "2026-11-15T00:00:00Z", "2026-11-21T10:00:00Z",
			"", 0, "2026-11-22T00:00:00Z"},
		{"last in the future (clock skew): nothing due", "@hourly", "2026-11-21T12:00:00Z", "2026-11-21T11:30:00Z",
			"", 0, "2026-11-21T12:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.spec)
			require.NoError(t, err)
			due := s.DueAt(mustTime(t, tc.last), mustTime(t, tc.now))
			if tc.wantTick == "" {
				assert.True(t, due.Tick.IsZero(), "unexpected tick %v", due.Tick)
			} else {
				assert.Equal(t, mustTime(t, tc.wantTick).UTC(), due.Tick.UTC())
			}
			assert.Equal(t, tc.wantMissed, due.Missed)
			assert.Equal(t, mustTime(t, tc.wantNext).UTC(), due.Next.UTC())
		})
	}
}

// TestDaylightSavingTime pins down what happens at DST edges in Europe/Berlin:
// 2026-03-29 02:00 → 03:00 (02:30 does not exist), 2026-10-25 03:00 → 02:00 (02:30
// happens twice). A daily 02:30 backup must run exactly once on each of those days.
func TestDaylightSavingTime(t *testing.T) {
	s, err := Parse("CRON_TZ=Europe/Berlin 30 2 * * *")
	require.NoError(t, err)
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)

	countRuns := func(from, to time.Time) []time.Time {
		var ticks []time.Time
		last := from
		for now := from; !now.After(to); now = now.Add(time.Minute) {
			if due := s.DueAt(last, now); !due.Tick.IsZero() {
				ticks = append(ticks, due.Tick)
				last = due.Tick
			}
		}
		return ticks
	}
	spring := countRuns(time.Date(2026, 3, 28, 12, 0, 0, 0, berlin), time.Date(2026, 3, 29, 12, 0, 0, 0, berlin))
	autumn := countRuns(time.Date(2026, 10, 24, 12, 0, 0, 0, berlin), time.Date(2026, 10, 25, 12, 0, 0, 0, berlin))
	require.Len(t, spring, 1, "spring forward: %v", spring)
	require.Len(t, autumn, 1, "fall back: %v", autumn)
	assert.Equal(t, time.Date(2026, 3, 29, 3, 30, 0, 0, berlin).Unix(), spring[0].Unix(), "the skipped 02:30 runs right after the jump")
	assert.Contains(t, []int64{
		time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC).Unix(), // 02:30 CEST
		time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC).Unix(), // 02:30 CET
	}, autumn[0].Unix(), "the repeated 02:30 runs once, at one of its two occurrences")
}

func TestSpreadIsStableBoundedAndSpreads(t *testing.T) {
	s, err := Parse("@daily")
	require.NoError(t, err)
	a1 := s.WithSpread("demo/app", time.Hour)
	a2 := s.WithSpread("demo/app", time.Hour)
	assert.Equal(t, a1.Offset(), a2.Offset(), "same key, same offset")

	distinct := map[time.Duration]bool{}
	for i := 0; i < 2000; i++ {
		off := s.WithSpread(fmt.Sprintf("ns-%d/cfg", i), time.Hour).Offset()
		require.GreaterOrEqual(t, off, time.Duration(0))
		require.Less(t, off, time.Hour)
		distinct[off] = true
	}
	assert.Greater(t, len(distinct), 1500, "2000 configurations should land on many different seconds")

	// The spread never exceeds half the interval, so ticks cannot reorder or merge.
	every, err := Parse("@every 10m")
	require.NoError(t, err)
	for i := 0; i < 100; i++ {
		assert.Less(t, every.WithSpread(fmt.Sprint(i), time.Hour).Offset(), 5*time.Minute)
	}

	// A spread schedule fires offset after the nominal tick and names it by the tick.
	sp := s.WithSpread("demo/app", time.Hour)
	tick := mustTime(t, "2026-11-21T00:00:00Z")
	before := sp.DueAt(tick.Add(-24*time.Hour), tick.Add(sp.Offset()-time.Second))
	at := sp.DueAt(tick.Add(-24*time.Hour), tick.Add(sp.Offset()))
	if sp.Offset() > 0 {
		assert.True(t, before.Tick.IsZero() || before.Tick.Before(tick))
	}
	assert.Equal(t, tick, at.Tick.UTC())
	assert.Equal(t, tick.Add(24*time.Hour+sp.Offset()), at.Next.UTC())
}

func TestSessionName(t *testing.T) {
	tick := mustTime(t, "2026-11-21T10:00:00Z")
	assert.Equal(t, "nightly-1795255200", SessionName("nightly", tick))
	assert.Equal(t, SessionName("nightly", tick), SessionName("nightly", tick), "deterministic")
	assert.NotEqual(t, SessionName("nightly", tick), SessionName("nightly", tick.Add(time.Hour)))

	long1 := SessionName("a-very-long-backup-configuration-name-that-goes-on-and-on-x", tick)
	long2 := SessionName("a-very-long-backup-configuration-name-that-goes-on-and-on-y", tick)
	dns1123 := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	for _, n := range []string{long1, long2} {
		assert.LessOrEqual(t, len(n), 63)
		assert.Regexp(t, dns1123, n)
	}
	assert.NotEqual(t, long1, long2, "long names that differ only at the end stay distinct")
}
