package restic

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trove.dev/trove/mover"
)

// Lines as restic 0.18.1 prints them (captured from the real binary).
const (
	backupStatus  = `{"message_type":"status","seconds_elapsed":3,"seconds_remaining":7,"percent_done":0.3,"total_files":100,"files_done":30,"total_bytes":1000,"bytes_done":300,"error_count":1,"current_files":["/data/a","/data/b"]}`
	backupSummary = `{"message_type":"summary","files_new":1,"files_changed":2,"files_unmodified":3,"dirs_new":4,"dirs_changed":5,"dirs_unmodified":6,"data_blobs":1,"tree_blobs":3,"data_added":1376,"data_added_packed":1024,"total_files_processed":6,"total_bytes_processed":3000,"total_duration":0.744013173,"backup_start":"2026-11-21T09:36:32.128346412Z","backup_end":"2026-11-21T09:36:32.872359575Z","snapshot_id":"3719a651f181d38c8c25192aa610e07290aca774db9954c08977c04339b0025f"}`
	backupError   = `{"message_type":"error","error":{"message":"open /data/secret: permission denied"},"during":"archival","item":"/data/secret"}`
	restoreStatus = `{"message_type":"status","seconds_elapsed":2,"percent_done":0.5,"total_files":10,"files_restored":4,"files_skipped":1,"total_bytes":2000,"bytes_restored":800,"bytes_skipped":200}`
	exitError     = `{"message_type":"exit_error","code":12,"message":"Fatal: wrong password or no key found"}`
)

func TestParseMessages(t *testing.T) {
	m, ok := parseMessage([]byte(backupStatus))
	require.True(t, ok)
	assert.Equal(t, mover.Progress{BytesDone: 300, TotalBytes: 1000, FilesDone: 30, TotalFiles: 100, Percent: 30,
		ETA: 7 * time.Second, Elapsed: 3 * time.Second, Errors: 1, CurrentFiles: []string{"/data/a", "/data/b"}}, m.backupProgress())

	m, ok = parseMessage([]byte(backupSummary))
	require.True(t, ok)
	r := m.backupResult()
	assert.Equal(t, "3719a651f181d38c8c25192aa610e07290aca774db9954c08977c04339b0025f", r.SnapshotID)
	assert.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 1376, 1024, 6, 3000},
		[]uint64{r.FilesNew, r.FilesChanged, r.FilesUnmodified, r.DirsNew, r.DirsChanged, r.DirsUnmodified, r.DataAdded, r.DataAddedPacked, r.TotalFilesProcessed, r.TotalBytesProcessed})
	assert.InDelta(t, 744*time.Millisecond, r.Duration, float64(time.Millisecond))

	m, ok = parseMessage([]byte(backupError))
	require.True(t, ok)
	assert.Equal(t, mover.ItemError{Item: "/data/secret", During: "archival", Message: "open /data/secret: permission denied"}, m.itemError())

	m, ok = parseMessage([]byte(restoreStatus))
	require.True(t, ok)
	p := m.restoreProgress()
	assert.Equal(t, uint64(1000), p.BytesDone)
	assert.Equal(t, uint64(5), p.FilesDone)
	assert.Equal(t, 50.0, p.Percent)
	assert.Equal(t, 2*time.Second, p.ETA)

	m, ok = parseMessage([]byte(exitError))
	require.True(t, ok)
	assert.Equal(t, 12, m.Code)

	for _, junk := range []string{"", "not json", `{"no_type":1}`, `{broken`} {
		_, ok := parseMessage([]byte(junk))
		assert.False(t, ok, junk)
	}
}

func TestPermanentBackendError(t *testing.T) {
	assert.Equal(t, mover.KindRepositoryMissing, permanentBackendError("Stat(<config/>) returned error, retrying after 32.5s: Stat: The specified bucket does not exist"))
	assert.Equal(t, mover.KindPermissionDenied, permanentBackendError("Save(<lock/1>) returned error, retrying after 1s: Access Denied."))
	assert.Equal(t, mover.Kind(""), permanentBackendError("Save(<data/1>) returned error, retrying after 1s: dial tcp 127.0.0.1:9: connect: connection refused"))
}

func TestClassify(t *testing.T) {
	tests := []struct {
		out  runOutput
		want mover.Kind
	}{
		{runOutput{exitCode: 0}, ""},
		{runOutput{exitCode: 3}, mover.KindPartial},
		{runOutput{exitCode: 10}, mover.KindRepositoryMissing},
		{runOutput{exitCode: 11}, mover.KindLocked},
		{runOutput{exitCode: 12}, mover.KindWrongPassword},
		{runOutput{exitCode: 130}, mover.KindInterrupted},
		{runOutput{exitCode: -1, interrupted: true}, mover.KindInterrupted},
		{runOutput{exitCode: -1, backendGaveUp: mover.KindBackendUnreachable}, mover.KindBackendUnreachable},
		{runOutput{exitCode: -1, backendGaveUp: mover.KindRepositoryMissing}, mover.KindRepositoryMissing},
		{runOutput{exitCode: 1, exitMessage: "Fatal: unable to save snapshot: write /repo/x: no space left on device"}, mover.KindNoSpace},
		{runOutput{exitCode: 1, exitMessage: "Fatal: unable to open repository: open /repo/config: permission denied"}, mover.KindPermissionDenied},
		{runOutput{exitCode: 1, exitMessage: "Fatal: unable to open repository at s3:http://127.0.0.1:1/b: Get \"http://127.0.0.1:1/b/?location=\": dial tcp 127.0.0.1:1: connect: connection refused"}, mover.KindBackendUnreachable},
		{runOutput{exitCode: 1, exitMessage: "Fatal: create key in repository at s3:http://x/b failed: The Access Key Id you provided does not exist in our records. (InvalidAccessKeyId)"}, mover.KindPermissionDenied},
		{runOutput{exitCode: 1, exitMessage: "Fatal: something else"}, mover.KindFatal},
	}
	for _, tc := range tests {
		err := classify("backup", &tc.out)
		assert.Equal(t, tc.want, mover.KindOf(err), tc.out.exitMessage)
		if tc.want != "" {
			assert.ErrorIs(t, err, &mover.Error{Kind: tc.want})
		}
	}
	assert.ErrorIs(t, classify("x", &runOutput{exitCode: 12}), mover.ErrWrongPassword)
}
