package runner

import (
	"context"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/handlers/task/receive"
	"github.com/dc2dc/dc2dc/store"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

// TestEpochsStrictlyIncreasingUnderRace: two Epochs instances (two
// workers, each with its own connection) allocate epochs of the same shard
// concurrently; every number is handed out once, each caller sees its
// numbers strictly increase, and together they are exactly 1..n. The
// checkpoint floor keeps a shard above the epoch its store already holds.
func TestEpochsStrictlyIncreasingUnderRace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sim, err := arangosim.Start(ctx, arangosim.Config{DBServers: 1, JWTSecret: secret})
	must(t, err)
	defer func() { _ = sim.Close() }()
	newEpochs := func(worker string) *Epochs {
		cl, err := client.New(client.Config{Endpoints: []string{sim.Endpoint()}, JWTSecret: secret})
		must(t, err)
		t.Cleanup(cl.Close)
		return &Epochs{Docs: state.NewDocs(cl.Coordinator()), Sync: syncID, Worker: worker}
	}
	e1, e2 := newEpochs("w1"), newEpochs("w2")
	const per = 20
	var mu sync.Mutex
	var all []uint64
	var wg sync.WaitGroup
	for _, e := range []*Epochs{e1, e2, e1, e2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for range per {
				n, err := e.Next(ctx, "shop/1/0")
				if err != nil {
					t.Error(err)
					return
				}
				if n <= last {
					t.Errorf("%s: epoch %d after %d", e.Worker, n, last)
				}
				last = n
				mu.Lock()
				all = append(all, n)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	for i, n := range all {
		if n != uint64(i+1) {
			t.Fatalf("epochs %v: want exactly 1..%d, each once", all, 4*per)
		}
	}
	// Another shard and another sync have their own counters.
	if n, err := e1.Next(ctx, "shop/1/1"); err != nil || n != 1 {
		t.Errorf("first epoch of another shard: %d, %v", n, err)
	}
	other := newEpochs("w1")
	other.Sync = "c-to-d"
	if n, err := other.Next(ctx, "shop/1/0"); err != nil || n != 1 {
		t.Errorf("first epoch of the shard in another sync: %d, %v", n, err)
	}

	// The floor: a store that already used epoch 7 of a shard.
	st, err := store.Open(store.Config{Dir: t.TempDir(), NoSync: true})
	must(t, err)
	defer func() { _ = st.Close() }()
	must(t, st.Put(store.SourcePosition{Sync: syncID, Shard: "shop/1/2", Epoch: 7, Leader: "PRMR-1", Phase: store.PhaseInitialSync}))
	e1.Floor = st
	if n, err := e1.Next(ctx, "shop/1/2"); err != nil || n != 8 {
		t.Errorf("epoch above the checkpoint's 7: %d, %v", n, err)
	}
	// Until the task stores epoch 8, its checkpoint of epoch 7 is stale.
	if stale, local, cur, err := e1.Stale(ctx, st, "shop/1/2"); err != nil || !stale || local != 7 || cur != 8 {
		t.Errorf("checkpoint epoch 7 under counter 8: stale %v (%d, %d), %v", stale, local, cur, err)
	}
	must(t, st.Put(store.SourcePosition{Sync: syncID, Shard: "shop/1/2", Epoch: 8, Leader: "PRMR-1", Phase: store.PhaseInitialSync}))
	if stale, _, _, err := e1.Stale(ctx, st, "shop/1/2"); err != nil || stale {
		t.Errorf("checkpoint of the counter's epoch: stale %v, %v", stale, err)
	}
	if stale, _, _, err := e1.Stale(ctx, st, "shop/9/9"); err != nil || stale {
		t.Errorf("no checkpoint: stale %v, %v", stale, err)
	}
	if n, err := e1.Next(ctx, "shop/1/0"); err != nil || n != 4*per+1 {
		t.Errorf("next epoch of the raced shard: %d, %v", n, err)
	}
}

func TestEpochKey(t *testing.T) {
	k := EpochKey("a-to-b", "shop/8010045/1")
	if !regexp.MustCompile(`^epoch-[0-9a-f]{32}$`).MatchString(k) {
		t.Errorf("key %q", k)
	}
	if k == EpochKey("a-to-b", "shop/8010045/2") || k == EpochKey("a-to-c", "shop/8010045/1") {
		t.Error("keys collide")
	}
}

func TestSendPhase(t *testing.T) {
	for in, want := range map[string]registry.Phase{"starting": registry.PhasePending, "snapshot": registry.PhaseInitialSync,
		"tailing": registry.PhaseRunning, "failed": registry.PhaseFailed, "done": registry.PhaseStopped} {
		if got := sendPhase(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
}

func TestShardReport(t *testing.T) {
	s := receive.ShardStatus{Shard: "shop/1/0", Phase: "snapshot", LagTicks: 3, LastError: "apply: DC2DC-E3001 x", LastErrorAt: time.Now()}
	rep := shardReport(syncID, s)
	if rep.Sync != syncID || rep.Shard != s.Shard || rep.Phase != "snapshot" || rep.LagTicks != 3 || rep.ErrorCode != "DC2DC-E3001" {
		t.Errorf("%+v", rep)
	}
	s.LastErrorAt = time.Now().Add(-2 * recentError)
	if rep := shardReport(syncID, s); rep.Error != "" || rep.ErrorCode != "" {
		t.Errorf("an error of long ago is reported: %+v", rep)
	}
	if rep := shardReport(syncID, receive.ShardStatus{Shard: "shop/1/0", Messages: 4}); rep.Phase != "tailing" {
		t.Errorf("only replays consumed: phase %q, want tailing", rep.Phase)
	}
	if rep := shardReport(syncID, receive.ShardStatus{Shard: "shop/1/0"}); rep.Phase != "" {
		t.Errorf("nothing consumed: phase %q, want none", rep.Phase)
	}
}

// FuzzCodeIn: the code found is "" or a DC2DC code inside the text.
func FuzzCodeIn(f *testing.F) {
	for _, s := range []string{"", "DC2DC-E5001 config-invalid: x", "wrapped: DC2DC-E4002: y", "DC2DC-E12", "DC2DC-E12345"} {
		f.Add(s)
	}
	re := regexp.MustCompile(`^DC2DC-E[0-9]{4}$`)
	f.Fuzz(func(t *testing.T, s string) {
		c := codeIn(s)
		if c != "" && (!re.MatchString(c) || !strings.Contains(s, c)) {
			t.Fatalf("codeIn(%q) = %q", s, c)
		}
		if c == "" && regexp.MustCompile(`DC2DC-E[0-9]{4}`).MatchString(s) {
			t.Fatalf("codeIn(%q) missed the code", s)
		}
	})
}
