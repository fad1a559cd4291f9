package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const inventoryJSON = `{"collections":[
 {"parameters":{"id":"8010050","planId":"8010050","name":"b","globallyUniqueId":"c8010050/","type":3,"isSystem":false,
  "numberOfShards":2,"shardKeys":["_key"],"shardingStrategy":"hash","replicationFactor":2,"writeConcern":1,
  "distributeShardsLike":"a","keyOptions":{"type":"traditional","allowUserKeys":true},"schema":null,"computedValues":null,
  "shards":{"s8010052":["PRMR-2","PRMR-1"],"s8010051":["PRMR-1","PRMR-2"]}},"indexes":[],"planVersion":1,"isReady":true,"allInSync":true},
 {"parameters":{"id":"8010045","name":"a","globallyUniqueId":"c8010045/","type":2,"isSystem":false,"numberOfShards":3,
  "shardKeys":["_key"],"shardingStrategy":"hash","replicationFactor":"satellite","minReplicationFactor":1,
  "keyOptions":{"type":"traditional"},"schema":{"rule":{}},
  "shards":{"s8010046":["PRMR-1"],"s8010048":["PRMR-3"],"s8010047":["PRMR-2"],"s8010100":["PRMR-1"]}},"indexes":[{"id":"1","type":"persistent"}]}
],"views":[]}`

func TestParseInventory(t *testing.T) {
	d, err := ParseInventory("shop", []byte(inventoryJSON))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Collections) != 2 || d.Collections[0].Name != "a" || d.Collections[1].Name != "b" {
		t.Fatalf("collections not sorted by plan id: %+v", d.Collections)
	}
	a, b := d.Collections[0], d.Collections[1]
	if !a.Satellite || a.WriteConcern != 1 || string(a.Schema) != `{"rule":{}}` || string(a.ComputedValues) != "null" {
		t.Errorf("a = %+v", a)
	}
	// Numeric order: s8010046 < s8010047 < s8010048 < s8010100.
	var names []string
	for _, s := range a.Shards {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "s8010046,s8010047,s8010048,s8010100" || a.Shards[3].Index != 3 {
		t.Errorf("a shards = %v", a.Shards)
	}
	if b.Type != 3 || b.ReplicationFactor != 2 || b.DistributeShardsLike != "a" || b.Shards[0].Name != "s8010051" ||
		b.Shards[0].Leader != "PRMR-1" || b.Shards[0].Followers[0] != "PRMR-2" || b.Shards[1].Leader != "PRMR-2" {
		t.Errorf("b = %+v", b)
	}
	if !json.Valid(b.Parameters) || !strings.Contains(string(b.Parameters), `"distributeShardsLike":"a"`) {
		t.Errorf("parameters not verbatim: %s", b.Parameters)
	}
	if _, err := ParseInventory("x", []byte(`{"collections":[{"parameters":{"id":"1","name":"c","shards":{"bad":[]}}}]}`)); err == nil {
		t.Error("bad shard name accepted")
	}
}

func TestDiff(t *testing.T) {
	d1, _ := ParseInventory("shop", []byte(inventoryJSON))
	old := &Topology{
		Servers:   map[string]Server{"PRMR-1": {ID: "PRMR-1", Status: "GOOD"}, "PRMR-2": {ID: "PRMR-2", Status: "GOOD"}},
		Databases: map[string]*Database{"shop": d1, "gone": {Name: "gone"}},
	}
	d2, _ := ParseInventory("shop", []byte(strings.NewReplacer(
		`"name":"b"`, `"name":"b2"`,
		`"s8010046":["PRMR-1"]`, `"s8010046":["PRMR-2"]`,
	).Replace(inventoryJSON)))
	d2.Collections = append(d2.Collections, &Collection{ID: "9000000", Name: "new"})
	nw := &Topology{
		Servers:   map[string]Server{"PRMR-1": {ID: "PRMR-1", Status: "FAILED"}, "PRMR-2": {ID: "PRMR-2", Status: "GOOD"}},
		Databases: map[string]*Database{"shop": d2, "newdb": {Name: "newdb"}},
	}
	var got []string
	for _, c := range Diff(old, nw) {
		got = append(got, c.String())
	}
	want := []string{
		"server-failed PRMR-1",
		"database-dropped gone",
		"database-added newdb",
		"shard-leader-changed shop/a s8010046: PRMR-1 → PRMR-2",
		"collection-renamed shop/b → b2 (8010050)",
		"collection-added shop/new (9000000)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Diff =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestWatcher runs a Watcher against a fake Coordinator whose shard leader
// changes, and checks the change is reported and ShardLeader follows it.
func TestWatcher(t *testing.T) {
	var mu sync.Mutex
	leader := "PRMR-1"
	fail := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		l, f := leader, fail
		fail = false
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if f {
			w.WriteHeader(503)
			_, _ = w.Write([]byte(`{"error":true,"code":503,"errorNum":503,"errorMessage":"busy"}`))
			return
		}
		switch r.URL.Path {
		case "/_admin/cluster/health":
			_, _ = w.Write([]byte(`{"Health":{"PRMR-1":{"Endpoint":"tcp://127.0.0.1:1","Role":"DBServer","Status":"GOOD"}},"error":false,"code":200}`))
		case "/_api/database":
			_, _ = w.Write([]byte(`{"error":false,"code":200,"result":["shop"]}`))
		case "/_db/shop/_api/replication/clusterInventory":
			_, _ = w.Write([]byte(`{"collections":[{"parameters":{"id":"10","name":"c","shards":{"s11":["` + l + `"]}}}],"views":[]}`))
		default:
			w.WriteHeader(404)
		}
	}))
	defer srv.Close()
	c, err := New(Config{Endpoints: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	changes := make(chan Change, 16)
	errs := make(chan error, 16)
	w, err := NewWatcher(c, WatcherConfig{Interval: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond},
		func(_ *Topology, cs []Change) {
			for _, c := range cs {
				changes <- c
			}
		}, func(err error) { errs <- err })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	expect := func(kind ChangeKind) Change {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case c := <-changes:
				if c.Kind == kind {
					return c
				}
			case <-deadline:
				t.Fatalf("no %v change", kind)
			}
		}
	}
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "503") {
			t.Errorf("first poll error = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("first poll did not fail")
	}
	expect(CollectionAdded)
	if l, ok := w.ShardLeader("shop", "s11"); !ok || l != "PRMR-1" {
		t.Fatalf("ShardLeader = %q %v", l, ok)
	}
	mu.Lock()
	leader = "PRMR-2"
	mu.Unlock()
	ch := expect(ShardLeaderChanged)
	if ch.OldLeader != "PRMR-1" || ch.NewLeader != "PRMR-2" || ch.Shard != "s11" {
		t.Errorf("change = %+v", ch)
	}
	if l, _ := w.ShardLeader("shop", "s11"); l != "PRMR-2" {
		t.Errorf("ShardLeader after change = %q", l)
	}
}

func TestBackoff(t *testing.T) {
	for n := 1; n < 10; n++ {
		d := Backoff(100*time.Millisecond, time.Second, n)
		lo, hi := 80*time.Millisecond, 1200*time.Millisecond
		if d < lo || d > hi {
			t.Errorf("Backoff(%d) = %v", n, d)
		}
	}
	if d := Backoff(100*time.Millisecond, time.Second, 8); d < 800*time.Millisecond {
		t.Errorf("Backoff does not reach the cap: %v", d)
	}
}

func FuzzParseInventory(f *testing.F) {
	f.Add([]byte(inventoryJSON))
	f.Add([]byte(`{"collections":[{"parameters":{"id":"1","name":"c","shards":{"s2":["A","B"],"s3":[]}}}]}`))
	f.Add([]byte(`{"collections":[{"parameters":{"id":"1","name":"c","replicationFactor":"satellite"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := ParseInventory("db", body)
		if err != nil {
			return
		}
		for _, c := range d.Collections {
			if c.ID == "" || c.Name == "" {
				t.Fatalf("collection without id or name: %+v", c)
			}
			for i, s := range c.Shards {
				if s.Index != i || (i > 0 && c.Shards[i-1].ID >= s.ID) {
					t.Fatalf("shards out of order: %+v", c.Shards)
				}
			}
		}
	})
}
