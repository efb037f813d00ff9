package controller

import (
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"trove.dev/trove/controller/backupconfiguration"
	"trove.dev/trove/controller/backupsession"
	"trove.dev/trove/controller/credentials"
	"trove.dev/trove/controller/exposure"
	"trove.dev/trove/controller/hooks"
	"trove.dev/trove/controller/metrics"
	"trove.dev/trove/controller/repository"
	"trove.dev/trove/controller/restoresession"
	"trove.dev/trove/csi/expose"
)

// Options configure the controller.
type Options struct {
	// Namespace is Trove's own namespace, where per-item credential Secrets live.
	Namespace string
	// Spread is the largest stable delay added to a configuration's schedule ticks.
	Spread time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Workers is how many objects of each kind are reconciled at once (default 4).
	Workers int
	// HolderImage is the image of the holder pods that expose volumes not read live
	// (Trove's own image, which runs `trove hold`); "" fails sessions that need one.
	HolderImage string
	// PodWait bounds the wait for a target's pods and holder pods (default 5m).
	PodWait time.Duration
}

// HoldCommand is the holder pod's command in Trove's image.
var HoldCommand = []string{"/usr/local/bin/trove", "hold"}

// Setup registers every reconciler of the controller with mgr.
func Setup(mgr manager.Manager, opts Options) error {
	if opts.Namespace == "" {
		return fmt.Errorf("the controller needs Trove's namespace (for per-item credentials)")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	recorder := mgr.GetEventRecorder("trove-controller")
	m := metrics.New(ctrlmetrics.Registry)
	creds := &credentials.Store{Client: mgr.GetClient(), Secrets: mgr.GetAPIReader(), Namespace: opts.Namespace}
	if opts.Workers < 1 {
		opts.Workers = 4
	}
	if opts.PodWait <= 0 {
		opts.PodWait = backupsession.DefaultPodWait
	}
	exposures := &exposure.Exposures{
		Exposer: &expose.Exposer{Client: mgr.GetClient()}, // waits are measured against API timestamps
		Holder:  expose.Holder{Image: opts.HolderImage, Command: HoldCommand},
		PodWait: opts.PodWait,
	}
	reconcilers := []interface {
		SetupWithManager(manager.Manager, int) error
	}{
		&backupconfiguration.Reconciler{
			Client: mgr.GetClient(), Secrets: mgr.GetAPIReader(), Recorder: recorder, Now: opts.Now, Spread: opts.Spread, Metrics: m,
		},
		&backupsession.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Credentials: creds, Recorder: recorder, Now: opts.Now, Metrics: m,
			Hooks: &hooks.Runner{Config: mgr.GetConfig()}, Exposures: exposures, PodWait: opts.PodWait},
		&repository.Reconciler{Client: mgr.GetClient(), Secrets: mgr.GetAPIReader(), Credentials: creds, Recorder: recorder},
		&restoresession.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Credentials: creds, Recorder: recorder, Now: opts.Now, Metrics: m, Exposures: exposures},
	}
	for _, r := range reconcilers {
		if err := r.SetupWithManager(mgr, opts.Workers); err != nil {
			return fmt.Errorf("setting up %T: %w", r, err)
		}
	}
	return nil
}
