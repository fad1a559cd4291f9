package arangosim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// walClient talks raw HTTP to one server with a superuser JWT.
type walClient struct {
	t     testing.TB
	c     *Cluster
	token string
	hc    *http.Client
}

func newWALClient(t testing.TB, c *Cluster) *walClient {
	tok, err := c.SuperuserToken()
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &walClient{t: t, c: c, token: tok, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// doRaw sends body verbatim.
func (w *walClient) doRaw(method, url, body string) rawResp {
	w.t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if w.token != "" {
		req.Header.Set("Authorization", "bearer "+w.token)
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResp{status: resp.StatusCode, header: resp.Header, body: b}
}

type rawResp struct {
	status int
	header http.Header
	body   []byte
}

func (w *walClient) do(method, url string, body any) rawResp {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if w.token != "" {
		req.Header.Set("Authorization", "bearer "+w.token)
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResp{status: resp.StatusCode, header: resp.Header, body: b}
}

type marker struct {
	Tick string          `json:"tick"`
	Type int             `json:"type"`
	TID  string          `json:"tid"`
	DB   string          `json:"db"`
	CUID string          `json:"cuid"`
	Data json.RawMessage `json:"data"`
}

func parseMarkers(t testing.TB, body []byte) []marker {
	var out []marker
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var m marker
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("marker line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// tailAll follows the ArangoDB client loop (spec §1.4) until checkmore is false.
func (w *walClient) tailAll(s *Server, db string, from uint64, extra string) ([]marker, uint64, rawResp) {
	w.t.Helper()
	var all []marker
	lastScanned := uint64(0)
	var last rawResp
	for i := 0; i < 1000; i++ {
		url := fmt.Sprintf("%s/_db/%s/_api/wal/tail?from=%d&lastScanned=%d&chunkSize=16384%s", s.Endpoint(), db, from, lastScanned, extra)
		last = w.do("GET", url, nil)
		if last.status == http.StatusNoContent {
			return all, from, last
		}
		if last.status != http.StatusOK {
			w.t.Fatalf("tail: %d %s", last.status, last.body)
		}
		all = append(all, parseMarkers(w.t, last.body)...)
		li, _ := strconv.ParseUint(last.header.Get("X-Arango-Replication-Lastincluded"), 10, 64)
		ls, _ := strconv.ParseUint(last.header.Get("X-Arango-Replication-Lastscanned"), 10, 64)
		lastScanned = ls
		if li > from {
			from = li
		}
		if last.header.Get("X-Arango-Replication-Checkmore") != "true" {
			return all, from, last
		}
	}
	w.t.Fatal("tail did not finish")
	return nil, 0, last
}

func insertDocs(t testing.TB, wc *walClient, coll string, docs []map[string]any) {
	t.Helper()
	r := wc.do("POST", wc.c.Endpoint()+"/_api/document/"+coll, docs)
	if r.status != http.StatusAccepted || r.header.Get("X-Arango-Error-Codes") != "" {
		t.Fatalf("insert: %d %s", r.status, r.body)
	}
}

func TestWALTailShardsOnEveryLeader(t *testing.T) {
	c := startSim(t, Config{JWTSecret: "s3cret"})
	wc := newWALClient(t, c)
	ctx := context.Background()
	_ = ctx
	start := map[*Server]uint64{}
	for _, s := range c.DBServers() {
		start[s] = s.WAL().LastTick()
	}
	r := wc.do("POST", c.Endpoint()+"/_api/collection", map[string]any{"name": "orders", "numberOfShards": 3, "replicationFactor": 2})
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var docs []map[string]any
	for i := 0; i < 60; i++ {
		docs = append(docs, map[string]any{"_key": fmt.Sprintf("k%02d", i), "n": i})
	}
	insertDocs(t, wc, "orders", docs)
	if r := wc.do("PATCH", c.Endpoint()+"/_api/document/orders/k01", map[string]any{"n": 100}); r.status != 202 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	if r := wc.do("DELETE", c.Endpoint()+"/_api/document/orders/k02", nil); r.status != 202 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	db, _ := c.Database("_system")
	col, _ := db.Collection("orders")

	seen := map[string]map[string]string{} // shard → key → rev (as the tail reconstructs it)
	for _, sh := range col.Shards {
		servers := sh.Servers()
		if len(servers) != 2 || servers[0] == servers[1] {
			t.Fatalf("shard %s placement %v", sh.Name, servers)
		}
		for i, s := range servers {
			ms, _, _ := wc.tailAll(s, "_system", start[s], "&collection="+sh.Name)
			state := map[string]string{}
			for _, m := range ms {
				if m.Type != 2300 && m.Type != 2302 && m.Type != 2000 && m.Type != 2200 && m.Type != 2201 {
					t.Fatalf("unexpected marker %+v", m)
				}
				if m.CUID != "" && m.CUID != sh.GUID() {
					t.Fatalf("marker of another shard: %+v", m)
				}
				var d struct {
					Key string `json:"_key"`
					Rev string `json:"_rev"`
				}
				_ = json.Unmarshal(m.Data, &d)
				switch m.Type {
				case 2300:
					state[d.Key] = d.Rev
				case 2302:
					delete(state, d.Key)
				}
			}
			rp, _ := s.Replica("_system", sh.Name)
			if len(state) != rp.Count() {
				t.Fatalf("%s on %s: tail rebuilt %d docs, replica has %d", sh.Name, s.ShortName, len(state), rp.Count())
			}
			if i == 0 {
				seen[sh.Name] = state
			} else if fmt.Sprint(state) != fmt.Sprint(seen[sh.Name]) {
				t.Fatalf("follower %s differs from leader for %s", s.ShortName, sh.Name)
			}
		}
	}
	total := 0
	for _, st := range seen {
		total += len(st)
	}
	if total != 59 {
		t.Fatalf("documents over all shards = %d, want 59", total)
	}
	// Ticks are per server: the sequences never overlap.
	for _, a := range c.DBServers() {
		for _, b := range c.DBServers() {
			if a != b && a.WAL().LastTick()/100_000_000 == b.WAL().LastTick()/100_000_000 {
				t.Fatalf("servers %s and %s share a tick range", a.ShortName, b.ShortName)
			}
		}
	}
}

func TestWALTailHeadersEmptyAndErrors(t *testing.T) {
	c := startSim(t, Config{JWTSecret: "s3cret", RootPassword: "pw"})
	wc := newWALClient(t, c)
	s := c.DBServers()[0]
	last := s.WAL().LastTick()
	r := wc.do("GET", fmt.Sprintf("%s/_api/wal/tail?from=%d", s.Endpoint(), last), nil)
	if r.status != http.StatusNoContent || r.header.Get("Content-Type") != "application/x-arango-dump" ||
		r.header.Get("X-Arango-Replication-Lastincluded") != "0" || r.header.Get("X-Arango-Replication-Checkmore") != "false" ||
		r.header.Get("X-Arango-Replication-Frompresent") != "true" ||
		r.header.Get("X-Arango-Replication-Lasttick") != strconv.FormatUint(last, 10) {
		t.Fatalf("empty tail: %d %v", r.status, r.header)
	}
	if r := wc.do("GET", s.Endpoint()+"/_api/wal/tail?from=10&to=5", nil); r.status != 400 {
		t.Fatalf("from>to: %d", r.status)
	}
	if r := wc.do("GET", s.Endpoint()+"/_api/wal/tail?collection=nope", nil); r.status != 404 {
		t.Fatalf("unknown collection: %d", r.status)
	}
	if r := wc.do("GET", c.Endpoint()+"/_api/wal/tail", nil); r.status != 501 || !bytes.Contains(r.body, []byte(`"errorNum":1470`)) {
		t.Fatalf("coordinator: %d %s", r.status, r.body)
	}
	// Without credentials: 401; with a user (not superuser): 403.
	resp, err := http.Get(s.Endpoint() + "/_api/wal/tail")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || string(b) != `{"code":401,"error":true,"errorMessage":"not authorized to execute this request","errorNum":11}` {
		t.Fatalf("no auth: %d %s", resp.StatusCode, b)
	}
	req, _ := http.NewRequest("GET", s.Endpoint()+"/_api/wal/tail", nil)
	req.SetBasicAuth("root", "pw")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("basic auth root on DB-Server WAL: want 403, got %d", resp.StatusCode)
	}
	// logger-state tracks the tailing client.
	wc.do("GET", s.Endpoint()+"/_api/wal/tail?from=0&syncerId=77&clientInfo=test", nil)
	r = wc.do("GET", s.Endpoint()+"/_api/replication/logger-state", nil)
	var ls struct {
		State struct {
			LastLogTick string `json:"lastLogTick"`
		} `json:"state"`
		Clients []struct {
			SyncerID string `json:"syncerId"`
		} `json:"clients"`
	}
	if err := json.Unmarshal(r.body, &ls); err != nil || len(ls.Clients) != 1 || ls.Clients[0].SyncerID != "77" {
		t.Fatalf("logger-state: %s", r.body)
	}
	for _, p := range []string{"/_api/wal/range", "/_api/wal/lastTick"} {
		if r := wc.do("GET", s.Endpoint()+p, nil); r.status != 200 {
			t.Fatalf("%s: %d", p, r.status)
		}
	}
}

func TestWALDroppedCollectionSkippedButDropShown(t *testing.T) {
	c := startSim(t, Config{JWTSecret: "s3cret"})
	wc := newWALClient(t, c)
	start := map[*Server]uint64{}
	for _, s := range c.DBServers() {
		start[s] = s.WAL().LastTick()
	}
	wc.do("POST", c.Endpoint()+"/_api/collection", map[string]any{"name": "products", "replicationFactor": 1})
	insertDocs(t, wc, "products", []map[string]any{{"_key": "p1"}, {"_key": "p2"}})
	wc.do("DELETE", c.Endpoint()+"/_api/collection/products", nil)
	var drops, others int
	for _, s := range c.DBServers() {
		ms, _, last := wc.tailAll(s, "_system", start[s], "")
		for _, m := range ms {
			if m.Type == 2001 {
				drops++
			} else {
				others++
			}
		}
		_ = last
	}
	if drops != 1 || others != 0 {
		t.Fatalf("drops=%d others=%d, want only the drop marker", drops, others)
	}
}

func TestWALTransactionMarkers(t *testing.T) {
	c := startSim(t, Config{JWTSecret: "s3cret"})
	wc := newWALClient(t, c)
	wc.do("POST", c.Endpoint()+"/_api/collection", map[string]any{"name": "acc", "replicationFactor": 1})
	db, _ := c.Database("_system")
	col, _ := db.Collection("acc")
	leader := col.Shards[0].Leader()
	from := leader.WAL().LastTick()
	r := wc.do("POST", c.Endpoint()+"/_api/transaction/begin", map[string]any{"collections": map[string]any{"write": []string{"acc"}}})
	if r.status != 201 {
		t.Fatalf("begin: %d %s", r.status, r.body)
	}
	var br struct {
		Result struct {
			ID string `json:"id"`
		} `json:"result"`
	}
	_ = json.Unmarshal(r.body, &br)
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("POST", c.Endpoint()+"/_api/document/acc", bytes.NewReader([]byte(fmt.Sprintf(`{"_key":"t%d"}`, i))))
		req.Header.Set("x-arango-trx-id", br.Result.ID)
		req.Header.Set("Authorization", "bearer "+wc.token)
		resp, err := wc.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("trx insert: %d", resp.StatusCode)
		}
	}
	if r := wc.do("GET", c.Endpoint()+"/_api/document/acc/t0", nil); r.status != 404 {
		t.Fatalf("uncommitted write visible: %d", r.status)
	}
	if ms, _, _ := wc.tailAll(leader, "_system", from, ""); len(ms) != 0 {
		t.Fatalf("uncommitted markers: %+v", ms)
	}
	if r := wc.do("PUT", c.Endpoint()+"/_api/transaction/"+br.Result.ID, nil); r.status != 200 {
		t.Fatalf("commit: %d %s", r.status, r.body)
	}
	ms, _, _ := wc.tailAll(leader, "_system", from, "")
	if len(ms) != 5 || ms[0].Type != 2200 || ms[4].Type != 2201 || ms[0].TID == "0" {
		t.Fatalf("markers = %+v", ms)
	}
	for _, m := range ms[1:4] {
		if m.Type != 2300 || m.TID != ms[0].TID {
			t.Fatalf("document marker %+v not in transaction %s", m, ms[0].TID)
		}
	}
	if r := wc.do("GET", c.Endpoint()+"/_api/document/acc/t2", nil); r.status != 200 {
		t.Fatalf("committed write invisible: %d", r.status)
	}
	// An aborted transaction leaves nothing.
	r = wc.do("POST", c.Endpoint()+"/_api/transaction/begin", map[string]any{"collections": map[string]any{"write": "acc"}})
	_ = json.Unmarshal(r.body, &br)
	req, _ := http.NewRequest("DELETE", c.Endpoint()+"/_api/document/acc/t0", nil)
	req.Header.Set("x-arango-trx-id", br.Result.ID)
	req.Header.Set("Authorization", "bearer "+wc.token)
	resp, err := wc.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wc.do("DELETE", c.Endpoint()+"/_api/transaction/"+br.Result.ID, nil)
	if r := wc.do("GET", c.Endpoint()+"/_api/document/acc/t0", nil); r.status != 200 {
		t.Fatalf("aborted remove took effect: %d", r.status)
	}
}

func TestWALFailoverContinuesOnFollowerWithItsOwnTicks(t *testing.T) {
	c := startSim(t, Config{JWTSecret: "s3cret"})
	wc := newWALClient(t, c)
	wc.do("POST", c.Endpoint()+"/_api/collection", map[string]any{"name": "f", "replicationFactor": 2})
	db, _ := c.Database("_system")
	col, _ := db.Collection("f")
	sh := col.Shards[0]
	servers := sh.Servers()
	oldLeader, follower := servers[0], servers[1]
	followerStart := follower.WAL().LastTick()
	insertDocs(t, wc, "f", []map[string]any{{"_key": "a"}, {"_key": "b"}})

	if err := c.StopServer(oldLeader.ID); err != nil {
		t.Fatal(err)
	}
	if sh.Leader() != follower {
		t.Fatalf("leader after failover = %s, want %s", sh.Leader().ShortName, follower.ShortName)
	}
	if _, err := http.Get(oldLeader.Endpoint() + "/_api/version"); err == nil {
		t.Fatal("stopped server still accepts connections")
	}
	r := wc.do("GET", c.Endpoint()+"/_admin/cluster/health", nil)
	var h struct {
		Health map[string]struct {
			Status string `json:"Status"`
		} `json:"Health"`
	}
	_ = json.Unmarshal(r.body, &h)
	if h.Health[oldLeader.ID].Status != "FAILED" {
		t.Fatalf("health of stopped server = %q", h.Health[oldLeader.ID].Status)
	}
	insertDocs(t, wc, "f", []map[string]any{{"_key": "c"}})
	ms, _, _ := wc.tailAll(follower, "_system", followerStart, "&collection="+sh.Name)
	keys := map[string]bool{}
	for _, m := range ms {
		tick, _ := strconv.ParseUint(m.Tick, 10, 64)
		if tick/100_000_000 != followerStart/100_000_000 {
			t.Fatalf("tick %d is not from the follower's own sequence", tick)
		}
		if m.Type == 2300 {
			var d struct {
				Key string `json:"_key"`
			}
			_ = json.Unmarshal(m.Data, &d)
			keys[d.Key] = true
		}
	}
	if !keys["a"] || !keys["b"] || !keys["c"] {
		t.Fatalf("new leader's tail has %v, want a, b, c", keys)
	}
	// Restart: the old server catches up as a follower.
	if err := c.RestartServer(oldLeader.ID); err != nil {
		t.Fatal(err)
	}
	rp, _ := oldLeader.Replica("_system", sh.Name)
	if rp.Count() != 3 {
		t.Fatalf("restarted follower has %d docs, want 3", rp.Count())
	}
	// moveShard back through the real API.
	r = wc.do("POST", c.Endpoint()+"/_admin/cluster/moveShard", map[string]any{"database": "_system", "collection": "f",
		"shard": sh.Name, "fromServer": follower.ID, "toServer": oldLeader.ID})
	if r.status != 202 || sh.Leader() != oldLeader {
		t.Fatalf("moveShard: %d %s leader=%s", r.status, r.body, sh.Leader().ShortName)
	}
}

func TestWALPrunedGivesFromPresentFalse(t *testing.T) {
	c := startSim(t, Config{JWTSecret: "s3cret"})
	wc := newWALClient(t, c)
	wc.do("POST", c.Endpoint()+"/_api/collection", map[string]any{"name": "p", "replicationFactor": 1})
	db, _ := c.Database("_system")
	col, _ := db.Collection("p")
	s := col.Shards[0].Leader()
	from := s.WAL().LastTick()
	insertDocs(t, wc, "p", []map[string]any{{"_key": "a"}, {"_key": "b"}, {"_key": "c"}})
	r := wc.do("POST", s.Endpoint()+"/_arangosim/servers/"+s.ID+"/wal/prune", map[string]any{"upTo": strconv.FormatUint(from+2, 10)})
	if r.status != 200 {
		t.Fatalf("prune: %d %s", r.status, r.body)
	}
	r = wc.do("GET", fmt.Sprintf("%s/_api/wal/tail?from=%d", s.Endpoint(), from), nil)
	if r.header.Get("X-Arango-Replication-Frompresent") != "false" {
		t.Fatalf("frompresent = %q after pruning", r.header.Get("X-Arango-Replication-Frompresent"))
	}
	r = wc.do("GET", fmt.Sprintf("%s/_api/wal/tail?from=%d", s.Endpoint(), from+2), nil)
	if r.header.Get("X-Arango-Replication-Frompresent") != "false" {
		t.Fatalf("frompresent = %q at the pruned tick itself", r.header.Get("X-Arango-Replication-Frompresent"))
	}
	r = wc.do("GET", fmt.Sprintf("%s/_api/wal/tail?from=%d", s.Endpoint(), from+3), nil)
	if r.header.Get("X-Arango-Replication-Frompresent") != "true" {
		t.Fatalf("frompresent = %q after the pruning boundary", r.header.Get("X-Arango-Replication-Frompresent"))
	}
}

func TestFaultInjection503AndLatency(t *testing.T) {
	c := startSim(t, Config{})
	wc := newWALClient2(t, c)
	co := c.Coordinators()[0]
	if err := c.InjectFault(co.ID, Fault{PathPrefix: "/_api/version", Status: 503, Count: 2}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if r := wc.do("GET", c.Endpoint()+"/_api/version", nil); r.status != 503 || !bytes.Contains(r.body, []byte(`"errorNum":503`)) {
			t.Fatalf("fault %d: %d %s", i, r.status, r.body)
		}
	}
	if r := wc.do("GET", c.Endpoint()+"/_api/version", nil); r.status != 200 {
		t.Fatalf("after count: %d", r.status)
	}
	r := wc.do("POST", c.Endpoint()+"/_arangosim/servers/"+co.ID+"/faults", map[string]any{"pathPrefix": "/_api/version", "latencyMs": 50, "durationMs": 10000})
	if r.status != 200 {
		t.Fatalf("inject via control API: %d %s", r.status, r.body)
	}
	t0 := time.Now()
	wc.do("GET", c.Endpoint()+"/_db/_system/_api/version", nil)
	if time.Since(t0) < 50*time.Millisecond {
		t.Fatal("latency fault not applied")
	}
	wc.do("DELETE", c.Endpoint()+"/_arangosim/servers/"+co.ID+"/faults", nil)
}

// newWALClient2 is a client for a cluster without authentication.
func newWALClient2(t testing.TB, c *Cluster) *walClient {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &walClient{t: t, c: c, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func TestWALBoundedByMaxWALMarkers(t *testing.T) {
	c := startSim(t, Config{MaxWALMarkers: 100})
	db, _ := c.Database("_system")
	col, err := c.CreateCollection(db, CollectionSpec{Name: "b", ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := col.Shards[0].Leader()
	first, _ := s.WAL().Range()
	for i := 0; i < 50; i++ {
		ops := []*docOp{{kind: opInsert, key: fmt.Sprintf("k%d", i)}, {kind: opInsert, key: fmt.Sprintf("j%d", i)}}
		o := writeOptions{IgnoreRevs: true}
		col.prepare(c, ops, o)
		c.execute(col, ops, o)
	}
	s.WAL().mu.RLock()
	n := len(s.WAL().entries)
	s.WAL().mu.RUnlock()
	if n > 125 || n < 100 {
		t.Fatalf("WAL holds %d markers, want 100..125", n)
	}
	if s.WAL().Pruned() < first {
		t.Fatalf("pruned tick %d not past the first tick %d", s.WAL().Pruned(), first)
	}
}

func TestWriteConcernRefusesWritesWhenReplicasAreMissing(t *testing.T) {
	c := startSim(t, Config{})
	wc := newWALClient2(t, c)
	r := wc.do("POST", c.Endpoint()+"/_api/collection", map[string]any{"name": "w", "replicationFactor": 2, "writeConcern": 2})
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	db, _ := c.Database("_system")
	col, _ := db.Collection("w")
	follower := col.Shards[0].Servers()[1]
	if err := c.StopServer(follower.ID); err != nil {
		t.Fatal(err)
	}
	r = wc.do("POST", c.Endpoint()+"/_api/document/w", map[string]any{"_key": "a"})
	if r.status != 403 || !strings.Contains(string(r.body), `"errorNum":1004`) {
		t.Fatalf("write below writeConcern: %d %s", r.status, r.body)
	}
	if err := c.RestartServer(follower.ID); err != nil {
		t.Fatal(err)
	}
	if r := wc.do("POST", c.Endpoint()+"/_api/document/w", map[string]any{"_key": "a"}); r.status != 202 {
		t.Fatalf("write after restart: %d %s", r.status, r.body)
	}
}

func TestResignLeadershipAndCleanOutServer(t *testing.T) {
	c := startSim(t, Config{DBServers: 3})
	wc := newWALClient2(t, c)
	wc.do("POST", c.Endpoint()+"/_api/collection", map[string]any{"name": "m", "numberOfShards": 3, "replicationFactor": 2})
	insertDocs(t, wc, "m", []map[string]any{{"_key": "a"}, {"_key": "b"}, {"_key": "c"}, {"_key": "d"}})
	s := c.DBServers()[0]
	if r := wc.do("POST", c.Endpoint()+"/_admin/cluster/resignLeadership", map[string]any{"server": s.ID}); r.status != 202 {
		t.Fatalf("resignLeadership: %d %s", r.status, r.body)
	}
	db, _ := c.Database("_system")
	col, _ := db.Collection("m")
	for _, sh := range col.Shards {
		if sh.Leader() == s {
			t.Fatalf("%s still leads %s", s.ShortName, sh.Name)
		}
	}
	if r := wc.do("POST", c.Endpoint()+"/_admin/cluster/cleanOutServer", map[string]any{"server": s.ShortName}); r.status != 202 {
		t.Fatalf("cleanOutServer: %d %s", r.status, r.body)
	}
	if n := len(s.Replicas("_system")); n != 0 {
		t.Fatalf("%s still holds %d replicas", s.ShortName, n)
	}
	if col.count() != 4 {
		t.Fatalf("documents after clean-out: %d", col.count())
	}
	for _, sh := range col.Shards {
		servers := sh.Servers()
		a, _ := servers[0].Replica("_system", sh.Name)
		b, _ := servers[1].Replica("_system", sh.Name)
		if a.Count() != b.Count() {
			t.Fatalf("%s replicas differ after the moves: %d vs %d", sh.Name, a.Count(), b.Count())
		}
	}
}
