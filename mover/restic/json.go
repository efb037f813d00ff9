package restic

import (
	"encoding/json"
	"time"

	"trove.dev/trove/mover"
)

// The message types of restic 0.18's --json output (internal/ui/backup/json.go,
// internal/ui/restore/json.go, cmd/restic/main.go).
const (
	msgStatus        = "status"
	msgSummary       = "summary"
	msgError         = "error"
	msgVerboseStatus = "verbose_status"
	msgExitError     = "exit_error"
)

// message is the union of every field Trove reads from a JSON line.
type message struct {
	MessageType string `json:"message_type"`

	// status (backup and restore)
	SecondsElapsed   uint64   `json:"seconds_elapsed"`
	SecondsRemaining uint64   `json:"seconds_remaining"`
	PercentDone      float64  `json:"percent_done"`
	TotalFiles       uint64   `json:"total_files"`
	FilesDone        uint64   `json:"files_done"`
	TotalBytes       uint64   `json:"total_bytes"`
	BytesDone        uint64   `json:"bytes_done"`
	ErrorCount       uint64   `json:"error_count"`
	CurrentFiles     []string `json:"current_files"`
	FilesRestored    uint64   `json:"files_restored"`
	FilesSkipped     uint64   `json:"files_skipped"`
	BytesRestored    uint64   `json:"bytes_restored"`
	BytesSkipped     uint64   `json:"bytes_skipped"`

	// error
	Error  *struct{ Message string } `json:"error"`
	During string                    `json:"during"`
	Item   string                    `json:"item"`

	// verbose_status
	Action string `json:"action"`

	// summary (backup)
	FilesNew            uint64  `json:"files_new"`
	FilesChanged        uint64  `json:"files_changed"`
	FilesUnmodified     uint64  `json:"files_unmodified"`
	DirsNew             uint64  `json:"dirs_new"`
	DirsChanged         uint64  `json:"dirs_changed"`
	DirsUnmodified      uint64  `json:"dirs_unmodified"`
	DataAdded           uint64  `json:"data_added"`
	DataAddedPacked     uint64  `json:"data_added_packed"`
	TotalFilesProcessed uint64  `json:"total_files_processed"`
	TotalBytesProcessed uint64  `json:"total_bytes_processed"`
	TotalDuration       float64 `json:"total_duration"`
	SnapshotID          string  `json:"snapshot_id"`

	// exit_error
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func parseMessage(line []byte) (message, bool) {
	var m message
	if len(line) == 0 || line[0] != '{' {
		return m, false
	}
	if err := json.Unmarshal(line, &m); err != nil || m.MessageType == "" {
		return m, false
	}
	return m, true
}

func (m message) backupProgress() mover.Progress {
	return mover.Progress{
		BytesDone:    m.BytesDone,
		TotalBytes:   m.TotalBytes,
		FilesDone:    m.FilesDone,
		TotalFiles:   m.TotalFiles,
		Percent:      m.PercentDone * 100,
		ETA:          time.Duration(m.SecondsRemaining) * time.Second,
		Elapsed:      time.Duration(m.SecondsElapsed) * time.Second,
		Errors:       m.ErrorCount,
		CurrentFiles: m.CurrentFiles,
	}
}

func (m message) restoreProgress() mover.Progress {
	p := mover.Progress{
		BytesDone:  m.BytesRestored + m.BytesSkipped,
		TotalBytes: m.TotalBytes,
		FilesDone:  m.FilesRestored + m.FilesSkipped,
		TotalFiles: m.TotalFiles,
		Percent:    m.PercentDone * 100,
		Elapsed:    time.Duration(m.SecondsElapsed) * time.Second,
	}
	if p.BytesDone > 0 && p.TotalBytes > p.BytesDone && m.SecondsElapsed > 0 {
		rate := float64(p.BytesDone) / float64(m.SecondsElapsed)
		p.ETA = time.Duration(float64(p.TotalBytes-p.BytesDone)/rate) * time.Second
	}
	return p
}

func (m message) backupResult() *mover.BackupResult {
	return &mover.BackupResult{
		SnapshotID:          m.SnapshotID,
		FilesNew:            m.FilesNew,
		FilesChanged:        m.FilesChanged,
		FilesUnmodified:     m.FilesUnmodified,
		DirsNew:             m.DirsNew,
		DirsChanged:         m.DirsChanged,
		DirsUnmodified:      m.DirsUnmodified,
		DataAdded:           m.DataAdded,
		DataAddedPacked:     m.DataAddedPacked,
		TotalFilesProcessed: m.TotalFilesProcessed,
		TotalBytesProcessed: m.TotalBytesProcessed,
		Duration:            time.Duration(m.TotalDuration * float64(time.Second)),
	}
}

func (m message) itemError() mover.ItemError {
	ie := mover.ItemError{Item: m.Item, During: m.During}
	if m.Error != nil {
		ie.Message = m.Error.Message
	}
	return ie
}

func secondsToDuration(s uint64) time.Duration { return time.Duration(s) * time.Second }
