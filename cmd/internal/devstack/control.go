package devstack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

// controlClient is an admin API client on the masters of dc.
func (s *Stack) controlClient(dc Datacenter) (*api.Client, error) {
	if len(dc.Masters) == 0 {
		return nil, errors.New("devstack: no masters run (the stack was started without its control plane)")
	}
	return api.NewClient(api.ClientConfig{Endpoints: dc.Masters, Token: s.secrets.AdminToken, Subject: "dc2dc-dev", Timeout: 10 * time.Second})
}

// ConfigureSync tells B's masters to follow A (`dc2dc configure sync`),
// unless B already runs the stack's sync (a second run on the same state).
// It retries while B has no leader yet, until ctx ends.
func (s *Stack) ConfigureSync(ctx context.Context) (plan.Sync, error) {
	cl, err := s.controlClient(s.Endpoints().B)
	if err != nil {
		return plan.Sync{}, err
	}
	defer cl.Close()
	wait := 100 * time.Millisecond
	for {
		sy, err := s.configureOnce(ctx, cl)
		if err == nil {
			return sy, nil
		}
		if !api.IsNotLeader(err) && !isUnavailable(err) {
			return plan.Sync{}, fmt.Errorf("devstack: configure sync %s on B: %w", s.cfg.SyncID, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return plan.Sync{}, fmt.Errorf("devstack: configure sync %s on B: %w (last: %w)", s.cfg.SyncID, ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (s *Stack) configureOnce(ctx context.Context, cl *api.Client) (plan.Sync, error) {
	st, err := cl.Status(ctx)
	if err != nil {
		return plan.Sync{}, err
	}
	for _, sy := range st.Syncs {
		if sy.ID == s.cfg.SyncID && sy.Role == plan.RoleTarget && sy.State.Active() {
			return sy.Sync, nil
		}
	}
	return cl.Configure(ctx, plan.ConfigureRequest{Sync: s.cfg.SyncID, SourceDC: "A", DataPartitions: int(s.cfg.DataPartitions)})
}

// isUnavailable reports a master that cannot answer yet (no leader, or a
// transport failure while it starts).
func isUnavailable(err error) bool {
	var e *api.Error
	if errors.As(err, &e) {
		return e.Status == 503 || e.Status == 502
	}
	return true // no HTTP answer at all
}

// SyncStatus is GET /_api/status of B's leader master: the stack's sync
// as the target sees it, with every shard's phase and lag.
func (s *Stack) SyncStatus(ctx context.Context) (plan.SyncStatus, error) {
	cl, err := s.controlClient(s.Endpoints().B)
	if err != nil {
		return plan.SyncStatus{}, err
	}
	defer cl.Close()
	st, err := cl.Status(ctx)
	if err != nil {
		return plan.SyncStatus{}, err
	}
	for _, sy := range st.Syncs {
		if sy.ID == s.cfg.SyncID {
			return sy, nil
		}
	}
	return plan.SyncStatus{}, fmt.Errorf("devstack: the masters of B know no sync %s (yet)", s.cfg.SyncID)
}
