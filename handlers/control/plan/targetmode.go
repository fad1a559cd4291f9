package plan

import (
	"context"
	"net/http"
	"time"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
)

// targetModeRecheck: how often the leader re-asserts the mode it wants (an
// operator or a restarted Coordinator may have changed it).
const targetModeRecheck = 10 * time.Second

// targetMode keeps this cluster read-only for users while it follows
// another datacenter (a target sync running or stopping) and makes it
// writable once, per session, when its last target sync stopped or was
// aborted (the replica is promoted). Read-only mode caps users' access
// levels only: dc2dc's own writes (receive side, structure, records) use
// the superuser JWT and go on. A cluster that is no target of any sync is
// left alone. In a chain's middle datacenter, a source-side stop barrier
// ending does not make it writable while it follows (keepReadOnly), and a
// target sync ending does not while a source-side barrier holds.
func (s *session) targetMode() {
	active, anyTarget := false, false
	for _, sy := range s.syncList() {
		if sy.Role == RoleTarget {
			anyTarget = true
			active = active || sy.State.Active()
		}
	}
	if !anyTarget {
		return
	}
	if !active && s.keepReadOnly(nil) {
		return // a source sync's stop barrier holds: it releases the cluster
	}
	s.mu.Lock()
	same := s.modeSet && s.modeRO == active && time.Since(s.modeAt) < targetModeRecheck
	s.mu.Unlock()
	if same {
		return
	}
	mode := "default"
	if active {
		mode = "readonly"
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	_, err := s.deps.Cluster.Coordinator().Do(ctx, client.Request{Method: http.MethodPut, Path: "_admin/server/mode",
		Body: []byte(`{"mode":"` + mode + `"}`), What: "server mode"}, http.StatusOK)
	if err != nil {
		if s.ctx.Err() == nil {
			s.m.cfg.Logger.Warn("cannot set this cluster's server mode; retrying", "mode", mode, "err", err)
		}
		return
	}
	s.mu.Lock()
	changed := !s.modeSet || s.modeRO != active
	s.modeSet, s.modeRO, s.modeAt = true, active, time.Now()
	s.mu.Unlock()
	if changed {
		if active {
			s.m.cfg.Logger.Info("this cluster is read-only for users while it follows another datacenter")
		} else {
			s.m.cfg.Logger.Info("no sync follows another datacenter any more: this cluster is writable")
		}
	}
}
