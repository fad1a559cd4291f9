package mirror

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/dc2dc/dc2dc/tests/harness"
)

// TestShutdownBoundedWhenTargetDown: Run returns within about
// ShutdownTimeout of its context ending, both while it cannot reach the
// target at all and when the target disappears with records in flight.
func TestShutdownBoundedWhenTargetDown(t *testing.T) {
	a := newKfake(t, map[string]int32{dataTopic: 2})
	dead, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	deadAddrs := dead.ListenAddrs()
	dead.Close()

	bound := 8 * time.Second // ShutdownTimeout (5s) plus slack for -race

	t.Run("unreachable from the start", func(t *testing.T) {
		cfg := testConfig(a, a, Route{From: "A", To: "B", Topics: []string{dataTopic}})
		cfg.Clusters["B"] = ClusterConfig{Brokers: deadAddrs}
		m, err := New(cfg, WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		<-ctx.Done()
		stopped := time.Now()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v, want nil after cancel", err)
			}
			t.Logf("returned %s after cancel", time.Since(stopped))
		case <-time.After(bound):
			t.Fatalf("Run still running %s after cancel", bound)
		}
	})

	t.Run("target dies mid-stream", func(t *testing.T) {
		b, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		produce(t, a.ListenAddrs(), dataTopic, seqRecords(2, 0, 2000))
		cfg := testConfig(a, b, Route{From: "A", To: "B", Topics: []string{dataTopic}})
		m, err := New(cfg, WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		harness.Eventually(t, 30*time.Second, 5*time.Millisecond, func() (bool, string) {
			h := hwm(b.ListenAddrs(), dataTopic, 0)
			return h > 0, fmt.Sprintf("B holds %d records in partition 0", h)
		})
		b.Close()
		produce(t, a.ListenAddrs(), dataTopic, seqRecords(2, 2000, 500))
		cancel()
		stopped := time.Now()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v, want nil after cancel", err)
			}
			t.Logf("returned %s after cancel", time.Since(stopped))
		case <-time.After(bound):
			t.Fatalf("Run still running %s after cancel", bound)
		}
	})
}
