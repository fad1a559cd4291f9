package plan

import (
	"testing"
	"time"
)

// TestSourceFollowsTheTargetsState: A's record of a sync follows the state B
// publishes, by incarnation (a new one is a sync configured anew).
func TestSourceFollowsTheTargetsState(t *testing.T) {
	deadline := time.Now().Add(time.Hour).UTC()
	rec := func(st State, inc string) Sync {
		return Sync{ID: "a-to-b", Role: RoleSource, State: st, Incarnation: inc, DataPartitions: 12}
	}
	state := func(st State, inc string, ensure bool) *SyncState {
		s := &SyncState{State: st, Incarnation: inc, DataPartitions: 12, EnsureInSync: ensure}
		if st == StateStopping && ensure {
			s.StopDeadline = deadline
		}
		return s
	}
	for _, c := range []struct {
		name     string
		rec      Sync
		st       *SyncState
		want     State
		wantInc  string
		ensure   bool
		deadline time.Time
	}{
		{"running follows running", rec(StateRunning, "i2"), state(StateRunning, "i2", false), StateRunning, "i2", false, time.Time{}},
		{"configured anew after a stop", rec(StateStopped, "i2"), state(StateRunning, "i3", false), StateRunning, "i3", false, time.Time{}},
		{"stopped here, B runs the same incarnation", rec(StateStopped, "i2"), state(StateRunning, "i2", false), StateStopped, "i2", false, time.Time{}},
		{"a stop with ensure in sync", rec(StateRunning, "i2"), state(StateStopping, "i2", true), StateStopping, "i2", true, deadline},
		{"a stop given up", rec(StateStopping, "i2"), state(StateRunning, "i2", false), StateRunning, "i2", false, time.Time{}},
		{"stopped", rec(StateStopping, "i2"), state(StateStopped, "i2", false), StateStopped, "i2", false, time.Time{}},
		{"an old stop replayed after the stop", rec(StateStopped, "i2"), state(StateStopping, "i2", true), StateStopped, "i2", false, time.Time{}},
		// The chaos suite's stop/pause-leader-master-a: A's leader was
		// paused for the whole running state of a new incarnation and woke
		// (its successor took over) to B stopping it: A must run it into
		// the stop, or B's stop waits for a barrier A never raises.
		{"configured anew and stopped while A was away", rec(StateStopped, "i2"), state(StateStopping, "i3", true), StateStopping, "i3", true, deadline},
		{"a stale stop of another incarnation, past its deadline", rec(StateStopped, "i2"), &SyncState{State: StateStopping, Incarnation: "i1", EnsureInSync: true, StopDeadline: time.Now().Add(-time.Minute)}, StateStopped, "i2", false, time.Time{}},
		{"aborted while stopped", rec(StateStopped, "i2"), state(StateAborted, "i3", false), StateStopped, "i2", false, time.Time{}},
	} {
		got := following(c.rec, c.st)
		if got.State != c.want || got.Incarnation != c.wantInc || got.EnsureInSync != c.ensure || !got.StopDeadline.Equal(c.deadline) {
			t.Errorf("%s: %s inc %s ensure %v deadline %v; want %s inc %s ensure %v deadline %v", c.name,
				got.State, got.Incarnation, got.EnsureInSync, got.StopDeadline, c.want, c.wantInc, c.ensure, c.deadline)
		}
	}
}
