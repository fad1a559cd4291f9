package election_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/election"
	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

// group runs electors and checks, continuously, that at most one of them
// believes it is leader, and that no epoch is ever won twice (by two of
// them, or by one in two terms).
type group struct {
	t       *testing.T
	docs    *state.Docs
	els     []*election.Elector
	cancels []context.CancelFunc
	wg      sync.WaitGroup

	mu       sync.Mutex
	won      map[uint64]string // epoch → elector id
	events   []string
	violated atomic.Value // string

	stopMon context.CancelFunc
	monDone chan struct{}
	checks  atomic.Int64
}

func newGroup(t *testing.T, cl *client.Client, n int, tune func(*election.Config)) *group {
	d := state.NewDocs(cl.Coordinator())
	g := newGroupOn(t, func(int) election.Store { return d }, n, tune)
	g.docs = d
	return g
}

func newGroupOn(t *testing.T, storeFor func(i int) election.Store, n int, tune func(*election.Config)) *group {
	g := &group{t: t, won: map[uint64]string{}, monDone: make(chan struct{})}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("m%d", i)
		cfg := election.Config{ID: id, Endpoint: "http://" + id + ":8629"}
		cfg.OnElected = func(epoch uint64) {
			g.mu.Lock()
			defer g.mu.Unlock()
			if prev, ok := g.won[epoch]; ok {
				// Twice by one elector is a violation too: each term has
				// its own epoch.
				g.violated.Store(fmt.Sprintf("epoch %d won by %s and then by %s", epoch, prev, id))
			}
			g.won[epoch] = id
			g.events = append(g.events, fmt.Sprintf("%s elected %d", id, epoch))
		}
		cfg.OnLost = func(epoch uint64) {
			g.mu.Lock()
			g.events = append(g.events, fmt.Sprintf("%s lost %d", id, epoch))
			g.mu.Unlock()
		}
		if tune != nil {
			tune(&cfg)
		}
		e, err := election.New(cfg, storeFor(i))
		if err != nil {
			t.Fatal(err)
		}
		g.els = append(g.els, e)
	}
	for _, e := range g.els {
		ctx, cancel := context.WithCancel(context.Background())
		g.cancels = append(g.cancels, cancel)
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			if err := e.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	mctx, stop := context.WithCancel(context.Background())
	g.stopMon = stop
	go g.monitor(mctx)
	t.Cleanup(g.stop)
	return g
}

func (g *group) monitor(ctx context.Context) {
	defer close(g.monDone)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var leaders []string
		for _, e := range g.els {
			if ep, ok := e.Leader(); ok {
				leaders = append(leaders, fmt.Sprintf("%s@%d", e.Config().ID, ep))
			}
		}
		g.checks.Add(1)
		if len(leaders) > 1 {
			g.violated.Store(fmt.Sprintf("two leaders at once: %v", leaders))
		}
	}
}

func (g *group) stop() {
	for _, c := range g.cancels {
		c()
	}
	g.wg.Wait()
	if g.stopMon != nil {
		g.stopMon()
		<-g.monDone
		g.stopMon = nil
	}
	g.check()
}

func (g *group) check() {
	g.t.Helper()
	if v, _ := g.violated.Load().(string); v != "" {
		g.mu.Lock()
		ev := append([]string(nil), g.events...)
		g.mu.Unlock()
		g.t.Fatalf("split brain: %s\nevents: %v", v, ev)
	}
}

// leader waits for exactly one leader and returns its index and epoch.
func (g *group) leader(within time.Duration, not int, minEpoch uint64) (int, uint64) {
	g.t.Helper()
	deadline := time.Now().Add(within)
	for {
		for i, e := range g.els {
			if ep, ok := e.Leader(); ok && i != not && ep >= minEpoch {
				return i, ep
			}
		}
		if time.Now().After(deadline) {
			g.mu.Lock()
			ev := append([]string(nil), g.events...)
			g.mu.Unlock()
			g.t.Fatalf("no leader (other than %d, epoch >= %d) within %v; events %v", not, minEpoch, within, ev)
		}
		time.Sleep(5 * time.Millisecond) // polling interval of a deadline loop
	}
}

func TestOneLeaderAndTakeoverAfterCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 10 s")
	}
	_, cl := startSim(t)
	reader := metric.NewManualReader()
	mp := metric.NewMeterProvider(metric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	// Default timings (5 s lease, 1.5 s renewals); the crashed leader keeps its lease.
	g := newGroup(t, cl, 3, func(c *election.Config) {
		c.KeepLeaseOnStop = true
		if c.ID == "m0" {
			c.MeterProvider = mp
		}
	})
	first, e1 := g.leader(10*time.Second, -1, 1)
	if e1 != 1 {
		t.Fatalf("first epoch %d, want 1", e1)
	}
	st := g.els[(first+1)%3].Status()
	g.t.Logf("leader m%d epoch %d; follower sees %+v", first, e1, st)

	// The followers learn who leads (for forwarding).
	deadline := time.Now().Add(5 * time.Second)
	for g.els[(first+1)%3].Status().LeaderEndpoint != fmt.Sprintf("http://m%d:8629", first) {
		if time.Now().After(deadline) {
			t.Fatalf("follower status %+v does not name the leader", g.els[(first+1)%3].Status())
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Crash the leader: it stops renewing without releasing.
	start := time.Now()
	g.cancels[first]()
	second, e2 := g.leader(10*time.Second, first, e1+1)
	took := time.Since(start)
	t.Logf("takeover by m%d with epoch %d after %v", second, e2, took)
	if took > 10*time.Second || e2 <= e1 {
		t.Fatalf("takeover after %v with epoch %d", took, e2)
	}
	if took < 3*time.Second {
		t.Fatalf("takeover after %v: before the crashed leader's lease could have expired", took)
	}
	if g.checks.Load() < 100 {
		t.Fatalf("the monitor ran only %d checks", g.checks.Load())
	}
	if first == 0 || second == 0 {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				names[m.Name] = true
			}
		}
		if !names[election.MetricLeader] || !names[election.MetricElections] {
			t.Fatalf("metrics %v, want %s and %s", names, election.MetricLeader, election.MetricElections)
		}
	}
	g.stop()
}

func TestCleanStopHandsOverAtOnce(t *testing.T) {
	_, cl := startSim(t)
	g := newGroup(t, cl, 2, func(c *election.Config) {
		c.LeaseDuration, c.RenewInterval = 3*time.Second, 300*time.Millisecond
	})
	first, e1 := g.leader(10*time.Second, -1, 1)
	start := time.Now()
	g.cancels[first]()
	_, e2 := g.leader(10*time.Second, first, e1+1)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("handover after a clean stop took %v, want about one renew interval (released lease)", took)
	}
	if e2 != e1+1 {
		t.Fatalf("epoch %d after %d", e2, e1)
	}
}

// TestNoSplitBrainUnderFaults: the coordinator answers the lease requests
// with bursts of 503 and with latency; the electors keep at most one leader
// at any instant, and someone leads again once the faults stop.
func TestNoSplitBrainUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 15 s")
	}
	sim, cl := startSim(t)
	g := newGroup(t, cl, 3, func(c *election.Config) {
		c.LeaseDuration, c.RenewInterval, c.SafetyMargin = 2*time.Second, 400*time.Millisecond, 400*time.Millisecond
		c.RequestTimeout = 700 * time.Millisecond
	})
	_, e1 := g.leader(10*time.Second, -1, 1)
	coord := sim.Coordinators()[0].ID
	prefix := "/_api/document/" + state.Collection
	faults := []arangosim.Fault{
		{PathPrefix: prefix, Status: 503, Duration: 3 * time.Second},                     // leader must step down
		{PathPrefix: prefix, Latency: 300 * time.Millisecond, Duration: 3 * time.Second}, // slow but under the request timeout
		{PathPrefix: prefix, Latency: 900 * time.Millisecond, Duration: 3 * time.Second}, // over the request timeout
		{PathPrefix: prefix, Status: 503, Count: 7},
	}
	epoch := e1
	for i, f := range faults {
		if err := sim.InjectFault(coord, f); err != nil {
			t.Fatal(err)
		}
		// Let the fault act, then wait for it to end and for a leader.
		end := time.Now().Add(f.Duration)
		for time.Now().Before(end) {
			time.Sleep(50 * time.Millisecond) // the monitor checks meanwhile
			g.check()
		}
		if f.Duration == 0 {
			time.Sleep(2 * time.Second)
		}
		if err := sim.ClearFaults(coord); err != nil {
			t.Fatal(err)
		}
		_, ep := g.leader(10*time.Second, -1, epoch)
		t.Logf("after fault %d (%+v): leader epoch %d", i, f, ep)
		epoch = ep
		g.check()
	}
	// 3 s of 503s outlast the lease: the leader must have stepped down
	// (it may win its own lease back afterwards: nobody else could take it).
	g.mu.Lock()
	ev := append([]string(nil), g.events...)
	g.mu.Unlock()
	lost := 0
	for _, e := range ev {
		if strings.Contains(e, " lost ") {
			lost++
		}
	}
	if lost == 0 {
		t.Fatalf("no leader stepped down during 3 s of 503s: events %v", ev)
	}
	t.Logf("events: %v", ev)
	g.stop()
}

// TestStaleLeaderIsFenced: a leader that stopped renewing (paused, cut off)
// still holds its old epoch; once another master took over, the stale
// leader's writes are refused.
func TestStaleLeaderIsFenced(t *testing.T) {
	_, cl := startSim(t)
	g := newGroup(t, cl, 2, func(c *election.Config) {
		c.LeaseDuration, c.RenewInterval, c.SafetyMargin = 2*time.Second, 300*time.Millisecond, 400*time.Millisecond
		c.KeepLeaseOnStop = true
	})
	store := state.NewStore(g.docs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first, e1 := g.leader(10*time.Second, -1, 1)
	v, err := store.Save(ctx, e1, "tasks", "", map[string]any{"by": "first"})
	if err != nil {
		t.Fatal(err)
	}
	g.cancels[first]() // the first leader is cut off
	_, e2 := g.leader(10*time.Second, first, e1+1)
	// The stale leader still believes in e1: every write of it is refused.
	_, err = store.Save(ctx, e1, "tasks", v.Rev, map[string]any{"by": "stale"})
	var fe *state.FencedError
	if !errors.As(err, &fe) || fe.Current != e2 {
		t.Fatalf("stale leader's write: %v, want fenced at epoch %d", err, e2)
	}
	if _, err := store.Save(ctx, e2, "tasks", v.Rev, map[string]any{"by": "second"}); err != nil {
		t.Fatalf("new leader's write: %v", err)
	}
	var got map[string]string
	if _, _, err := store.Load(ctx, "tasks", &got); err != nil || got["by"] != "second" {
		t.Fatalf("record %v err %v", got, err)
	}
	g.stop()
}

func TestConfigValidate(t *testing.T) {
	err := election.Config{LeaseDuration: time.Second, RenewInterval: time.Second, SafetyMargin: 2 * time.Second, RequestTimeout: -1}.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"master id", "safety margin", "renew interval", "request timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := (election.Config{ID: "m"}).WithDefaults().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}
