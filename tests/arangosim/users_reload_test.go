package arangosim

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func basicAuth(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

// reqAs sends a request with the given Authorization header ("" for none).
func (w *walClient) reqAs(auth, method, url, body string) rawResp {
	w.t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResp{status: resp.StatusCode, header: resp.Header, body: b}
}

func mustStatus(t *testing.T, what string, r rawResp, want ...int) {
	t.Helper()
	for _, w := range want {
		if r.status == w {
			return
		}
	}
	t.Fatalf("%s: %d %s", what, r.status, r.body)
}

// TestAuthReloadAfterUsersDocumentCopy copies a user's _users document verbatim
// (isRestore, as dc2dc's replicator writes it) from one cluster to another: the
// user exists on the second cluster after POST /_admin/auth/reload, with the same
// password and permissions; replace and remove take effect the same way.
func TestAuthReloadAfterUsersDocumentCopy(t *testing.T) {
	a := startSim(t, Config{JWTSecret: "secret-a"})
	b := startSim(t, Config{JWTSecret: "secret-b"})
	wa, wb := newWALClient(t, a), newWALClient(t, b)
	for _, x := range []struct {
		c *Cluster
		w *walClient
	}{{a, wa}, {b, wb}} {
		mustStatus(t, "create db", x.w.do("POST", x.c.Endpoint()+"/_api/database", map[string]any{"name": "shop"}), 201)
		mustStatus(t, "create coll", x.w.do("POST", x.c.Endpoint()+"/_db/shop/_api/collection", map[string]any{"name": "orders"}), 200)
	}
	// alice on A: rw on shop, ro on shop/orders (carol first, so that alice's
	// _key differs from bob's on B: both clusters generate the same keys).
	mustStatus(t, "create carol", wa.do("POST", a.Endpoint()+"/_api/user", map[string]any{"user": "carol", "passwd": "c"}), 201)
	mustStatus(t, "create alice", wa.do("POST", a.Endpoint()+"/_api/user", map[string]any{"user": "alice", "passwd": "pw1"}), 201)
	mustStatus(t, "grant db", wa.do("PUT", a.Endpoint()+"/_api/user/alice/database/shop", map[string]any{"grant": "rw"}), 200)
	mustStatus(t, "grant coll", wa.do("PUT", a.Endpoint()+"/_api/user/alice/database/shop/orders", map[string]any{"grant": "ro"}), 200)
	// bob on B: a plain user (ro on _system), not an admin.
	mustStatus(t, "create bob", wb.do("POST", b.Endpoint()+"/_api/user", map[string]any{"user": "bob", "passwd": "bpw"}), 201)
	mustStatus(t, "grant bob", wb.do("PUT", b.Endpoint()+"/_api/user/bob/database/_system", map[string]any{"grant": "ro"}), 200)

	userDoc := func() (string, []byte) {
		u, ok := a.users.get("alice")
		if !ok {
			t.Fatal("alice missing on A")
		}
		r := wa.do("GET", a.Endpoint()+"/_api/document/_users/"+u.Key, nil)
		mustStatus(t, "read _users doc", r, 200)
		return u.Key, r.body
	}
	key, doc := userDoc()
	r := wb.doRaw("POST", b.Endpoint()+"/_api/document/_users?isRestore=true", string(doc))
	mustStatus(t, "copy _users doc", r, 201, 202)

	version := func(auth string) int {
		return wb.reqAs(auth, "GET", b.Endpoint()+"/_db/shop/_api/version", "").status
	}
	// The cache follows the user API, not document writes: not yet a user.
	if s := version(basicAuth("alice", "pw1")); s != 401 {
		t.Fatalf("alice before reload: %d", s)
	}
	// Only admins may reload.
	r = wb.reqAs(basicAuth("bob", "bpw"), "POST", b.Endpoint()+"/_admin/auth/reload", "")
	if r.status != 403 || !strings.Contains(string(r.body), `"errorNum":403`) {
		t.Fatalf("reload by a plain user: %d %s", r.status, r.body)
	}
	if r := wb.reqAs("", "POST", b.Endpoint()+"/_admin/auth/reload", ""); r.status != 401 {
		t.Fatalf("reload without credentials: %d", r.status)
	}
	r = wb.do("POST", b.Endpoint()+"/_admin/auth/reload", nil)
	if r.status != 200 || string(r.body) != `{"error":false,"code":200}` {
		t.Fatalf("reload: %d %s", r.status, r.body)
	}
	// Basic auth and /_open/auth with A's password.
	if s := version(basicAuth("alice", "pw1")); s != 200 {
		t.Fatalf("alice basic auth after reload: %d", s)
	}
	if s := version(basicAuth("alice", "wrong")); s != 401 {
		t.Fatalf("alice with a wrong password: %d", s)
	}
	r = wb.reqAs("", "POST", b.Endpoint()+"/_open/auth", `{"username":"alice","password":"pw1"}`)
	var tok struct {
		JWT string `json:"jwt"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &tok) != nil || tok.JWT == "" {
		t.Fatalf("/_open/auth: %d %s", r.status, r.body)
	}
	if s := version("bearer " + tok.JWT); s != 200 {
		t.Fatalf("alice's JWT: %d", s)
	}
	// The same permissions on both clusters.
	for _, path := range []string{"/_api/user/alice/database?full=true", "/_api/user/alice/database/shop",
		"/_api/user/alice/database/shop/orders", "/_api/user/alice/database/_system"} {
		ra, rb := wa.do("GET", a.Endpoint()+path, nil), wb.do("GET", b.Endpoint()+path, nil)
		if ra.status != 200 || rb.status != 200 || string(ra.body) != string(rb.body) {
			t.Fatalf("%s: A %d %s, B %d %s", path, ra.status, ra.body, rb.status, rb.body)
		}
	}
	alice := basicAuth("alice", "pw1")
	if r := wb.reqAs(alice, "POST", b.Endpoint()+"/_db/shop/_api/document/orders", `{"_key":"x"}`); r.status != 403 {
		t.Fatalf("write to a ro collection: %d %s", r.status, r.body)
	}
	if r := wb.reqAs(alice, "GET", b.Endpoint()+"/_db/shop/_api/collection/orders", ""); r.status != 200 {
		t.Fatalf("read a ro collection: %d %s", r.status, r.body)
	}

	// A password change on A, copied as a replace (isRestore), counts after a reload.
	mustStatus(t, "change password", wa.do("PATCH", a.Endpoint()+"/_api/user/alice", map[string]any{"passwd": "pw2"}), 200)
	_, doc = userDoc()
	mustStatus(t, "replace _users doc", wb.doRaw("PUT", b.Endpoint()+"/_api/document/_users/"+key+"?isRestore=true", string(doc)), 201, 202)
	if s := version(basicAuth("alice", "pw2")); s != 401 {
		t.Fatalf("new password before reload: %d", s)
	}
	mustStatus(t, "reload", wb.do("POST", b.Endpoint()+"/_admin/auth/reload", nil), 200)
	if s, s2 := version(basicAuth("alice", "pw2")), version(basicAuth("alice", "pw1")); s != 200 || s2 != 401 {
		t.Fatalf("after replace + reload: new password %d, old %d", s, s2)
	}
	// An update (PATCH) deactivating the user.
	mustStatus(t, "update _users doc", wb.doRaw("PATCH", b.Endpoint()+"/_api/document/_users/"+key, `{"authData":{"active":false}}`), 201, 202)
	mustStatus(t, "reload", wb.do("GET", b.Endpoint()+"/_admin/auth/reload", nil), 200) // any method
	if s := version(basicAuth("alice", "pw2")); s != 401 {
		t.Fatalf("inactive user: %d", s)
	}
	// A remove, then a user-API write: that reloads the whole cache as well.
	mustStatus(t, "remove _users doc", wb.do("DELETE", b.Endpoint()+"/_api/document/_users/"+key, nil), 200, 202)
	mustStatus(t, "grant bob", wb.do("PUT", b.Endpoint()+"/_api/user/bob/database/shop", map[string]any{"grant": "ro"}), 200)
	if r := wb.do("GET", b.Endpoint()+"/_api/user/alice", nil); r.status != 404 {
		t.Fatalf("removed user after a user-API write: %d %s", r.status, r.body)
	}
	if s := version(basicAuth("bob", "bpw")); s != 200 {
		t.Fatalf("bob: %d", s)
	}
}
