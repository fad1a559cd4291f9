package arangosim

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDocumentOptions(t *testing.T) {
	c := startSim(t, Config{})
	wc := newWALClient2(t, c)
	ep := c.Endpoint() + "/_db/_system/_api/document/d"
	wc.do("POST", c.Endpoint()+"/_api/collection", map[string]any{"name": "d", "numberOfShards": 3})
	check := func(r rawResp, status int, wantBody string) map[string]any {
		t.Helper()
		if r.status != status {
			t.Fatalf("status %d (%s), want %d", r.status, r.body, status)
		}
		if wantBody != "" && !strings.Contains(string(r.body), wantBody) {
			t.Fatalf("body %s lacks %s", r.body, wantBody)
		}
		var m map[string]any
		_ = json.Unmarshal(r.body, &m)
		return m
	}
	m := check(wc.do("POST", ep+"?returnNew=true&waitForSync=true", map[string]any{"_key": "a", "o": map[string]any{"x": 1, "y": 2}, "n": 1}), 201, `"new":{"_key":"a","_id":"d/a"`)
	rev1 := m["_rev"].(string)
	check(wc.do("POST", ep+"?overwriteMode=ignore", map[string]any{"_key": "a", "z": 1}), 202, `"_rev":"`+rev1+`"`)
	check(wc.do("POST", ep+"?overwriteMode=conflict", map[string]any{"_key": "a"}), 409, `"errorNum":1210`)
	m = check(wc.do("POST", ep+"?overwriteMode=update&returnOld=true", map[string]any{"_key": "a", "o": map[string]any{"y": nil}, "n": nil}), 202, `"_oldRev":"`+rev1+`"`)
	if m["old"].(map[string]any)["n"].(float64) != 1 {
		t.Fatalf("returnOld: %v", m)
	}
	check(wc.do("GET", ep+"/a", nil), 200, `"n":null,"o":{"x":1,"y":null}`)
	check(wc.do("PATCH", ep+"/a?keepNull=false&mergeObjects=false", map[string]any{"o": map[string]any{"q": 1}, "n": nil}), 202, "")
	check(wc.do("GET", ep+"/a", nil), 200, `"o":{"q":1}}`)
	check(wc.do("POST", ep+"?overwrite=true", map[string]any{"_key": "a", "fresh": true}), 202, `"_oldRev"`)
	check(wc.do("GET", ep+"/a", nil), 200, `,"fresh":true}`)
	check(wc.do("POST", ep+"?silent=true", map[string]any{"_key": "s"}), 202, `{}`)
	if r := wc.do("POST", ep+"?silent=true", []map[string]any{{"_key": "s2"}, {"_key": "s"}}); string(r.body) != `[{"error":true,"errorNum":1210,"errorMessage":"unique constraint violated - in index primary of type primary over '_key'; conflicting key: s"}]` {
		t.Fatalf("silent multi: %s", r.body)
	}
	check(wc.do("PUT", ep+"?onlyget=true", []any{"a", map[string]any{"_key": "s"}, "nope"}), 200, `{"error":true,"errorNum":1202`)
	check(wc.do("POST", ep, map[string]any{"_key": "bad key"}), 400, `"errorNum":1221`)
	check(wc.do("POST", ep, "not an object"), 400, `"errorNum":1227`)
	check(wc.do("PUT", ep+"/nope", map[string]any{"x": 1}), 404, `"errorNum":1202`)
	check(wc.do("DELETE", ep+"/a?returnOld=true", nil), 202, `"old":{"_key":"a"`)
	check(wc.do("GET", ep+"/a", nil), 404, `"errorNum":1202`)

	// Import: overwrite truncates first; complete fails as a whole.
	imp := c.Endpoint() + "/_api/import?collection=d&type=documents"
	req := `{"_key":"i1"}` + "\n" + `{"_key":"i2"}` + "\n\n"
	r := wc.doRaw("POST", imp+"&overwrite=true", req)
	check(r, 201, `"created":2,"errors":0`)
	check(wc.do("GET", c.Endpoint()+"/_api/collection/d/count", nil), 200, `"count":2`)
	check(wc.doRaw("POST", imp+"&complete=true", `{"_key":"i3"}`+"\n"+`{"_key":"i1"}`), 409, `"errorNum":1210`)
	check(wc.do("GET", c.Endpoint()+"/_api/collection/d/count", nil), 200, `"count":2`)
	check(wc.doRaw("POST", imp+"&onDuplicate=update", `{"_key":"i1","u":1}`), 201, `"updated":1`)
	check(wc.doRaw("POST", c.Endpoint()+"/_api/import?collection=d&type=array", `[{"_key":"j1"},{"_key":"j2"}]`), 201, `"created":2`)
}
