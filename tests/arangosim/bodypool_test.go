package arangosim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPooledBodiesAreNotKept: document writes reuse their request body's buffer once
// answered, so every later write of the same size overwrites it. What the first
// writes stored (documents, keys, edges, updates, stream-transaction writes) and their
// WAL markers must still read back unchanged.
func TestPooledBodiesAreNotKept(t *testing.T) {
	c := startSim(t, Config{})
	db, _ := c.Database("_system")
	if _, err := c.CreateCollection(db, CollectionSpec{Name: "p", NumberOfShards: 2, ReplicationFactor: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCollection(db, CollectionSpec{Name: "e", Type: 3, ReplicationFactor: 2}); err != nil {
		t.Fatal(err)
	}
	coord := c.Coordinators()[0]
	do := func(method, target, trx string, body []byte, want int) []byte {
		t.Helper()
		req := httptest.NewRequest(method, target, bytes.NewReader(body))
		if trx != "" {
			req.Header.Set("X-Arango-Trx-Id", trx)
		}
		rec := httptest.NewRecorder()
		coord.ServeHTTP(rec, req)
		if rec.Code != want || rec.Header().Get("X-Arango-Error-Codes") != "" {
			t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body.String())
		}
		return rec.Body.Bytes()
	}
	batch := func(round string, n int) []byte {
		var b strings.Builder
		b.WriteByte('[')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"_key":"%s%03d","v":"%s-%03d","n":{"x":"%s"}}`, round, i, round, i, round)
		}
		b.WriteByte(']')
		return []byte(b.String())
	}
	// Same-sized bodies: each later request reuses the previous one's buffer.
	do("POST", "/_api/document/p", "", batch("a", 20), http.StatusAccepted)
	do("POST", "/_api/document/e", "", []byte(`{"_key":"a000","_from":"p/a000","_to":"p/a001","w":"a"}`), http.StatusAccepted)
	do("PATCH", "/_api/document/p", "", []byte(`[{"_key":"a005","u":"patched-a","n":{"y":"a"}}]`), http.StatusAccepted)
	var begin struct {
		Result struct{ ID string } `json:"result"`
	}
	if err := json.Unmarshal(do("POST", "/_api/transaction/begin", "", []byte(`{"collections":{"write":["p"]}}`), http.StatusCreated), &begin); err != nil {
		t.Fatal(err)
	}
	do("POST", "/_api/document/p?isRestore=true&overwriteMode=replace", begin.Result.ID,
		[]byte(`[{"_key":"t000","_rev":"_kL0B3Re---","v":"trx-a"}]`), http.StatusAccepted)
	for range 3 {
		do("POST", "/_api/document/p?overwriteMode=replace", "", batch("B", 20), http.StatusAccepted)
		do("POST", "/_api/document/e?overwriteMode=replace", "", []byte(`{"_key":"B000","_from":"P/B000","_to":"P/B001","W":"B"}`), http.StatusAccepted)
		do("PATCH", "/_api/document/p", "", []byte(`[{"_key":"B005","u":"PATCHED-B","n":{"y":"B"}}]`), http.StatusAccepted)
	}
	do("PUT", "/_api/transaction/"+begin.Result.ID, "", nil, http.StatusOK)

	get := func(coll, key string) map[string]any {
		t.Helper()
		var v map[string]any
		if err := json.Unmarshal(do("GET", "/_api/document/"+coll+"/"+key, "", nil, http.StatusOK), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i := range 20 {
		k := fmt.Sprintf("a%03d", i)
		v := get("p", k)
		if v["_key"] != k || v["v"] != fmt.Sprintf("a-%03d", i) || v["n"].(map[string]any)["x"] != "a" {
			t.Fatalf("document %s changed after later requests: %v", k, v)
		}
	}
	if v := get("p", "a005"); v["u"] != "patched-a" || v["n"].(map[string]any)["y"] != "a" {
		t.Fatalf("updated document changed: %v", v)
	}
	if v := get("e", "a000"); v["_from"] != "p/a000" || v["_to"] != "p/a001" || v["w"] != "a" {
		t.Fatalf("edge changed: %v", v)
	}
	if v := get("p", "t000"); v["v"] != "trx-a" || v["_rev"] != "_kL0B3Re---" {
		t.Fatalf("transaction's document changed: %v", v)
	}
	// The WAL markers hold the same documents.
	for _, s := range c.DBServers() {
		ms, _, _ := s.WAL().since(0)
		for _, m := range ms {
			if m.Type != MarkerDocument || m.DB != "_system" {
				continue
			}
			js := string(m.JSON())
			if strings.Contains(js, `"_key":"a`) && (strings.Contains(js, `"B`) || !strings.Contains(js, `"a-`) && !strings.Contains(js, "patched-a") && !strings.Contains(js, `"w":"a"`)) {
				t.Fatalf("WAL marker changed after later requests: %s", js)
			}
		}
	}
}
