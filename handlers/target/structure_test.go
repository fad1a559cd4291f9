package target

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

// properties reads a collection's definition as the inventory gives it.
func properties(t *testing.T, conn Doer, db, coll string) json.RawMessage {
	t.Helper()
	return mustDo(t, conn, Request{Method: http.MethodGet, Path: DBPath(db, "/_api/collection/", coll, "/properties")}, 200).Body
}

func TestCreateCollectionWithIdenticalShardingPairsShards(t *testing.T) {
	ca := startSim(t, arangosim.Config{DBServers: 4})
	cb := startSim(t, arangosim.Config{DBServers: 2})
	a, b := dialSim(t, ca), dialSim(t, cb)
	ctx := context.Background()
	createDB(t, a, "shop")
	mustDo(t, a, Request{Method: http.MethodPost, Path: DBPath("shop", "/_api/collection"), Body: []byte(
		`{"name":"orders","numberOfShards":5,"shardKeys":["customer.id"],"replicationFactor":3,"writeConcern":2,` +
			`"keyOptions":{"type":"padded","allowUserKeys":true},"schema":{"rule":{"type":"object"},"level":"moderate","message":"no"}}`)}, 200)
	s := NewStructure(b, dialSim(t, cb).Client())
	if err := s.CreateDatabase(ctx, "shop", DatabaseOptions{ReplicationFactor: 3, WriteConcern: 2}); err != nil {
		t.Fatalf("CreateDatabase: %v", err)
	}
	if err := s.CreateDatabase(ctx, "shop", DatabaseOptions{}); err != nil {
		t.Fatalf("CreateDatabase again: %v", err)
	}
	def := properties(t, a, "shop", "orders")
	if err := s.CreateCollection(ctx, "shop", def); err != nil {
		t.Fatalf("CreateCollection: %v", err)
	}
	if err := s.CreateCollection(ctx, "shop", def); err != nil {
		t.Fatalf("CreateCollection again: %v", err)
	}
	var got struct {
		NumberOfShards    int            `json:"numberOfShards"`
		ShardKeys         []string       `json:"shardKeys"`
		ReplicationFactor int            `json:"replicationFactor"`
		WriteConcern      int            `json:"writeConcern"`
		KeyOptions        map[string]any `json:"keyOptions"`
		Schema            map[string]any `json:"schema"`
	}
	if err := json.Unmarshal(properties(t, b, "shop", "orders"), &got); err != nil {
		t.Fatal(err)
	}
	if got.NumberOfShards != 5 || len(got.ShardKeys) != 1 || got.ShardKeys[0] != "customer.id" || got.ReplicationFactor != 2 ||
		got.WriteConcern != 2 || got.KeyOptions["type"] != "padded" || got.Schema == nil {
		t.Fatalf("B's collection = %+v", got)
	}
	probes := ShardProbes([]string{"customer.id"}, 64)
	want, err := ProbeShardIndexes(ctx, a, "shop", "orders", probes)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, i := range want {
		seen[i] = true
	}
	if len(seen) != 5 {
		t.Fatalf("64 probes hit %d of 5 shards", len(seen))
	}
	if err := s.VerifyPairing(ctx, "shop", "orders", probes, want); err != nil {
		t.Fatalf("VerifyPairing: %v", err)
	}
	// A collection in B with other sharding is a mismatch, never silently used.
	mustDo(t, b, Request{Method: http.MethodPost, Path: DBPath("shop", "/_api/collection"), Body: []byte(`{"name":"other","numberOfShards":2}`)}, 200)
	mustDo(t, a, Request{Method: http.MethodPost, Path: DBPath("shop", "/_api/collection"), Body: []byte(`{"name":"other","numberOfShards":3}`)}, 200)
	err = s.CreateCollection(ctx, "shop", properties(t, a, "shop", "other"))
	if failure.CodeOf(err) != failure.CodeTargetMismatch || !failure.IsPermanent(err) || !strings.Contains(err.Error(), "numberOfShards 3 in A, 2 in B") {
		t.Fatalf("mismatch: %v", err)
	}
	wantOther, _ := ProbeShardIndexes(ctx, a, "shop", "other", ShardProbes(nil, 32))
	if err := s.VerifyPairing(ctx, "shop", "other", ShardProbes(nil, 32), wantOther); failure.CodeOf(err) != failure.CodeTargetMismatch {
		t.Fatalf("VerifyPairing of differently sharded collections: %v", err)
	}
	// Rename and drop are idempotent.
	if err := s.RenameCollection(ctx, "shop", "other", "other2"); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameCollection(ctx, "shop", "other", "other2"); err != nil {
		t.Fatalf("rename again: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := s.DropCollection(ctx, "shop", "other2"); err != nil {
			t.Fatalf("drop %d: %v", i, err)
		}
	}
	if err := s.DropDatabase(ctx, "nosuch"); err != nil {
		t.Fatalf("drop missing database: %v", err)
	}
}

func TestIndexesViewsAnalyzersUsers(t *testing.T) {
	ca, cb := startSim(t, arangosim.Config{}), startSim(t, arangosim.Config{})
	a, b := dialSim(t, ca), dialSim(t, cb)
	ctx := context.Background()
	for _, c := range []Doer{a, b} {
		createDB(t, c, "shop")
		createColl(t, c, "shop", "orders", 2)
	}
	mustDo(t, a, Request{Method: http.MethodPost, Path: DBPath("shop", "/_api/index"), Query: map[string][]string{"collection": {"orders"}},
		Body: []byte(`{"type":"persistent","fields":["_key","sku"],"unique":true,"sparse":true,"name":"by_sku"}`)}, 201)
	var list struct {
		Indexes []json.RawMessage `json:"indexes"`
	}
	resp := mustDo(t, a, Request{Method: http.MethodGet, Path: DBPath("shop", "/_api/index"), Query: map[string][]string{"collection": {"orders"}}}, 200)
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		t.Fatal(err)
	}
	s := NewStructure(b, nil)
	for round := 0; round < 2; round++ {
		for _, ix := range list.Indexes {
			if err := s.EnsureIndex(ctx, "shop", "orders", ix); err != nil {
				t.Fatalf("EnsureIndex %s (round %d): %v", ix, round, err)
			}
		}
	}
	resp = mustDo(t, b, Request{Method: http.MethodGet, Path: DBPath("shop", "/_api/index"), Query: map[string][]string{"collection": {"orders"}}}, 200)
	var bl struct {
		Indexes []struct {
			Name   string   `json:"name"`
			Fields []string `json:"fields"`
			Unique bool     `json:"unique"`
			Sparse bool     `json:"sparse"`
		} `json:"indexes"`
	}
	if err := json.Unmarshal(resp.Body, &bl); err != nil {
		t.Fatal(err)
	}
	if len(bl.Indexes) != 2 || bl.Indexes[1].Name != "by_sku" || !bl.Indexes[1].Unique || !bl.Indexes[1].Sparse || len(bl.Indexes[1].Fields) != 2 {
		t.Fatalf("B's indexes: %s", resp.Body)
	}
	if err := s.DropIndex(ctx, "shop", "orders", "by_sku"); err != nil {
		t.Fatal(err)
	}
	if err := s.DropIndex(ctx, "shop", "orders", "by_sku"); err != nil {
		t.Fatalf("drop again: %v", err)
	}

	an := json.RawMessage(`{"name":"shop::text_de","type":"text","properties":{"locale":"de","stemming":true},"features":["frequency"]}`)
	view := json.RawMessage(`{"name":"v","type":"arangosearch","links":{"orders":{"includeAllFields":true}}}`)
	for round := 0; round < 2; round++ {
		if err := s.EnsureAnalyzer(ctx, "shop", an); err != nil {
			t.Fatalf("EnsureAnalyzer round %d: %v", round, err)
		}
		if err := s.EnsureView(ctx, "shop", view); err != nil {
			t.Fatalf("EnsureView round %d: %v", round, err)
		}
	}
	if err := s.RenameView(ctx, "shop", "v", "v2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DropView(ctx, "shop", "v2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DropAnalyzer(ctx, "shop", "shop::text_de"); err != nil {
		t.Fatal(err)
	}

	su := NewStructure(b, dialSim(t, cb).Client())
	u := User{Name: "alice", Active: true, Extra: map[string]any{"team": "x"}}
	for round := 0; round < 2; round++ {
		if err := su.EnsureUser(ctx, u, "secret"); err != nil {
			t.Fatalf("EnsureUser round %d: %v", round, err)
		}
	}
	if err := su.SetGrant(ctx, "alice", "shop", "", "rw"); err != nil {
		t.Fatal(err)
	}
	if err := su.SetGrant(ctx, "alice", "shop", "orders", "ro"); err != nil {
		t.Fatal(err)
	}
	resp = mustDo(t, b, Request{Method: http.MethodGet, Path: "/_db/_system/_api/user/alice/database/shop/orders"}, 200)
	if !strings.Contains(string(resp.Body), `"ro"`) {
		t.Fatalf("grant: %s", resp.Body)
	}
	if err := su.DropUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := su.DropUser(ctx, "alice"); err != nil {
		t.Fatalf("drop again: %v", err)
	}
}

// TestUsersDocumentsKeepHashes replicates a _system/_users document with
// the applier: the password hash arrives verbatim (the user API could not
// carry it).
func TestUsersDocumentsKeepHashes(t *testing.T) {
	cb := startSim(t, arangosim.Config{})
	b := dialSim(t, cb)
	shard := events.ShardRef{Database: "_system", CollectionID: "9", Index: 0}
	ap, err := NewApplier(b, resolverFor(shard, "_users"), shard, Config{})
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"_key":"123456","_rev":"` + rev(1) + `","user":"bob","source":"LOCAL","authData":{"active":true,"simple":{"hash":"00ff","salt":"aa","method":"sha256"}},"databases":{"*":{"permissions":{"read":true,"write":false}}}}`
	if err := ap.Apply(context.Background(), newStream(shard, 1).batch(&events.Document{Key: "123456", Doc: json.RawMessage(doc)})); err != nil {
		t.Fatalf("apply _users document: %v", err)
	}
	resp := mustDo(t, b, Request{Method: http.MethodGet, Path: "/_db/_system/_api/document/_users/123456"}, 200)
	if !strings.Contains(string(resp.Body), `"hash":"00ff"`) || !strings.Contains(string(resp.Body), rev(1)) {
		t.Fatalf("B's _users document: %s", resp.Body)
	}
	err = NewStructure(b, nil).ReloadUsers(context.Background())
	if err != nil && HTTPStatus(err) != http.StatusNotFound {
		t.Fatalf("ReloadUsers: %v", err)
	}
	if err != nil {
		t.Logf("arangosim has no POST /_admin/auth/reload: %v", err)
	}
}
