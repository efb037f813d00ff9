// Package schedule is the schedule math of BackupConfigurations: parsing cron
// expressions, descriptors and @every intervals (with CRON_TZ), finding the tick that
// is due, deriving a session's name from its tick so that one tick never yields two
// sessions, and a stable per-configuration spread so that thousands of @daily
// configurations do not all fire in the same second.
//
// Cron parsing is github.com/robfig/cron/v3, the parser Kubernetes' CronJob
// controller uses.
package schedule

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"
	_ "time/tzdata" // CRON_TZ works in images without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"
)

// MaxCatchUp bounds how far back a missed tick is still run: a tick missed while the
// controller was down longer than this is dropped (the next tick runs as usual).
const MaxCatchUp = 24 * time.Hour

// Schedule yields the ticks of one configuration.
type Schedule struct {
	spec string
	// cron runs on wall-clock time in loc, represented as UTC (see next).
	cron  cron.Schedule
	loc   *time.Location
	every time.Duration // set for "@every": ticks are multiples of it since the epoch
	// offset delays every tick's firing by a stable amount (the spread).
	offset time.Duration
}

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse reads a schedule: five cron fields, a descriptor (@hourly, @daily, @weekly,
// @monthly, @yearly), or "@every <duration>" (at least one minute), each optionally
// prefixed by CRON_TZ=<zone> or TZ=<zone>.
func Parse(spec string) (*Schedule, error) {
	trimmed := strings.TrimSpace(spec)
	if trimmed == "" {
		return nil, fmt.Errorf("schedule is empty: use a cron expression like \"0 2 * * *\", @daily or \"@every 6h\"")
	}
	if rest, ok := strings.CutPrefix(trimmed, "@every"); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("schedule %q: %q is not a duration (examples: 30m, 6h, 1h30m)", spec, strings.TrimSpace(rest))
		}
		if d < time.Minute {
			return nil, fmt.Errorf("schedule %q: the interval must be at least 1m", spec)
		}
		return &Schedule{spec: spec, every: d.Truncate(time.Second)}, nil
	}
	loc := time.UTC
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if rest, ok := strings.CutPrefix(trimmed, prefix); ok {
			zone, fields, _ := strings.Cut(rest, " ")
			l, err := time.LoadLocation(zone)
			if err != nil {
				return nil, fmt.Errorf("schedule %q: unknown time zone %q (use an IANA name like Europe/Berlin)", spec, zone)
			}
			loc, trimmed = l, strings.TrimSpace(fields)
		}
	}
	c, err := parser.Parse(trimmed)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w (five fields: minute hour day-of-month month day-of-week; or @hourly, @daily, @weekly, @monthly, @yearly, \"@every 6h\"; optional CRON_TZ=<zone> prefix)", spec, err)
	}
	if ss, ok := c.(*cron.SpecSchedule); ok {
		ss.Location = time.UTC // we feed it wall-clock time, see next
	}
	sched := &Schedule{spec: spec, cron: c, loc: loc}
	if sched.next(time.Now()).IsZero() {
		return nil, fmt.Errorf("schedule %q never fires (no such date, e.g. February 30)", spec)
	}
	return sched, nil
}

// WithSpread returns the schedule with every tick delayed by a stable offset derived
// from key (e.g. "namespace/name"), below max and below half the schedule's shortest
// interval, so configurations sharing a schedule fire spread out, each at the same
// offset every time.
func (s *Schedule) WithSpread(key string, max time.Duration) *Schedule {
	limit := max
	if half := s.minInterval() / 2; half < limit {
		limit = half
	}
	out := *s
	out.offset = 0
	if limit >= time.Second {
		h := fnv.New64a()
		_, _ = h.Write([]byte(key))
		out.offset = time.Duration(h.Sum64()%uint64(limit/time.Second)) * time.Second
	}
	return &out
}

// Offset is the spread applied to every tick.
func (s *Schedule) Offset() time.Duration { return s.offset }

// next is the first nominal tick strictly after t.
//
// Cron ticks are wall-clock times in the schedule's zone, and each wall-clock time
// fires once: a time skipped by a daylight-saving jump fires right after the jump
// (02:30 on a spring-forward night runs at 03:30), a time that happens twice fires
// once. To get that, the cron library sees wall-clock time written as
// UTC (a zone without jumps) and its answer is placed back into the real zone.
func (s *Schedule) next(t time.Time) time.Time {
	if s.every > 0 {
		return time.Unix(0, 0).Add((t.Sub(time.Unix(0, 0))/s.every + 1) * s.every).In(t.Location())
	}
	wall := asWall(t.In(s.loc))
	for { // more than one step only inside a repeated hour
		wall = s.cron.Next(wall)
		if wall.IsZero() {
			return wall // never fires (Parse rejects such schedules)
		}
		if real := fromWall(wall, s.loc); real.After(t) {
			return real
		}
	}
}

// asWall writes t's wall-clock reading as a UTC time.
func asWall(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// fromWall places a wall-clock reading (written as UTC) into loc. For a reading that
// does not exist in loc, time.Date moves it forward by the jump.
func fromWall(w time.Time, loc *time.Location) time.Time {
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc)
}

// minInterval estimates the shortest gap between two ticks (over a sample of ticks).
func (s *Schedule) minInterval() time.Duration {
	if s.every > 0 {
		return s.every
	}
	t := s.cron.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) // wall clock: no DST
	shortest := time.Duration(1<<63 - 1)
	for i := 0; i < 64; i++ {
		n := s.cron.Next(t)
		if d := n.Sub(t); d < shortest {
			shortest = d
		}
		t = n
	}
	return shortest
}

// Due says which tick, if any, should have a session now.
type Due struct {
	// Tick is the nominal tick to run (zero when nothing is due). Session names are
	// derived from it.
	Tick time.Time
	// Missed counts older ticks since last that are dropped: at most one catch-up runs.
	Missed int
	// Next is when the following tick fires (spread included): requeue then.
	Next time.Time
}

// DueAt returns the newest tick that fired in (last, now] and is no older than
// MaxCatchUp, the number of older ticks it stands for, and when the next one fires.
// last is the previous tick a session was created for (or the configuration's
// creation time).
func (s *Schedule) DueAt(last, now time.Time) Due {
	shifted := now.Add(-s.offset) // ticks fire offset after their nominal time
	from := last
	if earliest := shifted.Add(-MaxCatchUp); from.Before(earliest) {
		from = earliest
	}
	var due Due
	for t := s.next(from); !t.IsZero() && !t.After(shifted); t = s.next(t) {
		if !due.Tick.IsZero() {
			due.Missed++
		}
		due.Tick = t
	}
	due.Next = s.next(shifted).Add(s.offset)
	return due
}

// String is the schedule as written.
func (s *Schedule) String() string { return s.spec }

// SessionName is the BackupSession name for a configuration's tick: the same tick
// always gives the same name, so a controller that restarts mid-tick cannot create a
// second session. It is a valid DNS-1123 label of at most 63 characters.
func SessionName(config string, tick time.Time) string {
	suffix := fmt.Sprintf("-%d", tick.Unix())
	if len(config)+len(suffix) <= 63 {
		return config + suffix
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(config))
	short := fmt.Sprintf("-%08x", h.Sum32())
	keep := 63 - len(suffix) - len(short)
	return strings.TrimRight(config[:keep], "-.") + short + suffix
}
