package source

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
)

// fakeLeader serves /revisions/ranges in pages of pageSize revisions (with
// resumeHLC, like arangod) and /revisions/documents for a fixed snapshot.
type fakeLeader struct {
	docs     map[uint64]string // rev → key
	pageSize int
	pages    int
}

func (f *fakeLeader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	body, _ := io.ReadAll(r.Body)
	switch r.URL.Path {
	case "/_db/shop/_api/replication/revisions/ranges":
		f.pages++
		var pairs [][2]string
		if err := json.Unmarshal(body, &pairs); err != nil {
			w.WriteHeader(400)
			return
		}
		var resume uint64
		if v := r.URL.Query().Get("resumeHLC"); v != "" {
			resume, _ = revtree.DecodeHLC(v)
		}
		revs := make([]uint64, 0, len(f.docs))
		for v := range f.docs {
			revs = append(revs, v)
		}
		slices.Sort(revs)
		out := make([][]string, len(pairs))
		n := 0
		next := ""
	outer:
		for i, p := range pairs {
			lo, _ := revtree.DecodeHLC(p[0])
			hi, _ := revtree.DecodeHLC(p[1])
			out[i] = []string{}
			for _, v := range revs {
				if v < max(lo, resume) || v > hi {
					continue
				}
				if n == f.pageSize {
					next = revtree.EncodeHLC(v)
					break outer
				}
				out[i] = append(out[i], revtree.EncodeHLC(v))
				n++
			}
		}
		ans := map[string]any{"ranges": out}
		if next != "" {
			ans["resumeHLC"], ans["resume"] = next, next
		}
		_ = json.NewEncoder(w).Encode(ans)
	case "/_db/shop/_api/replication/revisions/documents":
		var revs []string
		_ = json.Unmarshal(body, &revs)
		var out []json.RawMessage
		for i, s := range revs {
			if i == 2 {
				break // answer short, like a truncating server
			}
			v, _ := revtree.DecodeHLC(s)
			out = append(out, json.RawMessage(fmt.Sprintf(`{"_key":%q,"_rev":%q}`, f.docs[v], s)))
		}
		_ = json.NewEncoder(w).Encode(out)
	default:
		w.WriteHeader(404)
	}
}

type fakeTarget map[string]uint64 // key → rev

func (f fakeTarget) Tree(context.Context) (*revtree.Tree, error) { return treeOf(f), nil }

func (f fakeTarget) Revisions(_ context.Context, ranges []revtree.Range) ([]events.KeyRev, error) {
	var out []events.KeyRev
	for k, v := range f {
		for _, r := range ranges {
			if v >= r.Min && v <= r.Max {
				out = append(out, events.KeyRev{Key: k, Rev: revtree.EncodeHLC(v)})
			}
		}
	}
	slices.SortFunc(out, func(a, b events.KeyRev) int {
		x, _ := revtree.DecodeHLC(a.Rev)
		y, _ := revtree.DecodeHLC(b.Rev)
		return cmp.Compare(x, y)
	})
	return out, nil
}

func treeOf(docs map[string]uint64) *revtree.Tree {
	t, _ := revtree.New(revtree.DefaultDepth, revtree.LowerBound)
	for _, v := range docs {
		_ = t.Insert(v)
	}
	return t
}

// TestRepairPages runs the revision repair over a leader that answers the
// ranges in pages of 3 revisions and documents 2 at a time: exactly the
// changed and new documents are sent, exactly the removed ones removed, and
// an updated key whose old revision sorts after a page boundary is never
// removed.
func TestRepairPages(t *testing.T) {
	base := revtree.LowerBound + 1000
	a := map[string]uint64{}
	b := fakeTarget{}
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("k%02d", i)
		a[k], b[k] = base+uint64(i)*1000, base+uint64(i)*1000
	}
	// Updated in A (new, later revisions), removed in A, inserted in A.
	for _, i := range []int{2, 7, 11, 19} {
		a[fmt.Sprintf("k%02d", i)] = base + 100000 + uint64(i)
	}
	for _, i := range []int{4, 15} {
		delete(a, fmt.Sprintf("k%02d", i))
	}
	a["new1"], a["new2"] = base+200000, base+500
	leader := &fakeLeader{docs: map[uint64]string{}, pageSize: 3}
	for k, v := range a {
		leader.docs[v] = k
	}
	srv := httptest.NewServer(leader)
	defer srv.Close()
	cl, err := client.New(client.Config{Endpoints: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	conn, _ := cl.DBServerAt(srv.URL)
	rep := newReplica()
	for k, v := range b {
		rep.docs[k] = stored{rev: revtree.EncodeHLC(v)}
	}
	s := &Source{cfg: Config{MaxRecords: 2, DocumentsPerRequest: 3, MaxBytes: 1 << 20, MaxRepairRevisions: 4}.WithDefaults(),
		shard: Shard{Ref: events.ShardRef{Database: "shop", CollectionID: "1", Index: 0}, Name: "s2"}, target: b, sink: rep}
	sent, err := s.repair(context.Background(), &batch{conn: conn, db: "shop", id: "7", tick: 99}, treeOf(a), treeOf(b), Position{})
	if err != nil {
		t.Fatal(err)
	}
	if sent != 6 {
		t.Errorf("sent %d documents, want 6 (4 updated, 2 new)", sent)
	}
	if leader.pages < 2 {
		t.Errorf("%d pages: the paging was not exercised", leader.pages)
	}
	removed := 0
	for _, em := range rep.allEmits() {
		for _, r := range em.recs {
			if rm, ok := r.Event.(*events.SnapshotRemove); ok {
				removed += len(rm.Keys)
			}
		}
	}
	if removed != 2 {
		t.Errorf("removed %d documents, want 2", removed)
	}
	got := rep.state()
	if len(got) != len(a) {
		t.Errorf("replica holds %d documents, want %d", len(got), len(a))
	}
	for k, v := range a {
		if got[k] != revtree.EncodeHLC(v) {
			t.Errorf("key %s: %q, want %q", k, got[k], revtree.EncodeHLC(v))
		}
	}
}

func TestSplitByCount(t *testing.T) {
	tr, _ := revtree.New(2, revtree.LowerBound) // 64 buckets of width 64
	w := tr.BucketWidth()
	for i := uint64(0); i < 64; i++ {
		for j := uint64(0); j < i%4; j++ { // 0,1,2,3 revisions per bucket
			_ = tr.Insert(revtree.LowerBound + i*w + j)
		}
	}
	all := []revtree.Range{{Min: revtree.LowerBound, Max: revtree.LowerBound + 20*w - 1},
		{Min: revtree.LowerBound + 30*w, Max: revtree.LowerBound + 64*w + 1000}}
	parts := splitByCount(all, tr, 10)
	var total uint64
	prevMax := uint64(0)
	for _, p := range parts {
		var c uint64
		for _, r := range p {
			if r.Min > r.Max || (prevMax != 0 && r.Min <= prevMax) {
				t.Fatalf("bad or overlapping range %+v after %d", r, prevMax)
			}
			prevMax = r.Max
			for i := uint64(0); i < 64; i++ {
				br := tr.BucketRange(i)
				if br.Min >= r.Min && br.Max <= r.Max {
					c += tr.Node(i).Count
				}
			}
		}
		if c > 10 {
			t.Errorf("part %v holds %d revisions, more than 10", p, c)
		}
		total += c
	}
	// Buckets 0..19 and 30..63: sum of i%4.
	var want uint64
	for i := uint64(0); i < 64; i++ {
		if i < 20 || i >= 30 {
			want += i % 4
		}
	}
	if total != want || len(parts) < int(want/10) {
		t.Errorf("parts cover %d revisions in %d parts, want %d", total, len(parts), want)
	}
	if first, last := parts[0][0].Min, parts[len(parts)-1]; first != all[0].Min || last[len(last)-1].Max != all[1].Max {
		t.Errorf("parts do not span the ranges: %v", parts)
	}
}
