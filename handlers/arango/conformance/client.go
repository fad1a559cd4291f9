package conformance

import (
	"slices"
	"strings"
	"testing"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/arango/wal"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// testPingVersion: Ping accepts the Coordinators and /_api/version names an
// ArangoDB 3.x server.
func testPingVersion(t *testing.T, e *env) {
	var v struct {
		Server  string `json:"server"`
		Version string `json:"version"`
		License string `json:"license"`
	}
	if err := e.cl.Coordinator().GetJSON(e.ctx, "_api/version", nil, &v); err != nil {
		t.Fatal(err)
	}
	if v.Server != "arango" || !strings.HasPrefix(v.Version, "3.") {
		t.Fatalf("version = %+v, want an arango 3.x server", v)
	}
	t.Logf("%s cluster: ArangoDB %s (%s)", e.c.Name, v.Version, v.License)
}

// testHealth: health lists Coordinators and DB-Servers with ids, short names
// and endpoints the client can dial.
func testHealth(t *testing.T, e *env) {
	h, err := e.cl.Health(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]int{}
	for id, s := range h {
		roles[s.Role]++
		if s.ID != id {
			t.Errorf("server %s has id %q", id, s.ID)
		}
		switch s.Role {
		case client.RoleDBServer, client.RoleCoordinator:
			if !strings.HasPrefix(s.Endpoint, "tcp://") && !strings.HasPrefix(s.Endpoint, "ssl://") {
				t.Errorf("%s %s: endpoint %q", s.Role, id, s.Endpoint)
			}
			if s.ShortName == "" {
				t.Errorf("%s %s: no short name", s.Role, id)
			}
			if s.Failed() {
				t.Errorf("%s %s: status %s", s.Role, id, s.Status)
			}
		}
		if s.Role == client.RoleDBServer && !strings.HasPrefix(id, "PRMR-") {
			t.Errorf("DB-Server id %q", id)
		}
		if s.Role == client.RoleCoordinator && !strings.HasPrefix(id, "CRDN-") {
			t.Errorf("Coordinator id %q", id)
		}
	}
	if roles[client.RoleDBServer] < 1 || roles[client.RoleCoordinator] < 1 {
		t.Fatalf("health roles %v, want Coordinators and DB-Servers", roles)
	}
}

// testTopology: a 3-shard collection with replicationFactor 2 appears in the
// topology with its shards in index order, each with a leader and one
// distinct follower, all of them DB-Servers in the health report; the
// shards API agrees.
func testTopology(t *testing.T, e *env) {
	dbName, db := e.database()
	e.collection(db, "orders", 3, 2)
	topo, err := e.cl.Topology(e.ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := topo.Databases[dbName]
	if !ok {
		t.Fatalf("database %s not in the topology (%v)", dbName, topo.DatabaseNames())
	}
	col, ok := d.Collection("orders")
	if !ok {
		t.Fatalf("collection orders not in %s", dbName)
	}
	if col.NumberOfShards != 3 || col.ReplicationFactor != 2 || col.Type != 2 || !slices.Equal(col.ShardKeys, []string{"_key"}) ||
		col.ID == "" || col.GUID == "" {
		t.Errorf("collection = %+v", col)
	}
	if len(col.Shards) != 3 {
		t.Fatalf("%d shards", len(col.Shards))
	}
	for i, s := range col.Shards {
		if s.Index != i {
			t.Errorf("shard %s: index %d at position %d", s.Name, s.Index, i)
		}
		if i > 0 && s.ID <= col.Shards[i-1].ID {
			t.Errorf("shard %s (id %d) after %s: not ascending", s.Name, s.ID, col.Shards[i-1].Name)
		}
		if len(s.Followers) != 1 || s.Followers[0] == s.Leader {
			t.Errorf("shard %s: leader %s followers %v, want one other follower", s.Name, s.Leader, s.Followers)
		}
		for _, id := range append([]string{s.Leader}, s.Followers...) {
			if srv, ok := topo.Servers[id]; !ok || srv.Role != client.RoleDBServer {
				t.Errorf("shard %s: server %s is not a DB-Server of the health report (%+v)", s.Name, id, srv)
			}
		}
		if l, ok := topo.ShardLeader(dbName, s.Name); !ok || l != s.Leader {
			t.Errorf("ShardLeader(%s) = %s %v", s.Name, l, ok)
		}
	}
	shards, err := e.cl.Shards(e.ctx, dbName, "orders")
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range shards {
		if i >= len(col.Shards) || s.Name != col.Shards[i].Name || s.Leader != col.Shards[i].Leader {
			t.Errorf("shards API %d = %+v, inventory %+v", i, s, col.Shards)
		}
	}
}

// testDBServerAccess: every shard leader answers a WAL tail of its shard
// with the superuser JWT, with the replication headers set; user
// credentials (when the cluster has them) are refused there.
func testDBServerAccess(t *testing.T, e *env) {
	dbName, db := e.database()
	_, col := e.collection(db, "orders", 3, 1)
	for _, s := range col.Shards {
		conn := e.dbserver(s.Leader)
		tick := e.lastTick(conn, dbName)
		resp, err := conn.Do(e.ctx, client.Request{Method: "GET", Path: client.DBPath(dbName, "_api/wal/tail"),
			Query: walQuery(s.Name, tick)}, 200, 204)
		if err != nil {
			t.Fatalf("wal/tail of %s on %s: %v", s.Name, s.Leader, err)
		}
		for _, h := range []string{wal.HeaderLastIncluded, wal.HeaderLastScanned, wal.HeaderLastTick, wal.HeaderCheckMore, wal.HeaderFromPresent} {
			if !resp.HasHeader(h) {
				t.Errorf("wal/tail of %s on %s: no %s header", s.Name, s.Leader, h)
			}
		}
	}
	// User credentials are refused on the DB-Servers' replication API.
	if e.c.Username != "" {
		user, err := client.New(client.Config{Endpoints: e.c.Endpoints, Username: e.c.Username, Password: e.c.Password})
		if err != nil {
			t.Fatal(err)
		}
		defer user.Close()
		if err := user.Ping(e.ctx); err != nil {
			t.Fatalf("Ping as user %s: %v", e.c.Username, err)
		}
		uconn, err := user.DBServer(e.ctx, col.Shards[0].Leader)
		if err != nil {
			t.Fatal(err)
		}
		_, err = uconn.Do(e.ctx, client.Request{Method: "GET", Path: client.DBPath(dbName, "_api/wal/tail"),
			Query: walQuery(col.Shards[0].Name, 1)})
		if failure.CodeOf(err) != failure.CodeArangoAuth || !failure.IsPermanent(err) {
			t.Errorf("wal/tail on a DB-Server as user %s: %v (code %s), want a permanent %s", e.c.Username, err, failure.CodeOf(err), failure.CodeArangoAuth)
		}
	}
	// A shard that is not on the server: 1203, permanent, names the shard.
	conn := e.dbserver(col.Shards[0].Leader)
	_, err := conn.Do(e.ctx, client.Request{Method: "GET", Path: client.DBPath(dbName, "_api/wal/tail"),
		Query: walQuery("s999999999", 1), What: "shard s999999999"})
	if !client.IsErrorNum(err, client.ErrNumDataSourceNotFound) || !failure.IsPermanent(err) ||
		failure.CodeOf(err) != failure.CodeSourceShardMissing || !strings.Contains(err.Error(), "s999999999") {
		t.Errorf("unknown shard: %v", err)
	}
}

// testClientErrors: an unknown database is a permanent error with the
// shard-missing code naming it; a wrong JWT secret is an auth error, on the
// Coordinators and on a DB-Server.
func testClientErrors(t *testing.T, e *env) {
	missing := "dc2dc_conformance_missing_" + randomID()
	_, err := e.cl.Inventory(e.ctx, missing, false)
	if !client.IsErrorNum(err, client.ErrNumDatabaseNotFound) || !failure.IsPermanent(err) ||
		failure.CodeOf(err) != failure.CodeSourceShardMissing || !strings.Contains(err.Error(), missing) {
		t.Errorf("unknown database: %v (code %s), want a permanent %s naming %s", err, failure.CodeOf(err), failure.CodeSourceShardMissing, missing)
	}
	wrong := newClient(t, e.c, "not-the-"+randomID())
	err = wrong.Ping(e.ctx)
	if failure.CodeOf(err) != failure.CodeArangoAuth || !failure.IsPermanent(err) || client.HTTPStatus(err) != 401 {
		t.Errorf("Ping with a wrong JWT secret: %v (code %s), want a permanent %s (401)", err, failure.CodeOf(err), failure.CodeArangoAuth)
	}
	h, err := e.cl.Health(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range h {
		if s.Role != client.RoleDBServer {
			continue
		}
		conn, err := wrong.DBServerAt(s.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Do(e.ctx, client.Request{Method: "GET", Path: "_api/wal/lastTick"})
		if failure.CodeOf(err) != failure.CodeArangoAuth || !failure.IsPermanent(err) {
			t.Errorf("DB-Server %s with a wrong JWT secret: %v (code %s), want a permanent %s", s.ID, err, failure.CodeOf(err), failure.CodeArangoAuth)
		}
		break
	}
}
