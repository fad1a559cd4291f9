package plan

import (
	"context"
	"net/http"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
)

// release makes the cluster writable again when this session made it
// read-only (the session ends: a new leader decides again).
func (r *sourceRun) release() {
	r.mu.Lock()
	ro := r.readOnly
	r.mu.Unlock()
	if ro {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.setMode(ctx, false); err != nil {
			r.log().Error("cannot make the cluster writable again after losing the leadership", "err", err)
		}
	}
}

func (r *sourceRun) isReadOnly() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readOnly
}

// setMode puts the cluster into read-only (true) or default mode.
func (r *sourceRun) setMode(ctx context.Context, readOnly bool) error {
	mode := "default"
	if readOnly {
		mode = "readonly"
	}
	_, err := r.s.deps.Cluster.Coordinator().Do(ctx, client.Request{Method: http.MethodPut, Path: "_admin/server/mode",
		Body: []byte(`{"mode":"` + mode + `"}`), What: "server mode"}, http.StatusOK)
	return err
}

func (r *sourceRun) writable(ctx context.Context) {
	if err := r.setMode(ctx, false); err != nil {
		r.log().Warn("cannot make the cluster writable again; retrying", "err", err)
		return
	}
	r.mu.Lock()
	r.readOnly, r.stop, r.releaseAt = false, nil, time.Time{}
	r.mu.Unlock()
	r.log().Info("the cluster is writable again")
}

// drain: read-only, then each shard's count and root hash at a snapshot
// taken after that moment (final: nothing changes any more) and where each
// send task stands; B stops once its partner shards hold the same.
func (r *sourceRun) drain(ctx context.Context) {
	r.mu.Lock()
	ro, p := r.readOnly, r.stop
	r.mu.Unlock()
	if !ro {
		if err := r.setMode(ctx, true); err != nil {
			r.log().Warn("cannot make the cluster read-only for the stop; retrying", "err", err)
			r.mu.Lock()
			r.stop = &StopProgress{Error: "cannot make the source read-only: " + err.Error()}
			r.mu.Unlock()
			return
		}
		r.log().Info("the cluster is read-only until the target holds everything")
		p = &StopProgress{ReadOnly: true}
		r.mu.Lock()
		r.readOnly, r.stop = true, p
		r.mu.Unlock()
	}
	if p != nil && p.Drained {
		return
	}
	res := r.computeCheck(ctx, "stop")
	np := &StopProgress{ReadOnly: true, Drained: true, Final: map[string]events.Position{}, Shards: res.Shards}
	for _, sc := range res.Shards {
		if sc.Error != "" {
			np = &StopProgress{ReadOnly: true, Error: sc.Error}
			break
		}
		np.Final[sc.Shard] = sc.Acked
	}
	if np.Drained {
		r.log().Info("drained: the final state of every shard is known", "shards", len(np.Shards))
	}
	r.mu.Lock()
	r.stop = np
	r.mu.Unlock()
}
