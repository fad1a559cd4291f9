package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// everyKind returns one record of every kind in the vocabulary.
func everyKind() []Record {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	return []Record{
		{Tick: 10, Event: &DatabaseCreate{Database: "shop", Data: raw(`{"id":"337","name":"shop"}`)}},
		{Tick: 11, Event: &CollectionCreate{Database: "shop", CUID: "c8010045/s8010046", Data: raw(`{"name":"s8010046","type":2}`)}},
		{Tick: 12, Event: &IndexCreate{Database: "shop", CUID: "c8010045/s8010046", Data: raw(`{"id":"8010050","type":"persistent","fields":["a"],"unique":true}`)}},
		{Tick: 13, Event: &ViewCreate{Database: "shop", CUID: "c900/", Data: raw(`{"name":"v","type":"arangosearch"}`)}},
		{Tick: 14, Event: &TransactionStart{Database: "shop", TID: "77"}},
		{Tick: 15, Event: &Document{TID: "77", Key: "k1", Rev: "_l6zhVDW---", Doc: raw(`{"_key":"k1","_id":"orders/k1","_rev":"_l6zhVDW---","n":1}`)}},
		{Tick: 16, Event: &Remove{TID: "77", Key: "k0", Rev: "_l6zhVDV---"}},
		{Tick: 17, Event: &TransactionCommit{Database: "shop", TID: "77"}},
		{Tick: 18, Event: &TransactionAbort{Database: "shop", TID: "78"}},
		{Tick: 19, Event: &CollectionRename{Database: "shop", CUID: "c8010045/s8010046", NewName: "orders2"}},
		{Tick: 20, Event: &CollectionChange{Database: "shop", CUID: "c8010045/s8010046", Data: raw(`{"waitForSync":true}`)}},
		{Tick: 21, Event: &CollectionTruncate{Database: "shop", CUID: "c8010045/s8010046"}},
		{Tick: 22, Event: &IndexDrop{Database: "shop", CUID: "c8010045/s8010046", IndexID: "8010050"}},
		{Tick: 23, Event: &ViewChange{Database: "shop", CUID: "c900/", Data: raw(`{"name":"v2"}`)}},
		{Tick: 24, Event: &ViewDrop{Database: "shop", CUID: "c900/"}},
		{Tick: 25, Event: &CollectionDrop{Database: "shop", CUID: "c8010045/s8010046"}},
		{Tick: 26, Event: &DatabaseDrop{Database: "shop"}},
		{Event: &SnapshotBegin{SnapshotTick: 9, Leader: "PRMR-1", Mode: SnapshotRevisions, Documents: 2}},
		{Event: &SnapshotDocuments{Docs: []json.RawMessage{raw(`{"_key":"a"}`), raw(`{"_key":"b"}`)}}},
		{Event: &SnapshotRemove{Keys: []KeyRev{{Key: "x", Rev: "_a"}, {Key: "y"}}}},
		{Tick: 26, Event: &SnapshotEnd{SnapshotTick: 9, Documents: 2}},
		{Event: &Heartbeat{SourceTime: time.Unix(1700000000, 123).UTC(), LeaderTick: 99, Phase: "tailing"}},
		{Event: &Control{Type: "inventory-request", LeaderEpoch: 4, From: "dc-b/master-1", Payload: raw(`{"databases":["shop"]}`)}},
	}
}

func sampleBatch() *Batch {
	return &Batch{
		Sync:       "b-from-a",
		Shard:      ShardRef{Database: "shop", CollectionID: "8010045", Index: 2},
		Collection: "orders",
		Leader:     "PRMR-85cea042",
		Pos:        Position{Epoch: 3, Tick: 26},
		Prev:       Position{Epoch: 3, Tick: 9},
		FirstTick:  10,
		SentAt:     time.Unix(1700000000, 5).UTC(),
		Records:    everyKind(),
	}
}

func TestEveryKindIsCovered(t *testing.T) {
	seen := map[Kind]bool{}
	for _, r := range everyKind() {
		seen[r.Event.Kind()] = true
	}
	for k := range kindNames {
		if !seen[k] {
			t.Errorf("kind %s has no round-trip case", k)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	b := sampleBatch()
	payload, err := Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b, got) {
		t.Fatalf("round trip changed the batch:\nwant %+v\ngot  %+v", b, got)
	}
	// Re-encoding the decoded batch gives the same bytes.
	again, err := Encode(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(payload) {
		t.Fatal("re-encoding is not byte-identical")
	}
}

func TestEmptyBatchRoundTrip(t *testing.T) {
	b := &Batch{Sync: "s", Shard: ShardRef{Database: "_system"}, Pos: Position{Epoch: 1}, Prev: Position{Epoch: 1}, Records: []Record{}}
	payload, err := Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b, got) {
		t.Fatalf("want %+v got %+v", b, got)
	}
}

func TestDecodeRejects(t *testing.T) {
	good, err := Encode(sampleBatch())
	if err != nil {
		t.Fatal(err)
	}
	newer := append([]byte{}, good...)
	newer[2] = Version + 1
	unknownKind, err := Encode(&Batch{Sync: "s", Shard: ShardRef{Database: "d", CollectionID: "1"}, Records: []Record{{Event: &DatabaseDrop{Database: "d"}}}})
	if err != nil {
		t.Fatal(err)
	}
	// The record's kind varint sits right after the header; patch 1101 -> 7777.
	idx := strings.Index(string(unknownKind), string([]byte{0xcd, 0x08})) // uvarint(1101)
	if idx < 0 {
		t.Fatal("kind bytes not found")
	}
	unknownKind[idx], unknownKind[idx+1] = 0xe1, 0x3c // uvarint(7777)

	cases := []struct {
		name    string
		payload []byte
		marker  error
		reason  string
	}{
		{"empty", nil, ErrMalformed, "malformed"},
		{"json from another producer", []byte(`{"hello":"world"}`), ErrMalformed, "malformed"},
		{"newer version", newer, ErrUnsupportedVersion, "unsupported-version"},
		{"unknown kind", unknownKind, ErrUnknownKind, "unknown-kind"},
		{"truncated", good[:len(good)-5], ErrMalformed, "malformed"},
		{"trailing bytes", append(append([]byte{}, good...), 0), ErrMalformed, "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.payload)
			if !errors.Is(err, c.marker) {
				t.Fatalf("want %v, got %v", c.marker, err)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Reason != c.reason {
				t.Fatalf("want DecodeError with reason %q, got %#v", c.reason, err)
			}
		})
	}
}

func TestHandBuiltDecodeErrorDoesNotPanic(t *testing.T) {
	e := &DecodeError{Reason: "malformed", Detail: "x"}
	if e.Error() == "" || errors.Unwrap(e) != nil {
		t.Fatal("a hand-built DecodeError must still describe itself")
	}
}

func TestNewerMinorFieldsAreIgnored(t *testing.T) {
	// A body with bytes after the known fields (a newer minor revision) decodes.
	body, err := appendBody(nil, &Remove{TID: "0", Key: "k", Rev: "r"})
	if err != nil {
		t.Fatal(err)
	}
	body = append(body, 0x05, 'x', 'x', 'x', 'x', 'x')
	e, err := decodeBody(KindRemove, body)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.(*Remove); r.Key != "k" || r.Rev != "r" {
		t.Fatalf("got %+v", r)
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	b := sampleBatch()
	md := b.Metadata()
	h, err := ParseMetadata(func(k string) string { return md[k] })
	if err != nil {
		t.Fatal(err)
	}
	if h.Shard != b.Shard || h.Pos != b.Pos || h.Prev != b.Prev || h.Sync != b.Sync || h.Version != Version {
		t.Fatalf("header %+v does not match batch", h)
	}
	if md[MetaKind] != "database-create" || md[MetaRecords] != "23" {
		t.Fatalf("kind/records headers: %v", md)
	}
}

func TestParseMetadataRejectsForeignMessages(t *testing.T) {
	cases := map[string]map[string]string{
		"no headers":   {},
		"newer":        {MetaVersion: "2"},
		"bad shard":    {MetaVersion: "1", MetaShard: "x"},
		"bad epoch":    {MetaVersion: "1", MetaShard: "d/c/0", MetaEpoch: "-1", MetaTick: "1", MetaSub: "0"},
		"sub overflow": {MetaVersion: "1", MetaShard: "d/c/0", MetaEpoch: "1", MetaTick: "1", MetaSub: "4294967296"},
		"prev after":   {MetaVersion: "1", MetaShard: "d/c/0", MetaEpoch: "1", MetaTick: "1", MetaSub: "0", MetaPrev: "1:5.0"},
		"prev garbage": {MetaVersion: "1", MetaShard: "d/c/0", MetaEpoch: "1", MetaTick: "1", MetaSub: "0", MetaPrev: "x"},
	}
	for name, md := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseMetadata(func(k string) string { return md[k] })
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("want a DecodeError, got %v", err)
			}
		})
	}
}

func TestPositionOrder(t *testing.T) {
	ordered := []Position{
		{}, {Epoch: 1, Tick: 0, Sub: 1}, {Epoch: 1, Tick: 0, Sub: 2}, {Epoch: 1, Tick: 9},
		{Epoch: 1, Tick: 10}, {Epoch: 2}, {Epoch: 2, Sub: 1},
	}
	for i := range ordered {
		for j := range ordered {
			if got, want := ordered[i].Less(ordered[j]), i < j; got != want {
				t.Errorf("%v.Less(%v) = %v, want %v", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func TestPositionParse(t *testing.T) {
	for _, p := range []Position{{}, {Epoch: 1, Tick: 2, Sub: 3}, {Epoch: 1<<64 - 1, Tick: 1<<64 - 1, Sub: 1<<32 - 1}} {
		got, err := ParsePosition(p.String())
		if err != nil || got != p {
			t.Fatalf("%v: got %v, %v", p, got, err)
		}
	}
	for _, s := range []string{"", "1", "1:2", "1.2:3", "a:1.0", "1:1.4294967296"} {
		if _, err := ParsePosition(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: want ErrMalformed, got %v", s, err)
		}
	}
}

func TestShardRefParse(t *testing.T) {
	for _, s := range []string{"shop/8010045/0", "shop//0", "_system/1/12"} {
		ref, err := ParseShardRef(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if ref.String() != s {
			t.Fatalf("%s: round trip gave %s", s, ref)
		}
	}
	for _, s := range []string{"", "a/b", "a/b/c", "/1/0", "a/b/-1", "a//3", "a/b/0/1"} {
		if _, err := ParseShardRef(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: want ErrMalformed, got %v", s, err)
		}
	}
}

func TestValidateCatchesSenderBugs(t *testing.T) {
	b := sampleBatch()
	b.Pos.Tick = 5
	if _, err := Encode(b); err == nil {
		t.Fatal("position before the last tick must be refused")
	}
	b = sampleBatch()
	b.Records[3].Tick = 1
	if _, err := Encode(b); err == nil {
		t.Fatal("ticks going back must be refused")
	}
	b = sampleBatch()
	b.Prev = Position{Epoch: 3, Tick: 30}
	if _, err := Encode(b); err == nil {
		t.Fatal("a previous position after the position must be refused")
	}
	b = sampleBatch()
	b.Prev = Position{Epoch: 2, Tick: 1}
	if _, err := Encode(b); err == nil {
		t.Fatal("a previous position of another epoch must be refused")
	}
	b = sampleBatch()
	b.Records = append(b.Records, Record{})
	if _, err := Encode(b); err == nil {
		t.Fatal("a nil event must be refused")
	}
}

func TestKindNames(t *testing.T) {
	if KindDocument.String() != "document" || Kind(4242).String() != "kind-4242" {
		t.Fatal("kind names")
	}
	if !KindIndexCreate.IsMeta() || KindDocument.IsMeta() || !KindRemove.IsWALMarker() || KindHeartbeat.IsWALMarker() {
		t.Fatal("kind classes")
	}
}

func TestDebugJSON(t *testing.T) {
	out, err := sampleBatch().DebugJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(out) || !strings.Contains(string(out), `"kind": "transaction-start"`) {
		t.Fatalf("debug JSON:\n%s", out)
	}
}

func FuzzDecode(f *testing.F) {
	good, err := Encode(sampleBatch())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("d2\x01"))
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		b, err := Decode(payload)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error is not a DecodeError: %v", err)
			}
			return
		}
		// Whatever decodes must re-encode and decode to the same batch.
		again, err := Encode(b)
		if err != nil {
			// A decodable payload can still break sender invariants (ticks
			// out of order); Encode refuses it rather than writing it.
			return
		}
		b2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-decode failed: %v", err)
		}
		if !reflect.DeepEqual(b, b2) {
			t.Fatalf("unstable round trip")
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	f.Add("1", "d/c/0", "1", "2", "0")
	f.Add("", "", "", "", "")
	f.Fuzz(func(t *testing.T, v, shard, epoch, tick, sub string) {
		md := map[string]string{MetaVersion: v, MetaShard: shard, MetaEpoch: epoch, MetaTick: tick, MetaSub: sub}
		h, err := ParseMetadata(func(k string) string { return md[k] })
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error is not a DecodeError: %v", err)
			}
			return
		}
		if h.Shard.String() != shard {
			t.Fatalf("shard %q parsed as %q", shard, h.Shard)
		}
	})
}

func benchBatch(n, docSize int) *Batch {
	doc := make([]byte, 0, docSize)
	doc = append(doc, `{"_key":"k","_rev":"_l6zhVDW---","pad":"`...)
	for len(doc) < docSize-2 {
		doc = append(doc, 'x')
	}
	doc = append(doc, `"}`...)
	b := &Batch{Sync: "s", Shard: ShardRef{Database: "db", CollectionID: "100", Index: 1}, Leader: "PRMR-1"}
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, Record{Tick: uint64(i + 1), Event: &Document{TID: "0", Key: "k", Rev: "_l6zhVDW---", Doc: doc}})
	}
	b.Pos = Position{Epoch: 1, Tick: uint64(n)}
	b.Prev = Position{Epoch: 1}
	return b
}

func BenchmarkEncode1000x1KiB(b *testing.B) {
	batch := benchBatch(1000, 1024)
	b.SetBytes(1000 * 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode1000x1KiB(b *testing.B) {
	payload, err := Encode(benchBatch(1000, 1024))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1000 * 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(payload); err != nil {
			b.Fatal(err)
		}
	}
}
