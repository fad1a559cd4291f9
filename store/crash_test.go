package store

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestCrashKeepsEveryAcknowledgedCheckpoint writes synced checkpoints from
// several goroutines on Pebble's crashable in-memory filesystem and takes
// crash images (all synced data, plus a random share of unsynced data) while
// they run. Reopening any image must find, for every shard, at least the
// last position whose PutMany had returned before the crash, and never a
// position that was not written.
func TestCrashKeepsEveryAcknowledgedCheckpoint(t *testing.T) {
	const writers, shardsPerWriter = 4, 2
	perWriter := 300
	if testing.Short() {
		perWriter = 60
	}
	mem := vfs.NewCrashableMem()
	s, err := Open(Config{Dir: "/checkpoints", fs: mem})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[string]uint64{} // shard -> last tick whose PutMany returned
	type image struct {
		fs    *vfs.MemFS
		acked map[string]uint64
	}
	var images []image
	rng := rand.New(rand.NewPCG(1, 2))
	crash := func() {
		mu.Lock()
		defer mu.Unlock()
		snapshot := make(map[string]uint64, len(acked))
		for k, v := range acked {
			snapshot[k] = v
		}
		pct := []int{0, 50, 100}[len(images)%3]
		clone := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))})
		images = append(images, image{clone, snapshot})
	}

	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tick := uint64(1); tick <= uint64(perWriter); tick++ {
				recs := make([]Record, shardsPerWriter)
				for k := range recs {
					recs[k] = src(fmt.Sprintf("db/%d/%d", w, k), 1, tick)
				}
				if err := s.PutMany(recs...); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, r := range recs {
					_, shard := r.ID()
					acked[shard] = tick
				}
				mu.Unlock()
				if w == 0 && tick%(uint64(perWriter)/6) == 0 {
					crash()
				}
			}
		}()
	}
	wg.Wait()
	crash()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for i, img := range images {
		r, err := Open(Config{Dir: "/checkpoints", fs: img.fs})
		if err != nil {
			t.Fatalf("image %d: reopen: %v", i, err)
		}
		got, err := r.Sources("sync-1")
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		byShard := map[string]uint64{}
		for _, p := range got {
			byShard[p.Shard] = p.Tick
		}
		for shard, want := range img.acked {
			if have, ok := byShard[shard]; !ok || have < want {
				t.Errorf("image %d: shard %s at tick %d (present %v), but tick %d was acknowledged before the crash", i, shard, have, ok, want)
			}
		}
		for shard, have := range byShard {
			if have > uint64(perWriter) {
				t.Errorf("image %d: shard %s at tick %d, never written", i, shard, have)
			}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(images) < 4 {
		t.Fatalf("only %d crash images taken", len(images))
	}
}
