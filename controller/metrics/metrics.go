// Package metrics holds the controller's Prometheus metrics, served by the manager at
// /metrics. trove_backup_last_success_timestamp_seconds is the one to alert on:
// `time() - trove_backup_last_success_timestamp_seconds > 2 * 86400` finds
// configurations without a good backup for two days.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// Metrics are the controller's metrics.
type Metrics struct {
	sessions     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	lastSuccess  *prometheus.GaugeVec
	itemsCreated *prometheus.CounterVec
}

// New registers the controller's metrics with reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trove_sessions_total", Help: "Sessions that ended, by kind (backup, restore) and phase.",
		}, []string{"kind", "phase"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "trove_session_duration_seconds", Help: "Duration of ended sessions.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 18), // 1 s .. 36 h
		}, []string{"kind", "phase"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trove_backup_last_success_timestamp_seconds",
			Help: "When the newest successful backup of a BackupConfiguration ended (Unix time).",
		}, []string{"namespace", "configuration"}),
		itemsCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trove_work_items_created_total", Help: "Work items handed to node agents, by kind.",
		}, []string{"kind"}),
	}
	reg.MustRegister(m.sessions, m.duration, m.lastSuccess, m.itemsCreated)
	return m
}

// SessionEnded records an ended session.
func (m *Metrics) SessionEnded(kind string, phase troveapi.SessionPhase, seconds float64) {
	if m == nil {
		return
	}
	m.sessions.WithLabelValues(kind, string(phase)).Inc()
	if seconds > 0 {
		m.duration.WithLabelValues(kind, string(phase)).Observe(seconds)
	}
}

// LastSuccess records a configuration's newest successful backup.
func (m *Metrics) LastSuccess(namespace, configuration string, unix float64) {
	if m == nil {
		return
	}
	m.lastSuccess.WithLabelValues(namespace, configuration).Set(unix)
}

// ConfigurationGone drops a deleted configuration's series.
func (m *Metrics) ConfigurationGone(namespace, configuration string) {
	if m == nil {
		return
	}
	m.lastSuccess.DeleteLabelValues(namespace, configuration)
}

// ItemCreated counts a work item handed out.
func (m *Metrics) ItemCreated(kind string) {
	if m == nil {
		return
	}
	m.itemsCreated.WithLabelValues(kind).Inc()
}
