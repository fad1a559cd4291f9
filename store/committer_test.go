package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// startCommitter runs a committer until the test ends and returns it.
func startCommitter(t testing.TB, s *Store) *Committer {
	t.Helper()
	c, err := s.NewCommitter(CommitterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	})
	return c
}

func TestWriteGroupsIsolatesFailingGroups(t *testing.T) {
	s := openTest(t, Config{})
	if err := s.Put(src("db/1/1", 1, 100)); err != nil {
		t.Fatal(err)
	}
	errs := s.writeGroups([][]Record{
		{src("db/1/0", 1, 10), src("db/1/2", 1, 10)},
		{src("db/1/3", 1, 10), src("db/1/1", 1, 99)}, // regression: the whole group is left out
		{src("db/1/0", 1, 11)},                       // same key as group 0, later: checked against it
		{SourcePosition{Sync: "sync-1"}},             // invalid
		{src("db/1/0", 1, 5)},                        // regresses against group 2 in the same batch
	}, true)
	want := []error{nil, ErrRegression, nil, ErrInvalidRecord, ErrRegression}
	for i := range want {
		if !errors.Is(errs[i], want[i]) || (want[i] == nil && errs[i] != nil) {
			t.Errorf("group %d: err %v, want %v", i, errs[i], want[i])
		}
	}
	for shard, tick := range map[string]uint64{"db/1/0": 11, "db/1/1": 100, "db/1/2": 10} {
		if p, err := s.Source("sync-1", shard); err != nil || p.Tick != tick {
			t.Errorf("%s: %+v %v, want tick %d", shard, p, err, tick)
		}
	}
	if _, err := s.Source("sync-1", "db/1/3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("part of a refused group was written: %v", err)
	}
}

func TestCommitterConcurrentPuts(t *testing.T) {
	s := openTest(t, Config{})
	c := startCommitter(t, s)
	const shards, perShard = 16, 40
	var wg sync.WaitGroup
	for w := 0; w < shards; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			shard := fmt.Sprintf("db/1/%d", w)
			for tick := uint64(1); tick <= perShard; tick++ {
				if err := c.Put(context.Background(), src(shard, 1, tick)); err != nil {
					t.Error(err)
					return
				}
			}
			// A regression fails this Put only.
			if err := c.Put(context.Background(), src(shard, 1, 1)); !errors.Is(err, ErrRegression) {
				t.Errorf("regression through the committer: %v", err)
			}
		}()
	}
	wg.Wait()
	got, err := s.Sources("sync-1")
	if err != nil || len(got) != shards {
		t.Fatalf("%d shards, %v", len(got), err)
	}
	for _, p := range got {
		if p.Tick != perShard {
			t.Errorf("%s at tick %d, want %d", p.Shard, p.Tick, perShard)
		}
	}
	if err := c.Put(context.Background()); err != nil {
		t.Fatalf("empty Put: %v", err)
	}
}

func TestCommitterStops(t *testing.T) {
	s := openTest(t, Config{})
	c, err := s.NewCommitter(CommitterConfig{MaxGroup: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewCommitter(CommitterConfig{MaxGroup: -1}); err == nil {
		t.Fatal("negative MaxGroup accepted")
	}
	// Put without a running committer honours its context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Put(ctx, src("db/1/0", 1, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	if err := c.Put(context.Background(), src("db/1/0", 1, 1)); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if err := c.Put(context.Background(), src("db/1/0", 1, 2)); !errors.Is(err, ErrCommitterStopped) {
		t.Fatalf("Put after Run returned: %v", err)
	}
}

func TestCommitterStopsWhenStoreCloses(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := s.NewCommitter(CommitterConfig{})
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(context.Background(), src("db/1/0", 1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put on a closed store: %v", err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
}

// BenchmarkCommitterParallel: synced Puts of distinct shards from 16 and
// 128 writers through one Committer (compare BenchmarkPutSyncParallel).
func BenchmarkCommitterParallel(b *testing.B) {
	for _, writers := range []int{16, 128} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := openTest(b, Config{})
			c := startCommitter(b, s)
			ctx := context.Background()
			runParallelWriters(b, writers, func(shard string, tick uint64) error {
				return c.Put(ctx, src(shard, 1, tick))
			})
		})
	}
}
