package restic

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCommandArgv(t *testing.T) {
	cached := Globals{CacheDir: "/var/cache/trove/repo-1"}
	full := Globals{CacheDir: "/c", LimitUploadKiBps: 1024, LimitDownloadKiBps: 2048, Compression: "max",
		CACertFile: "/p/ca.crt", InsecureTLS: true, Options: []string{"s3.region=eu-west-1"}}
	none := Globals{}
	tests := []struct {
		name string
		cmd  Command
		want string
	}{
		{"init", InitCmd(none), "init --json --no-cache"},
		{"globals", InitCmd(full), "init --json --cache-dir /c --limit-upload 1024 --limit-download 2048 --compression max --cacert /p/ca.crt --insecure-tls -o s3.region=eu-west-1"},
		{"backup paths", BackupCmd(cached, BackupArgs{Paths: []string{"/trove/ns/pvc/data", "-odd"}, Host: "ns/pvc",
			Tags: []string{"ns=ns", "pvc=pvc"}, Excludes: []string{"*.tmp", "/lost+found"}, Parent: "abc123", ReadConcurrency: 4}),
			"backup --json --cache-dir /var/cache/trove/repo-1 --host ns/pvc --tag ns=ns --tag pvc=pvc --exclude *.tmp --exclude /lost+found --parent abc123 --read-concurrency 4 -- /trove/ns/pvc/data -odd"},
		{"backup stdin", BackupCmd(none, BackupArgs{Stdin: true, StdinFilename: "pg.dump", Host: "db", Tags: []string{"t"}}),
			"backup --json --no-cache --host db --tag t --stdin --stdin-filename pg.dump"},
		{"restore", RestoreCmd(cached, RestoreArgs{Snapshot: "latest", SubPath: "/trove/ns/pvc/data", Target: "/restore",
			Includes: []string{"/a"}, Excludes: []string{"/a/b"}, Filter: Filter{Host: "h", Tags: []string{"x"}, Paths: []string{"/p"}}}),
			"restore --json --cache-dir /var/cache/trove/repo-1 --target /restore --include /a --exclude /a/b --host h --tag x --path /p -- latest:/trove/ns/pvc/data"},
		{"restore whole", RestoreCmd(none, RestoreArgs{Snapshot: "abcd", Target: "/t"}), "restore --json --no-cache --target /t -- abcd"},
		{"dump", DumpCmd(none, "abcd", "/pg.dump", Filter{}), "dump --no-cache -- abcd /pg.dump"},
		{"snapshots", SnapshotsCmd(none, Filter{Host: "h", Tags: []string{"a,b"}}, 2), "snapshots --json --no-cache --host h --tag a,b --latest 2"},
		{"forget all fields", ForgetCmd(none, ForgetArgs{KeepLast: 1, KeepHourly: 2, KeepDaily: 3, KeepWeekly: 4, KeepMonthly: 5,
			KeepYearly: 6, KeepTags: []string{"keep", "gold"}, Prune: true, DryRun: true, Filter: Filter{Host: "h"}, GroupBy: "host,tags"}),
			"forget --json --no-cache --keep-last 1 --keep-hourly 2 --keep-daily 3 --keep-weekly 4 --keep-monthly 5 --keep-yearly 6 --keep-tag keep --keep-tag gold --host h --group-by host,tags --prune --dry-run"},
		{"forget zero fields left out", ForgetCmd(none, ForgetArgs{KeepLast: 3}), "forget --json --no-cache --keep-last 3"},
		{"forget ids", ForgetSnapshotsCmd(none, []string{"abcd", "ef01"}), "forget --json --no-cache -- abcd ef01"},
		{"prune", PruneCmd(cached), "prune --json --cache-dir /var/cache/trove/repo-1"},
		{"check", CheckCmd(none, ""), "check --json --no-cache"},
		{"check subset", CheckCmd(none, "10%"), "check --json --no-cache --read-data-subset 10%"},
		{"list locks", ListLocksCmd(none), "list locks --json --no-cache --no-lock"},
		{"cat lock", CatLockCmd(none, "deadbeef"), "cat lock --json --no-cache --no-lock -- deadbeef"},
		{"unlock", UnlockCmd(none), "unlock --json --no-cache"},
		{"stats", StatsCmd(none, "raw-data", nil), "stats --json --no-cache --mode raw-data"},
		{"stats snapshots", StatsCmd(none, "", []string{"a", "b"}), "stats --json --no-cache -- a b"},
		{"cat config", CatConfigCmd(none), "cat config --json --no-cache --no-lock"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, strings.Join(tc.cmd.Args, " "))
		})
	}
}

func TestCommandFlagsMeaning(t *testing.T) {
	assert.True(t, BackupCmd(Globals{}, BackupArgs{Stdin: true, StdinFilename: "x"}).Stdin)
	assert.False(t, BackupCmd(Globals{}, BackupArgs{Paths: []string{"/x"}}).Stdin)
	assert.True(t, ForgetCmd(Globals{}, ForgetArgs{KeepLast: 1}).Mutating)
	assert.False(t, ForgetCmd(Globals{}, ForgetArgs{KeepLast: 1, DryRun: true}).Mutating)
	for _, c := range []Command{UnlockCmd(Globals{})} {
		assert.NotContains(t, c.Args, "--remove-all")
	}
}
