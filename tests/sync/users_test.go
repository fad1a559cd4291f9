package sync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/tests/harness"
)

// TestSyncReplicatesUsers: with --sync.replicate-users on the masters, the
// workload's user and its database and collection permissions reach B
// (the workload's comparison includes the users), and the user logs in to
// B with its password from A (the hash travelled verbatim, B reloaded its
// users).
func TestSyncReplicatesUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("two datacenters of processes")
	}
	e := newEnv(t, harness.TopologyConfig{MasterArgs: append([]string{"--sync.replicate-users"}, fastMasters...)}, small())
	B := e.top.B
	e.loadFor(time.Second)
	e.configureSync()
	e.waitRunning(90*time.Second, e.expectedShards(), 10)

	opts := e.wl.VerifyOptions() // users compared (but root, each cluster's own)
	rep := e.converge(60*time.Second, opts)
	t.Logf("verify with users: %s", rep)

	cfg := e.wl.Config()
	harness.Eventually(t, 30*time.Second, 250*time.Millisecond, func() (bool, string) {
		cl, err := client.New(client.Config{Endpoints: B.Coordinators, Username: cfg.User, Password: cfg.UserPassword})
		if err != nil {
			return false, err.Error()
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		db, err := cl.Driver().Database(ctx, cfg.Databases[0])
		if err != nil {
			return false, fmt.Sprintf("user %s in B: %v", cfg.User, err)
		}
		col, err := db.Collection(ctx, cfg.Collections.Orders.Name)
		if err != nil {
			return false, fmt.Sprintf("user %s in B: %v", cfg.User, err)
		}
		n, err := col.Count(ctx)
		return err == nil && n > 0, fmt.Sprintf("user %s reads %d orders in B (%v)", cfg.User, n, err)
	})
}
