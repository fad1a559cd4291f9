package sync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/tests/harness"
)

// TestTopologyComesUp checks the harness itself: every process runs, each
// datacenter has exactly one leader, and every worker is registered and
// alive with its datacenter's leader.
func TestTopologyComesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two datacenters of processes")
	}
	start := time.Now()
	top := harness.StartTopology(t, harness.TopologyConfig{})
	t.Logf("topology up in %v", time.Since(start).Round(time.Millisecond))
	for _, dc := range []*harness.DC{top.A, top.B} {
		cl := dc.Client(t)
		harness.Eventually(t, 10*time.Second, 100*time.Millisecond, func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			ws, err := cl.Workers(ctx)
			if err != nil {
				return false, err.Error()
			}
			alive := 0
			for _, w := range ws.Workers {
				if w.Alive {
					alive++
				}
			}
			return alive == len(dc.Workers), fmt.Sprintf("%s: %d of %d workers alive: %+v", dc.Name, alive, len(dc.Workers), ws.Workers)
		})
		cl.Close()
	}
}
