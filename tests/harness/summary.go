package harness

import (
	"fmt"
	"strings"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

// Summary describes a sync status for a test's failure message: one line
// for the sync, then one per shard that is not running or has an error
// (the first six).
func Summary(s plan.SyncStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "state %s, %d shards, phases %v, max lag %.2fs, inSync %v, peer alive %v", s.State, len(s.Shards), s.Phases,
		s.MaxLagSeconds, s.InSync, s.PeerAlive)
	if s.Error != "" {
		fmt.Fprintf(&b, ", error %q", s.Error)
	}
	n := 0
	for _, sh := range s.Shards {
		if sh.Phase != plan.ShardRunning || sh.Error != "" {
			if n < 6 {
				fmt.Fprintf(&b, "\n  %s (%s): %s lag %d ticks %.2fs %s", sh.Shard, sh.Collection, sh.Phase, sh.LagTicks, sh.LagSeconds, sh.Error)
			}
			n++
		}
	}
	if n > 6 {
		fmt.Fprintf(&b, "\n  … %d more", n-6)
	}
	return b.String()
}
