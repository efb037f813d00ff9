package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/node/queue"
)

// metrics are the agent's Prometheus metrics, served by the manager at /metrics.
// Counters of bytes and files make rate() the throughput.
type metrics struct {
	items    *prometheus.CounterVec
	failures *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	files    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// cacheSizer reports the restic caches' size (a MoverFactory may implement it).
type cacheSizer interface{ CacheBytes() int64 }

func newMetrics(reg prometheus.Registerer, q *queue.Queue, movers MoverFactory) *metrics {
	m := &metrics{
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trove_agent_items_total", Help: "Work items finished by this agent, by kind and phase.",
		}, []string{"kind", "phase"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trove_agent_failures_total", Help: "Work items that failed, by kind and reason.",
		}, []string{"kind", "reason"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trove_agent_bytes_total", Help: "Bytes read (backups) or written (restores).",
		}, []string{"kind"}),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trove_agent_files_total", Help: "Files read (backups) or written (restores).",
		}, []string{"kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "trove_agent_item_duration_seconds", Help: "Time from an item's start to its end.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 16), // 1 s .. 9 h
		}, []string{"kind", "phase"}),
	}
	reg.MustRegister(m.items, m.failures, m.bytes, m.files, m.duration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "trove_agent_items_running", Help: "Work items running now."},
			func() float64 { return float64(q.Running()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "trove_agent_queue_depth", Help: "Work items waiting for a slot."},
			func() float64 { return float64(q.Depth()) }),
	)
	if cs, ok := movers.(cacheSizer); ok {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "trove_agent_restic_cache_bytes", Help: "Size of the restic caches on this node (read when scraped)."},
			func() float64 { return float64(cs.CacheBytes()) }))
	}
	return m
}

func (m *metrics) finished(kind string, phase troveapi.WorkPhase, reason string, it item) {
	m.items.WithLabelValues(kind, string(phase)).Inc()
	if phase == troveapi.WorkFailed {
		m.failures.WithLabelValues(kind, reason).Inc()
	}
	st := it.status()
	if st.StartTime != nil && st.CompletionTime != nil {
		m.duration.WithLabelValues(kind, string(phase)).Observe(st.CompletionTime.Sub(st.StartTime.Time).Seconds())
	}
}

func (m *metrics) moved(kind string, bytes, files uint64) {
	m.bytes.WithLabelValues(kind).Add(float64(bytes))
	m.files.WithLabelValues(kind).Add(float64(files))
}
