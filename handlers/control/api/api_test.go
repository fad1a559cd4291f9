package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/election"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
)

type fakeLead struct {
	mu sync.Mutex
	st election.Status
}

func (f *fakeLead) Status() election.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeLead) set(st election.Status) {
	f.mu.Lock()
	f.st = st
	f.mu.Unlock()
}

type master struct {
	srv  *httptest.Server
	reg  *registry.Registry
	lead *fakeLead
}

func newMaster(t *testing.T, id string, auth api.AuthConfig, gatherer prometheus.Gatherer) *master {
	t.Helper()
	reg, err := registry.New(registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m := &master{reg: reg, lead: &fakeLead{}}
	h := &lateHandler{}
	m.srv = httptest.NewServer(h)
	t.Cleanup(m.srv.Close)
	s, err := api.NewServer(api.Config{Role: "master", ID: id, Endpoint: m.srv.URL, Version: "test", Auth: auth,
		Registry: reg, Leadership: m.lead, Metrics: gatherer})
	if err != nil {
		t.Fatal(err)
	}
	h.set(s)
	return m
}

// lateHandler lets the server know its own URL before it is built.
type lateHandler struct {
	mu sync.Mutex
	h  http.Handler
}

func (l *lateHandler) set(h http.Handler) { l.mu.Lock(); l.h = h; l.mu.Unlock() }
func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	h := l.h
	l.mu.Unlock()
	h.ServeHTTP(w, r)
}

func get(t *testing.T, url, auth string, hdr map[string]string) (int, api.ErrorBody, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb api.ErrorBody
	_ = json.Unmarshal(b, &eb)
	return resp.StatusCode, eb, b
}

func signed(t *testing.T, secret, iss string, exp time.Duration) string {
	claims := jwt.MapClaims{"iss": iss, "iat": time.Now().Unix()}
	if exp != 0 {
		claims["exp"] = time.Now().Add(exp).Unix()
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return "bearer " + tok
}

func TestAuth(t *testing.T) {
	m := newMaster(t, "m1", api.AuthConfig{Token: "static-token", JWTSecret: "shared"}, nil)
	good, _ := api.SignJWT("shared", "test", time.Minute)
	cases := []struct {
		name, auth string
		status     int
		msg        string
	}{
		{"no credentials", "", 401, "no credentials"},
		{"not bearer", "Basic dXNlcjpwdw==", 401, "not `bearer"},
		{"wrong token", "bearer nope", 401, "invalid bearer token"},
		{"static token", "bearer static-token", 200, ""},
		{"static token, other case", "Bearer static-token", 200, ""},
		{"JWT", "bearer " + good, 200, ""},
		{"JWT other issuer", signed(t, "shared", "arangodb", time.Minute), 403, "issued by \"arangodb\""},
		{"JWT wrong secret", signed(t, "other", "dc2dc", time.Minute), 401, "invalid bearer JWT"},
		{"JWT expired", signed(t, "shared", "dc2dc", -time.Hour), 401, "expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, eb, body := get(t, m.srv.URL+api.PathVersion, tc.auth, nil)
			if status != tc.status {
				t.Fatalf("status %d (%s), want %d", status, body, tc.status)
			}
			if tc.status != 200 && (!eb.Error || eb.Code != tc.status || !strings.Contains(eb.ErrorMessage, tc.msg)) {
				t.Fatalf("error body %s, want code %d and a message with %q", body, tc.status, tc.msg)
			}
		})
	}
}

func TestLeaderEndpointsAndForwarding(t *testing.T) {
	pr := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "dc2dc_test_counter", Help: "test"})
	pr.MustRegister(c)
	c.Inc()
	auth := api.AuthConfig{Token: "tok"}
	leader := newMaster(t, "m1", auth, pr)
	follower := newMaster(t, "m2", auth, nil)
	leader.lead.set(election.Status{ID: "m1", Leader: true, Epoch: 4})
	follower.lead.set(election.Status{ID: "m2", Epoch: 4, LeaderID: "m1", LeaderEndpoint: leader.srv.URL})
	_ = leader.reg.PutTask(registry.Task{ID: "t1", Kind: registry.KindSendShard, Shard: "db/1/0", ShardLeader: "PRMR-1"})
	leader.reg.SetEpoch(4)

	// Follower without the forwarding header: 503 naming the leader.
	status, eb, body := get(t, follower.srv.URL+api.PathWorkers, "bearer tok", nil)
	if status != 503 || eb.LeaderEndpoint != leader.srv.URL || eb.Reason != api.ReasonNotLeader {
		t.Fatalf("follower answered %d %s", status, body)
	}
	// A forwarded request is not forwarded again.
	status, _, _ = get(t, follower.srv.URL+api.PathWorkers, "bearer tok", map[string]string{api.HeaderForwardToLeader: "true", api.HeaderForwardedBy: "m3"})
	if status != 503 {
		t.Fatalf("double forward answered %d", status)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The client: a dead endpoint first, then the follower (which forwards).
	cl, err := api.NewClient(api.ClientConfig{Endpoints: []string{"http://127.0.0.1:1", follower.srv.URL}, Token: "tok", Subject: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	reg, err := cl.Register(ctx, registry.WorkerInfo{ID: "w1", Endpoint: "http://w1:8729", DBServer: "PRMR-1"})
	if err != nil {
		t.Fatal(err)
	}
	if reg.Epoch != 4 || reg.HeartbeatInterval != 1000 || reg.DeadAfter != 3000 {
		t.Fatalf("register answer %+v", reg)
	}
	leader.reg.Schedule(time.Now())
	hb, err := cl.Heartbeat(ctx, api.HeartbeatRequest{ID: "w1", Reports: []registry.Report{{TaskID: "t1", Generation: 1, Phase: registry.PhaseRunning}}})
	if err != nil {
		t.Fatal(err)
	}
	if hb.Epoch != 4 || len(hb.Tasks) != 1 || hb.Tasks[0].ID != "t1" || hb.Tasks[0].Generation != 1 || hb.Tasks[0].LeaderEpoch != 4 || len(hb.Superseded) != 0 {
		t.Fatalf("heartbeat answer %+v", hb)
	}
	if _, err := cl.Heartbeat(ctx, api.HeartbeatRequest{ID: "w9"}); !api.IsUnknownWorker(err) {
		t.Fatalf("heartbeat of an unregistered worker: %v", err)
	}
	ws, err := cl.Workers(ctx)
	if err != nil || len(ws.Workers) != 1 || !ws.Workers[0].Alive || ws.Workers[0].Tasks != 1 {
		t.Fatalf("workers %+v err %v", ws, err)
	}
	ts, err := cl.Tasks(ctx)
	if err != nil || len(ts.Tasks) != 1 || ts.Tasks[0].Phase != registry.PhaseRunning || ts.Tasks[0].Worker != "w1" {
		t.Fatalf("tasks %+v err %v", ts, err)
	}
	// The follower announces itself; the leader lists both.
	fcl, _ := api.NewClient(api.ClientConfig{Endpoints: []string{leader.srv.URL}, Token: "tok"})
	defer fcl.Close()
	if err := fcl.MasterHeartbeat(ctx, api.MasterHeartbeat{ID: "m2", Endpoint: follower.srv.URL}); err != nil {
		t.Fatal(err)
	}
	ms, err := cl.Masters(ctx)
	if err != nil || ms.Leader != "m1" || ms.Epoch != 4 || len(ms.Masters) != 2 || !ms.Masters[1].Alive || ms.Masters[1].Leader {
		t.Fatalf("masters %+v err %v", ms, err)
	}
	v, err := cl.Version(ctx)
	if err != nil || v.Role != "master" || v.ID != "m2" {
		t.Fatalf("version %+v err %v (answered by the follower itself)", v, err)
	}
	// Metrics.
	status, _, body = get(t, leader.srv.URL+api.PathMetrics, "bearer tok", nil)
	if status != 200 || !strings.Contains(string(body), "dc2dc_test_counter 1") {
		t.Fatalf("metrics %d %s", status, body)
	}
	status, _, _ = get(t, leader.srv.URL+api.PathMetrics, "", nil)
	if status != 401 {
		t.Fatalf("metrics without auth: %d", status)
	}
	// No leader known: 503 with a clear message, the client reports it.
	follower.lead.set(election.Status{ID: "m2"})
	fo, _ := api.NewClient(api.ClientConfig{Endpoints: []string{follower.srv.URL}, Token: "tok"})
	defer fo.Close()
	if _, err := fo.Workers(ctx); !api.IsNotLeader(err) || !strings.Contains(err.Error(), "no leader is known") {
		t.Fatalf("no leader: %v", err)
	}
	// Wrong token through the client: a clear error, not retried elsewhere.
	bad, _ := api.NewClient(api.ClientConfig{Endpoints: []string{leader.srv.URL}, Token: "wrong"})
	defer bad.Close()
	if _, err := bad.Workers(ctx); err == nil || !strings.Contains(err.Error(), "--auth.token") {
		t.Fatalf("wrong token: %v", err)
	}
	status, eb, _ = get(t, leader.srv.URL+"/_api/nothing", "bearer tok", nil)
	if status != 404 || !eb.Error {
		t.Fatalf("unknown path: %d", status)
	}
}

func TestClientConfigValidate(t *testing.T) {
	_, err := api.NewClient(api.ClientConfig{Endpoints: []string{"master1:8629", "ftp://x"}})
	if err == nil || strings.Count(err.Error(), "not an http:// or https:// URL") != 2 {
		t.Fatalf("err %v", err)
	}
	if _, err := api.NewClient(api.ClientConfig{}); err == nil || !strings.Contains(err.Error(), "--master.endpoint") {
		t.Fatalf("err %v", err)
	}
}
