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

func TestUniqueIndexWithinOneRequest(t *testing.T) {
	c := startSim(t, Config{})
	db, _ := c.Database("_system")
	col, err := c.CreateCollection(db, CollectionSpec{Name: "u", ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateIndex(col, []byte(`{"type":"persistent","fields":["e"],"unique":true}`)); err != nil {
		t.Fatal(err)
	}
	o := writeOptions{IgnoreRevs: true, KeepNull: true, MergeObjects: true}
	mk := func(kind opKind, key, e string) *docOp {
		op := &docOp{kind: kind, key: key}
		if e != "" {
			op.fields = []field{{"e", []byte(`"` + e + `"`)}}
		}
		return op
	}
	ops := []*docOp{
		mk(opInsert, "a", "x"),
		mk(opInsert, "b", "x"), // conflicts with a
		mk(opUpdate, "a", "y"), // a releases x
		mk(opInsert, "c", "x"), // now free
		mk(opRemove, "c", ""),
		mk(opInsert, "d", "x"), // free again
	}
	col.prepare(c, ops, o)
	res := c.execute(col, ops, o)
	wantErr := []bool{false, true, false, false, false, false}
	for i, r := range res {
		if (r.err != nil) != wantErr[i] {
			t.Fatalf("op %d: err = %v, want error %v", i, r.err, wantErr[i])
		}
	}
	ops = []*docOp{mk(opInsert, "e", "y")}
	col.prepare(c, ops, o)
	if res := c.execute(col, ops, o); res[0].err == nil || res[0].err.Num != errNumUniqueViolated {
		t.Fatalf("committed value y not enforced: %v", res[0].err)
	}
}

// TestRenameWhileWriting must be free of data races (run with -race).
func TestRenameWhileWriting(t *testing.T) {
	c := startSim(t, Config{})
	wc := newWALClient2(t, c)
	wc.do("POST", c.Endpoint()+"/_api/collection", map[string]any{"name": "r0", "numberOfShards": 2})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			from, to := fmt.Sprintf("r%d", i), fmt.Sprintf("r%d", i+1)
			if r := wc.do("PUT", c.Endpoint()+"/_api/collection/"+from+"/rename", map[string]any{"name": to}); r.status != 200 {
				t.Errorf("rename %s: %d %s", from, r.status, r.body)
				return
			}
		}
	}()
	db, _ := c.Database("_system")
	for i := 0; ; i++ {
		select {
		case <-done:
			col, ok := db.Collection("r20")
			if !ok || col.count() == 0 {
				t.Fatalf("renamed collection missing or empty")
			}
			return
		default:
		}
		for _, col := range db.Collections() {
			if col.IsSystem {
				continue
			}
			ops := []*docOp{{kind: opInsert, key: fmt.Sprintf("k%d", i)}}
			o := writeOptions{IgnoreRevs: true}
			col.prepare(c, ops, o)
			res := c.execute(col, ops, o)
			_ = renderResult(col.CurrentName(), &res[0], opInsert, o)
		}
	}
}
