package arangosim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// tailAnswer is one /_api/wal/tail answer.
type tailAnswer struct {
	ms                        []marker
	lastIncluded, lastScanned uint64
	checkMore                 bool
}

func (w *walClient) tailOnce(s *Server, db string, from, lastScanned uint64, chunk int, extra string) tailAnswer {
	w.t.Helper()
	url := fmt.Sprintf("%s/_db/%s/_api/wal/tail?from=%d&lastScanned=%d&chunkSize=%d%s", s.Endpoint(), db, from, lastScanned, chunk, extra)
	r := w.do("GET", url, nil)
	if r.status != http.StatusOK && r.status != http.StatusNoContent {
		w.t.Fatalf("tail: %d %s", r.status, r.body)
	}
	var a tailAnswer
	if r.status == http.StatusOK {
		a.ms = parseMarkers(w.t, r.body)
	}
	a.lastIncluded, _ = strconv.ParseUint(r.header.Get("X-Arango-Replication-Lastincluded"), 10, 64)
	a.lastScanned, _ = strconv.ParseUint(r.header.Get("X-Arango-Replication-Lastscanned"), 10, 64)
	a.checkMore = r.header.Get("X-Arango-Replication-Checkmore") == "true"
	return a
}

func tick(t testing.TB, m marker) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(m.Tick, 10, 64)
	if err != nil {
		t.Fatalf("tick %q: %v", m.Tick, err)
	}
	return v
}

// bigBatch inserts n padded documents with one request into a one-shard
// collection: one write batch (2200, n × 2300, 2201) on the leader.
func bigBatch(t *testing.T, n int) (*walClient, *Server, uint64, []string) {
	c := startSim(t, Config{JWTSecret: "s3cret"})
	wc := newWALClient(t, c)
	if r := wc.do("POST", c.Endpoint()+"/_api/collection", map[string]any{"name": "big", "replicationFactor": 1}); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	db, _ := c.Database("_system")
	col, _ := db.Collection("big")
	leader := col.Shards[0].Leader()
	// A single write before the batch, so the batch does not start the answer.
	insertDocs(t, wc, "big", []map[string]any{{"_key": "before"}})
	from := leader.WAL().LastTick() - 1
	var docs []map[string]any
	var keys []string
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("k%04d", i)
		keys = append(keys, k)
		docs = append(docs, map[string]any{"_key": k, "pad": strings.Repeat("x", 200)})
	}
	insertDocs(t, wc, "big", docs)
	insertDocs(t, wc, "big", []map[string]any{{"_key": "after"}})
	return wc, leader, from, keys
}

// checkFraming checks ms is: before, 2200 T, the keys in order (tid T), 2201 T, after.
func checkFraming(t *testing.T, ms []marker, keys []string) {
	t.Helper()
	if len(ms) != len(keys)+4 {
		t.Fatalf("%d markers, want %d", len(ms), len(keys)+4)
	}
	if ms[0].Type != 2300 || !strings.Contains(string(ms[0].Data), `"before"`) {
		t.Fatalf("first marker %+v", ms[0])
	}
	st, cm, last := ms[1], ms[len(ms)-2], ms[len(ms)-1]
	if st.Type != 2200 || st.TID == "" || st.TID == "0" {
		t.Fatalf("no transaction start: %+v", st)
	}
	if cm.Type != 2201 || cm.TID != st.TID {
		t.Fatalf("no commit of %s: %+v", st.TID, cm)
	}
	if last.Type != 2300 || !strings.Contains(string(last.Data), `"after"`) || last.TID != "0" {
		t.Fatalf("last marker %+v", last)
	}
	for i, k := range keys {
		m := ms[2+i]
		if m.Type != 2300 || m.TID != st.TID || !strings.Contains(string(m.Data), `"_key":"`+k+`"`) {
			t.Fatalf("marker %d = %s %d tid %s, want %s in %s", 2+i, m.Data[:min(40, len(m.Data))], m.Type, m.TID, k, st.TID)
		}
	}
	for i := 1; i < len(ms); i++ {
		if tick(t, ms[i]) <= tick(t, ms[i-1]) {
			t.Fatalf("ticks not increasing at %d", i)
		}
	}
}

// TestWALTailSplitsWriteBatch tails a 300-document write batch (~80 KB) with a
// 16 KiB chunk the way ArangoDB's tailing syncer does (spec §1.4): the server
// splits the batch over several answers, each resuming where the last ended,
// and the answers together hold one 2200 … 2201 with every document.
func TestWALTailSplitsWriteBatch(t *testing.T) {
	wc, leader, from, keys := bigBatch(t, 300)
	var all []marker
	lastScanned := from // dc2dc's tailer and arangod's syncer send lastScanned > 0
	answers, splits := 0, 0
	for from < leader.WAL().LastTick() {
		a := wc.tailOnce(leader, "_system", from, lastScanned, 16384, "")
		answers++
		if answers > 100 {
			t.Fatal("tail does not progress")
		}
		all = append(all, a.ms...)
		for _, m := range a.ms {
			if tick(t, m) <= from {
				t.Fatalf("marker %s at or before from %d", m.Tick, from)
			}
		}
		if n := len(a.ms); n > 0 && a.ms[n-1].Type == 2300 && a.ms[n-1].TID != "0" {
			// The answer ends inside the transaction: lastScanned is the start
			// of its write batch, before the next from.
			splits++
			if a.lastScanned >= a.lastIncluded || a.lastScanned == 0 {
				t.Fatalf("split answer: lastScanned %d, lastIncluded %d", a.lastScanned, a.lastIncluded)
			}
		}
		if a.lastIncluded > from {
			from = a.lastIncluded
		}
		lastScanned = a.lastScanned
	}
	if splits < 3 {
		t.Fatalf("the batch was split %d times over %d answers, want several", splits, answers)
	}
	checkFraming(t, all, keys)
}

// TestWALTailWholeBatchWithoutLastScanned: with lastScanned=0 (a pre-3.4
// client) a write batch is never split, whatever the chunk size.
func TestWALTailWholeBatchWithoutLastScanned(t *testing.T) {
	wc, leader, from, keys := bigBatch(t, 300)
	a := wc.tailOnce(leader, "_system", from, 0, 16384, "")
	// The first answer holds "before" and the whole batch, then stops (size).
	if len(a.ms) != len(keys)+3 || a.ms[len(a.ms)-1].Type != 2201 || !a.checkMore {
		t.Fatalf("%d markers (last %+v), checkMore %v", len(a.ms), a.ms[len(a.ms)-1], a.checkMore)
	}
	b := wc.tailOnce(leader, "_system", a.lastIncluded, a.lastScanned, 16384, "")
	checkFraming(t, append(a.ms, b.ms...), keys)
}

// TestWALTailResumeInsideWriteBatch resumes with a from inside the batch. As in
// RocksDBWalAccess, the batch is parsed from its start when the scan begins at
// or before it (lastScanned <= batch start < from): the documents after from
// keep their tid, the 2201 closes them, and the 2200 (tick <= from) is not
// printed again, so the earlier answers plus this one frame the transaction
// once. When the scan begins inside the batch (lastScanned 0 or >= from), the
// batch is skipped whole, as GetUpdatesSince + "batch.sequence < since" do.
func TestWALTailResumeInsideWriteBatch(t *testing.T) {
	wc, leader, from, keys := bigBatch(t, 40)
	full := wc.tailOnce(leader, "_system", from, from, 1<<20, "")
	checkFraming(t, full.ms, keys)
	batchStart := tick(t, full.ms[1])
	prevEnd := tick(t, full.ms[0])
	for _, cut := range []int{1, 2, 10, len(keys)} { // index into full.ms of the last marker seen
		mid := tick(t, full.ms[cut])
		for _, ls := range []uint64{batchStart, prevEnd} {
			a := wc.tailOnce(leader, "_system", mid, ls, 1<<20, "")
			got := append(append([]marker(nil), full.ms[:cut+1]...), a.ms...)
			checkFraming(t, got, keys)
			for _, m := range a.ms {
				if m.Type == 2200 {
					t.Fatalf("from %d lastScanned %d: transaction start printed again", mid, ls)
				}
			}
		}
		if mid == batchStart {
			continue // a scan from the batch start parses the batch (below)
		}
		// The scan starts inside the batch: the rest of the batch is skipped.
		for _, ls := range []uint64{0, mid} {
			a := wc.tailOnce(leader, "_system", mid, ls, 1<<20, "")
			if len(a.ms) != 1 || !strings.Contains(string(a.ms[0].Data), `"after"`) {
				t.Fatalf("from %d lastScanned %d inside the batch: %d markers", mid, ls, len(a.ms))
			}
		}
	}
	// from = lastScanned = the batch start: the 2200 (tick = from) is not
	// printed, the documents and the commit are.
	a := wc.tailOnce(leader, "_system", batchStart, 0, 1<<20, "")
	checkFraming(t, append(append([]marker(nil), full.ms[:2]...), a.ms...), keys)
	// to only stops at write batch boundaries (batch.sequence > tickEnd): a
	// batch starting at or before to comes whole, the next one not at all.
	if a := wc.tailOnce(leader, "_system", from, from, 1<<20, fmt.Sprintf("&to=%d", batchStart+1)); len(a.ms) != len(full.ms)-1 ||
		a.ms[len(a.ms)-1].Type != 2201 {
		t.Fatalf("to inside the batch: %d markers, want %d", len(a.ms), len(full.ms)-1)
	}
	// from at the commit: only what follows the batch.
	end := tick(t, full.ms[len(full.ms)-2])
	if a := wc.tailOnce(leader, "_system", end, batchStart, 1<<20, ""); len(a.ms) != 1 || a.ms[0].Type != 2300 {
		t.Fatalf("from the commit: %+v", a.ms)
	}
}
