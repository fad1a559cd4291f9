package store_test

import (
	"context"
	"fmt"
	"os"

	"github.com/dc2dc/dc2dc/store"
	"github.com/dc2dc/dc2dc/store/progress"
)

// The sending side of one shard: batches are tracked when sent, Kafka acks
// arrive out of order, and the source position is written only when the
// unbroken run of acknowledged batches grows.
func Example_sendingSide() {
	dir, _ := os.MkdirTemp("", "checkpoints")
	defer os.RemoveAll(dir)
	s, err := store.Open(store.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	tr, _ := progress.New[uint64](progress.Config{Window: 1024})
	ctx := context.Background()
	// Three batches sent, ending at WAL ticks 100, 200 and 300.
	for seq, tick := range []uint64{100, 200, 300} {
		_ = tr.Add(ctx, uint64(seq+1), tick)
	}
	for _, seq := range []uint64{2, 1, 3} { // acks out of order
		advanced, _ := tr.Ack(seq)
		if !advanced {
			fmt.Printf("ack %d: checkpoint unchanged\n", seq)
			continue
		}
		tick, _ := tr.Checkpoint()
		err := s.Put(store.SourcePosition{Sync: "sync-1", Shard: "shop/1001/0", Epoch: 1,
			Leader: "PRMR-1", Tick: tick, Phase: store.PhaseTailing})
		fmt.Printf("ack %d: checkpoint at tick %d (%v)\n", seq, tick, err)
	}
	p, _ := s.Source("sync-1", "shop/1001/0")
	fmt.Println("stored tick", p.Tick)
	// Output:
	// ack 2: checkpoint unchanged
	// ack 1: checkpoint at tick 200 (<nil>)
	// ack 3: checkpoint at tick 300 (<nil>)
	// stored tick 300
}

// The receiving side: apply a batch to cluster B (idempotently), then persist
// the applied position, then mark the Kafka offset.
func Example_receivingSide() {
	dir, _ := os.MkdirTemp("", "checkpoints")
	defer os.RemoveAll(dir)
	s, err := store.Open(store.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	pos := store.AppliedPosition{Sync: "sync-1", Shard: "shop/1001/0", Epoch: 1, Tick: 300, Partition: 2, Offset: 41}
	// 1. apply the batch to cluster B (not shown); 2. persist:
	if err := s.Put(pos); err != nil {
		fmt.Println(err)
		return
	}
	// 3. mark offset 41 on the Kafka session (not shown).

	// After a crash the consumer may redeliver older batches. The receiver
	// skips them by comparing with Applied() before applying; the store
	// refuses the backwards write anyway, as a last line of defence.
	cur, _ := s.Applied("sync-1", "shop/1001/0")
	fmt.Println("replay of tick 200 skipped:", 200 <= cur.Tick)
	err = s.Put(store.AppliedPosition{Sync: "sync-1", Shard: "shop/1001/0", Epoch: 1, Tick: 200, Partition: 2, Offset: 40})
	fmt.Println(err)
	// Output:
	// replay of tick 200 skipped: true
	// store: refusing to move the applied checkpoint of sync-1/shop/1001/0 backwards from epoch 1 tick 300 sub 0 to epoch 1 tick 200 sub 0 (use Reset to do it on purpose)
}
