package arangosim

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// In read-only mode a user's writes and DDL are refused (403/1004, 403/11)
// while the superuser JWT still writes, as in arangod (its read-only mode
// caps users' access levels; dc2dc's own writes, like arangosync's, use
// the superuser JWT).
func TestReadOnlyModeSparesTheSuperuserJWT(t *testing.T) {
	c := startSim(t, Config{JWTSecret: "s3cret", RootPassword: "pw"})
	wc := newWALClient(t, c) // superuser JWT
	ep := c.Endpoint()
	basic := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, ep+path, strings.NewReader(body))
		req.SetBasicAuth("root", "pw")
		resp, err := wc.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	if r := wc.do("POST", ep+"/_api/collection", map[string]any{"name": "c"}); r.status != 200 {
		t.Fatalf("create c: %d %s", r.status, r.body)
	}
	if r := wc.do("PUT", ep+"/_admin/server/mode", map[string]any{"mode": "readonly"}); r.status != 200 {
		t.Fatalf("readonly: %d %s", r.status, r.body)
	}
	if st, b := basic("POST", "/_api/document/c", `{"a":1}`); st != 403 || !bytes.Contains(b, []byte(`"errorNum":1004`)) {
		t.Fatalf("root's write in read-only mode: %d %s, want 403/1004", st, b)
	}
	if st, b := basic("POST", "/_api/collection", `{"name":"d"}`); st != 403 || !bytes.Contains(b, []byte(`"errorNum":11`)) {
		t.Fatalf("root's DDL in read-only mode: %d %s, want 403/11", st, b)
	}
	if r := wc.do("POST", ep+"/_api/document/c", map[string]any{"a": 2}); r.status != 202 && r.status != 201 {
		t.Fatalf("superuser JWT write in read-only mode: %d %s", r.status, r.body)
	}
	if r := wc.do("POST", ep+"/_api/collection", map[string]any{"name": "e"}); r.status != 200 {
		t.Fatalf("superuser JWT DDL in read-only mode: %d %s", r.status, r.body)
	}
	if r := wc.do("PUT", ep+"/_admin/server/mode", map[string]any{"mode": "default"}); r.status != 200 {
		t.Fatalf("default: %d %s", r.status, r.body)
	}
	if st, b := basic("POST", "/_api/document/c", `{"a":3}`); st != 202 && st != 201 {
		t.Fatalf("root's write after read-only mode: %d %s", st, b)
	}
}
