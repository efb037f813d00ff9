package agent

import (
	"context"
	"errors"
	"time"

	ctrl "sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/mover"
	"trove.dev/trove/node/queue"
)

// finalWrite bounds the status writes made after an item's context ended.
const finalWrite = 30 * time.Second

// run is the queue's runner: it dispatches by kind.
func (a *Agent) run(ctx context.Context, qi queue.Item) {
	kind, name := splitKey(qi.Key)
	switch kind {
	case kindBackup:
		a.runBackup(ctx, name)
	case kindRestore:
		a.runRestore(ctx, name)
	case kindMaintenance:
		a.runMaintenance(ctx, name)
	}
}

// end records how an attempt ended: canceled by the user, interrupted by the agent
// stopping (left for a retry), failed with a reason, or succeeded (partial success
// keeps the snapshot and says which files were unreadable).
func (a *Agent) end(ctx context.Context, it item, err error, fill func(item)) {
	interrupted := ctx.Err() != nil
	if interrupted {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), finalWrite)
		defer cancel()
	}
	// Status writes during the run changed the resourceVersion: start from the latest.
	if gerr := a.reader.Get(ctx, ctrl.ObjectKeyFromObject(it), it.obj()); gerr != nil {
		a.log.Error(gerr, "item vanished before its result was written", "item", it.GetName())
		return
	}
	var werr error
	switch {
	case interrupted && (it.common().Cancel || it.GetDeletionTimestamp() != nil):
		werr = a.finish(ctx, it, troveapi.WorkCanceled, ReasonCanceled, "canceled while running; restic was stopped")
	case interrupted:
		werr = a.release(ctx, it)
	case err != nil && mover.KindOf(err) == mover.KindPartial:
		werr = a.finish(ctx, it, troveapi.WorkSucceeded, string(mover.KindPartial), err.Error(), fill)
	case err != nil:
		werr = a.finish(ctx, it, troveapi.WorkFailed, reasonOf(err), err.Error())
	default:
		werr = a.finish(ctx, it, troveapi.WorkSucceeded, "", "", fill)
	}
	if werr != nil && !errors.Is(werr, context.Canceled) {
		a.log.Error(werr, "writing the item's result", "item", it.GetName())
	}
}

// progressTo turns mover progress into bounded-rate status writes.
func (a *Agent) progressTo(ctx context.Context, it item) mover.ProgressFunc {
	w := &progressWriter{a: a, ctx: ctx, it: it}
	return func(p mover.Progress) {
		w.write(troveapi.Progress{
			BytesDone: int64(p.BytesDone), TotalBytes: int64(p.TotalBytes),
			FilesDone: int64(p.FilesDone), TotalFiles: int64(p.TotalFiles),
			Percent: int32(p.Percent), ETASeconds: int64(p.ETA.Seconds()),
		})
	}
}
