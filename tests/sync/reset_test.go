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

// fault injects (body non-nil) or clears (nil) a fault on a server of dc
// (id or short name, e.g. DBServer0001) through arangosim's control API.
func fault(t *testing.T, dc *harness.DC, server string, body map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := client.Request{Method: http.MethodDelete, Path: "/_arangosim/servers/" + server + "/faults", What: "arangosim fault"}
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

// TestSyncResetFailedShard: a DB-Server of A answers one WAL tail request
// with 400 (a permanent error, as a corrupt or refused request would be),
// so the send task of that shard fails and status shows the shard failed
// with its error; `reset failed shard` starts it over (new task, new stream
// epoch) and A and B end identical.
func TestSyncResetFailedShard(t *testing.T) {
	if testing.Short() {
		t.Skip("two datacenters of processes")
	}
	e := newEnv(t, harness.TopologyConfig{MasterArgs: fastMasters}, small())
	A, B := e.top.A, e.top.B
	e.loadFor(time.Second)
	e.configureSync()
	e.waitRunning(90*time.Second, e.expectedShards(), 10)

	fault(t, A, "DBServer0001", map[string]any{"pathPrefix": "/_api/wal/tail", "status": 400, "count": 1})
	e.startLoad()
	var failed plan.ShardStatus
	harness.Eventually(t, 60*time.Second, 250*time.Millisecond, func() (bool, string) {
		s, err := e.status(B)
		if err != nil {
			return false, err.Error()
		}
		for _, sh := range s.Shards {
			if sh.Phase == plan.ShardFailed {
				failed = sh
				return true, ""
			}
		}
		return false, summary(s)
	})
	t.Logf("failed shard: %s (%s): %s", failed.Shard, failed.Collection, failed.Error)
	if failed.Error == "" && failed.Source.Error == "" {
		t.Errorf("the failed shard %s carries no error in status: %+v", failed.Shard, failed)
	}
	// It stays failed until the operator resets it.
	if s, err := e.status(B); err == nil {
		for _, sh := range s.Shards {
			if sh.Shard == failed.Shard && sh.Phase != plan.ShardFailed {
				t.Errorf("shard %s left phase failed without a reset: %+v", sh.Shard, sh)
			}
		}
	}

	fault(t, A, "DBServer0001", nil)
	t.Logf("reset failed shard: %s", e.resetFailedShard(failed.Shard))
	harness.Eventually(t, 60*time.Second, 250*time.Millisecond, func() (bool, string) {
		s, err := e.status(B)
		if err != nil {
			return false, err.Error()
		}
		for _, sh := range s.Shards {
			if sh.Shard == failed.Shard {
				return sh.Phase == plan.ShardRunning, summary(s)
			}
		}
		return false, summary(s)
	})
	if err := e.stopLoad(); err != nil {
		t.Fatalf("workload: %v", err)
	}
	st := e.waitRunning(90*time.Second, e.expectedShards(), 10)
	t.Logf("after the reset: %s", summary(st))
	rep := e.converge(90*time.Second, e.verifyOpts())
	t.Logf("verify: %s", rep)
	e.waitCheckIdentical(30 * time.Second)
}
