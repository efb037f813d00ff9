// Package updatestatus is `trove update-status`, the last step of Trove's default
// Tasks: it reads the results the data steps left in the output directory, one JSON
// file per step and host (<output-dir>/<subcommand>-<hostname>.json holding
// {"backup": HostBackupStats} or {"restore": HostRestoreStats}), and writes them into
// the session's status (a BackupSession's status.targets[0].stats[], a RestoreSession's
// status.stats[], one entry per host) and, after a successful backup, the Repository's
// status.lastBackupTime. The Job's ServiceAccount may get and patch exactly those
// objects (controller/jobbuilder/rbac.go), so every write is a patch, guarded by the
// object's resourceVersion and retried on conflict. The controller decides the
// session's phase from the Job and keeps what was written here.
package updatestatus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"trove.dev/trove/apis/v1alpha1"
)

// Result is the content of one result file.
type Result struct {
	Backup  *v1alpha1.HostBackupStats  `json:"backup,omitempty"`
	Restore *v1alpha1.HostRestoreStats `json:"restore,omitempty"`
}

// Options are update-status's flags.
type Options struct {
	Namespace           string
	BackupSession       string
	RestoreSession      string
	Repository          string
	RepositoryNamespace string
	OutputDir           string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Validate says what is wrong with the options.
func (o *Options) Validate() error {
	var problems []string
	if o.Namespace == "" {
		problems = append(problems, "--namespace is required")
	}
	if (o.BackupSession == "") == (o.RestoreSession == "") {
		problems = append(problems, "exactly one of --backup-session and --restore-session must be set")
	}
	if o.OutputDir == "" {
		problems = append(problems, "--output-dir is required")
	}
	if o.BackupSession != "" && o.Repository == "" {
		problems = append(problems, "--repository is required with --backup-session (its lastBackupTime is updated)")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// ReadResults reads every *.json file of dir, in name order.
func ReadResults(dir string) ([]Result, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []Result
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading result %s: %w", f, err)
		}
		var r Result
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("result %s is not {\"backup\": ...} or {\"restore\": ...}: %w", f, err)
		}
		switch {
		case (r.Backup == nil) == (r.Restore == nil):
			return nil, fmt.Errorf("result %s must hold exactly one of \"backup\" and \"restore\"", f)
		case r.Backup != nil && r.Backup.Hostname == "", r.Restore != nil && r.Restore.Hostname == "":
			return nil, fmt.Errorf("result %s names no hostname", f)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no result (*.json) in %s: the Task's data steps wrote none; check that they share the output directory with update-status", dir)
	}
	return out, nil
}

// Summary says what Run wrote.
type Summary struct {
	Hosts          int
	Failed         []string
	LastBackupTime *metav1.Time
}

// Run reads the results of opts.OutputDir and writes them.
func Run(ctx context.Context, c client.Client, opts Options) (Summary, error) {
	if err := opts.Validate(); err != nil {
		return Summary{}, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	results, err := ReadResults(opts.OutputDir)
	if err != nil {
		return Summary{}, err
	}
	if opts.BackupSession != "" {
		return writeBackup(ctx, c, opts, results)
	}
	return writeRestore(ctx, c, opts, results)
}

func writeBackup(ctx context.Context, c client.Client, opts Options, results []Result) (Summary, error) {
	var sum Summary
	key := types.NamespacedName{Namespace: opts.Namespace, Name: opts.BackupSession}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s := &v1alpha1.BackupSession{}
		if err := c.Get(ctx, key, s); err != nil {
			return fmt.Errorf("reading BackupSession %s: %w", key, err)
		}
		base := s.DeepCopy()
		if len(s.Status.Targets) == 0 {
			s.Status.Targets = []v1alpha1.TargetStatus{{}}
		}
		t := &s.Status.Targets[0]
		hosts, err := backupsByHost(results)
		if err != nil {
			return err
		}
		t.Stats = replaceHosts(t.Stats, hosts, func(h v1alpha1.HostBackupStats) string { return h.Hostname })
		t.TotalHosts = int32(len(t.Stats))
		sum = Summary{Hosts: len(t.Stats)}
		t.Phase = v1alpha1.HostSucceeded
		for _, h := range t.Stats {
			switch h.Phase {
			case v1alpha1.HostFailed:
				sum.Failed = append(sum.Failed, h.Hostname)
				t.Phase = v1alpha1.HostFailed
			case v1alpha1.HostSucceeded:
			default:
				if t.Phase != v1alpha1.HostFailed {
					t.Phase = v1alpha1.HostRunning
				}
			}
		}
		return c.Status().Patch(ctx, s, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
	if err != nil {
		return sum, fmt.Errorf("writing the results into BackupSession %s: %w", key, err)
	}
	if len(sum.Failed) == sum.Hosts {
		return sum, nil // nothing was backed up
	}
	repoKey := types.NamespacedName{Namespace: opts.RepositoryNamespace, Name: opts.Repository}
	if repoKey.Namespace == "" {
		repoKey.Namespace = opts.Namespace
	}
	now := metav1.NewTime(opts.Now().Truncate(time.Second))
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		repo := &v1alpha1.Repository{}
		if err := c.Get(ctx, repoKey, repo); err != nil {
			return fmt.Errorf("reading Repository %s: %w", repoKey, err)
		}
		if last := repo.Status.LastBackupTime; last != nil && !last.Before(&now) {
			return nil
		}
		base := repo.DeepCopy()
		repo.Status.LastBackupTime = &now
		sum.LastBackupTime = &now
		return c.Status().Patch(ctx, repo, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
	if err != nil {
		return sum, fmt.Errorf("writing lastBackupTime into Repository %s: %w", repoKey, err)
	}
	return sum, nil
}

func writeRestore(ctx context.Context, c client.Client, opts Options, results []Result) (Summary, error) {
	var sum Summary
	key := types.NamespacedName{Namespace: opts.Namespace, Name: opts.RestoreSession}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s := &v1alpha1.RestoreSession{}
		if err := c.Get(ctx, key, s); err != nil {
			return fmt.Errorf("reading RestoreSession %s: %w", key, err)
		}
		base := s.DeepCopy()
		hosts, err := restoresByHost(results)
		if err != nil {
			return err
		}
		s.Status.Stats = replaceHosts(s.Status.Stats, hosts, func(h v1alpha1.HostRestoreStats) string { return h.Hostname })
		s.Status.TotalHosts = int32(len(s.Status.Stats))
		sum = Summary{Hosts: len(s.Status.Stats)}
		for _, h := range s.Status.Stats {
			if h.Phase == v1alpha1.HostFailed {
				sum.Failed = append(sum.Failed, h.Hostname)
			}
		}
		return c.Status().Patch(ctx, s, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
	if err != nil {
		return sum, fmt.Errorf("writing the results into RestoreSession %s: %w", key, err)
	}
	return sum, nil
}

// backupsByHost folds the results of one run by host, in the order hosts first appear: two
// steps of one host (e.g. two databases) add up their snapshots, a failure wins and the
// errors are joined.
func backupsByHost(results []Result) ([]v1alpha1.HostBackupStats, error) {
	var stats []v1alpha1.HostBackupStats
	for _, r := range results {
		if r.Backup == nil {
			return nil, fmt.Errorf("a restore result among backup results: the output directory is shared with another session")
		}
		stats = append(stats, *r.Backup)
	}
	return foldByHost(stats, func(h *v1alpha1.HostBackupStats) string { return h.Hostname },
		func(into, from *v1alpha1.HostBackupStats) {
			into.Snapshots = append(into.Snapshots, from.Snapshots...)
			into.Phase, into.Error = worse(into.Phase, from.Phase), joinErrors(into.Error, from.Error)
		}), nil
}

// restoresByHost folds restore results by host like backupsByHost.
func restoresByHost(results []Result) ([]v1alpha1.HostRestoreStats, error) {
	var stats []v1alpha1.HostRestoreStats
	for _, r := range results {
		if r.Restore == nil {
			return nil, fmt.Errorf("a backup result among restore results: the output directory is shared with another session")
		}
		stats = append(stats, *r.Restore)
	}
	return foldByHost(stats, func(h *v1alpha1.HostRestoreStats) string { return h.Hostname },
		func(into, from *v1alpha1.HostRestoreStats) {
			into.Phase, into.Error = worse(into.Phase, from.Phase), joinErrors(into.Error, from.Error)
		}), nil
}

// foldByHost keeps one entry per host, in the order hosts first appear, merging every
// later entry of a host into its first.
func foldByHost[T any](stats []T, host func(*T) string, merge func(into, from *T)) []T {
	var out []T
	index := map[string]int{}
	for i := range stats {
		h := host(&stats[i])
		if j, seen := index[h]; seen {
			merge(&out[j], &stats[i])
			continue
		}
		index[h] = len(out)
		out = append(out, stats[i])
	}
	return out
}

// worse is Failed over anything, then Running/Pending over Succeeded.
func worse(a, b v1alpha1.HostPhase) v1alpha1.HostPhase {
	switch {
	case a == v1alpha1.HostFailed || b == v1alpha1.HostFailed:
		return v1alpha1.HostFailed
	case a != v1alpha1.HostSucceeded:
		return a
	}
	return b
}

func joinErrors(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// replaceHosts puts each host of hosts into list, replacing an entry of the same host.
func replaceHosts[T any](list, hosts []T, name func(T) string) []T {
	for _, h := range hosts {
		i := slices.IndexFunc(list, func(e T) bool { return name(e) == name(h) })
		if i < 0 {
			list = append(list, h)
		} else {
			list[i] = h
		}
	}
	return list
}
