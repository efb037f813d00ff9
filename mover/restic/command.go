package restic

import (
	"strconv"
)

// Command is one restic invocation as data: the argv after the binary name.
// It never holds a secret: passwords and keys travel in the environment or in
// 0600 files (see backend.go).
type Command struct {
	// Name is the subcommand, e.g. "backup" or "list locks".
	Name string
	// Args is the argv passed to restic (without the binary itself).
	Args []string
	// Stdin is true when restic reads the data to back up from stdin.
	Stdin bool
	// Mutating is true when the command writes to the repository.
	Mutating bool
}

// Globals are the options every subcommand takes.
type Globals struct {
	// CacheDir is a persistent cache for this repository; empty means --no-cache.
	CacheDir string
	// LimitUploadKiBps and LimitDownloadKiBps cap restic's bandwidth; 0 is unlimited.
	LimitUploadKiBps   int
	LimitDownloadKiBps int
	// Compression is auto, off, fastest or max; empty keeps restic's default.
	Compression string
	// CACertFile is a PEM file with the backend's CA (restic --cacert).
	CACertFile string
	// InsecureTLS skips verification of the backend's certificate.
	InsecureTLS bool
	// Options are extended options (-o key=value); never secrets.
	Options []string
}

func (g Globals) args() []string {
	a := []string{"--json"}
	if g.CacheDir != "" {
		a = append(a, "--cache-dir", g.CacheDir)
	} else {
		a = append(a, "--no-cache")
	}
	if g.LimitUploadKiBps > 0 {
		a = append(a, "--limit-upload", strconv.Itoa(g.LimitUploadKiBps))
	}
	if g.LimitDownloadKiBps > 0 {
		a = append(a, "--limit-download", strconv.Itoa(g.LimitDownloadKiBps))
	}
	if g.Compression != "" {
		a = append(a, "--compression", g.Compression)
	}
	if g.CACertFile != "" {
		a = append(a, "--cacert", g.CACertFile)
	}
	if g.InsecureTLS {
		a = append(a, "--insecure-tls")
	}
	for _, o := range g.Options {
		a = append(a, "-o", o)
	}
	return a
}

func newCommand(name string, sub []string, g Globals, mutating bool) Command {
	return Command{Name: name, Args: append(append([]string{}, sub...), g.args()...), Mutating: mutating}
}

func (c Command) with(args ...string) Command {
	c.Args = append(c.Args, args...)
	return c
}

func (c Command) flag(name, value string) Command {
	if value == "" {
		return c
	}
	return c.with(name, value)
}

func (c Command) each(name string, values []string) Command {
	for _, v := range values {
		c = c.with(name, v)
	}
	return c
}

func (c Command) intFlag(name string, v int) Command {
	if v <= 0 {
		return c
	}
	return c.with(name, strconv.Itoa(v))
}

func (c Command) boolFlag(name string, on bool) Command {
	if !on {
		return c
	}
	return c.with(name)
}

// positional ends the flags ("--") and appends positional arguments, so a
// path or ID starting with "-" is never read as a flag.
func (c Command) positional(args ...string) Command {
	return c.with(append([]string{"--"}, args...)...)
}

// Filter selects snapshots by host, tags and paths (restic's common filters).
type Filter struct {
	Host  string
	Tags  []string
	Paths []string
}

func (c Command) filter(f Filter) Command {
	return c.flag("--host", f.Host).each("--tag", f.Tags).each("--path", f.Paths)
}

// InitCmd is `restic init`.
func InitCmd(g Globals) Command { return newCommand("init", []string{"init"}, g, true) }

// BackupArgs are the options of `restic backup`.
type BackupArgs struct {
	Paths []string
	// Stdin backs up stdin as the file StdinFilename instead of Paths.
	Stdin           bool
	StdinFilename   string
	Host            string
	Tags            []string
	Excludes        []string
	Parent          string
	ReadConcurrency int
	// Verbose asks for verbose_status lines (one per file).
	Verbose bool
}

// BackupCmd is `restic backup` of paths or of stdin.
func BackupCmd(g Globals, a BackupArgs) Command {
	c := newCommand("backup", []string{"backup"}, g, true).
		flag("--host", a.Host).
		each("--tag", a.Tags).
		each("--exclude", a.Excludes).
		flag("--parent", a.Parent).
		intFlag("--read-concurrency", a.ReadConcurrency).
		boolFlag("--verbose", a.Verbose)
	if a.Stdin {
		c.Stdin = true
		return c.with("--stdin", "--stdin-filename", a.StdinFilename)
	}
	return c.positional(a.Paths...)
}

// RestoreArgs are the options of `restic restore`.
type RestoreArgs struct {
	// Snapshot is an ID or "latest"; SubPath restores one directory of it.
	Snapshot string
	SubPath  string
	Target   string
	Includes []string
	Excludes []string
	Filter   Filter
	Verbose  bool
}

func snapshotArg(id, sub string) string {
	if sub == "" || sub == "/" {
		return id
	}
	return id + ":" + sub
}

// RestoreCmd is `restic restore`.
func RestoreCmd(g Globals, a RestoreArgs) Command {
	return newCommand("restore", []string{"restore"}, g, false).
		flag("--target", a.Target).
		each("--include", a.Includes).
		each("--exclude", a.Excludes).
		filter(a.Filter).
		boolFlag("--verbose", a.Verbose).
		positional(snapshotArg(a.Snapshot, a.SubPath))
}

// DumpCmd is `restic dump SNAPSHOT PATH`, the file's content on stdout.
func DumpCmd(g Globals, snapshot, path string, f Filter) Command {
	c := newCommand("dump", []string{"dump"}, g, false).filter(f).positional(snapshot, path)
	// dump writes the file itself to stdout; --json would change nothing for
	// a single file but keep it out for clarity.
	c.Args = removeArg(c.Args, "--json")
	return c
}

// SnapshotsCmd is `restic snapshots`.
func SnapshotsCmd(g Globals, f Filter, latest int) Command {
	return newCommand("snapshots", []string{"snapshots"}, g, false).filter(f).intFlag("--latest", latest)
}

// ForgetArgs are the options of `restic forget`.
type ForgetArgs struct {
	KeepLast, KeepHourly, KeepDaily, KeepWeekly, KeepMonthly, KeepYearly int
	KeepTags                                                             []string
	Prune, DryRun                                                        bool
	Filter                                                               Filter
	GroupBy                                                              string
}

// ForgetCmd is `restic forget` with a retention policy.
func ForgetCmd(g Globals, a ForgetArgs) Command {
	return newCommand("forget", []string{"forget"}, g, !a.DryRun).
		intFlag("--keep-last", a.KeepLast).
		intFlag("--keep-hourly", a.KeepHourly).
		intFlag("--keep-daily", a.KeepDaily).
		intFlag("--keep-weekly", a.KeepWeekly).
		intFlag("--keep-monthly", a.KeepMonthly).
		intFlag("--keep-yearly", a.KeepYearly).
		each("--keep-tag", a.KeepTags).
		filter(a.Filter).
		flag("--group-by", a.GroupBy).
		boolFlag("--prune", a.Prune).
		boolFlag("--dry-run", a.DryRun)
}

// ForgetSnapshotsCmd is `restic forget <ids>`: it removes those snapshots.
func ForgetSnapshotsCmd(g Globals, ids []string) Command {
	return newCommand("forget", []string{"forget"}, g, true).positional(ids...)
}

// PruneCmd is `restic prune`.
func PruneCmd(g Globals) Command { return newCommand("prune", []string{"prune"}, g, true) }

// CheckCmd is `restic check`, optionally reading a subset of the data.
func CheckCmd(g Globals, readDataSubset string) Command {
	return newCommand("check", []string{"check"}, g, false).flag("--read-data-subset", readDataSubset)
}

// ListLocksCmd is `restic list locks` (lock IDs, one a line). It must not
// take a lock itself, or it would list its own.
func ListLocksCmd(g Globals) Command {
	return newCommand("list locks", []string{"list", "locks"}, g, false).with("--no-lock")
}

// CatLockCmd is `restic cat lock ID` (the lock as JSON).
func CatLockCmd(g Globals, id string) Command {
	return newCommand("cat lock", []string{"cat", "lock"}, g, false).with("--no-lock").positional(id)
}

// UnlockCmd is `restic unlock`, which removes only the locks restic itself
// judges stale. Trove never builds `unlock --remove-all`.
func UnlockCmd(g Globals) Command { return newCommand("unlock", []string{"unlock"}, g, true) }

// StatsCmd is `restic stats`.
func StatsCmd(g Globals, mode string, snapshots []string) Command {
	c := newCommand("stats", []string{"stats"}, g, false).flag("--mode", mode)
	if len(snapshots) > 0 {
		c = c.positional(snapshots...)
	}
	return c
}

// CatConfigCmd is `restic cat config`, which succeeds only if a repository exists.
func CatConfigCmd(g Globals) Command {
	return newCommand("cat config", []string{"cat", "config"}, g, false).with("--no-lock")
}

func removeArg(args []string, drop string) []string {
	out := args[:0:0]
	for _, a := range args {
		if a != drop {
			out = append(out, a)
		}
	}
	return out
}
