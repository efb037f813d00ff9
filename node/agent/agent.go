// Package agent is the node agent's core: it admits its node's work items
// (VolumeBackup, VolumeRestore) into a priority queue with a per-node concurrency
// limit, claims each one in status, resolves the pod volume through the kubelet's host
// path, runs the mover with the item's throttle, reports progress at a bounded rate and
// records the result. State lives in the items' status, so an agent that dies and comes
// back finishes what its predecessor left Running (bounded retries), and a retried
// backup adopts the snapshot a dead run already made instead of making a second one.
package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"trove.dev/trove/mover"
	"trove.dev/trove/node/queue"
)

// Config configures an agent.
type Config struct {
	// NodeName is this agent's node (from the downward API).
	NodeName string
	// KubeletRoot is the kubelet's root directory on the node, as the agent sees it.
	KubeletRoot string
	// Namespace is Trove's namespace, where per-item credential Secrets live.
	Namespace string
	// Concurrency is how many items run at once on this node.
	Concurrency int
	// MaxAttempts bounds how often an item interrupted by an agent restart is retried.
	MaxAttempts int32
	// ProgressInterval is the least time between two progress writes to status.
	ProgressInterval time.Duration
	// AllowConfigVolumes permits backing up configMap/secret/projected/downwardAPI volumes.
	AllowConfigVolumes bool
	// Movers builds the mover of one item.
	Movers MoverFactory
	// Now is the clock.
	Now func() time.Time
	// Metrics is where the agent registers its metrics (the manager's registry,
	// served at /metrics, when nil).
	Metrics prometheus.Registerer
}

// MoverFactory builds the mover for one item: its repository, its credentials,
// its throttle and, for backups, the volume to present at the item's stable path.
type MoverFactory interface {
	For(ctx context.Context, req MoverRequest) (mover.Mover, error)
}

// Agent executes its node's work items.
type Agent struct {
	cfg      Config
	client   ctrl.Client
	reader   ctrl.Reader // uncached: credential Secrets, PersistentVolumes
	recorder events.EventRecorder
	log      logr.Logger
	queue    *queue.Queue
	metrics  *metrics
}

// New returns an agent bound to a manager; Setup registers it.
func New(mgr manager.Manager, cfg Config) (*Agent, error) {
	if cfg.NodeName == "" || cfg.KubeletRoot == "" || cfg.Namespace == "" || cfg.Movers == nil {
		return nil, fmt.Errorf("agent: node name, kubelet root, Trove's namespace and a mover factory are required")
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.MaxAttempts < 1 {
		cfg.MaxAttempts = 3
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Agent{
		cfg:      cfg,
		client:   mgr.GetClient(),
		reader:   mgr.GetAPIReader(),
		recorder: mgr.GetEventRecorder("trove-agent"),
		log:      mgr.GetLogger().WithName("agent"),
	}
	a.queue = queue.New(cfg.Concurrency, a.run)
	if cfg.Metrics == nil {
		cfg.Metrics = ctrlmetrics.Registry
	}
	a.metrics = newMetrics(cfg.Metrics, a.queue, cfg.Movers)
	return a, nil
}

// Setup registers the agent's reconcilers and its queue with the manager.
func (a *Agent) Setup(mgr manager.Manager) error {
	if err := mgr.Add(manager.RunnableFunc(a.queue.Start)); err != nil {
		return err
	}
	for _, setup := range []func(manager.Manager) error{a.setupBackups, a.setupRestores, a.setupMaintenance} {
		if err := setup(mgr); err != nil {
			return err
		}
	}
	return nil
}

// Queue is the agent's work queue (for metrics and tests).
func (a *Agent) Queue() *queue.Queue { return a.queue }
