package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

func TestConfigValidateReportsEverything(t *testing.T) {
	cfg := Config{Endpoints: []string{"ftp://x", "http://"}, Authentication: "magic", RequestTimeout: -1}.WithDefaults()
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`"ftp://x"`, `"http://": no host`, `authentication "magic"`, "request timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if err := (Config{}).WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "none given") {
		t.Errorf("empty config: %v", err)
	}
	if err := (Config{Endpoints: []string{"tcp://a:1"}, Authentication: AuthSuperuser}).WithDefaults().Validate(); err == nil ||
		!strings.Contains(err.Error(), "JWT secret") {
		t.Errorf("superuser without secret: %v", err)
	}
	if err := (Config{Endpoints: []string{"tcp://a:1"}, Authentication: AuthJWT}).WithDefaults().Validate(); err == nil ||
		!strings.Contains(err.Error(), "needs a user") {
		t.Errorf("jwt without user: %v", err)
	}
	if got := (Config{JWTSecret: "s", Username: "u"}).WithDefaults().Authentication; got != AuthSuperuser {
		t.Errorf("default auth with secret = %q", got)
	}
	if _, err := New(Config{}); !failure.IsPermanent(err) || failure.CodeOf(err) != failure.CodeConfigInvalid {
		t.Errorf("New(empty) = %v", err)
	}
}

func TestHTTPEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"tcp://[::1]:8530": "http://[::1]:8530", "ssl://h:1": "https://h:1", "http://h:2": "http://h:2",
	} {
		if got := HTTPEndpoint(in); got != want {
			t.Errorf("HTTPEndpoint(%q) = %q, want %q", in, got, want)
		}
	}
}

func errorServer(t *testing.T, status int, body string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Endpoints: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestErrorClassification(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		body      string
		retryable bool
		code      failure.Code
		text      string
	}{
		{"unauthorized", 401, `{"code":401,"error":true,"errorMessage":"not authorized to execute this request","errorNum":11}`, false, failure.CodeArangoAuth, "JWT secret"},
		{"forbidden", 403, `{"code":403,"error":true,"errorMessage":"forbidden","errorNum":11}`, false, failure.CodeArangoAuth, "superuser JWT"},
		{"db not found", 404, `{"code":404,"error":true,"errorMessage":"database not found","errorNum":1228}`, false, failure.CodeSourceShardMissing, `database "shop"`},
		{"coll not found", 404, `{"code":404,"error":true,"errorMessage":"collection or view not found","errorNum":1203}`, false, failure.CodeSourceShardMissing, "collection not found"},
		{"unavailable", 503, `{"code":503,"error":true,"errorMessage":"service unavailable","errorNum":503}`, true, failure.CodeArangoUnavailable, "503"},
		{"not leader", 503, `{"code":503,"error":true,"errorMessage":"not a leader","errorNum":1496}`, true, failure.CodeArangoUnavailable, "1496"},
		{"resigned", 503, `{"code":503,"error":true,"errorMessage":"shard leader resigned","errorNum":1491}`, true, failure.CodeArangoUnavailable, "1491"},
		{"cluster timeout", 500, `{"code":500,"error":true,"errorMessage":"timeout in cluster operation","errorNum":1457}`, true, failure.CodeArangoUnavailable, "1457"},
		{"bad parameter", 400, `{"code":400,"error":true,"errorMessage":"invalid from/to values","errorNum":400}`, false, "", "invalid from/to"},
		{"no json", 502, `bad gateway`, true, failure.CodeArangoUnavailable, "unexpected status code 502"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := errorServer(t, tc.status, tc.body)
			_, err := c.Coordinator().Do(context.Background(), Request{Method: "GET", Path: DBPath("shop", "_api/x"), What: `database "shop"`})
			if err == nil {
				t.Fatal("no error")
			}
			if failure.IsRetryable(err) != tc.retryable || failure.IsPermanent(err) == tc.retryable {
				t.Errorf("class = %v, want retryable=%v: %v", failure.Classify(err), tc.retryable, err)
			}
			if failure.CodeOf(err) != tc.code {
				t.Errorf("code = %q, want %q", failure.CodeOf(err), tc.code)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not contain %q", err, tc.text)
			}
			var ae *ArangoError
			if !errors.As(err, &ae) || ae.Status != tc.status {
				t.Errorf("no *ArangoError with status %d in %v", tc.status, err)
			}
		})
	}
}

func TestUnreachableIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := New(Config{Endpoints: []string{"tcp://" + addr}, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Ping(context.Background())
	if !failure.IsRetryable(err) || failure.CodeOf(err) != failure.CodeArangoUnreachable || !IsUnreachable(err) {
		t.Fatalf("Ping to a closed port = %v (class %v, code %q)", err, failure.Classify(err), failure.CodeOf(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Ping(ctx); !failure.IsStopped(err) {
		t.Fatalf("cancelled Ping = %v, want stopped", err)
	}
}

// TestDBServerAccess checks that DB-Servers are dialed at the health
// endpoint (tcp:// → http://) with a superuser JWT (iss=arangodb).
func TestDBServerAccess(t *testing.T) {
	const secret = "s3cr3t"
	var gotAuth string
	dbs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/x-arango-dump")
		w.Header().Set("X-Arango-Replication-Lastincluded", "0")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer dbs.Close()
	coord := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/_admin/cluster/health":
			_, _ = w.Write([]byte(`{"Health":{"PRMR-1":{"Endpoint":"tcp://` + strings.TrimPrefix(dbs.URL, "http://") +
				`","Role":"DBServer","ShortName":"DBServer0001","Status":"GOOD"}},"ClusterId":"x","error":false,"code":200}`))
		default:
			w.WriteHeader(404)
		}
	}))
	defer coord.Close()
	c, err := New(Config{Endpoints: []string{coord.URL}, JWTSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := c.DBServer(context.Background(), "PRMR-1")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := conn.Do(context.Background(), Request{Method: "GET", Path: DBPath("_system", "_api/wal/tail")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 204 || resp.Header("x-arango-replication-lastincluded") != "0" {
		t.Fatalf("status %d header %q", resp.Status, resp.Header("x-arango-replication-lastincluded"))
	}
	tok, ok := strings.CutPrefix(gotAuth, "bearer ")
	if !ok {
		t.Fatalf("Authorization = %q, want a bearer token", gotAuth)
	}
	parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(secret), nil }, jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		t.Fatal(err)
	}
	if iss, _ := parsed.Claims.GetIssuer(); iss != "arangodb" {
		t.Errorf("iss = %q", iss)
	}
	if _, err := c.DBServer(context.Background(), "PRMR-unknown"); !failure.IsRetryable(err) {
		t.Errorf("unknown DB-Server: %v", err)
	}
}

func TestShardsFromFixture(t *testing.T) {
	f := loadFixture(t, "RestGetShardsWithDetails_cluster")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_db/_system/_api/collection/testCollection/shards" || r.URL.Query().Get("details") != "true" {
			w.WriteHeader(404)
			return
		}
		f.serve(w)
	}))
	defer srv.Close()
	c, err := New(Config{Endpoints: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	shards, err := c.Shards(context.Background(), "_system", "testCollection")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"s8010046", "s8010047", "s8010048"}
	if len(shards) != 3 {
		t.Fatalf("shards = %+v", shards)
	}
	for i, s := range shards {
		if s.Name != want[i] || s.Index != i || !strings.HasPrefix(s.Leader, "PRMR-") || len(s.Followers) != 0 {
			t.Errorf("shard %d = %+v", i, s)
		}
	}
}
