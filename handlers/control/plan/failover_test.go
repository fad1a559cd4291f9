package plan_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

// TestLeaderFailover: a new leader on either side takes the syncs over
// from _dc2dc (the old one stops acting), and the protocol goes on: a
// collection created after both failovers reaches B with its send tasks.
func TestLeaderFailover(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	w.a.collection(t, ctx, "shop", "orders", 2)
	_, err := w.b.mgr.Configure(ctx, plan.ConfigureRequest{SourceDC: "A"})
	must(t, err)
	eventually(t, 30*time.Second, "send tasks in A", func() (bool, string) {
		return len(w.a.sendTasks()) == 2, fmt.Sprint(len(w.a.sendTasks()))
	})
	for _, s := range []*side{w.b, w.a} {
		old := s.mgr
		next := w.startMaster(s, "master-"+s.name+"2")
		s.first.stop() // releases the lease: the second master takes over
		s.reg, s.mgr = next.reg, next.mgr
		eventually(t, 20*time.Second, s.name+"'s second master leads", func() (bool, string) {
			st, err := s.mgr.Status(ctx)
			return err == nil && len(st.Syncs) == 1, fmt.Sprint(st, err)
		})
		if _, err := old.Status(ctx); err == nil {
			t.Errorf("%s's first master still answers as leader", s.name)
		}
	}
	eventually(t, 30*time.Second, "A's new leader runs the send tasks", func() (bool, string) {
		return len(w.a.sendTasks()) == 2, fmt.Sprint(len(w.a.sendTasks()))
	})
	laterID := w.a.collection(t, ctx, "shop", "later", 3)
	eventually(t, 30*time.Second, "shop/later in B with its tasks in A", func() (bool, string) {
		ok, n := w.b.hasCollection(ctx, "shop", "later")
		tasks := tasksOf(w.a.sendTasks(), "shop/"+laterID+"/")
		return ok && n == 3 && tasks == 3, fmt.Sprintf("in B %v/%d, tasks %d", ok, n, tasks)
	})
	st, err := w.b.mgr.Status(ctx)
	must(t, err)
	if ss := st.Syncs[0]; !ss.PeerAlive || len(ss.Shards) != 5 || ss.Role != plan.RoleTarget {
		t.Errorf("B's status after the failovers: %+v", ss)
	}
}
