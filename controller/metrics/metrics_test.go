package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.SessionEnded("backup", troveapi.SessionSucceeded, 12)
	m.SessionEnded("backup", troveapi.SessionFailed, 3)
	m.SessionEnded("backup", troveapi.SessionSucceeded, 40)
	m.ItemCreated("VolumeBackup")
	m.ItemCreated("VolumeBackup")
	m.LastSuccess("shop", "nightly", 1795255200)
	m.LastSuccess("shop", "gone", 1)
	m.ConfigurationGone("shop", "gone")

	assert.Equal(t, 2.0, testutil.ToFloat64(m.sessions.WithLabelValues("backup", "Succeeded")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.sessions.WithLabelValues("backup", "Failed")))
	assert.Equal(t, 2.0, testutil.ToFloat64(m.itemsCreated.WithLabelValues("VolumeBackup")))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP trove_backup_last_success_timestamp_seconds When the newest successful backup of a BackupConfiguration ended (Unix time).
# TYPE trove_backup_last_success_timestamp_seconds gauge
trove_backup_last_success_timestamp_seconds{configuration="nightly",namespace="shop"} 1.7952552e+09
`), "trove_backup_last_success_timestamp_seconds"))
	assert.Equal(t, 2, testutil.CollectAndCount(m.duration), "one histogram per kind and phase")

	var nilMetrics *Metrics // reconcilers run without metrics in some tests
	nilMetrics.SessionEnded("backup", troveapi.SessionFailed, 1)
}
