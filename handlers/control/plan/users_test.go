package plan_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

// TestReplicatesUsers (Config.ReplicateUsers): a user record written in A's
// _system/_users reaches B's verbatim (same key, same password hash).
func TestReplicatesUsers(t *testing.T) {
	w := newWorld(t, func(c *plan.Config) { c.ReplicateUsers = true })
	ctx := w.ctx
	w.a.collection(t, ctx, "shop", "orders", 1)
	_, err := w.b.mgr.Configure(ctx, plan.ConfigureRequest{SourceDC: "A", DataPartitions: 2})
	must(t, err)
	eventually(t, 30*time.Second, "A records the sync", func() (bool, string) {
		_, ok := w.a.syncRecord(syncID)
		return ok, ""
	})
	w.runWorkers(t)
	user := []byte(`{"_key":"alice","user":"alice","active":true,"authData":{"active":true,"simple":{"hash":"abc","salt":"def","method":"sha256"}},"databases":{}}`)
	_, err = w.a.cl.Coordinator().Do(ctx, client.Request{Method: http.MethodPost, Path: client.DBPath("_system", "_api/document", "_users"), Body: user},
		http.StatusOK, http.StatusCreated, http.StatusAccepted)
	must(t, err)
	eventually(t, 40*time.Second, "alice in B's _system/_users", func() (bool, string) {
		resp, err := w.b.cl.Coordinator().Do(ctx, client.Request{Method: http.MethodGet, Path: client.DBPath("_system", "_api/document", "_users", "alice")},
			http.StatusOK, http.StatusNotFound)
		if err != nil {
			return false, err.Error()
		}
		return resp.Status == http.StatusOK, fmt.Sprintf("HTTP %d %s", resp.Status, resp.Body)
	})
	st, err := w.b.mgr.Status(ctx)
	must(t, err)
	users := 0
	for _, sh := range st.Syncs[0].Shards {
		if sh.Collection == "_system/_users" {
			users++
		}
	}
	if users == 0 {
		t.Errorf("B's status lists no _users shard: %+v", st.Syncs[0].Shards)
	}
}
