package send

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
	"github.com/dc2dc/dc2dc/handlers/task/ctl"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// RemoteTarget is the source.Target of a new epoch: cluster B answers over
// Kafka (see the package doc). It is used by one Source, in its epoch;
// Task.Status counts its requests.
type RemoteTarget struct {
	ep *epoch
}

// ask puts a request into the shard's data stream and waits for its answer.
func (r *RemoteTarget) ask(ctx context.Context, typ string, req ctl.Request, timeout time.Duration) (ctl.Answer, error) {
	t := r.ep.t
	req.ID, req.Shard, req.Epoch = ctl.NewID(), t.ref, r.ep.start.Epoch
	ch, cancel := t.deps.Listener.Expect(req.ID)
	defer cancel()
	rec, err := ctl.Record(typ, t.cfg.From, req)
	if err != nil {
		return ctl.Answer{}, failure.WithCode(failure.CodeInternal, err)
	}
	if err := r.ep.add(ctx, rec); err != nil {
		return ctl.Answer{}, err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctl.Answer{}, ctx.Err()
	case <-timer.C:
		return ctl.Answer{}, fmt.Errorf("%s %s of shard %s: %w after %v", typ, req.ID, t.ref, ctl.ErrTimeout, timeout)
	case a := <-ch:
		if a.Error != "" {
			return ctl.Answer{}, failure.Retryable(fmt.Errorf("cluster B could not answer %s of shard %s: %s", typ, t.ref, a.Error))
		}
		return a, nil
	}
}

// Tree implements source.Target: B's tree, or nil (full snapshot) after
// Config.TreeTimeout.
func (r *RemoteTarget) Tree(ctx context.Context) (*revtree.Tree, error) {
	r.ep.t.update(func(s *Status) { s.TreeRequests++ })
	a, err := r.ask(ctx, ctl.TypeTreeRequest, ctl.Request{}, r.ep.t.cfg.TreeTimeout)
	if errors.Is(err, ctl.ErrTimeout) {
		r.ep.t.update(func(s *Status) { s.TreeFallbacks++ })
		r.ep.t.cfg.Logger.Warn("send: cluster B did not send its revision tree in time: falling back to a FULL snapshot (documents B holds that A no longer has are not removed by it)",
			"shard", r.ep.t.ref, "epoch", r.ep.start.Epoch, "timeout", r.ep.t.cfg.TreeTimeout)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(a.Tree) == 0 {
		return nil, nil
	}
	tree, err := revtree.Parse(a.Tree)
	if err != nil {
		return nil, failure.Permanent(fmt.Errorf("revision tree of shard %s from cluster B: %w", r.ep.t.ref, err))
	}
	return tree, nil
}

// Revisions implements source.Target.
func (r *RemoteTarget) Revisions(ctx context.Context, ranges []revtree.Range) ([]events.KeyRev, error) {
	r.ep.t.update(func(s *Status) { s.RevisionRequests++ })
	a, err := r.ask(ctx, ctl.TypeRevisionsRequest, ctl.Request{Ranges: ranges}, r.ep.t.cfg.RevisionsTimeout)
	if errors.Is(err, ctl.ErrTimeout) {
		return nil, failure.Retryable(err)
	}
	if err != nil {
		return nil, err
	}
	return a.Revisions, nil
}
