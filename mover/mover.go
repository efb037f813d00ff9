// Package mover is Trove's data path seam: it moves the data of one work item
// between a directory (or a stream) and a repository. The Mover interface is
// what the node agent and the built-in Functions call; package mover/restic is
// its implementation on top of the restic binary.
//
// Every method is synchronous and returns a typed result or an *Error whose
// Kind says what went wrong (see errors.go). Long operations report progress
// through a callback that is rate limited by the caller's choice.
package mover

import (
	"context"
	"io"
	"time"
)

// Mover moves data into and out of one repository.
type Mover interface {
	// EnsureRepository creates the repository unless it already exists. It is
	// safe to call concurrently from several processes.
	EnsureRepository(ctx context.Context) (created bool, err error)
	// Backup reads a directory tree (Paths) or a stream (Stdin) into a snapshot.
	Backup(ctx context.Context, req BackupRequest) (*BackupResult, error)
	// Restore writes a snapshot (or part of it) into a directory.
	Restore(ctx context.Context, req RestoreRequest) (*RestoreResult, error)
	// Dump writes one file of a snapshot (a stream backed up with Stdin) to w.
	Dump(ctx context.Context, req DumpRequest, w io.Writer) error
	// Snapshots lists the snapshots that match the filter.
	Snapshots(ctx context.Context, f SnapshotFilter) ([]Snapshot, error)
	// Forget applies a retention policy (and prunes when the policy says so).
	Forget(ctx context.Context, req ForgetRequest) (*ForgetResult, error)
	// ForgetSnapshots removes the named snapshots (full or short IDs) from the
	// repository's index of snapshots; their data stays until the next Prune.
	// IDs that no longer exist are not an error; an ID still listed
	// afterwards is.
	ForgetSnapshots(ctx context.Context, ids []string) error
	// Prune removes data no snapshot refers to.
	Prune(ctx context.Context) error
	// Check verifies the repository's integrity.
	Check(ctx context.Context, req CheckRequest) (*CheckResult, error)
	// UnlockStale removes locks whose holder is provably gone, and only those.
	UnlockStale(ctx context.Context, req UnlockRequest) (*UnlockResult, error)
	// Stats reports the size of the repository or of snapshots.
	Stats(ctx context.Context, req StatsRequest) (*Stats, error)
}

// ProgressFunc receives progress reports. It is called from the goroutine
// that reads restic's output, never concurrently with itself.
type ProgressFunc func(Progress)

// ProgressOptions says how often progress is reported; zero Interval means
// one report per second. A nil Func disables progress.
type ProgressOptions struct {
	Func     ProgressFunc
	Interval time.Duration
}

// Progress of a running backup or restore.
type Progress struct {
	BytesDone  uint64
	TotalBytes uint64
	FilesDone  uint64
	TotalFiles uint64
	// Percent is 0-100.
	Percent float64
	// ETA is restic's estimate of the time left (backups only); zero if unknown.
	ETA     time.Duration
	Elapsed time.Duration
	// Errors is the number of items restic could not read so far.
	Errors uint64
	// CurrentFiles are the files restic is working on (backups only).
	CurrentFiles []string
}

// BackupRequest says what to back up. Exactly one of Paths and Stdin is set.
type BackupRequest struct {
	// Paths are the files or directories to back up, as absolute paths.
	Paths []string
	// Stdin is a stream to back up as the single file StdinFilename. An
	// *os.File (a pipe) is handed to restic directly; any other reader is
	// copied by a goroutine, which ends at the reader's next Read once restic
	// has stopped, so a reader that can block forever should be closed by
	// the caller on cancellation.
	Stdin         io.Reader
	StdinFilename string

	// Host is the restic host name of the snapshot (restic --host).
	Host string
	// Tags are the snapshot's tags.
	Tags []string
	// Excludes are restic exclude patterns.
	Excludes []string
	// Parent is the snapshot to compare against; empty lets restic choose.
	Parent string
	// Progress reports progress; the zero value reports nothing.
	Progress ProgressOptions
}

// BackupResult is what a backup did.
type BackupResult struct {
	SnapshotID      string
	FilesNew        uint64
	FilesChanged    uint64
	FilesUnmodified uint64
	DirsNew         uint64
	DirsChanged     uint64
	DirsUnmodified  uint64
	// DataAdded is the data added to the repository before compression.
	DataAdded uint64
	// DataAddedPacked is the data added to the repository as stored.
	DataAddedPacked     uint64
	TotalFilesProcessed uint64
	TotalBytesProcessed uint64
	Duration            time.Duration
	// Warnings are the items restic could not read. When it is not empty the
	// snapshot exists but is incomplete (restic exit code 3): the error
	// returned alongside has Kind KindPartial.
	Warnings []ItemError
}

// ItemError is one file or directory restic could not process.
type ItemError struct {
	Item    string
	During  string
	Message string
}

// RestoreRequest says what to restore where.
type RestoreRequest struct {
	// SnapshotID is a snapshot ID or "latest" (with Host/Tags/Paths filters).
	SnapshotID string
	// SubPath restores only this directory of the snapshot (restic's snapshot:subpath).
	SubPath string
	// Target is the directory to restore into. Nothing is written outside it.
	Target   string
	Includes []string
	Excludes []string
	// Host, Tags and Paths select the snapshot when SnapshotID is "latest".
	Host     string
	Tags     []string
	Paths    []string
	Progress ProgressOptions
}

// RestoreResult is what a restore did.
type RestoreResult struct {
	TotalFiles    uint64
	FilesRestored uint64
	FilesSkipped  uint64
	TotalBytes    uint64
	BytesRestored uint64
	Duration      time.Duration
	Warnings      []ItemError
}

// DumpRequest names one file of a snapshot.
type DumpRequest struct {
	SnapshotID string
	// Path is the file's path in the snapshot, e.g. "/pg.dump" for a stream
	// backed up with StdinFilename "pg.dump".
	Path  string
	Host  string
	Tags  []string
	Paths []string
}

// SnapshotFilter selects snapshots; empty fields match everything.
type SnapshotFilter struct {
	Host  string
	Tags  []string
	Paths []string
	// Latest keeps only the n latest snapshots of each host and path set.
	Latest int
}

// Snapshot is one restic snapshot.
type Snapshot struct {
	ID       string
	ShortID  string
	Time     time.Time
	Host     string
	Paths    []string
	Tags     []string
	Parent   string
	Username string
	// Summary is set for snapshots made by restic 0.17 or newer.
	Summary *BackupResult
}

// RetentionPolicy says which snapshots Forget keeps. Zero values are "unset".
type RetentionPolicy struct {
	KeepLast, KeepHourly, KeepDaily, KeepWeekly, KeepMonthly, KeepYearly int
	KeepTags                                                             []string
	Prune                                                                bool
	DryRun                                                               bool
}

// ForgetRequest applies a retention policy to the snapshots of a group.
type ForgetRequest struct {
	Policy RetentionPolicy
	// Host, Tags and Paths limit the snapshots considered.
	Host  string
	Tags  []string
	Paths []string
	// GroupBy is restic's --group-by (default "host,paths").
	GroupBy string
}

// ForgetResult lists what was kept and removed.
type ForgetResult struct {
	Kept    []string
	Removed []string
	DryRun  bool
}

// CheckRequest tunes a repository check.
type CheckRequest struct {
	// ReadDataSubset checks a part of the pack files, e.g. "10%" or "1/5";
	// empty checks structure only.
	ReadDataSubset string
}

// CheckResult is a check's outcome. Healthy is false when restic found errors;
// Output then holds restic's report.
type CheckResult struct {
	Healthy bool
	Output  string
}

// Lock is one restic lock.
type Lock struct {
	ID        string
	Hostname  string
	PID       int
	Exclusive bool
	Time      time.Time
	Username  string
}

// UnlockRequest says how to judge locks of other hosts. Alive reports whether
// the holder of a lock held by another host still runs; nil means "unknown",
// and such locks are never removed.
type UnlockRequest struct {
	Alive func(Lock) (alive bool, known bool)
}

// UnlockResult reports each lock's fate.
type UnlockResult struct {
	// Removed are the locks that were removed.
	Removed []Lock
	// Kept are the locks whose holder is alive or not provably gone.
	Kept []Lock
	// Deferred are locks whose holder is gone that could not be removed
	// safely now (see docs/mover.md, "Locks").
	Deferred []Lock
}

// StatsRequest selects what Stats measures.
type StatsRequest struct {
	// Mode is restic's --mode: restore-size (default), files-by-contents,
	// raw-data or blobs-per-file.
	Mode        string
	SnapshotIDs []string
}

// Stats is restic's stats output.
type Stats struct {
	TotalSize              uint64
	TotalUncompressedSize  uint64
	TotalFileCount         uint64
	TotalBlobCount         uint64
	SnapshotsCount         uint64
	CompressionRatio       float64
	CompressionProgress    float64
	CompressionSpaceSaving float64
}
