package client

import (
	"context"
	"strings"
	"testing"
	"time"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/pipeline/failure"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

const simSecret = "client-test-secret"

func startSim(t *testing.T) (*arangosim.Cluster, *Client) {
	t.Helper()
	sim, err := arangosim.Start(context.Background(), arangosim.Config{DBServers: 3, JWTSecret: simSecret, RootPassword: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Endpoints: []string{sim.Endpoint()}, JWTSecret: simSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sim.Close()
		c.Close()
	})
	return sim, c
}

// TestTopologyOnArangosim reads a cluster's topology and reaches the
// DB-Servers' replication API with the superuser JWT.
func TestTopologyOnArangosim(t *testing.T) {
	sim, c := startSim(t)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := c.Driver().CreateDatabase(ctx, "shop", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateCollection(ctx, "orders", &driver.CreateCollectionOptions{NumberOfShards: 3, ReplicationFactor: 2,
		ShardKeys: []string{"_key"}}); err != nil {
		t.Fatal(err)
	}
	topo, err := c.Topology(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	dbservers := 0
	for _, s := range topo.Servers {
		if s.Role == RoleDBServer {
			dbservers++
			if !strings.HasPrefix(s.ID, "PRMR-") || !strings.HasPrefix(s.Endpoint, "tcp://") || s.Failed() {
				t.Errorf("server %+v", s)
			}
		}
	}
	if dbservers != 3 {
		t.Errorf("%d DB-Servers", dbservers)
	}
	shop, ok := topo.Databases["shop"]
	if !ok {
		t.Fatalf("databases %v", topo.DatabaseNames())
	}
	col, ok := shop.Collection("orders")
	if !ok || col.NumberOfShards != 3 || col.ReplicationFactor != 2 || len(col.Shards) != 3 || col.Type != 2 {
		t.Fatalf("orders = %+v", col)
	}
	shards, err := c.Shards(ctx, "shop", "orders")
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range col.Shards {
		if s.Index != i || len(s.Followers) != 1 || shards[i].Name != s.Name || shards[i].Leader != s.Leader {
			t.Errorf("shard %d: inventory %+v, shards API %+v", i, s, shards[i])
		}
		conn, err := c.DBServer(ctx, s.Leader)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := conn.Do(ctx, Request{Method: "GET", Path: DBPath("shop", "_api/wal/tail"),
			Query: map[string][]string{"collection": {s.Name}, "from": {"1"}}}, 200, 204)
		if err != nil {
			t.Fatalf("wal/tail on %s: %v", s.Leader, err)
		}
		if resp.Header("x-arango-replication-lastscanned") == "" {
			t.Errorf("no lastscanned header from %s", s.Leader)
		}
	}
	// A shard that is not on the server: 404/1203, permanent, names the shard.
	conn, _ := c.DBServer(ctx, col.Shards[0].Leader)
	_, err = conn.Do(ctx, Request{Method: "GET", Path: DBPath("shop", "_api/wal/tail"),
		Query: map[string][]string{"collection": {"s999999"}}, What: "shard s999999"})
	if !failure.IsPermanent(err) || failure.CodeOf(err) != failure.CodeSourceShardMissing || ErrorNum(err) != ErrNumDataSourceNotFound ||
		!strings.Contains(err.Error(), "s999999") {
		t.Errorf("unknown shard: %v", err)
	}
	// An unknown database: 1228, permanent, names it.
	if _, err := c.Inventory(ctx, "nope", false); !IsErrorNum(err, ErrNumDatabaseNotFound) || !failure.IsPermanent(err) ||
		!strings.Contains(err.Error(), `database "nope"`) {
		t.Errorf("unknown database: %v", err)
	}
	// 503 injected on a DB-Server: retryable.
	if err := sim.InjectFault(col.Shards[0].Leader, arangosim.Fault{PathPrefix: "/_api/wal", Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Do(ctx, Request{Method: "GET", Path: DBPath("shop", "_api/wal/tail"),
		Query: map[string][]string{"collection": {col.Shards[0].Name}}}); !failure.IsRetryable(err) || HTTPStatus(err) != 503 {
		t.Errorf("injected 503: %v", err)
	}
}

func TestAuthenticationModesOnArangosim(t *testing.T) {
	sim, _ := startSim(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"basic", Config{Username: "root", Password: "pw"}, true},
		{"jwt", Config{Authentication: AuthJWT, Username: "root", Password: "pw"}, true},
		{"superuser", Config{JWTSecret: simSecret}, true},
		{"wrong password", Config{Username: "root", Password: "nope"}, false},
		{"wrong secret", Config{JWTSecret: "nope"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Endpoints = []string{sim.Endpoint()}
			c, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Ping(ctx)
			if tc.ok && err != nil {
				t.Fatal(err)
			}
			if !tc.ok && (failure.CodeOf(err) != failure.CodeArangoAuth || !failure.IsPermanent(err)) {
				t.Fatalf("Ping = %v, want a permanent %s", err, failure.CodeArangoAuth)
			}
		})
	}
}

// TestWatcherSeesFailover stops a shard leader and expects the watcher to
// report the failed server and the new leader.
func TestWatcherSeesFailover(t *testing.T) {
	sim, c := startSim(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := c.Driver().CreateDatabase(ctx, "shop", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateCollection(ctx, "orders", &driver.CreateCollectionOptions{NumberOfShards: 2, ReplicationFactor: 2}); err != nil {
		t.Fatal(err)
	}
	changes := make(chan Change, 64)
	w, err := NewWatcher(c, WatcherConfig{Interval: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		func(_ *Topology, cs []Change) {
			for _, ch := range cs {
				changes <- ch
			}
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	shards := w.Current().Databases["shop"].Collections[0].Shards
	victim := shards[0].Leader
	if err := sim.StopServer(victim); err != nil {
		t.Fatal(err)
	}
	var failed, moved bool
	deadline := time.After(20 * time.Second)
	for !failed || !moved {
		select {
		case ch := <-changes:
			switch {
			case ch.Kind == ServerFailed && ch.Server == victim:
				failed = true
			case ch.Kind == ShardLeaderChanged && ch.Shard == shards[0].Name:
				if ch.OldLeader != victim || ch.NewLeader != shards[0].Followers[0] {
					t.Errorf("leader change %v", ch)
				}
				moved = true
			}
		case <-deadline:
			t.Fatalf("failed %v moved %v", failed, moved)
		}
	}
}
