package arangosim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestErrorsModeViewsAnalyzersControl(t *testing.T) {
	c := startSim(t, Config{})
	wc := newWALClient2(t, c)
	ep := c.Endpoint()
	expect := func(r rawResp, status int, want string) {
		t.Helper()
		if r.status != status || !bytes.Contains(r.body, []byte(want)) {
			t.Fatalf("got %d %s, want %d containing %s", r.status, r.body, status, want)
		}
	}
	expect(wc.do("GET", ep+"/_api/nope", nil), 404, `{"code":404,"error":true,"errorMessage":"unknown path '/_api/nope'","errorNum":404}`)
	expect(wc.do("GET", ep+"/_db/missing/_api/version", nil), 404, `"errorNum":1228`)
	expect(wc.do("GET", ep+"/_api/document/nope/x", nil), 404, `collection or view not found: nope`)
	expect(wc.do("PATCH", ep+"/_api/collection", nil), 405, `"errorNum":405`)
	req, _ := http.NewRequest("POST", ep+"/_api/collection", strings.NewReader(`{"name":`))
	resp, err := wc.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("bad JSON: %d", resp.StatusCode)
	}
	expect(wc.do("POST", ep+"/_api/collection", map[string]any{"name": "c", "numberOfShards": 2}), 200, `"numberOfShards":2`)
	expect(wc.do("PUT", ep+"/_api/collection/c/responsibleShard", map[string]any{"_key": "k"}), 200, `"shardId":"s`)

	// Read-only mode refuses writes with 403/1004 and DDL with 403/11.
	expect(wc.do("PUT", ep+"/_admin/server/mode", map[string]any{"mode": "readonly"}), 200, `"mode":"readonly"`)
	expect(wc.do("POST", ep+"/_api/document/c", map[string]any{"a": 1}), 403, `"errorNum":1004`)
	expect(wc.do("POST", ep+"/_api/collection", map[string]any{"name": "d"}), 403, `"errorNum":11`)
	expect(wc.do("PUT", ep+"/_admin/server/mode", map[string]any{"mode": "default"}), 200, `"mode":"default"`)
	expect(wc.do("POST", ep+"/_api/document/c", map[string]any{"a": 1}), 202, `"_rev"`)

	// Views and analyzers.
	expect(wc.do("POST", ep+"/_api/view", map[string]any{"name": "v", "type": "arangosearch", "links": map[string]any{"c": map[string]any{}}}),
		201, `"links":{"c":{"analyzers":["identity"]`)
	expect(wc.do("PATCH", ep+"/_api/view/v/properties", map[string]any{"cleanupIntervalStep": 5}), 200, `"cleanupIntervalStep":5`)
	expect(wc.do("PUT", ep+"/_api/view/v/rename", map[string]any{"name": "w"}), 200, `"name":"w"`)
	expect(wc.do("GET", ep+"/_api/view", nil), 200, `"name":"w"`)
	expect(wc.do("DELETE", ep+"/_api/view/w", nil), 200, `"result":true`)
	expect(wc.do("POST", ep+"/_api/analyzer", map[string]any{"name": "a1", "type": "identity"}), 201, `"name":"_system::a1"`)
	expect(wc.do("GET", ep+"/_api/analyzer/a1", nil), 200, `"type":"identity"`)
	expect(wc.do("DELETE", ep+"/_api/analyzer/a1", nil), 200, `"name":"_system::a1"`)
	expect(wc.do("GET", ep+"/_api/analyzer/a1", nil), 404, `"error":true`)

	// Control API: stop and restart a DB-Server through another server.
	r := wc.do("GET", ep+"/_arangosim/cluster", nil)
	var desc struct {
		Servers []ServerInfo `json:"servers"`
	}
	if err := json.Unmarshal(r.body, &desc); err != nil || len(desc.Servers) != 4 {
		t.Fatalf("cluster: %s", r.body)
	}
	db := desc.Servers[1]
	expect(wc.do("POST", ep+"/_arangosim/servers/"+db.ShortName+"/stop", nil), 200, `"error":false`)
	if _, err := http.Get(db.Endpoint + "/_api/version"); err == nil {
		t.Fatal("stopped DB-Server still answers")
	}
	expect(wc.do("GET", ep+"/_admin/cluster/health", nil), 200, `"Status":"FAILED"`)
	expect(wc.do("POST", ep+"/_api/document/c", []map[string]any{{"a": 1}, {"a": 2}, {"a": 3}}), 202, `"_rev"`)
	expect(wc.do("POST", ep+"/_arangosim/servers/"+db.ID+"/restart", nil), 200, `"error":false`)
	expect(wc.do("GET", db.Endpoint+"/_api/version", nil), 200, `"version":"3.12.10"`)
	expect(wc.do("GET", ep+"/_admin/cluster/shardDistribution", nil), 200, `"Plan"`)
	expect(wc.do("GET", ep+"/_api/replication/clusterInventory", nil), 200, `"planVersion":1`)
	expect(wc.do("GET", ep+"/_admin/status", nil), 200, `"role":"COORDINATOR"`)
}

func TestAuthTokens(t *testing.T) {
	c := startSim(t, Config{JWTSecret: "k", RootPassword: "pw"})
	hc := &http.Client{}
	t.Cleanup(hc.CloseIdleConnections)
	get := func(auth string) int {
		req, _ := http.NewRequest("GET", c.Endpoint()+"/_api/version", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	sign := func(claims jwt.MapClaims, secret string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return "bearer " + s
	}
	tok, _ := c.SuperuserToken()
	cases := []struct {
		name string
		auth string
		want int
	}{
		{"none", "", 401},
		{"superuser", "bearer " + tok, 200},
		{"expired", sign(jwt.MapClaims{"iss": "arangodb", "exp": time.Now().Add(-time.Minute).Unix()}, "k"), 401},
		{"not yet expired", sign(jwt.MapClaims{"iss": "arangodb", "exp": time.Now().Add(time.Minute).Unix()}, "k"), 200},
		{"wrong issuer", sign(jwt.MapClaims{"iss": "other"}, "k"), 401},
		{"wrong secret", sign(jwt.MapClaims{"iss": "arangodb"}, "x"), 401},
		{"basic root", "Basic " + base64.StdEncoding.EncodeToString([]byte("root:pw")), 200},
		{"basic wrong", "Basic " + base64.StdEncoding.EncodeToString([]byte("root:no")), 401},
	}
	for _, tc := range cases {
		if got := get(tc.auth); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	// POST /_open/auth issues a user token that works as bearer.
	resp, err := hc.Post(c.Endpoint()+"/_open/auth", "application/json", strings.NewReader(`{"username":"root","password":"pw"}`))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		JWT string `json:"jwt"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != 200 || out.JWT == "" || get("bearer "+out.JWT) != 200 {
		t.Fatalf("/_open/auth: %d %q", resp.StatusCode, out.JWT)
	}
	resp, err = hc.Post(c.Endpoint()+"/_open/auth", "application/json", strings.NewReader(`{"username":"root","password":"bad"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("/_open/auth with a bad password: %d", resp.StatusCode)
	}
}
