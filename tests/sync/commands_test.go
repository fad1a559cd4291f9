package sync_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

// The operator commands as the tests use them: every one goes through the
// real dc2dc command line against a datacenter's masters.

// configureSync tells B's masters to follow A.
func (e *env) configureSync(extra ...string) plan.Sync {
	e.t.Helper()
	args := append([]string{"configure", "sync", "--sync-id", syncID, "--source.dc", "A",
		"--data-partitions", "12", "--output", "json"}, extra...)
	out := e.cli(e.top.B, args...)
	var s plan.Sync
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("configure sync --output json: %v\n%s", err, out)
	}
	if s.ID != syncID || s.Role != plan.RoleTarget {
		e.t.Fatalf("configure sync answered %+v", s)
	}
	return s
}

// getStatus runs `get status [-v] --output json` on dc.
func (e *env) getStatus(t *testing.T, dc string, verbose bool) plan.Status {
	t.Helper()
	d := e.top.B
	if dc == "A" {
		d = e.top.A
	}
	args := []string{"get", "status", "--output", "json"}
	if verbose {
		args = append(args, "-v")
	}
	out := e.cli(d, args...)
	var st plan.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("get status --output json: %v\n%s", err, out)
	}
	return st
}

// stopSync runs `stop sync` on B (it waits until the sync stopped).
func (e *env) stopSync(ensureInSync bool, timeout time.Duration) string {
	e.t.Helper()
	args := []string{"stop", "sync", "--sync-id", syncID, "--timeout", timeout.String()}
	if !ensureInSync {
		args = append(args, "--ensure-in-sync=false")
	}
	return e.cli(e.top.B, args...)
}

// stopSyncResult runs `stop sync` on B and returns its output, or the
// whole result when it failed (for use off the test's goroutine).
func (e *env) stopSyncResult(ensureInSync bool, timeout time.Duration) string {
	args := []string{"stop", "sync", "--sync-id", syncID, "--timeout", timeout.String()}
	if !ensureInSync {
		args = append(args, "--ensure-in-sync=false")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	r := e.top.B.CLI(ctx, args...)
	if r.Err != nil {
		return "FAILED: " + r.String()
	}
	return r.Stdout
}

// abortSync runs `abort sync` on B.
func (e *env) abortSync() string {
	e.t.Helper()
	return e.cli(e.top.B, "abort", "sync", "--sync-id", syncID)
}

// abortOutgoingSync runs `abort outgoing sync` on A.
func (e *env) abortOutgoingSync() string {
	e.t.Helper()
	return e.cli(e.top.A, "abort", "outgoing", "sync", "--sync-id", syncID)
}

// resetFailedShard runs `reset failed shard` on B.
func (e *env) resetFailedShard(shard string) string {
	e.t.Helper()
	return e.cli(e.top.B, "reset", "failed", "shard", "--sync-id", syncID, "--shard", shard)
}
