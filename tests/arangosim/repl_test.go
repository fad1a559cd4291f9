package arangosim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
)

const replTestSecret = "repl-test-secret"

// replEnv is an in-process cluster with a superuser token for the tests of
// the snapshot endpoints.
type replEnv struct {
	t     testing.TB
	c     *Cluster
	token string
}

func newReplEnv(t testing.TB) *replEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := Start(ctx, Config{JWTSecret: replTestSecret, RootPassword: "pw"})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = c.Close()
	})
	tok, err := c.SuperuserToken()
	if err != nil {
		t.Fatal(err)
	}
	return &replEnv{t: t, c: c, token: tok}
}

type replResp struct {
	status int
	header http.Header
	body   []byte
}

func (r replResp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d body %.300s: %v", r.status, r.body, err)
	}
}

// errorNum returns the errorNum of an error body.
func (r replResp) errorNum() int {
	var e struct {
		ErrorNum int `json:"errorNum"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.ErrorNum
}

// do sends a request; auth is "super" (superuser JWT), "root" (basic auth of
// the root user) or "" (none).
func (e *replEnv) do(method, endpoint, path, auth string, body any) replResp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, endpoint+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	switch auth {
	case "super":
		req.Header.Set("Authorization", "bearer "+e.token)
	case "root":
		req.SetBasicAuth("root", "pw")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return replResp{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *replEnv) coord() string { return e.c.Endpoint() }

// createCollection creates a collection through the Coordinator API.
func (e *replEnv) createCollection(name string, shards int) *Collection {
	e.t.Helper()
	r := e.do("POST", e.coord(), "/_api/collection", "root", map[string]any{"name": name, "numberOfShards": shards})
	if r.status != 200 {
		e.t.Fatalf("create collection: %d %s", r.status, r.body)
	}
	db, _ := e.c.Database("_system")
	col, ok := db.Collection(name)
	if !ok {
		e.t.Fatal("collection not in the catalog")
	}
	return col
}

// insert writes documents through the Coordinator and returns their metadata.
func (e *replEnv) insert(coll string, docs []map[string]any) []map[string]any {
	e.t.Helper()
	r := e.do("POST", e.coord(), "/_api/document/"+coll, "root", docs)
	if r.status != 201 && r.status != 202 {
		e.t.Fatalf("insert: %d %.300s", r.status, r.body)
	}
	var out []map[string]any
	r.json(e.t, &out)
	for _, m := range out {
		if m["error"] == true {
			e.t.Fatalf("insert failed: %v", m)
		}
	}
	return out
}

// batch creates a batch on server s (directly) and returns id and lastTick.
func (e *replEnv) batch(s *Server, ttl float64) (string, string) {
	e.t.Helper()
	r := e.do("POST", s.Endpoint(), "/_api/replication/batch?serverId=17", "super", map[string]any{"ttl": ttl})
	if r.status != 200 {
		e.t.Fatalf("create batch: %d %s", r.status, r.body)
	}
	var b struct {
		ID       string `json:"id"`
		LastTick string `json:"lastTick"`
	}
	r.json(e.t, &b)
	if b.ID == "" || b.LastTick == "" {
		e.t.Fatalf("batch answer %s", r.body)
	}
	return b.ID, b.LastTick
}

// dumpAll reads a shard's dump to the end and returns the documents.
func (e *replEnv) dumpAll(endpoint, query string) []map[string]any {
	e.t.Helper()
	var docs []map[string]any
	for i := 0; ; i++ {
		if i > 10000 {
			e.t.Fatal("dump does not end")
		}
		r := e.do("GET", endpoint, "/_api/replication/dump?"+query, "super", nil)
		if r.header.Get("Content-Type") != "application/x-arango-dump" {
			e.t.Fatalf("dump content type %q (status %d %s)", r.header.Get("Content-Type"), r.status, r.body)
		}
		if r.status == http.StatusNoContent {
			if r.header.Get("X-Arango-Replication-Checkmore") != "false" || r.header.Get("X-Arango-Replication-Lastincluded") != "0" {
				e.t.Fatalf("204 headers %v", r.header)
			}
			return docs
		}
		if r.status != http.StatusOK {
			e.t.Fatalf("dump: %d %s", r.status, r.body)
		}
		for _, line := range bytes.Split(bytes.TrimRight(r.body, "\n"), []byte("\n")) {
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				e.t.Fatalf("dump line %q: %v", line, err)
			}
			docs = append(docs, m)
		}
		more := r.header.Get("X-Arango-Replication-Checkmore")
		if more != "true" && more != "false" {
			e.t.Fatalf("checkmore %q", more)
		}
	}
}

func replShardLeaders(col *Collection) map[string]*Server {
	out := map[string]*Server{}
	for _, sh := range col.Shards {
		out[sh.Name] = sh.Leader()
	}
	return out
}

func TestReplBatchLifecycleAndAuth(t *testing.T) {
	e := newReplEnv(t)
	s := e.c.DBServers()[0]
	ep := s.Endpoint()

	if r := e.do("POST", ep, "/_api/replication/batch", "", `{"ttl":30}`); r.status != 401 || r.errorNum() != 11 {
		t.Fatalf("no credentials: %d %s", r.status, r.body)
	}
	if r := e.do("POST", ep, "/_api/replication/batch", "root", `{"ttl":30}`); r.status != 403 || r.errorNum() != 11 {
		t.Fatalf("plain user on a DB-Server: %d %s", r.status, r.body)
	}
	r := e.do("POST", ep, "/_api/replication/batch?state=true", "super", `{"ttl":30}`)
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var b struct {
		ID       string `json:"id"`
		LastTick string `json:"lastTick"`
		State    struct {
			Running     bool   `json:"running"`
			LastLogTick string `json:"lastLogTick"`
		} `json:"state"`
	}
	r.json(t, &b)
	if !b.State.Running || b.State.LastLogTick != b.LastTick || b.LastTick != fmt.Sprint(s.WAL().LastTick()) {
		t.Fatalf("batch %s (WAL at %d)", r.body, s.WAL().LastTick())
	}
	if r := e.do("PUT", ep, "/_api/replication/batch/"+b.ID+"?serverId=17", "super", `{"ttl":60}`); r.status != 204 || len(r.body) != 0 {
		t.Fatalf("extend: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", ep, "/_api/replication/batch/"+b.ID, "super", nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	for _, m := range []string{"DELETE", "PUT"} {
		r := e.do(m, ep, "/_api/replication/batch/"+b.ID, "super", `{"ttl":1}`)
		if r.status != 404 || r.errorNum() != 1600 {
			t.Fatalf("%s of a deleted batch: %d %s", m, r.status, r.body)
		}
	}
	if r := e.do("GET", ep, "/_api/replication/batch/1", "super", nil); r.status != 405 {
		t.Fatalf("GET batch: %d %s", r.status, r.body)
	}
	if r := e.do("POST", ep, "/_api/replication/batch", "super", `{"ttl":`); r.status != 400 {
		t.Fatalf("bad JSON: %d %s", r.status, r.body)
	}

	// The Coordinator forwards to the DB-Server named by DBserver=.
	r = e.do("POST", e.coord(), "/_api/replication/batch?DBserver="+s.ID, "root", `{"ttl":30}`)
	if r.status != 200 {
		t.Fatalf("trampoline create: %d %s", r.status, r.body)
	}
	r.json(t, &b)
	if n := replBatchesOf(s).count(); n != 1 {
		t.Fatalf("DB-Server holds %d batches after the forwarded create", n)
	}
	if r := e.do("DELETE", e.coord(), "/_api/replication/batch/"+b.ID+"?DBserver="+s.ShortName, "root", nil); r.status != 204 {
		t.Fatalf("trampoline delete: %d %s", r.status, r.body)
	}
	if r := e.do("POST", e.coord(), "/_api/replication/batch", "root", `{"ttl":30}`); r.status != 400 {
		t.Fatalf("Coordinator without DBserver: %d %s", r.status, r.body)
	}
	if r := e.do("GET", e.coord(), "/_api/replication/revisions/tree?collection=x&batchId=1", "root", nil); r.status != 501 || r.errorNum() != 1470 {
		t.Fatalf("revisions on a Coordinator: %d %s", r.status, r.body)
	}
}

func TestReplBatchExpires(t *testing.T) {
	e := newReplEnv(t)
	s := e.c.DBServers()[1]
	id, _ := e.batch(s, 0.3)
	r := e.do("GET", s.Endpoint(), "/_api/replication/inventory?batchId="+id, "super", nil)
	if r.status != 200 {
		t.Fatalf("inventory of a fresh batch: %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = e.do("GET", s.Endpoint(), "/_api/replication/inventory?batchId="+id, "super", nil)
		if r.status == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch with ttl 0.3s still alive: %d", r.status)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronization
	}
	if r.errorNum() != 1600 {
		t.Fatalf("expired batch: %s", r.body)
	}
	if r := e.do("PUT", s.Endpoint(), "/_api/replication/batch/"+id, "super", `{"ttl":5}`); r.status != 404 {
		t.Fatalf("extending an expired batch: %d %s", r.status, r.body)
	}
	if n := replBatchesOf(s).count(); n != 0 {
		t.Fatalf("%d batches left", n)
	}
}

func TestReplBatchDoesNotSurviveARestart(t *testing.T) {
	e := newReplEnv(t)
	s := e.c.DBServers()[2]
	id, _ := e.batch(s, 600)
	if err := e.c.StopServer(s.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.c.RestartServer(s.ID); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", s.Endpoint(), "/_api/replication/inventory?batchId="+id, "super", nil)
	if r.status != 404 || r.errorNum() != 1600 {
		t.Fatalf("batch after a restart: %d %s", r.status, r.body)
	}
	id2, _ := e.batch(s, 600)
	if r := e.do("GET", s.Endpoint(), "/_api/replication/inventory?batchId="+id2, "super", nil); r.status != 200 {
		t.Fatalf("new batch after the restart: %d %s", r.status, r.body)
	}
}

func TestReplInventoryAndErrors(t *testing.T) {
	e := newReplEnv(t)
	col := e.createCollection("inv", 3)
	s := col.Shards[0].Leader()
	id, tick := e.batch(s, 60)
	ep := s.Endpoint()
	r := e.do("GET", ep, "/_api/replication/inventory?batchId="+id+"&includeSystem=false", "super", nil)
	var inv struct {
		Collections []struct {
			Parameters map[string]any   `json:"parameters"`
			Indexes    []map[string]any `json:"indexes"`
		} `json:"collections"`
		Views      []any          `json:"views"`
		Properties map[string]any `json:"properties"`
		State      struct {
			LastLogTick string `json:"lastLogTick"`
		} `json:"state"`
		Tick string `json:"tick"`
	}
	r.json(t, &inv)
	var mine []string
	for _, sh := range col.Shards {
		if sh.Leader() == s || slices.Contains(sh.Servers(), s) {
			mine = append(mine, sh.Name)
		}
	}
	var got []string
	for _, c := range inv.Collections {
		name := c.Parameters["name"].(string)
		got = append(got, name)
		if c.Parameters["globallyUniqueId"] != fmt.Sprintf("c%d/%s", col.ID, name) || c.Parameters["planId"] != fmt.Sprint(col.ID) {
			t.Fatalf("shard parameters %v", c.Parameters)
		}
	}
	sort.Strings(got)
	sort.Strings(mine)
	if !slices.Equal(got, mine) || inv.State.LastLogTick != tick || inv.Properties["name"] != "_system" || inv.Views == nil {
		t.Fatalf("inventory %s (want shards %v, tick %s)", r.body, mine, tick)
	}
	r = e.do("GET", ep, "/_api/replication/inventory?batchId="+id+"&collection="+mine[0], "super", nil)
	r.json(t, &inv)
	if len(inv.Collections) != 1 {
		t.Fatalf("collection filter: %s", r.body)
	}
	cases := []struct {
		path     string
		status   int
		errorNum int
	}{
		{"/_api/replication/inventory", 404, 1600},
		{"/_api/replication/inventory?batchId=12345", 404, 1600},
		{"/_api/replication/inventory?batchId=" + id + "&collection=nope", 404, 1203},
		{"/_api/replication/dump?collection=" + mine[0], 404, 400},
		{"/_api/replication/dump?collection=" + mine[0] + "&batchId=999", 404, 400},
		{"/_api/replication/dump?batchId=" + id, 400, 400},
		{"/_api/replication/dump?batchId=" + id + "&collection=nope", 400, 400},
		{"/_api/replication/revisions/tree?batchId=" + id, 400, 400},
		{"/_api/replication/revisions/tree?collection=" + mine[0], 404, 400},
		{"/_api/replication/revisions/tree?collection=" + mine[0] + "&batchId=999", 404, 1600},
		{"/_api/replication/revisions/tree?collection=nope&batchId=" + id, 404, 1203},
	}
	for _, c := range cases {
		r := e.do("GET", ep, c.path, "super", nil)
		if r.status != c.status || r.errorNum() != c.errorNum {
			t.Errorf("GET %s: %d %s, want %d/%d", c.path, r.status, r.body, c.status, c.errorNum)
		}
	}
	bad := []string{`{}`, `[["a"]]`, `[["_bpq8a-----","_bpq8a-----"]]`, `[["!","_bpq8a-----"]]`}
	for _, body := range bad {
		r := e.do("PUT", ep, "/_api/replication/revisions/ranges?collection="+mine[0]+"&batchId="+id, "super", body)
		if r.status != 400 || r.errorNum() != 400 {
			t.Errorf("ranges body %s: %d %s", body, r.status, r.body)
		}
	}
	if r := e.do("PUT", ep, "/_api/replication/revisions/documents?collection="+mine[0]+"&batchId="+id, "super", `[1]`); r.status != 400 {
		t.Errorf("documents body [1]: %d %s", r.status, r.body)
	}
}

// stripDoc returns the user attributes plus _key of a dumped document.
func replDocIdentity(m map[string]any) string {
	b, _ := json.Marshal(m) // map replKeys are sorted
	return string(b)
}

func TestReplDumpOfThreeShardsEqualsTheDocuments(t *testing.T) {
	e := newReplEnv(t)
	col := e.createCollection("dumped", 3)
	var in []map[string]any
	for i := 0; i < 300; i++ {
		in = append(in, map[string]any{"_key": fmt.Sprintf("k%03d", i), "n": float64(i), "s": strings.Repeat("x", i%17)})
	}
	meta := e.insert("dumped", in)
	revOf := map[string]string{}
	for _, m := range meta {
		revOf[m["_key"].(string)] = m["_rev"].(string)
	}
	want := map[string]string{}
	for _, d := range in {
		full := map[string]any{"_key": d["_key"], "_id": "dumped/" + d["_key"].(string), "_rev": revOf[d["_key"].(string)], "n": d["n"], "s": d["s"]}
		want[d["_key"].(string)] = replDocIdentity(full)
	}
	for _, envelope := range []bool{true, false} {
		got := map[string]string{}
		for shard, leader := range replShardLeaders(col) {
			id, _ := e.batch(leader, 60)
			q := url.Values{"collection": {shard}, "batchId": {id}, "chunkSize": {"700"}, "useEnvelope": {fmt.Sprint(envelope)}}
			docs := e.dumpAll(leader.Endpoint(), q.Encode())
			var prev string
			for _, d := range docs {
				if envelope {
					if d["type"] != float64(2300) {
						t.Fatalf("envelope %v", d)
					}
					d = d["data"].(map[string]any)
				}
				k := d["_key"].(string)
				if _, dup := got[k]; dup {
					t.Fatalf("document %s dumped twice", k)
				}
				got[k] = replDocIdentity(d)
				rev, _ := revtree.DecodeHLC(d["_rev"].(string))
				if p, _ := revtree.DecodeHLC(prev); prev != "" && rev < p {
					t.Fatalf("dump not in revision order")
				}
				prev = d["_rev"].(string)
			}
			if len(docs) != replLeaderCount(col.Shards[slices.IndexFunc(col.Shards, func(s *Shard) bool { return s.Name == shard })]) {
				t.Fatalf("shard %s dumped %d documents", shard, len(docs))
			}
		}
		if len(got) != len(want) {
			t.Fatalf("envelope=%v: dumped %d documents, inserted %d", envelope, len(got), len(want))
		}
		for k, w := range want {
			if got[k] != w {
				t.Fatalf("envelope=%v: document %s dumped as %s, want %s", envelope, k, got[k], w)
			}
		}
	}

	// Through the Coordinator with DBserver=.
	sh := col.Shards[1]
	leader := sh.Leader()
	r := e.do("POST", e.coord(), "/_api/replication/batch?DBserver="+leader.ID, "root", `{"ttl":60}`)
	var b struct{ ID string }
	r.json(t, &b)
	q := url.Values{"collection": {sh.Name}, "batchId": {b.ID}, "DBserver": {leader.ID}, "useEnvelope": {"false"}}
	r = e.do("GET", e.coord(), "/_api/replication/dump?"+q.Encode(), "root", nil)
	if r.status != 200 || bytes.Count(r.body, []byte("\n")) != replLeaderCount(sh) {
		t.Fatalf("dump through the Coordinator: %d, %d lines, shard holds %d", r.status, bytes.Count(r.body, []byte("\n")), replLeaderCount(sh))
	}
}

// replLeaderCount is the number of documents in the shard's leader replica.
func replLeaderCount(sh *Shard) int {
	r, ok := sh.Leader().Replica(sh.Coll.DB.Name, sh.Name)
	if !ok {
		return -1
	}
	return r.Count()
}

// treeOf fetches and parses a shard's revision tree through a batch.
func (e *replEnv) treeOf(s *Server, shard, batch string, onlyPopulated bool) *revtree.Tree {
	e.t.Helper()
	q := url.Values{"collection": {shard}, "batchId": {batch}, "onlyPopulated": {fmt.Sprint(onlyPopulated)}}
	r := e.do("GET", s.Endpoint(), "/_api/replication/revisions/tree?"+q.Encode(), "super", nil)
	if r.status != 200 {
		e.t.Fatalf("tree: %d %.200s", r.status, r.body)
	}
	t, err := revtree.Parse(r.body)
	if err != nil {
		e.t.Fatalf("tree does not parse: %v", err)
	}
	return t
}

// revisionsIn asks the ranges endpoint for the revisions of ranges, following resume.
func (e *replEnv) revisionsIn(s *Server, shard, batch string, ranges []revtree.Range) []string {
	e.t.Helper()
	body := make([][2]string, len(ranges))
	for i, rg := range ranges {
		body[i] = [2]string{revtree.EncodeHLC(rg.Min), revtree.EncodeHLC(rg.Max)}
	}
	var out []string
	resume := ""
	for {
		q := url.Values{"collection": {shard}, "batchId": {batch}}
		if resume != "" {
			q.Set("resumeHLC", resume)
		}
		r := e.do("PUT", s.Endpoint(), "/_api/replication/revisions/ranges?"+q.Encode(), "super", body)
		if r.status != 200 {
			e.t.Fatalf("ranges: %d %s", r.status, r.body)
		}
		var ans struct {
			Ranges    [][]string `json:"ranges"`
			Resume    string     `json:"resume"`
			ResumeHLC string     `json:"resumeHLC"`
		}
		r.json(e.t, &ans)
		for _, rg := range ans.Ranges {
			out = append(out, rg...)
		}
		if ans.ResumeHLC == "" {
			if len(ans.Ranges) != len(ranges) && resume == "" {
				e.t.Fatalf("%d answers for %d ranges", len(ans.Ranges), len(ranges))
			}
			return out
		}
		resume = ans.ResumeHLC
	}
}

func TestReplRevisionProtocolFindsExactlyTheChangedDocuments(t *testing.T) {
	e := newReplEnv(t)
	col := e.createCollection("revs", 1)
	sh := col.Shards[0]
	s := sh.Leader()
	var in []map[string]any
	for i := 0; i < 400; i++ {
		in = append(in, map[string]any{"_key": fmt.Sprintf("d%03d", i), "v": i})
	}
	e.insert("revs", in)
	before, tickBefore := e.batch(s, 120)

	// Change the shard: 3 inserts, 2 replaces, 2 removes.
	added := e.insert("revs", []map[string]any{{"_key": "new1"}, {"_key": "new2"}, {"_key": "new3"}})
	var changedRevs []string
	for _, m := range added {
		changedRevs = append(changedRevs, m["_rev"].(string))
	}
	for _, k := range []string{"d010", "d200"} {
		r := e.do("PUT", e.coord(), "/_api/document/revs/"+k, "root", map[string]any{"v": "replaced"})
		if r.status != 201 && r.status != 202 {
			t.Fatalf("replace: %d %s", r.status, r.body)
		}
		var m map[string]any
		r.json(t, &m)
		changedRevs = append(changedRevs, m["_rev"].(string))
	}
	for _, k := range []string{"d050", "d399"} {
		r := e.do("DELETE", e.coord(), "/_api/document/revs/"+k, "root", nil)
		if r.status != 200 && r.status != 202 {
			t.Fatalf("remove: %d %s", r.status, r.body)
		}
	}
	after, tickAfter := e.batch(s, 120)
	if a, b := replMustUint(t, tickAfter), replMustUint(t, tickBefore); a <= b {
		t.Fatalf("ticks %d then %d", b, a)
	}

	// The old batch still sees the old state.
	oldTree := e.treeOf(s, sh.Name, before, false)
	newTree := e.treeOf(s, sh.Name, after, true)
	if oldTree.Count() != 400 || newTree.Count() != 401 {
		t.Fatalf("tree counts %d and %d", oldTree.Count(), newTree.Count())
	}
	// The revisions of the old versions of replaced/removed documents, read
	// from the old snapshot.
	oldDocs := e.dumpAll(s.Endpoint(), url.Values{"collection": {sh.Name}, "batchId": {before}, "useEnvelope": {"false"}}.Encode())
	var goneRevs []string
	for _, d := range oldDocs {
		switch d["_key"] {
		case "d010", "d200", "d050", "d399":
			goneRevs = append(goneRevs, d["_rev"].(string))
		}
	}

	ranges, err := newTree.Diff(oldTree) // treeLeader.diff(treeLocal)
	if err != nil {
		t.Fatal(err)
	}
	leaderRevs := e.revisionsIn(s, sh.Name, after, ranges)
	localRevs := e.revisionsIn(s, sh.Name, before, ranges)
	onlyLeader := replSetMinus(leaderRevs, localRevs)
	onlyLocal := replSetMinus(localRevs, leaderRevs)
	if !replSameSet(onlyLeader, changedRevs) {
		t.Fatalf("revisions to fetch %v, want the 5 new versions %v", onlyLeader, changedRevs)
	}
	if !replSameSet(onlyLocal, goneRevs) {
		t.Fatalf("revisions to remove %v, want the 4 old versions %v", onlyLocal, goneRevs)
	}

	// Fetch them: request order is kept, an unknown revision gives {}.
	ask := append(slices.Clone(onlyLeader), revtree.EncodeHLC(revtree.LowerBound+1))
	r := e.do("PUT", s.Endpoint(), "/_api/replication/revisions/documents?"+url.Values{"collection": {sh.Name}, "batchId": {after}}.Encode(), "super", ask)
	var docs []map[string]any
	r.json(t, &docs)
	if len(docs) != len(ask) || len(docs[len(docs)-1]) != 0 {
		t.Fatalf("documents answer %s", r.body)
	}
	for i, d := range docs[:len(docs)-1] {
		if d["_rev"] != ask[i] {
			t.Fatalf("document %d has _rev %v, asked for %s", i, d["_rev"], ask[i])
		}
		if k := d["_key"].(string); !strings.HasPrefix(k, "new") && d["v"] != "replaced" {
			t.Fatalf("fetched an unchanged document %v", d)
		}
	}
	// A small chunkSize truncates the answer (at least one document).
	r = e.do("PUT", s.Endpoint(), "/_api/replication/revisions/documents?"+url.Values{"collection": {sh.Name}, "batchId": {after}, "chunkSize": {"10"}}.Encode(), "super", ask)
	r.json(t, &docs)
	if len(docs) != 1 || docs[0]["_rev"] != ask[0] {
		t.Fatalf("truncated answer %s", r.body)
	}
	// resumeHLC skips what was already delivered.
	all := e.revisionsIn(s, sh.Name, after, []revtree.Range{{Min: revtree.LowerBound, Max: 1<<63 - 1}})
	if len(all) != 401 {
		t.Fatalf("full range holds %d revisions", len(all))
	}
	q := url.Values{"collection": {sh.Name}, "batchId": {after}, "resumeHLC": {all[100]}}
	r = e.do("PUT", s.Endpoint(), "/_api/replication/revisions/ranges?"+q.Encode(), "super",
		[][2]string{{revtree.EncodeHLC(revtree.LowerBound), revtree.EncodeHLC(1<<63 - 1)}})
	var ans struct{ Ranges [][]string }
	r.json(t, &ans)
	if len(ans.Ranges) != 1 || len(ans.Ranges[0]) != 301 || ans.Ranges[0][0] != all[100] {
		t.Fatalf("resume answer has %d ranges", len(ans.Ranges))
	}
}

func replMustUint(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("tick %q: %v", s, err)
	}
	return v
}

func replSetMinus(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

func replSameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestReplBatchIsConsistentAtItsTick creates a batch while a writer inserts
// documents and checks that the batch's dump holds exactly the documents
// whose insert markers in the DB-Server's WAL have a tick <= lastTick.
func TestReplBatchIsConsistentAtItsTick(t *testing.T) {
	e := newReplEnv(t)
	col := e.createCollection("live", 1)
	sh := col.Shards[0]
	s := sh.Leader()

	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			body := fmt.Sprintf(`[{"_key":"w%05d"},{"_key":"w%05da"}]`, n, n)
			req, _ := http.NewRequest("POST", e.coord()+"/_api/document/live", strings.NewReader(body))
			req.SetBasicAuth("root", "pw")
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			n++
		}
	}()
	// Let some writes happen, then take the batch in the middle of the stream.
	deadline := time.Now().Add(10 * time.Second)
	for replLeaderCount(sh) < 200 {
		if time.Now().After(deadline) {
			t.Fatal("writer makes no progress")
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronization
	}
	id, tick := e.batch(s, 60)
	for c := replLeaderCount(sh); replLeaderCount(sh) < c+100; {
		if time.Now().After(deadline) {
			t.Fatal("writer stopped")
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronization
	}
	close(stop)
	<-done

	dumped := map[string]bool{}
	for _, d := range e.dumpAll(s.Endpoint(), url.Values{"collection": {sh.Name}, "batchId": {id}, "useEnvelope": {"false"}}.Encode()) {
		dumped[d["_key"].(string)] = true
	}
	logged := map[string]bool{}
	from := "0"
	for i := 0; i < 10000; i++ {
		q := url.Values{"from": {from}, "to": {tick}, "collection": {sh.Name}, "chunkSize": {"16384"}}
		r := e.do("GET", s.Endpoint(), "/_api/wal/tail?"+q.Encode(), "super", nil)
		if r.status == http.StatusNoContent {
			break
		}
		if r.status != http.StatusOK {
			t.Fatalf("wal tail: %d %s", r.status, r.body)
		}
		for _, line := range bytes.Split(bytes.TrimRight(r.body, "\n"), []byte("\n")) {
			var m struct {
				Tick string         `json:"tick"`
				Type int            `json:"type"`
				Data map[string]any `json:"data"`
			}
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("marker %s: %v", line, err)
			}
			if replMustUint(t, m.Tick) > replMustUint(t, tick) {
				t.Fatalf("tail returned tick %s past to=%s", m.Tick, tick)
			}
			if m.Type == 2300 {
				logged[m.Data["_key"].(string)] = true
			}
		}
		from = r.header.Get("X-Arango-Replication-Lastincluded")
		if r.header.Get("X-Arango-Replication-Checkmore") != "true" {
			break
		}
	}
	if len(dumped) == 0 || len(dumped) != len(logged) {
		t.Fatalf("batch at tick %s dumps %d documents, the WAL up to that tick inserts %d", tick, len(dumped), len(logged))
	}
	for k := range logged {
		if !dumped[k] {
			t.Fatalf("document %s was logged before the batch tick but is not in the dump", k)
		}
	}
	if total := replLeaderCount(sh); total <= len(dumped) {
		t.Fatalf("no write happened after the batch (%d documents, %d dumped)", total, len(dumped))
	}
}
