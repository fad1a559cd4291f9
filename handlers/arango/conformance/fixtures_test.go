package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/arango/wal"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/pipeline/failure"
	"github.com/dc2dc/dc2dc/tests/arangosim/fixtures"
)

// recorded serves one recorded response at a time to every request.
type recorded struct {
	mu   sync.Mutex
	resp *fixtures.Response
	// byPath, when set, answers requests whose path ends with a key.
	byPath map[string]*fixtures.Response
}

func (s *recorded) set(r *fixtures.Response, byPath map[string]*fixtures.Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resp, s.byPath = r, byPath
}

func (s *recorded) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	r := s.resp
	for suffix, alt := range s.byPath {
		if strings.HasSuffix(req.URL.Path, suffix) {
			r = alt
		}
	}
	s.mu.Unlock()
	for k, vs := range r.Header {
		if strings.EqualFold(k, "content-length") || strings.EqualFold(k, "connection") {
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(r.Status)
	_, _ = w.Write(r.Body)
}

func loadFixtures(t *testing.T) []*fixtures.Fixture {
	t.Helper()
	dir, err := fixtures.Dir()
	if errors.Is(err, fixtures.ErrNoFixtures) {
		t.Skipf("the recorded ArangoDB answers ../shared/fixtures/arangodb-3.12 are absent (set DC2DC_FIXTURES to their folder): skipping the fixture tests (%v)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	all, err := fixtures.LoadDir(dir)
	if err != nil {
		t.Fatalf("loading %s: %v", dir, err)
	}
	return all
}

// TestFixtures parses every recorded ArangoDB 3.12 answer of the endpoints
// this suite covers through dc2dc's own parsers: WAL tails (wal.Parse and the
// Tailer's header rules), shard maps (client and target), responsibleShard,
// and every error answer (client's and target's error parsing and
// classification).
func TestFixtures(t *testing.T) {
	all := loadFixtures(t)
	srv := &recorded{}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	cl, err := client.New(client.Config{Endpoints: []string{hs.URL}, RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tc, err := target.Dial(target.ConnConfig{Endpoints: []string{hs.URL}, RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	ctx := context.Background()
	counts := map[string]int{}
	for _, f := range all {
		for i := range f.Responses {
			r := &f.Responses[i]
			name := f.Name + "#" + strconv.Itoa(i)
			switch {
			case strings.HasPrefix(f.Example, "RestWalAccessTailing"):
				counts["wal tail"]++
				t.Run(name, func(t *testing.T) { checkWALTail(t, r) })
			case f.Example == "RestWalAccessFirstTick" || f.Example == "RestWalAccessTickRange":
				counts["wal ticks"]++
				t.Run(name, func(t *testing.T) { checkTicks(t, r) })
			case f.Example == "RestGetShardsWithDetails":
				counts["shards"]++
				t.Run(name, func(t *testing.T) {
					srv.set(r, nil)
					checkShardsDetails(t, ctx, cl, tc, r)
				})
			case f.Example == "RestGetShards":
				counts["shards"]++
				t.Run(name, func(t *testing.T) { checkShardsList(t, r) })
			case f.Example == "RestGetResponsibleShardExample":
				counts["responsibleShard"]++
				t.Run(name, func(t *testing.T) {
					checkResponsibleShard(t, ctx, srv, tc, r)
				})
			}
			if r.Status >= 400 {
				counts["errors"]++
				t.Run(name+"/error", func(t *testing.T) {
					srv.set(r, nil)
					checkError(t, ctx, cl, tc, r)
				})
			}
		}
	}
	t.Logf("fixtures checked: %v", counts)
	for _, k := range []string{"wal tail", "wal ticks", "shards", "responsibleShard", "errors"} {
		if counts[k] == 0 {
			t.Errorf("no %s fixture found: the folder's names changed?", k)
		}
	}
}

// checkWALTail: the body parses into one record per marker with ascending
// ticks, and the Tailer's rules applied to the recorded headers give the
// position the headers call for.
func checkWALTail(t *testing.T, r *fixtures.Response) {
	vals, ok := fixtures.Values(r.Body)
	if !ok {
		t.Fatalf("body is not JSON: %q", r.Body)
	}
	recs, err := wal.Parse(r.Body, nil)
	if err != nil {
		t.Fatalf("wal.Parse: %v", err)
	}
	if len(recs) != len(vals) {
		t.Fatalf("%d records from %d markers", len(recs), len(vals))
	}
	for i, rec := range recs {
		m, _ := vals[i].(map[string]any)
		tick, _ := strconv.ParseUint(m["tick"].(string), 10, 64)
		if rec.Tick != tick || fmt.Sprint(m["type"]) != strconv.Itoa(int(rec.Event.Kind())) {
			t.Errorf("record %d: tick %d kind %d, marker %v", i, rec.Tick, rec.Event.Kind(), m)
		}
	}
	hdr := func(k string) uint64 {
		v, _ := strconv.ParseUint(r.Header.Get(k), 10, 64)
		return v
	}
	from := uint64(1)
	if len(recs) > 0 {
		from = recs[0].Tick - 1
	} else if ls := hdr(wal.HeaderLastScanned); ls > 0 {
		from = ls + 1 // a caught-up reader: from is past what was scanned
	}
	tl := &wal.Tailer{Database: "_system", From: from}
	got, st, err := tl.Apply(r.Status, r.Header.Get, r.Body, wal.DefaultMaxRecords)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(got) != len(recs) || st.Status != r.Status || st.LastIncluded != hdr(wal.HeaderLastIncluded) ||
		st.LastScanned != hdr(wal.HeaderLastScanned) || st.LastTick != hdr(wal.HeaderLastTick) {
		t.Errorf("state %+v, headers %v", st, r.Header)
	}
	if st.CheckMore != (r.Header.Get(wal.HeaderCheckMore) == "true") && len(recs) > 0 {
		t.Errorf("CheckMore %v, header %q", st.CheckMore, r.Header.Get(wal.HeaderCheckMore))
	}
	switch {
	case r.Status == 204:
		if len(got) != 0 || st.LastIncluded != 0 || st.CheckMore {
			t.Errorf("204: %d records, %+v", len(got), st)
		}
	case st.LastIncluded > from && tl.From != st.LastIncluded:
		t.Errorf("next from %d, want lastincluded %d", tl.From, st.LastIncluded)
	}
	// frompresent=false after from > 0 is 1414.
	h := r.Header.Clone()
	h.Set(wal.HeaderFromPresent, "false")
	tl = &wal.Tailer{Database: "_system", From: from}
	if _, _, err := tl.Apply(r.Status, h.Get, r.Body, wal.DefaultMaxRecords); !errors.Is(err, wal.ErrStartTickNotPresent) || tl.From != from {
		t.Errorf("frompresent=false: %v, From %d → %d", err, from, tl.From)
	}
}

// checkTicks: /_api/wal/lastTick and /range give ticks as decimal strings
// (the suite's lastTick helper reads "tick").
func checkTicks(t *testing.T, r *fixtures.Response) {
	var ans map[string]any
	if err := json.Unmarshal(r.Body, &ans); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range []string{"tick", "tickMin", "tickMax"} {
		if v, ok := ans[k]; ok {
			n++
			s, _ := v.(string)
			if _, err := strconv.ParseUint(s, 10, 64); err != nil {
				t.Errorf("%s = %v: not a decimal string", k, v)
			}
		}
	}
	if n == 0 {
		t.Errorf("no tick in %s", r.Body)
	}
}

// checkShardsDetails: the shard map (details=true) through client.Shards and
// target.ShardServers/ShardNames: the same shards, in ascending id order.
func checkShardsDetails(t *testing.T, ctx context.Context, cl *client.Client, tc *target.Conn, r *fixtures.Response) {
	var ans struct {
		Shards map[string][]string `json:"shards"`
	}
	if err := json.Unmarshal(r.Body, &ans); err != nil || len(ans.Shards) == 0 {
		t.Fatalf("shards: %v %s", err, r.Body)
	}
	shards, err := cl.Shards(ctx, "_system", "testCollection")
	if err != nil {
		t.Fatal(err)
	}
	names, err := target.ShardNames(ctx, tc, "_system", "testCollection")
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != len(ans.Shards) || len(names) != len(shards) {
		t.Fatalf("client %d shards, target %d, recorded %d", len(shards), len(names), len(ans.Shards))
	}
	for i, s := range shards {
		servers := ans.Shards[s.Name]
		if s.Index != i || names[i] != s.Name || (i > 0 && s.ID <= shards[i-1].ID) || len(servers) == 0 || s.Leader != servers[0] ||
			!slices.Equal(s.Followers, servers[1:]) {
			t.Errorf("shard %d: %+v, target %s, recorded %v", i, s, names[i], servers)
		}
	}
}

// checkShardsList: the shard list (no details) names valid shards.
func checkShardsList(t *testing.T, r *fixtures.Response) {
	var ans struct {
		Shards []string `json:"shards"`
	}
	if err := json.Unmarshal(r.Body, &ans); err != nil || len(ans.Shards) == 0 {
		t.Fatalf("shards: %v %s", err, r.Body)
	}
	for _, s := range ans.Shards {
		if _, err := client.ShardID(s); err != nil {
			t.Error(err)
		}
	}
	sorted := slices.Clone(ans.Shards)
	target.SortShards(sorted)
	t.Logf("shards %v (index order %v)", ans.Shards, sorted)
}

// checkResponsibleShard: target.ProbeShardIndexes reads the recorded
// shardId (the shard map is made to contain it).
func checkResponsibleShard(t *testing.T, ctx context.Context, srv *recorded, tc *target.Conn, r *fixtures.Response) {
	var ans struct {
		ShardID string `json:"shardId"`
	}
	if err := json.Unmarshal(r.Body, &ans); err != nil || ans.ShardID == "" {
		t.Fatalf("responsibleShard: %v %s", err, r.Body)
	}
	id, err := client.ShardID(ans.ShardID)
	if err != nil {
		t.Fatal(err)
	}
	other := "s" + strconv.FormatUint(id+1, 10)
	shards := &fixtures.Response{Status: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: []byte(`{"error":false,"code":200,"shards":{"` + other + `":["PRMR-b"],"` + ans.ShardID + `":["PRMR-a"]}}`)}
	srv.set(r, map[string]*fixtures.Response{"/shards": shards})
	idx, err := target.ProbeShardIndexes(ctx, tc, "_system", "testCollection", []json.RawMessage{json.RawMessage(`{"_key":"testkey"}`)})
	if err != nil || len(idx) != 1 || idx[0] != 0 {
		t.Fatalf("ProbeShardIndexes = %v, %v; want [0]", idx, err)
	}
}

// checkError: an error answer through client.Conn.Do and target's Check
// keeps status, errorNum and message, and is classified: 401/403 auth,
// 1228/1203 shard missing, 5xx and 1600 (unknown batch or cursor)
// retryable, other 4xx permanent.
func checkError(t *testing.T, ctx context.Context, cl *client.Client, tc *target.Conn, r *fixtures.Response) {
	var body struct {
		Error        bool   `json:"error"`
		Code         int    `json:"code"`
		ErrorNum     int    `json:"errorNum"`
		ErrorMessage string `json:"errorMessage"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || !body.Error {
		t.Skipf("status %d without an ArangoDB error body (%.80q)", r.Status, r.Body)
	}
	_, err := cl.Coordinator().Do(ctx, client.Request{Method: "GET", Path: "_api/recorded"})
	var ae *client.ArangoError
	if !errors.As(err, &ae) || ae.Status != r.Status || ae.Num != body.ErrorNum || ae.Message != body.ErrorMessage {
		t.Fatalf("client: %v (%+v), want status %d errorNum %d %q", err, ae, r.Status, body.ErrorNum, body.ErrorMessage)
	}
	switch {
	case r.Status == 401 || r.Status == 403:
		if failure.CodeOf(err) != failure.CodeArangoAuth {
			t.Errorf("client: %v: code %s, want %s", err, failure.CodeOf(err), failure.CodeArangoAuth)
		}
	case body.ErrorNum == client.ErrNumDatabaseNotFound || body.ErrorNum == client.ErrNumDataSourceNotFound:
		if failure.CodeOf(err) != failure.CodeSourceShardMissing || !failure.IsPermanent(err) {
			t.Errorf("client: %v: code %s, want a permanent %s", err, failure.CodeOf(err), failure.CodeSourceShardMissing)
		}
	case r.Status >= 500 || body.ErrorNum == client.ErrNumCursorNotFound:
		// 1600: an expired or unknown replication batch: take the snapshot again.
		if !failure.IsRetryable(err) {
			t.Errorf("client: %v: not retryable", err)
		}
	default:
		if !failure.IsPermanent(err) {
			t.Errorf("client: %v: not permanent", err)
		}
	}
	req := target.Request{Method: "GET", Path: "/_api/recorded"}
	resp, err := tc.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	err = resp.Check(req, 200)
	if target.ErrorNum(err) != body.ErrorNum || target.HTTPStatus(err) != r.Status {
		t.Errorf("target: %v, want status %d errorNum %d", err, r.Status, body.ErrorNum)
	}
}
