package source

import (
	"context"
	"testing"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// TestTruncateAndDrop: a truncate travels as a CollectionTruncate record in
// the stream; dropping the collection ends the stream with
// CodeSourceShardMissing (the shard is released).
func TestTruncateAndDrop(t *testing.T) {
	e := newEnv(t, 2)
	col, shards, id := e.collection("shop", "temp", 1, 1)
	ctx := context.Background()
	sh := shardOf("shop", "temp", id, shards[0])
	rep := newReplica()
	r := e.run(testConfig(), sh, rep, false, Start{Epoch: 1})
	e.waitFor("snapshot end", func() bool { p, ok := rep.lastPos(); return ok && p.Phase == PhaseTailing })
	for i := 0; i < 10; i++ {
		if _, err := col.CreateDocument(ctx, doc{Key: key(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := col.Truncate(ctx); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the truncate marker", func() bool {
		for _, em := range rep.allEmits() {
			for _, rec := range em.recs {
				if tr, ok := rec.Event.(*events.CollectionTruncate); ok && tr.CUID == "c"+id+"/"+sh.Name && tr.Database == "shop" {
					return true
				}
			}
		}
		return false
	})
	if err := col.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the stream to end", func() bool { return r.failed() != nil })
	if err := r.failed(); failure.CodeOf(err) != failure.CodeSourceShardMissing || !failure.IsPermanent(err) {
		t.Fatalf("stream ended with %v, want a permanent %s", err, failure.CodeSourceShardMissing)
	}
	if eps := r.newEpochs(); len(eps) != 0 {
		t.Errorf("new epochs %v", eps)
	}
}
