package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/task/ctl"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

func invalid(format string, a ...any) error {
	return failure.WithCode(failure.CodeConfigInvalid, fmt.Errorf(format, a...))
}

// pick returns the sync of id in a role ("" = the only sync of the role).
func (s *session) pick(id string, role Role) (Sync, error) {
	var of []Sync
	for _, sy := range s.syncList() {
		if sy.ID == id && id != "" {
			if sy.Role != role {
				return Sync{}, invalid("sync %s is a %s sync in this datacenter, the operation needs a %s sync (run it in the other datacenter)", id, sy.Role, role)
			}
			return sy, nil
		}
		if sy.Role == role {
			of = append(of, sy)
		}
	}
	if id != "" {
		return Sync{}, errNoSync(id)
	}
	switch len(of) {
	case 0:
		return Sync{}, fmt.Errorf("this datacenter has no %s sync: %w", role, fs.ErrNotExist)
	case 1:
		return of[0], nil
	}
	ids := make([]string, len(of))
	for i, sy := range of {
		ids[i] = sy.ID
	}
	return Sync{}, invalid("this datacenter has several %s syncs (%s): name one", role, strings.Join(ids, ", "))
}

// Configure starts following another datacenter (target side). A stopped
// or aborted sync of the same id is configured anew (new incarnation).
func (m *Manager) Configure(ctx context.Context, req ConfigureRequest) (Sync, error) {
	s, err := m.session()
	if err != nil {
		return Sync{}, err
	}
	var errs []error
	if strings.TrimSpace(req.SourceDC) == "" {
		errs = append(errs, errors.New("no source datacenter: name the datacenter to follow (--source-dc)"))
	}
	id := req.Sync
	if id == "" {
		if m.cfg.DC == "" {
			errs = append(errs, errors.New("no sync id and this master has no --dc name to build <source>-to-<target>: give the sync id"))
		}
		id = strings.ToLower(req.SourceDC + "-to-" + m.cfg.DC)
	}
	if req.DataPartitions < 0 || req.DataPartitions > 100000 {
		errs = append(errs, fmt.Errorf("data partitions %d: use 1 to 100000 (default %d)", req.DataPartitions, DefaultDataPartitions))
	}
	if req.MessageTimeoutMillis < 0 {
		errs = append(errs, fmt.Errorf("message timeout %dms: must be positive", req.MessageTimeoutMillis))
	}
	if m.cfg.DC != "" && strings.EqualFold(req.SourceDC, m.cfg.DC) {
		errs = append(errs, fmt.Errorf("source datacenter %q is this datacenter: run configure sync in the datacenter that follows", req.SourceDC))
	}
	now := time.Now().UTC()
	sy := Sync{ID: id, Role: RoleTarget, Peer: req.SourceDC, State: StateRunning, TopicPrefix: req.TopicPrefix,
		DataPartitions: req.DataPartitions, MessageTimeoutMillis: req.MessageTimeoutMillis, Incarnation: ctl.NewID(),
		CreatedAt: now, UpdatedAt: now}
	if len(errs) == 0 {
		if err := sy.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Sync{}, failure.WithCode(failure.CodeConfigInvalid, fmt.Errorf("configure sync: %w", err))
	}
	if sy.DataPartitions == 0 {
		sy.DataPartitions = DefaultDataPartitions
	}
	err = s.updateSyncs(ctx, func(list []Sync) ([]Sync, error) {
		for i, old := range list {
			if old.ID != id {
				continue
			}
			switch {
			case old.Role != RoleTarget:
				return nil, fmt.Errorf("sync %s exists in this datacenter as a %s sync: choose another id: %w", id, old.Role, fs.ErrExist)
			case old.State.Active():
				return nil, fmt.Errorf("sync %s is configured already (state %s): stop or abort it first: %w", id, old.State, fs.ErrExist)
			case old.TopicPrefix != sy.TopicPrefix || old.Partitions() != sy.Partitions():
				return nil, invalid("sync %s was configured with topic prefix %q and %d partitions: keep them (its topics exist) or choose another id",
					id, old.TopicPrefix, old.Partitions())
			}
			sy.CreatedAt = old.CreatedAt
			list[i] = sy
			return list, nil
		}
		return append(list, sy), nil
	})
	if err != nil {
		return Sync{}, err
	}
	m.log.Info("sync configured", "sync", id, "source", req.SourceDC, "partitions", sy.Partitions())
	return sy, nil
}

// Stop stops a target sync: at once without ensure-in-sync, else with the
// source read-only until every shard is in sync (the runner finishes it).
func (m *Manager) Stop(ctx context.Context, req StopRequest) error {
	s, err := m.session()
	if err != nil {
		return err
	}
	sy, err := s.pick(req.Sync, RoleTarget)
	if err != nil {
		return err
	}
	if req.TimeoutMillis < 0 {
		return invalid("stop timeout %dms: must be positive", req.TimeoutMillis)
	}
	timeout := m.cfg.StopTimeout
	if req.TimeoutMillis > 0 {
		timeout = time.Duration(req.TimeoutMillis) * time.Millisecond
	}
	return s.changeSync(ctx, sy.ID, func(cur *Sync) error {
		switch cur.State {
		case StateStopped:
			return nil
		case StateAborted:
			return invalid("sync %s is aborted: nothing to stop", cur.ID)
		}
		cur.Error = ""
		if !req.EnsureInSync {
			cur.State, cur.EnsureInSync, cur.StopDeadline = StateStopped, false, time.Time{}
			return nil
		}
		cur.State, cur.EnsureInSync, cur.StopDeadline = StateStopping, true, time.Now().Add(timeout).UTC()
		return nil
	})
}

// Abort ends a target sync at once (A removes its tasks when it hears).
func (m *Manager) Abort(ctx context.Context, sync string) error {
	return m.abort(ctx, sync, RoleTarget)
}

// AbortOutgoing ends a source sync at once: its send tasks are removed.
func (m *Manager) AbortOutgoing(ctx context.Context, sync string) error {
	if err := m.abort(ctx, sync, RoleSource); err != nil {
		return err
	}
	s, err := m.session()
	if err != nil {
		return err
	}
	sy, err := s.pick(sync, RoleSource)
	if err != nil {
		return err
	}
	for _, t := range s.deps.Registry.Tasks() {
		if t.Sync == sy.ID {
			s.deps.Registry.RemoveTask(t.ID)
		}
	}
	return nil
}

func (m *Manager) abort(ctx context.Context, sync string, role Role) error {
	s, err := m.session()
	if err != nil {
		return err
	}
	sy, err := s.pick(sync, role)
	if err != nil {
		return err
	}
	return s.changeSync(ctx, sy.ID, func(cur *Sync) error {
		cur.State, cur.EnsureInSync, cur.StopDeadline = StateAborted, false, time.Time{}
		return nil
	})
}

// SetMessageTimeout changes a sync's message timeout (target side; the
// source copies it).
func (m *Manager) SetMessageTimeout(ctx context.Context, sync string, d time.Duration) error {
	s, err := m.session()
	if err != nil {
		return err
	}
	if d < time.Second {
		return invalid("message timeout %v: use at least 1s (default %v)", d, DefaultMessageTimeout)
	}
	sy, err := s.pick(sync, RoleTarget)
	if err != nil {
		return err
	}
	return s.changeSync(ctx, sy.ID, func(cur *Sync) error {
		cur.MessageTimeoutMillis = d.Milliseconds()
		return nil
	})
}

// ResetFailedShard makes a shard start over (target side): the request
// travels in the sync-state for a minute; A removes the shard's send task
// and adds it again as a new task (generation 0, pending), whose worker
// starts a new stream epoch with a revision snapshot.
func (m *Manager) ResetFailedShard(ctx context.Context, sync, shard string) error {
	s, err := m.session()
	if err != nil {
		return err
	}
	sy, err := s.pick(sync, RoleTarget)
	if err != nil {
		return err
	}
	ref, err := events.ParseShardRef(shard)
	if err != nil {
		return invalid("shard %q: give it as database/collectionId/index, as `dc2dc get status -v` lists it", shard)
	}
	s.mu.Lock()
	t := s.targets[sy.ID]
	s.mu.Unlock()
	if t == nil {
		return notLeading()
	}
	v := t.view()
	known := false
	if v.inv != nil {
		for _, d := range v.inv.Databases {
			for _, c := range d.Collections {
				known = known || (d.Name == ref.Database && c.ID == ref.CollectionID && ref.Index < len(c.Shards))
			}
		}
	}
	if !known {
		return fmt.Errorf("sync %s has no shard %s (per the source's last inventory): %w", sy.ID, shard, fs.ErrNotExist)
	}
	t.mu.Lock()
	t.resets = append(t.resets, ShardReset{ID: ctl.NewID(), Shard: ref.String(), At: time.Now().UTC()})
	t.mu.Unlock()
	m.log.Info("shard reset requested", "sync", sy.ID, "shard", shard)
	return nil
}

// Status of every sync of this datacenter with its shards.
func (m *Manager) Status(_ context.Context) (Status, error) {
	s, err := m.session()
	if err != nil {
		return Status{}, err
	}
	out := Status{DC: m.cfg.DC, Leader: m.cfg.MasterID, Epoch: s.epoch, Syncs: []SyncStatus{}}
	now := time.Now()
	for _, sy := range s.syncList() {
		s.mu.Lock()
		t, r := s.targets[sy.ID], s.sources[sy.ID]
		s.mu.Unlock()
		var ss SyncStatus
		switch {
		case sy.Role == RoleTarget && t != nil:
			v := t.view()
			ss = TargetStatus(sy, v.inv, m.shardReports(sy.ID), v.peerSeen, now, m.cfg.PeerAliveAfter)
			if v.structErr != "" && ss.Error == "" {
				ss.Error = v.structErr
			}
		case sy.Role == RoleSource && r != nil:
			ss = summarize(SyncStatus{Sync: sy, Shards: r.statusShards()})
			ss.PeerLastSeen = r.peer()
			ss.PeerAlive = !ss.PeerLastSeen.IsZero() && now.Sub(ss.PeerLastSeen) < m.cfg.PeerAliveAfter
		default:
			ss = SyncStatus{Sync: sy, Shards: []ShardStatus{}}
		}
		out.Syncs = append(out.Syncs, ss)
	}
	return out, nil
}
