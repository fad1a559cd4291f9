package sync_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/tests/harness"
)

// fault injects (body non-nil) or clears (nil) a fault on the first
// Coordinator of dc through arangosim's control API.
func fault(t *testing.T, dc *harness.DC, body map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := client.Request{Method: http.MethodDelete, Path: "/_arangosim/servers/Coordinator0001/faults", What: "arangosim fault"}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		req.Method, req.Body = http.MethodPost, b
	}
	if _, err := arango(t, dc).Coordinator().Do(ctx, req, http.StatusOK, http.StatusCreated, http.StatusNoContent); err != nil {
		t.Fatalf("arangosim fault on %s: %v", dc.Name, err)
	}
}

// TestSyncResetFailedShard: B rejects every write into one collection
// (arangosim answers 400 for its document API, as a schema violation
// would), so its shard fails with the error visible in status; once the
// cause is gone, `reset failed shard` starts the shard over and A and B end
// identical.
func TestSyncResetFailedShard(t *testing.T) {
	if testing.Short() {
		t.Skip("two datacenters of processes")
	}
	e := newEnv(t, harness.TopologyConfig{MasterArgs: fastMasters}, small())
	B := e.top.B
	e.loadFor(time.Second)
	e.configureSync()
	e.waitRunning(90*time.Second, e.expectedShards(), 10)

	fault(t, B, map[string]any{"pathPrefix": "/_db/shop/_api/document/links", "status": 400})
	e.loadFor(2 * time.Second)

	var failed plan.ShardStatus
	harness.Eventually(t, 60*time.Second, 250*time.Millisecond, func() (bool, string) {
		s, err := e.status(B)
		if err != nil {
			return false, err.Error()
		}
		for _, sh := range s.Shards {
			if sh.Collection == "shop/links" && sh.Phase == plan.ShardFailed {
				failed = sh
				return true, ""
			}
		}
		return false, summary(s)
	})
	t.Logf("failed shard: %s (%s): %s", failed.Shard, failed.Collection, failed.Error)
	if failed.Error == "" {
		t.Errorf("the failed shard %s carries no error in status", failed.Shard)
	}

	fault(t, B, nil)
	t.Logf("reset failed shard: %s", e.resetFailedShard(failed.Shard))
	st := e.waitRunning(90*time.Second, e.expectedShards(), 10)
	t.Logf("after the reset: %s", summary(st))
	rep := e.converge(90*time.Second, e.wl.VerifyOptions())
	t.Logf("verify: %s", rep)
	e.waitCheckIdentical(30 * time.Second)
}
