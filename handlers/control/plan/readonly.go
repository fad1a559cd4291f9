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
	if ro && !r.s.keepReadOnly(r) {
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

// writable ends this source sync's stop barrier: the cluster is writable
// again, unless it must stay read-only for another reason (keepReadOnly:
// it follows another datacenter, or another source sync's barrier holds).
func (r *sourceRun) writable(ctx context.Context) {
	keep := r.s.keepReadOnly(r)
	if !keep {
		if err := r.setMode(ctx, false); err != nil {
			r.log().Warn("cannot make the cluster writable again; retrying", "err", err)
			return
		}
	}
	r.mu.Lock()
	r.readOnly, r.stop, r.releaseAt = false, nil, time.Time{}
	r.mu.Unlock()
	if keep {
		r.log().Info("the stop barrier ended; the cluster stays read-only (it follows another datacenter, or another sync's stop barrier holds)")
		return
	}
	r.log().Info("the cluster is writable again")
}

// keepReadOnly reports whether the cluster must stay read-only although
// except's stop barrier ends: a target sync of this datacenter is active
// (it is a replica: a chain's middle datacenter), or another source sync's
// stop barrier holds it.
func (s *session) keepReadOnly(except *sourceRun) bool {
	if s.followsAnother() {
		return true
	}
	s.mu.Lock()
	runs := make([]*sourceRun, 0, len(s.sources))
	for _, r := range s.sources {
		if r != except {
			runs = append(runs, r)
		}
	}
	s.mu.Unlock()
	for _, r := range runs {
		if r.isReadOnly() {
			return true
		}
	}
	return false
}

// followsAnother reports whether a target sync of this datacenter is
// running or stopping.
func (s *session) followsAnother() bool {
	for _, sy := range s.syncList() {
		if sy.Role == RoleTarget && sy.State.Active() {
			return true
		}
	}
	return false
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
