package master_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/election"
	"github.com/dc2dc/dc2dc/handlers/control/master"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/pipeline/broker"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

// TestMasterRunsThePlan: a master with this datacenter's Kafka serves the
// sync endpoints from its plan.Manager while it leads: configure sync
// records the sync and creates its topics; the follower forwards; a new
// leader reloads the sync from _dc2dc.
func TestMasterRunsThePlan(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim, err := arangosim.Start(ctx, arangosim.Config{DBServers: 1, JWTSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sim.Close() }()
	br, err := broker.Start(ctx, broker.Config{GroupMinSessionTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = br.Close() }()
	kc := kafka.Config{Brokers: br.Addrs()}
	kc.Consumer.SessionTimeout, kc.Consumer.HeartbeatInterval = 2*time.Second, 300*time.Millisecond
	cluster := client.Config{Endpoints: []string{sim.Endpoint()}, JWTSecret: secret}
	fast := election.Config{LeaseDuration: 2 * time.Second, RenewInterval: 300 * time.Millisecond}
	var masters []*master.Master
	var procs []*proc
	for i := 0; i < 2; i++ {
		m, err := master.New(master.Config{ID: fmt.Sprintf("m%d", i), DC: "B", Listen: "127.0.0.1:0", Cluster: cluster, Election: fast,
			Kafka: kc, Plan: plan.Config{StateInterval: 300 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		masters = append(masters, m)
		procs = append(procs, start(t, m.Run))
		select {
		case <-m.Ready():
		case err := <-procs[i].done:
			t.Fatalf("master %d: %v", i, err)
		case <-time.After(20 * time.Second):
			t.Fatal("master not ready")
		}
	}
	leader := func() int {
		for i, m := range masters {
			if _, ok := m.Elector().Leader(); ok {
				return i
			}
		}
		return -1
	}
	waitFor(t, 10*time.Second, "a leader", func() (bool, string) { return leader() >= 0, "none" })
	follower := masters[1-leader()]
	cl, err := api.NewClient(api.ClientConfig{Endpoints: []string{follower.Endpoint()}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var sy plan.Sync
	waitFor(t, 15*time.Second, "configure sync through the follower", func() (bool, string) {
		sy, err = cl.Configure(ctx, plan.ConfigureRequest{SourceDC: "A", DataPartitions: 2})
		return err == nil, fmt.Sprint(err)
	})
	if sy.ID != "a-to-b" || sy.Role != plan.RoleTarget {
		t.Fatalf("configured %+v", sy)
	}
	tctx, tcancel := context.WithTimeout(ctx, 20*time.Second)
	parts, err := kafka.WaitTopics(tctx, kc, 50*time.Millisecond, "dc2dc.a-to-b.data", "dc2dc.a-to-b.ctl.up", "dc2dc.a-to-b.ctl.down", "dc2dc.a-to-b.poison")
	tcancel()
	if err != nil || parts["dc2dc.a-to-b.data"] != 2 {
		t.Fatalf("topics: %v %v", parts, err)
	}
	// The leader stops: the other master leads and reloads the sync.
	old := leader()
	procs[old].stop(t)
	waitFor(t, 15*time.Second, "the other master leads with the sync", func() (bool, string) {
		st, err := masters[1-old].Plan().Status(ctx)
		return err == nil && len(st.Syncs) == 1 && st.Syncs[0].ID == "a-to-b" && st.Syncs[0].State == plan.StateRunning, fmt.Sprint(st, err)
	})
	if as := masters[1-old].Plan().Assignments(); len(as) != 1 || as[0].Sync != "a-to-b" {
		t.Errorf("assignments %+v", as)
	}
}
