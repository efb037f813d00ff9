// Package restic implements mover.Mover with the restic binary.
//
// Every invocation is built as data (command.go), gets its repository,
// credentials and secret files from the backend spec and the storage Secret
// (backend.go), runs in its own process group with --json output that is
// parsed into typed progress and results (run.go, json.go), and fails with a
// classified *mover.Error whose text never holds a secret (redact.go).
// CPU and I/O priorities are applied to restic by the trampoline
// (package mover/trampoline) before restic starts.
package restic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"trove.dev/trove/mover"
	"trove.dev/trove/mover/trampoline"
)

// Throttle bounds what restic may take from the node.
type Throttle struct {
	// Nice is restic's CPU nice value; nil keeps the agent's.
	Nice *int
	// IOClass (1 realtime, 2 best-effort, 3 idle) and IOClassData (0-7); nil
	// IOClass keeps the agent's I/O priority.
	IOClass     *int
	IOClassData int
	// LimitUploadKiBps and LimitDownloadKiBps cap restic's bandwidth.
	LimitUploadKiBps   int
	LimitDownloadKiBps int
}

// spec is what the trampoline applies to every restic of this mover.
func (c Config) spec() trampoline.Spec {
	t := c.Throttle
	return trampoline.Spec{Nice: t.Nice, IOClass: t.IOClass, IOClassData: t.IOClassData, Mounts: c.Mounts}
}

// Config configures a Mover for one repository.
type Config struct {
	// Binary is the restic executable.
	Binary string
	// Backend and Secret locate the repository and hold its credentials.
	Backend BackendSpec
	Secret  map[string][]byte
	// CacheDir is this repository's persistent restic cache; empty runs
	// restic with --no-cache.
	CacheDir string
	Throttle Throttle
	// Mounts are presented to restic only, in its own mount namespace (e.g. a
	// volume at its stable path); see trampoline.Mount.
	Mounts []trampoline.Mount
	// Compression is auto, off, fastest or max; empty is restic's default (auto).
	Compression string
	// ReadConcurrency is restic backup's --read-concurrency; 0 is restic's default.
	ReadConcurrency int
	// InterruptGrace is how long restic may take to stop after SIGINT before
	// it is killed; default 10s.
	InterruptGrace time.Duration
	// BackendTimeout stops restic when the backend keeps failing for this
	// long (restic itself retries for 15 minutes); default 2m, negative
	// leaves it to restic.
	BackendTimeout time.Duration
	// TempDir holds the private directories for secret files; default os.TempDir().
	TempDir string
	// Hostname judges whose locks are local; default os.Hostname().
	Hostname string
	Logger   logr.Logger
	// OnStart, if set, is told the pid of every restic process once it runs
	// (for status reports and tests; the trampoline keeps the pid).
	OnStart func(op string, pid int)
}

// Restic is a mover.Mover backed by the restic binary.
type Restic struct {
	cfg Config
	log logr.Logger
}

var _ mover.Mover = (*Restic)(nil)

// New checks cfg and returns a Mover. It does not touch the repository.
func New(cfg Config) (*Restic, error) {
	if cfg.Binary == "" {
		return nil, errors.New("restic: no binary configured")
	}
	if _, ok := cfg.Secret[KeyResticPassword]; !ok {
		return nil, fmt.Errorf("restic: storage secret has no %s", KeyResticPassword)
	}
	if cfg.Backend.count() != 1 {
		return nil, errors.New("restic: exactly one backend must be set")
	}
	if err := cfg.spec().Validate(); err != nil {
		return nil, fmt.Errorf("restic: %w", err)
	}
	if cfg.InterruptGrace <= 0 {
		cfg.InterruptGrace = 10 * time.Second
	}
	if cfg.BackendTimeout == 0 {
		cfg.BackendTimeout = 2 * time.Minute
	}
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("restic: %w", err)
		}
		cfg.Hostname = h
	}
	return &Restic{cfg: cfg, log: cfg.Logger}, nil
}

func (m *Restic) globals(env *Environment) Globals {
	g := env.Globals
	g.CacheDir = m.cfg.CacheDir
	g.LimitUploadKiBps = m.cfg.Throttle.LimitUploadKiBps
	g.LimitDownloadKiBps = m.cfg.Throttle.LimitDownloadKiBps
	g.Compression = m.cfg.Compression
	return g
}

func (m *Restic) environment(op string) (*Environment, error) {
	env, err := NewEnvironment(m.cfg.Backend, m.cfg.Secret, m.cfg.TempDir)
	if err != nil {
		// NewEnvironment's errors name keys and fields, never values; redact anyway.
		r := NewRedactor(secretValues(m.cfg.Secret))
		return nil, &mover.Error{Kind: mover.KindInvalid, Op: op, ExitCode: -1, Message: r.String(err.Error())}
	}
	return env, nil
}

func secretValues(s map[string][]byte) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		out = append(out, string(v))
	}
	return out
}

// simple runs a command that prints one JSON document (or nothing) and
// returns stdout.
func (m *Restic) simple(ctx context.Context, cmdFor func(Globals) Command) ([]byte, *runOutput, error) {
	env, err := m.environment("")
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = env.Close() }()
	cmd := cmdFor(m.globals(env))
	out, err := m.run(ctx, env, invocation{cmd: cmd})
	if err != nil {
		return nil, out, err
	}
	if err := classify(cmd.Name, out); err != nil {
		return out.stdout, out, err
	}
	return out.stdout, out, nil
}

// progressGate rate-limits a progress callback.
type progressGate struct {
	opts mover.ProgressOptions
	last time.Time
}

func (g *progressGate) send(p mover.Progress) {
	if g.opts.Func == nil {
		return
	}
	iv := g.opts.Interval
	if iv <= 0 {
		iv = time.Second
	}
	now := time.Now()
	if !g.last.IsZero() && now.Sub(g.last) < iv {
		return
	}
	g.last = now
	g.opts.Func(p)
}

func progressEvery(o mover.ProgressOptions) time.Duration {
	if o.Func == nil {
		return 0
	}
	if o.Interval <= 0 {
		return time.Second
	}
	return o.Interval
}

// Backup implements mover.Mover.
func (m *Restic) Backup(ctx context.Context, req mover.BackupRequest) (*mover.BackupResult, error) {
	if (len(req.Paths) == 0) == (req.Stdin == nil) {
		return nil, &mover.Error{Kind: mover.KindInvalid, Op: "backup", ExitCode: -1, Message: "set exactly one of Paths and Stdin"}
	}
	if req.Stdin != nil && req.StdinFilename == "" {
		return nil, &mover.Error{Kind: mover.KindInvalid, Op: "backup", ExitCode: -1, Message: "StdinFilename is required with Stdin"}
	}
	env, err := m.environment("backup")
	if err != nil {
		return nil, err
	}
	defer func() { _ = env.Close() }()
	cmd := BackupCmd(m.globals(env), BackupArgs{
		Paths: req.Paths, Stdin: req.Stdin != nil, StdinFilename: req.StdinFilename,
		Host: req.Host, Tags: req.Tags, Excludes: req.Excludes, Parent: req.Parent,
		ReadConcurrency: m.cfg.ReadConcurrency,
	})
	gate := &progressGate{opts: req.Progress}
	var res *mover.BackupResult
	out, err := m.run(ctx, env, invocation{
		cmd:      cmd,
		stdin:    req.Stdin,
		progress: progressEvery(req.Progress),
		onMessage: func(msg message) {
			switch msg.MessageType {
			case msgStatus:
				gate.send(msg.backupProgress())
			case msgSummary:
				res = msg.backupResult()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	if res != nil {
		res.Warnings = out.errors
	}
	if err := classify("backup", out); err != nil {
		if mover.KindOf(err) == mover.KindPartial && res != nil {
			return res, err
		}
		return nil, err
	}
	if res == nil {
		return nil, &mover.Error{Kind: mover.KindFatal, Op: "backup", Message: "restic printed no summary"}
	}
	return res, nil
}

// Dump implements mover.Mover.
func (m *Restic) Dump(ctx context.Context, req mover.DumpRequest, w io.Writer) error {
	if req.SnapshotID == "" || req.Path == "" {
		return &mover.Error{Kind: mover.KindInvalid, Op: "dump", ExitCode: -1, Message: "snapshot and path are required"}
	}
	env, err := m.environment("dump")
	if err != nil {
		return err
	}
	defer func() { _ = env.Close() }()
	cmd := DumpCmd(m.globals(env), req.SnapshotID, req.Path, Filter{Host: req.Host, Tags: req.Tags, Paths: req.Paths})
	out, err := m.run(ctx, env, invocation{cmd: cmd, rawOut: w})
	if err != nil {
		return err
	}
	if out.writeErr != nil {
		return &mover.Error{Kind: mover.KindFatal, Op: "dump", ExitCode: out.exitCode, Message: "the receiver of the dump stopped reading", Err: out.writeErr}
	}
	return classify("dump", out)
}

type snapshotJSON struct {
	ID       string               `json:"id"`
	ShortID  string               `json:"short_id"`
	Time     time.Time            `json:"time"`
	Hostname string               `json:"hostname"`
	Paths    []string             `json:"paths"`
	Tags     []string             `json:"tags"`
	Parent   string               `json:"parent"`
	Username string               `json:"username"`
	Summary  *snapshotSummaryJSON `json:"summary"`
}

type snapshotSummaryJSON struct {
	BackupStart         time.Time `json:"backup_start"`
	BackupEnd           time.Time `json:"backup_end"`
	FilesNew            uint64    `json:"files_new"`
	FilesChanged        uint64    `json:"files_changed"`
	FilesUnmodified     uint64    `json:"files_unmodified"`
	DirsNew             uint64    `json:"dirs_new"`
	DirsChanged         uint64    `json:"dirs_changed"`
	DirsUnmodified      uint64    `json:"dirs_unmodified"`
	DataAdded           uint64    `json:"data_added"`
	DataAddedPacked     uint64    `json:"data_added_packed"`
	TotalFilesProcessed uint64    `json:"total_files_processed"`
	TotalBytesProcessed uint64    `json:"total_bytes_processed"`
}

func (s snapshotJSON) snapshot() mover.Snapshot {
	out := mover.Snapshot{ID: s.ID, ShortID: s.ShortID, Time: s.Time, Host: s.Hostname, Paths: s.Paths,
		Tags: s.Tags, Parent: s.Parent, Username: s.Username}
	if x := s.Summary; x != nil {
		out.Summary = &mover.BackupResult{SnapshotID: s.ID, FilesNew: x.FilesNew, FilesChanged: x.FilesChanged,
			FilesUnmodified: x.FilesUnmodified, DirsNew: x.DirsNew, DirsChanged: x.DirsChanged,
			DirsUnmodified: x.DirsUnmodified, DataAdded: x.DataAdded, DataAddedPacked: x.DataAddedPacked,
			TotalFilesProcessed: x.TotalFilesProcessed, TotalBytesProcessed: x.TotalBytesProcessed,
			Duration: x.BackupEnd.Sub(x.BackupStart)}
	}
	return out
}

// Snapshots implements mover.Mover.
func (m *Restic) Snapshots(ctx context.Context, f mover.SnapshotFilter) ([]mover.Snapshot, error) {
	stdout, _, err := m.simple(ctx, func(g Globals) Command {
		return SnapshotsCmd(g, Filter{Host: f.Host, Tags: f.Tags, Paths: f.Paths}, f.Latest)
	})
	if err != nil {
		return nil, err
	}
	var raw []snapshotJSON
	if err := json.Unmarshal(stdout, &raw); err != nil {
		return nil, &mover.Error{Kind: mover.KindFatal, Op: "snapshots", Err: fmt.Errorf("decoding restic output: %w", err)}
	}
	out := make([]mover.Snapshot, 0, len(raw))
	for _, s := range raw {
		out = append(out, s.snapshot())
	}
	return out, nil
}

// Forget implements mover.Mover.
func (m *Restic) Forget(ctx context.Context, req mover.ForgetRequest) (*mover.ForgetResult, error) {
	p := req.Policy
	if p.KeepLast+p.KeepHourly+p.KeepDaily+p.KeepWeekly+p.KeepMonthly+p.KeepYearly == 0 && len(p.KeepTags) == 0 {
		// restic refuses too, but say it before touching the repository.
		return nil, &mover.Error{Kind: mover.KindInvalid, Op: "forget", ExitCode: -1, Message: "retention policy keeps nothing"}
	}
	stdout, _, err := m.simple(ctx, func(g Globals) Command {
		return ForgetCmd(g, ForgetArgs{KeepLast: p.KeepLast, KeepHourly: p.KeepHourly, KeepDaily: p.KeepDaily,
			KeepWeekly: p.KeepWeekly, KeepMonthly: p.KeepMonthly, KeepYearly: p.KeepYearly, KeepTags: p.KeepTags,
			Prune: p.Prune, DryRun: p.DryRun, Filter: Filter{Host: req.Host, Tags: req.Tags, Paths: req.Paths},
			GroupBy: req.GroupBy})
	})
	if err != nil {
		return nil, err
	}
	// With --prune, prune's own output follows forget's JSON document.
	var groups []struct {
		Keep   []snapshotJSON `json:"keep"`
		Remove []snapshotJSON `json:"remove"`
	}
	if err := json.NewDecoder(strings.NewReader(string(stdout))).Decode(&groups); err != nil {
		return nil, &mover.Error{Kind: mover.KindFatal, Op: "forget", Err: fmt.Errorf("decoding restic output: %w", err)}
	}
	res := &mover.ForgetResult{DryRun: p.DryRun}
	for _, g := range groups {
		for _, s := range g.Keep {
			res.Kept = append(res.Kept, s.ID)
		}
		for _, s := range g.Remove {
			res.Removed = append(res.Removed, s.ID)
		}
	}
	return res, nil
}

// ForgetSnapshots implements mover.Mover. restic skips IDs it cannot load
// with exit status 0, so the snapshots are listed afterwards to prove that
// none of them is left.
func (m *Restic) ForgetSnapshots(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		if id == "" || strings.HasPrefix(id, "-") {
			return &mover.Error{Kind: mover.KindInvalid, Op: "forget", ExitCode: -1, Message: fmt.Sprintf("bad snapshot ID %q", id)}
		}
	}
	if _, _, err := m.simple(ctx, func(g Globals) Command { return ForgetSnapshotsCmd(g, ids) }); err != nil {
		return err
	}
	left, err := m.Snapshots(ctx, mover.SnapshotFilter{})
	if err != nil {
		return err
	}
	var still []string
	for _, s := range left {
		for _, id := range ids {
			if strings.HasPrefix(s.ID, id) {
				still = append(still, s.ShortID)
			}
		}
	}
	if len(still) > 0 {
		return &mover.Error{Kind: mover.KindFatal, Op: "forget", Message: fmt.Sprintf("snapshots %s are still in the repository after restic forget", strings.Join(still, ", "))}
	}
	return nil
}

// Prune implements mover.Mover.
func (m *Restic) Prune(ctx context.Context) error {
	_, _, err := m.simple(ctx, PruneCmd)
	return err
}

// Check implements mover.Mover. A repository with errors is a result
// (Healthy false), not an error; errors are for checks that could not run.
func (m *Restic) Check(ctx context.Context, req mover.CheckRequest) (*mover.CheckResult, error) {
	stdout, out, err := m.simple(ctx, func(g Globals) Command { return CheckCmd(g, req.ReadDataSubset) })
	if out == nil {
		return nil, err
	}
	report := strings.TrimSpace(string(stdout) + "\n" + out.stderr + "\n" + out.exitMessage)
	if err == nil {
		return &mover.CheckResult{Healthy: true, Output: report}, nil
	}
	if mover.KindOf(err) == mover.KindFatal && strings.Contains(report, "repository contains errors") {
		return &mover.CheckResult{Healthy: false, Output: report}, nil
	}
	return nil, err
}

// Stats implements mover.Mover.
func (m *Restic) Stats(ctx context.Context, req mover.StatsRequest) (*mover.Stats, error) {
	stdout, _, err := m.simple(ctx, func(g Globals) Command { return StatsCmd(g, req.Mode, req.SnapshotIDs) })
	if err != nil {
		return nil, err
	}
	var s struct {
		TotalSize              uint64  `json:"total_size"`
		TotalUncompressedSize  uint64  `json:"total_uncompressed_size"`
		TotalFileCount         uint64  `json:"total_file_count"`
		TotalBlobCount         uint64  `json:"total_blob_count"`
		SnapshotsCount         uint64  `json:"snapshots_count"`
		CompressionRatio       float64 `json:"compression_ratio"`
		CompressionProgress    float64 `json:"compression_progress"`
		CompressionSpaceSaving float64 `json:"compression_space_saving"`
	}
	if err := json.Unmarshal(stdout, &s); err != nil {
		return nil, &mover.Error{Kind: mover.KindFatal, Op: "stats", Err: fmt.Errorf("decoding restic output: %w", err)}
	}
	return &mover.Stats{TotalSize: s.TotalSize, TotalUncompressedSize: s.TotalUncompressedSize,
		TotalFileCount: s.TotalFileCount, TotalBlobCount: s.TotalBlobCount, SnapshotsCount: s.SnapshotsCount,
		CompressionRatio: s.CompressionRatio, CompressionProgress: s.CompressionProgress,
		CompressionSpaceSaving: s.CompressionSpaceSaving}, nil
}

// initLocks serializes EnsureRepository per repository within this process.
var initLocks sync.Map // repository string -> *sync.Mutex

// EnsureRepository implements mover.Mover: `cat config` tells whether the
// repository exists; if not, `init`. Callers of this process are serialized
// per repository; a racing init elsewhere that wins is detected ("already
// exists") and counts as success once the repository opens with our password.
func (m *Restic) EnsureRepository(ctx context.Context) (bool, error) {
	env, err := m.environment("init")
	if err != nil {
		return false, err
	}
	repo := env.Repository
	_ = env.Close()
	mu, _ := initLocks.LoadOrStore(repo, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	exists, err := m.exists(ctx)
	if err != nil || exists {
		return false, err
	}
	_, out, err := m.simple(ctx, InitCmd)
	if err == nil {
		return true, nil
	}
	if out != nil && strings.Contains(out.exitMessage+out.stderr, "already exists") {
		if ok, err2 := m.exists(ctx); err2 == nil && ok {
			return false, nil
		}
	}
	return false, err
}

func (m *Restic) exists(ctx context.Context) (bool, error) {
	_, _, err := m.simple(ctx, CatConfigCmd)
	switch mover.KindOf(err) {
	case "":
		return true, nil
	case mover.KindRepositoryMissing:
		return false, nil
	}
	return false, err
}
