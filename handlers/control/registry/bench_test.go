package registry_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/registry"
)

// BenchmarkSchedule measures one scheduling pass of a large datacenter
// (3800 send-shard tasks, 24 workers on 12 DB-Servers) in its two shapes:
// steady (nothing to do, the pass every second) and after a worker death
// (its share of tasks moves).
func BenchmarkSchedule(b *testing.B) {
	const tasks, workers, dbservers = 3800, 24, 12
	setup := func(b *testing.B) (*registry.Registry, time.Time) {
		r, err := registry.New(registry.Config{})
		if err != nil {
			b.Fatal(err)
		}
		r.SetEpoch(1)
		now := time.Unix(1000, 0)
		for w := 0; w < workers; w++ {
			_ = r.Register(registry.WorkerInfo{ID: fmt.Sprintf("w%02d", w), DBServer: fmt.Sprintf("PRMR-%d", w%dbservers)}, now)
		}
		for i := 0; i < tasks; i++ {
			_ = r.PutTask(registry.Task{ID: fmt.Sprintf("t%05d", i), Kind: registry.KindSendShard, Shard: fmt.Sprintf("db/%d/%d", i/10, i%10),
				ShardLeader: fmt.Sprintf("PRMR-%d", i%dbservers)})
		}
		r.Schedule(now)
		return r, now
	}
	b.Run("steady", func(b *testing.B) {
		r, now := setup(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if moves := r.Schedule(now); len(moves) != 0 {
				b.Fatalf("steady pass moved %d tasks", len(moves))
			}
		}
	})
	b.Run("worker-died", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			r, now := setup(b)
			r.Unregister("w07")
			b.StartTimer()
			if moves := r.Schedule(now); len(moves) < tasks/workers {
				b.Fatalf("%d moves after a worker died", len(moves))
			}
		}
	})
}
