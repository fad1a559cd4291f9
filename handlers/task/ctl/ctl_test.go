package ctl

import (
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

var shard = events.ShardRef{Database: "shop", CollectionID: "100", Index: 2}

func newTestListener(t *testing.T) *Listener {
	t.Helper()
	l, err := NewListener(ListenerConfig{Topic: "dc2dc.s.ctl.down", Kafka: kafkaWithGroup()})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestListenerConfigNamesWhatIsMissing(t *testing.T) {
	_, err := NewListener(ListenerConfig{})
	if err == nil {
		t.Fatal("an empty config was accepted")
	}
	for _, want := range []string{"topic", "consumer group"} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestAnswersReachTheirWaiterOnly(t *testing.T) {
	l := newTestListener(t)
	ch, cancel := l.Expect("req-1")
	defer cancel()
	other, cancelOther := l.Expect("req-2")
	defer cancelOther()

	msg, err := Message("s", shard, 3, TypeRevisions, "B", Answer{ID: "req-1", Shard: shard.String(), Epoch: 3,
		Revisions: []events.KeyRev{{Key: "k1", Rev: "_abc"}}})
	if err != nil {
		t.Fatal(err)
	}
	l.Handle(msg.Payload)
	select {
	case a := <-ch:
		if a.ID != "req-1" || len(a.Revisions) != 1 || a.Revisions[0].Key != "k1" {
			t.Fatalf("answer %+v", a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter got nothing")
	}
	select {
	case a := <-other:
		t.Fatalf("another waiter got %+v", a)
	default:
	}
	// An answer nobody waits for, garbage and a foreign type are dropped.
	unknown, _ := Message("s", shard, 3, TypeTree, "B", Answer{ID: "nobody"})
	l.Handle(unknown.Payload)
	l.Handle([]byte("not a batch"))
	foreign, _ := Message("s", shard, 3, "task-plan", "B", map[string]int{"x": 1})
	l.Handle(foreign.Payload)
}

func TestResyncRequestsReachTheShard(t *testing.T) {
	l := newTestListener(t)
	ch, cancel := l.Resyncs(shard.String())
	msg, err := Message("s", shard, 4, TypeResyncRequest, "B", Resync{Shard: shard.String(), Epoch: 4, Reason: "truncate"})
	if err != nil {
		t.Fatal(err)
	}
	l.Handle(msg.Payload)
	l.Handle(msg.Payload) // a second one while the first waits is dropped, not blocking
	select {
	case r := <-ch:
		if r.Epoch != 4 || r.Reason != "truncate" {
			t.Fatalf("resync %+v", r)
		}
	default:
		t.Fatal("no resync request delivered")
	}
	cancel()
	l.Handle(msg.Payload) // nobody subscribed: dropped
}

func TestRequestRoundTrip(t *testing.T) {
	rec, err := Record(TypeRevisionsRequest, "A", Request{ID: "x", Shard: shard.String(), Epoch: 7, Ranges: []revtree.Range{{Min: 1, Max: 9}}})
	if err != nil {
		t.Fatal(err)
	}
	b := &events.Batch{Shard: shard, Pos: events.Position{Epoch: 7, Sub: 1}, Prev: events.Position{Epoch: 7}, Records: []events.Record{rec}}
	payload, err := events.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := events.Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	cs := Controls(got)
	if len(cs) != 1 || cs[0].Type != TypeRevisionsRequest {
		t.Fatalf("controls %+v", cs)
	}
	var req Request
	if err := Decode(cs[0], &req); err != nil {
		t.Fatal(err)
	}
	if req.ID != "x" || req.Epoch != 7 || len(req.Ranges) != 1 || req.Ranges[0] != (revtree.Range{Min: 1, Max: 9}) {
		t.Fatalf("request %+v", req)
	}
}

func FuzzHandle(f *testing.F) {
	msg, _ := Message("s", shard, 3, TypeTree, "B", Answer{ID: "a"})
	f.Add([]byte(msg.Payload))
	rs, _ := Message("s", shard, 3, TypeResyncRequest, "B", Resync{Shard: shard.String(), Epoch: 1})
	f.Add([]byte(rs.Payload))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		l, err := NewListener(ListenerConfig{Topic: "t", Kafka: kafkaWithGroup()})
		if err != nil {
			t.Fatal(err)
		}
		_, cancel := l.Expect("a")
		defer cancel()
		_, cancel2 := l.Resyncs(shard.String())
		defer cancel2()
		l.Handle(payload) // must not panic or block
	})
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func kafkaWithGroup() kafka.Config {
	return kafka.Config{Brokers: []string{"127.0.0.1:1"}, Consumer: kafka.ConsumerConfig{Group: "g"}}
}
