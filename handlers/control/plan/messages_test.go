package plan_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/task/ctl"
)

func sampleMessages() []plan.Message {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return []plan.Message{
		{Type: plan.TypeSyncState, Sync: "a-to-b", Epoch: 3, From: "B", SentAt: at, SyncState: &plan.SyncState{Seq: 7, SourceDC: "A",
			Incarnation: "inc", State: plan.StateStopping, DataPartitions: 24, MessageTimeoutMillis: 1000, EnsureInSync: true,
			StopDeadline: at.Add(time.Minute), Ready: []string{"shop/100"},
			Shards: []plan.ShardReport{{Sync: "a-to-b", Shard: "shop/100/0", Phase: "tailing", Applied: events.Position{Epoch: 2, Tick: 1 << 60}}},
			Resets: []plan.ShardReset{{ID: "r1", Shard: "shop/100/1", At: at}}}},
		{Type: plan.TypeInventory, Sync: "a-to-b", Epoch: 4, From: "A", SentAt: at, Inventory: &plan.Inventory{Seq: 9, Hash: "h",
			State: plan.StateRunning, Databases: []plan.InvDatabase{{Name: "shop", Collections: []plan.InvCollection{{ID: "100", Name: "orders",
				Parameters: json.RawMessage(`{"name":"orders","numberOfShards":2}`), Indexes: json.RawMessage(`[]`),
				Shards: []plan.InvShard{{Index: 0, Name: "s101", Leader: "PRMR-1"}, {Index: 1, Name: "s102"}}}}}},
			Sources: []plan.SourceReport{{Shard: "shop/100/0", Collection: "shop/orders", SourceShard: plan.SourceShard{Worker: "w1", Phase: "running"}}},
			Stop:    &plan.StopProgress{ReadOnly: true, Drained: true, Final: map[string]events.Position{"shop/100/0": {Epoch: 1, Tick: 5}}}}},
		{Type: plan.TypeCheckRequest, Sync: "a-to-b", Epoch: 1, From: "B", SentAt: at, CheckRequest: &plan.CheckRequest{ID: "c1"}},
		{Type: plan.TypeCheckResult, Sync: "a-to-b", Epoch: 1, From: "A", SentAt: at, CheckResult: &plan.CheckResult{ID: "c1",
			Shards: []plan.SourceCheck{{Shard: "shop/100/0", Collection: "shop/orders", Count: 3, Hash: 1<<63 + 5, Acked: events.Position{Epoch: 1, Tick: 9}}}}},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		msg, err := plan.Encode(m)
		if err != nil {
			t.Fatalf("%s: %v", m.Type, err)
		}
		got, err := plan.Decode(msg.Payload)
		if err != nil {
			t.Fatalf("%s: %v", m.Type, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", m.Type, got, m)
		}
		if msg.Metadata.Get("dc2dc-shard") == "" {
			t.Errorf("%s: no shard header: %v", m.Type, msg.Metadata)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good := sampleMessages()[0]
	encode := func(m plan.Message) []byte {
		t.Helper()
		msg, err := plan.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		return msg.Payload
	}
	raw := func(typ, sync string, shard events.ShardRef, epoch uint64, payload string, records int) []byte {
		b := &events.Batch{Sync: sync, Shard: shard}
		for range records {
			b.Records = append(b.Records, events.Record{Event: &events.Control{Type: typ, LeaderEpoch: epoch, Payload: json.RawMessage(payload)}})
		}
		p, err := events.Encode(b)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	noEpoch := good
	noEpoch.Epoch = 0
	badState := good
	st := *good.SyncState
	st.State = "dancing"
	badState.SyncState = &st
	cases := map[string][]byte{
		"garbage":          []byte("not a batch"),
		"empty":            nil,
		"epoch 0":          encode(noEpoch),
		"unknown state":    encode(badState),
		"two records":      raw(plan.TypeCheckRequest, "a-to-b", plan.MetaShard, 1, `{"id":"x"}`, 2),
		"no records":       raw(plan.TypeCheckRequest, "a-to-b", plan.MetaShard, 1, `{"id":"x"}`, 0),
		"data shard":       raw(plan.TypeCheckRequest, "a-to-b", events.ShardRef{Database: "shop", CollectionID: "1"}, 1, `{"id":"x"}`, 1),
		"bad sync":         raw(plan.TypeCheckRequest, "a.b", plan.MetaShard, 1, `{"id":"x"}`, 1),
		"not an object":    raw(plan.TypeCheckRequest, "a-to-b", plan.MetaShard, 1, `[1]`, 1),
		"bad JSON":         raw(plan.TypeInventory, "a-to-b", plan.MetaShard, 1, `{"databases":`, 1),
		"empty id":         raw(plan.TypeCheckRequest, "a-to-b", plan.MetaShard, 1, `{"id":""}`, 1),
		"zero partitions":  raw(plan.TypeSyncState, "a-to-b", plan.MetaShard, 1, `{"state":"running","dataPartitions":0,"ready":[]}`, 1),
		"bad ready":        raw(plan.TypeSyncState, "a-to-b", plan.MetaShard, 1, `{"state":"running","dataPartitions":2,"ready":["nodb"]}`, 1),
		"bad shard order":  raw(plan.TypeInventory, "a-to-b", plan.MetaShard, 1, `{"state":"running","databases":[{"name":"d","collections":[{"id":"1","name":"c","parameters":{},"shards":[{"index":1,"name":"s"}]}]}]}`, 1),
		"repeated db":      raw(plan.TypeInventory, "a-to-b", plan.MetaShard, 1, `{"state":"running","databases":[{"name":"d"},{"name":"d"}]}`, 1),
		"check bad shard":  raw(plan.TypeCheckResult, "a-to-b", plan.MetaShard, 1, `{"id":"x","shards":[{"shard":"x"}]}`, 1),
		"collection no id": raw(plan.TypeInventory, "a-to-b", plan.MetaShard, 1, `{"state":"running","databases":[{"name":"d","collections":[{"name":"c","parameters":{}}]}]}`, 1),
	}
	for name, payload := range cases {
		if m, err := plan.Decode(payload); err == nil {
			t.Errorf("%s: accepted as %+v", name, m)
		} else if errors.Is(err, plan.ErrForeign) {
			t.Errorf("%s: reported as foreign: %v", name, err)
		}
	}
	// Another control type on the same topic (the send tasks' resync
	// requests) is foreign, not garbage.
	foreign, err := ctl.Message("a-to-b", events.ShardRef{Database: "shop", CollectionID: "1"}, 1, ctl.TypeResyncRequest, "B", ctl.Resync{Shard: "shop/1/0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Decode(foreign.Payload); !errors.Is(err, plan.ErrForeign) {
		t.Errorf("a resync request: %v, want ErrForeign", err)
	}
}

func TestStampOrder(t *testing.T) {
	a, b, c := plan.Stamp{Epoch: 1, Seq: 9}, plan.Stamp{Epoch: 2, Seq: 1}, plan.Stamp{Epoch: 2, Seq: 2}
	if !a.Less(b) || !b.Less(c) || c.Less(b) || b.Less(a) || a.Less(a) {
		t.Error("stamps are not ordered by epoch then seq")
	}
}

func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages() {
		msg, err := plan.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(msg.Payload))
	}
	f.Add([]byte{})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := plan.Decode(payload)
		if err != nil {
			return
		}
		// What decodes has exactly its payload, encodes again and decodes
		// to the same.
		n := 0
		for _, p := range []bool{m.SyncState != nil, m.Inventory != nil, m.CheckRequest != nil, m.CheckResult != nil} {
			if p {
				n++
			}
		}
		if n != 1 || m.Epoch == 0 {
			t.Fatalf("decoded %+v", m)
		}
		msg, err := plan.Encode(m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := plan.Decode(msg.Payload)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if again.Type != m.Type || again.Epoch != m.Epoch || again.Sync != m.Sync {
			t.Fatalf("re-decoded %+v, want %+v", again, m)
		}
	})
}
