package arangosim

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestConcurrentWritesSnapshotsAndDDL runs writers, snapshots, index and collection DDL
// at the same time: it must neither deadlock nor leave replicas diverging.
func TestConcurrentWritesSnapshotsAndDDL(t *testing.T) {
	c := startSim(t, Config{})
	db, _ := c.Database("_system")
	col, err := c.CreateCollection(db, CollectionSpec{Name: "conc", NumberOfShards: 1, ReplicationFactor: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateIndex(col, []byte(`{"type":"persistent","fields":["u"],"unique":true,"sparse":true}`)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				ops := []*docOp{
					{kind: opInsert, key: fmt.Sprintf("w%d-%d", w, i), fields: []field{{"u", []byte(fmt.Sprintf("%d", i%50))}}},
					{kind: opRemove, key: fmt.Sprintf("w%d-%d", w, i-3)},
				}
				o := writeOptions{IgnoreRevs: true, KeepNull: true}
				col.prepare(c, ops, o)
				c.execute(col, ops, o)
			}
		}(w)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			for _, s := range c.DBServers() {
				if _, err := s.Snapshot("_system"); err != nil {
					t.Error(err)
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			name := fmt.Sprintf("ddl%d", i)
			tmp, err := c.CreateCollection(db, CollectionSpec{Name: name, ReplicationFactor: 2})
			if err != nil {
				t.Error(err)
				return
			}
			ix, _, err := c.CreateIndex(col, []byte(fmt.Sprintf(`{"type":"persistent","fields":["x%d"]}`, i)))
			if err != nil {
				t.Error(err)
				return
			}
			_ = c.DropIndex(col, ix.ID)
			_ = c.DropCollection(tmp)
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("deadlock: workers did not stop")
	}
	sh := col.Shards[0]
	servers := sh.Servers()
	a, _ := servers[0].Replica("_system", sh.Name)
	b, _ := servers[1].Replica("_system", sh.Name)
	if a.Count() != b.Count() {
		t.Fatalf("replicas diverged: %d vs %d", a.Count(), b.Count())
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	for k, d := range a.docs {
		if o, ok := b.Get(k); !ok || o.Rev != d.Rev {
			t.Fatalf("replica mismatch on %s", k)
		}
	}
}
