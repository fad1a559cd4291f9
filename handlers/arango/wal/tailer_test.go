package wal

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

func hdr(m map[string]string) func(string) string {
	return func(k string) string {
		for hk, v := range m {
			if strings.EqualFold(hk, k) {
				return v
			}
		}
		return ""
	}
}

func TestApplyFixtures(t *testing.T) {
	// Empty: 204, lastincluded 0, lastscanned < from: the position stays.
	f := loadFixture(t, "RestWalAccessTailingEmpty_single")
	tl := &Tailer{Shard: "s1", Database: "_system", From: 184777}
	recs, st, err := tl.Apply(f.status, f.header.Get, f.body, 100)
	if err != nil || len(recs) != 0 || st.CheckMore || tl.From != 184777 || tl.LastScanned != 184776 || st.LastTick != 184777 {
		t.Fatalf("empty: recs %v st %+v from %d ls %d err %v", recs, st, tl.From, tl.LastScanned, err)
	}
	// Some: one drop marker, lastscanned beyond it: from = lastincluded.
	f = loadFixture(t, "RestWalAccessTailingSome_single")
	tl = &Tailer{Shard: "s1", Database: "_system", From: 184777}
	recs, st, err = tl.Apply(f.status, f.header.Get, f.body, 100)
	if err != nil || len(recs) != 1 || !st.CheckMore || tl.From != 184793 || tl.LastScanned != 184819 {
		t.Fatalf("some: recs %v st %+v from %d ls %d err %v", recs, st, tl.From, tl.LastScanned, err)
	}
}

func TestApplyRules(t *testing.T) {
	line := func(tick int) string {
		return `{"tick":"` + strconv.Itoa(tick) + `","type":2300,"db":"d","cuid":"c1/s1","tid":"0","data":{"_key":"k` + strconv.Itoa(tick) + `","_rev":"r"}}` + "\n"
	}
	t.Run("frompresent false", func(t *testing.T) {
		tl := &Tailer{Shard: "s1", Database: "d", From: 10, LastScanned: 12}
		_, _, err := tl.Apply(204, hdr(map[string]string{HeaderLastIncluded: "0", HeaderFromPresent: "false", HeaderLastTick: "99"}), nil, 10)
		if !errors.Is(err, ErrStartTickNotPresent) || failure.CodeOf(err) != failure.CodeWALPruned || tl.From != 10 || tl.LastScanned != 12 {
			t.Fatalf("err %v from %d", err, tl.From)
		}
		// from = 0 never raises it.
		tl = &Tailer{Shard: "s1", Database: "d"}
		if _, _, err := tl.Apply(204, hdr(map[string]string{HeaderLastIncluded: "0", HeaderFromPresent: "false"}), nil, 10); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("missing lastincluded", func(t *testing.T) {
		tl := &Tailer{Shard: "s1", Database: "d", From: 10}
		_, _, err := tl.Apply(200, hdr(nil), []byte(line(11)), 10)
		if !errors.Is(err, ErrInvalidResponse) || !failure.IsPermanent(err) {
			t.Fatal(err)
		}
	})
	t.Run("inconsistent", func(t *testing.T) {
		for _, tc := range []struct {
			li   string
			body string
		}{{"12", line(11)}, {"11", line(9) + line(11)}, {"5", ""}} {
			tl := &Tailer{Shard: "s1", Database: "d", From: 10}
			if _, _, err := tl.Apply(200, hdr(map[string]string{HeaderLastIncluded: tc.li}), []byte(tc.body), 10); !errors.Is(err, ErrInvalidResponse) {
				t.Errorf("li %s body %q: %v", tc.li, tc.body, err)
			}
		}
	})
	t.Run("filtered markers", func(t *testing.T) {
		tl := &Tailer{Shard: "s1", Database: "d", From: 10}
		_, st, err := tl.Apply(204, hdr(map[string]string{HeaderLastIncluded: "0", HeaderLastScanned: "50", HeaderLastTick: "60"}), nil, 10)
		if err != nil || tl.From != 49 || tl.LastScanned != 50 || st.CheckMore {
			t.Fatalf("st %+v from %d err %v", st, tl.From, err)
		}
	})
	t.Run("same tick again", func(t *testing.T) {
		tl := &Tailer{Shard: "s1", Database: "d", From: 10}
		_, st, err := tl.Apply(204, hdr(map[string]string{HeaderLastIncluded: "0", HeaderLastScanned: "10", HeaderCheckMore: "true"}), nil, 10)
		if err != nil || st.CheckMore || tl.From != 10 {
			t.Fatalf("st %+v err %v", st, err)
		}
	})
	t.Run("max records", func(t *testing.T) {
		tl := &Tailer{Shard: "s1", Database: "d", From: 10}
		body := line(11) + line(12) + line(13)
		recs, st, err := tl.Apply(200, hdr(map[string]string{HeaderLastIncluded: "13", HeaderLastScanned: "20", HeaderLastTick: "20"}), []byte(body), 2)
		// The cut may lie inside a write batch: the scan start stays the
		// request's (Next sent lastScanned = from = 10), so the server reads
		// the batch again; only from moves to the last returned tick.
		if err != nil || len(recs) != 2 || !st.Truncated || !st.CheckMore || tl.From != 12 || tl.LastScanned != 10 {
			t.Fatalf("recs %d st %+v from %d ls %d err %v", len(recs), st, tl.From, tl.LastScanned, err)
		}
		// With a scan start before from, it is kept as sent.
		tl = &Tailer{Shard: "s1", Database: "d", From: 10, LastScanned: 7}
		if _, _, err := tl.Apply(200, hdr(map[string]string{HeaderLastIncluded: "13", HeaderLastScanned: "20"}), []byte(body), 1); err != nil || tl.From != 11 || tl.LastScanned != 7 {
			t.Fatalf("from %d ls %d err %v", tl.From, tl.LastScanned, err)
		}
	})
	t.Run("max records zero means the default", func(t *testing.T) {
		tl := &Tailer{Shard: "s1", Database: "d", From: 10}
		recs, st, err := tl.Apply(200, hdr(map[string]string{HeaderLastIncluded: "13", HeaderLastScanned: "20"}), []byte(line(11)+line(12)+line(13)), 0)
		if err != nil || len(recs) != 3 || st.Truncated || tl.From != 13 {
			t.Fatalf("recs %d st %+v from %d err %v", len(recs), st, tl.From, err)
		}
	})
}

// fakeWAL serves /_api/wal/tail over a list of markers with ArangoDB's
// header rules, filtering other shards' markers.
type fakeWAL struct {
	mu      sync.Mutex
	markers []string // JSON lines, tick = index+1
	shards  []string // shard of each marker
	pruned  uint64
	queries []url.Values
}

func (f *fakeWAL) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	f.queries = append(f.queries, q)
	from, _ := strconv.ParseUint(q.Get("from"), 10, 64)
	chunk, _ := strconv.Atoi(q.Get("chunkSize"))
	last := uint64(len(f.markers))
	var body strings.Builder
	var lastIncluded, lastScanned uint64
	if from > 0 {
		lastScanned = from - 1
	}
	for i := from; i < last; i++ {
		lastScanned = i + 1
		if f.shards[i] != q.Get("collection") {
			continue
		}
		body.WriteString(f.markers[i])
		body.WriteByte('\n')
		lastIncluded = i + 1
		if body.Len() >= chunk {
			break
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-arango-dump")
	h.Set(HeaderLastIncluded, strconv.FormatUint(lastIncluded, 10))
	h.Set(HeaderLastScanned, strconv.FormatUint(lastScanned, 10))
	h.Set(HeaderLastTick, strconv.FormatUint(last, 10))
	h.Set(HeaderFromPresent, strconv.FormatBool(from >= f.pruned))
	h.Set(HeaderCheckMore, strconv.FormatBool(lastIncluded > 0 && lastIncluded < last))
	if body.Len() == 0 {
		w.WriteHeader(204)
		return
	}
	w.WriteHeader(200)
	_, _ = w.Write([]byte(body.String()))
}

func TestTailerLoop(t *testing.T) {
	f := &fakeWAL{}
	for i := 1; i <= 500; i++ {
		shard := "s1"
		if i%3 == 0 {
			shard = "s2"
		}
		f.markers = append(f.markers, `{"tick":"`+strconv.Itoa(i)+`","type":2300,"db":"d","cuid":"c1/`+shard+`","tid":"0","data":{"_key":"k`+strconv.Itoa(i)+`","_rev":"r"}}`)
		f.shards = append(f.shards, shard)
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := client.New(client.Config{Endpoints: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := c.DBServerAt(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	tl := &Tailer{DBServer: conn, Database: "d", Shard: "s1", ChunkSize: 16384, MaxRecords: 50, SyncerID: 7, ClientInfo: "dc2dc test"}
	var got []uint64
	for calls := 0; calls < 100; calls++ {
		recs, st, err := tl.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			got = append(got, r.Tick)
			if d := r.Event.(*events.Document); d.Key != "k"+strconv.FormatUint(r.Tick, 10) {
				t.Fatalf("record %d key %s", r.Tick, d.Key)
			}
		}
		if !st.CheckMore && st.Status == 204 {
			break
		}
	}
	want := 0
	for i := 1; i <= 500; i++ {
		if i%3 != 0 {
			if want >= len(got) || got[want] != uint64(i) {
				t.Fatalf("record %d: got %v", want, got[min(want, len(got)-1)])
			}
			want++
		}
	}
	if want != len(got) {
		t.Fatalf("%d records, want %d", len(got), want)
	}
	if q := f.queries[0]; q.Get("syncerId") != "7" || q.Get("clientInfo") != "dc2dc test" || q.Get("collection") != "s1" {
		t.Errorf("query %v", q)
	}
	// Pruned WAL: a resumed tailer gets ErrStartTickNotPresent.
	f.mu.Lock()
	f.pruned = 100
	f.mu.Unlock()
	tl2 := &Tailer{DBServer: conn, Database: "d", Shard: "s1", From: 20}
	if _, _, err := tl2.Next(context.Background()); !errors.Is(err, ErrStartTickNotPresent) {
		t.Fatalf("pruned: %v", err)
	}
}
