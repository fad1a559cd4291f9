package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"testing"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

type oneResolver string

func (r oneResolver) Collection(context.Context, events.ShardRef) (string, error) {
	return string(r), nil
}

func start(t *testing.T) (*arangosim.Cluster, *target.Conn) {
	t.Helper()
	// With a JWT secret: DB-Servers accept only the superuser JWT.
	c, err := arangosim.Start(context.Background(), arangosim.Config{JWTSecret: "verify-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	conn, err := target.Dial(target.ConnConfig{Endpoints: []string{c.Endpoint()}, JWTSecret: "verify-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	do := func(req target.Request, ok ...int) {
		t.Helper()
		resp, err := conn.Do(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if err := resp.Check(req, ok...); err != nil {
			t.Fatal(err)
		}
	}
	do(target.Request{Method: http.MethodPost, Path: "/_db/_system/_api/database", Body: []byte(`{"name":"shop"}`)}, 201)
	do(target.Request{Method: http.MethodPost, Path: "/_db/shop/_api/collection", Body: []byte(`{"name":"orders","numberOfShards":3}`)}, 200)
	return c, conn
}

// rev returns a realistic _rev (an HLC value of November 2026) for n.
func rev(n uint64) string { return revtree.EncodeHLC(uint64(1795000000000)<<20 + n*1000) }

func doc(key string, n uint64) events.Event {
	return &events.Document{Key: key, Rev: rev(n), Doc: json.RawMessage(fmt.Sprintf(`{"_key":%q,"_rev":%q,"n":%d}`, key, rev(n), n))}
}

func apply(t *testing.T, conn *target.Conn, evs []events.Event) {
	t.Helper()
	shard := events.ShardRef{Database: "shop", CollectionID: "1"}
	a, err := target.NewApplier(conn, oneResolver("orders"), shard, target.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := &events.Batch{Shard: shard, Prev: events.Position{Epoch: 1}, Pos: events.Position{Epoch: 1, Tick: 1}}
	for _, ev := range evs {
		b.Records = append(b.Records, events.Record{Event: ev})
	}
	if err := a.Apply(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func TestCompareFindsExactlyTheDifferingKeys(t *testing.T) {
	_, ca := start(t)
	_, cb := start(t)
	var same []events.Event
	for i := 1; i <= 3000; i++ {
		same = append(same, doc(fmt.Sprintf("k%04d", i), uint64(i)))
	}
	apply(t, ca, same)
	apply(t, cb, same)
	A, B := FromConn(ca), FromConn(cb)
	ctx := context.Background()
	// (One shard is enough here: under -race every snapshot's tree costs seconds.)
	rep, err := CompareShards(ctx, A, B, "shop", "orders", "orders", 1, Config{})
	if err != nil {
		t.Fatalf("shard 1: %v", err)
	}
	if !rep.Equal || len(rep.Differences) != 0 || rep.A.Count != rep.B.Count || rep.A.Count == 0 || rep.A.Checksum != rep.B.Checksum {
		t.Fatalf("shard 1 of equal collections: %+v", rep)
	}
	sa, err := Collection(ctx, ca, "shop", "orders", true)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Collection(ctx, cb, "shop", "orders", true)
	if err != nil || sa != sb || sa.Count != 3000 || sa.Checksum == "" {
		t.Fatalf("collection summaries A %+v, B %+v, %v", sa, sb, err)
	}
	// Now make B differ: a newer revision, a missing key, an extra key; and A
	// gets a key B lacks.
	apply(t, cb, []events.Event{
		doc("k0007", 5000),
		&events.Remove{Key: "k0100"},
		doc("extra1", 5001),
	})
	apply(t, ca, []events.Event{doc("newInA", 5002), doc("k2999", 5003)})
	apply(t, cb, []events.Event{doc("k2999", 5004)})
	want := map[string]Kind{"k0007": Differs, "k0100": MissingInB, "extra1": ExtraInB, "newInA": MissingInB, "k2999": Differs}
	got := map[string]Kind{}
	unequal := 0
	for k := 0; k < 3; k++ {
		rep, err := CompareShards(ctx, A, B, "shop", "orders", "orders", k, Config{DocsPerRequest: 7})
		if err != nil {
			t.Fatalf("shard %d: %v", k, err)
		}
		if !rep.Equal {
			unequal++
		}
		for _, d := range rep.Differences {
			if _, dup := got[d.Key]; dup {
				t.Fatalf("key %s listed twice", d.Key)
			}
			got[d.Key] = d.Kind
			if d.Kind == Differs && (d.RevA == "" || d.RevB == "" || d.RevA == d.RevB) {
				t.Fatalf("difference %+v", d)
			}
		}
	}
	if sb2, err := Collection(ctx, cb, "shop", "orders", false); err != nil || sb2.Checksum == sa.Checksum {
		t.Fatalf("B's checksum did not change: %+v, %v", sb2, err)
	}
	if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
		t.Fatalf("differences = %v, want %v", sorted(got), sorted(want))
	}
	if unequal == 0 {
		t.Fatal("no shard reported unequal")
	}
}

func sorted(m map[string]Kind) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+string(v))
	}
	sort.Strings(out)
	return out
}

// TestCompareManyDifferencesPaged makes B empty against a full A: every
// revision differs, the ranges answers page (resume), and MaxDifferences caps
// the listing.
func TestCompareManyDifferencesPaged(t *testing.T) {
	if testing.Short() {
		t.Skip("70,000 documents")
	}
	_, ca := start(t)
	_, cb := start(t)
	var evs []events.Event
	for i := 1; i <= 70000; i++ {
		evs = append(evs, doc(fmt.Sprintf("k%06d", i), uint64(i)))
	}
	apply(t, ca, evs)
	ctx := context.Background()
	total := 0
	for k := 0; k < 3; k++ {
		rep, err := CompareShards(ctx, FromConn(ca), FromConn(cb), "shop", "orders", "orders", k, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Truncated || rep.B.Count != 0 || uint64(len(rep.Differences)) != rep.A.Count {
			t.Fatalf("shard %d: %d differences for %d documents (truncated %v)", k, len(rep.Differences), rep.A.Count, rep.Truncated)
		}
		total += len(rep.Differences)
	}
	if total != 70000 {
		t.Fatalf("%d differences, want 70000", total)
	}
	rep, err := CompareShards(ctx, FromConn(ca), FromConn(cb), "shop", "orders", "orders", 0, Config{MaxDifferences: 10})
	if err != nil || !rep.Truncated || len(rep.Differences) != 10 {
		t.Fatalf("capped: %d, truncated %v, %v", len(rep.Differences), rep.Truncated, err)
	}
}
