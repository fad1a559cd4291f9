package send

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/source"
	"github.com/dc2dc/dc2dc/handlers/task/ctl"
	"github.com/dc2dc/dc2dc/pipeline/batcher"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/store"
)

// fakePub records published batches; fail makes Publish fail.
type fakePub struct {
	mu      sync.Mutex
	batches []*events.Batch
	fail    error
}

func (p *fakePub) Publish(_ string, msgs ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	for _, m := range msgs {
		b, err := events.Decode(m.Payload)
		if err != nil {
			return err
		}
		p.batches = append(p.batches, b)
	}
	return nil
}

func (p *fakePub) Close() error { return nil }

func (p *fakePub) all() []*events.Batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*events.Batch(nil), p.batches...)
}

var ref = events.ShardRef{Database: "shop", CollectionID: "100", Index: 0}

// harness: a Task with a real store and a fake publisher, and one epoch
// whose batcher runs until close.
type harness struct {
	t    *testing.T
	st   *store.Store
	pub  *fakePub
	task *Task
	ep   *epoch
	done chan error
}

func newHarness(t *testing.T, start source.Start, resume bool, l *ctl.Listener) *harness {
	t.Helper()
	st, err := store.Open(store.Config{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	pub := &fakePub{}
	task, err := New(Config{Sync: "s", Topic: "dc2dc.s.data", Shard: source.Shard{Ref: ref, Name: "s101", Leader: "PRMR-1"},
		Batch: batcher.Config{Linger: time.Millisecond}, HeartbeatInterval: 10 * time.Millisecond, TreeTimeout: 100 * time.Millisecond},
		Deps{Store: st, Epochs: &StoreEpochs{Store: st, Sync: "s"}, Publisher: pub, Dialer: noDialer{}, Listener: l})
	if err != nil {
		t.Fatal(err)
	}
	ep := &epoch{t: task, start: start, lastEmit: time.Now(), lastRecTick: start.Tick}
	stream := batcher.Stream{Sync: "s", Shard: ref, Leader: "PRMR-1", Epoch: start.Epoch}
	if resume {
		stream.Start = events.Position{Epoch: start.Epoch, Tick: start.Tick}
	}
	ep.b, err = batcher.New(task.cfg.Batch, stream, ep.publish)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: st, pub: pub, task: task, ep: ep, done: make(chan error, 1)}
	go func() { h.done <- ep.b.Run(context.Background()) }()
	return h
}

func (h *harness) close() error {
	h.ep.b.Close()
	return <-h.done
}

func (h *harness) checkpoint() store.SourcePosition {
	h.t.Helper()
	p, err := h.st.Source("s", ref.String())
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func doc(tick uint64, key string) events.Record {
	return events.Record{Tick: tick, Event: &events.Document{TID: "0", Key: key, Rev: "_r" + key, Doc: []byte(`{"_key":"` + key + `"}`)}}
}

func tailPos(tick, scanned uint64) source.Position {
	return source.Position{Epoch: 3, Leader: "PRMR-1", Phase: source.PhaseTailing, SnapshotTick: 5, Tick: tick, LastScanned: scanned}
}

func TestCheckpointIsTheAckedSourcePositionBoundedByTheBatchTick(t *testing.T) {
	h := newHarness(t, source.Start{Epoch: 3, Leader: "PRMR-1", Tick: 5}, true, nil)
	ctx := context.Background()
	// The source is past its last record (other shards' ticks): the
	// checkpoint stays at the acked batch's tick, so a resumed batcher's
	// Prev never passes what the receiver applied.
	if err := h.ep.Emit(ctx, []events.Record{doc(10, "a"), doc(11, "b")}, tailPos(15, 16)); err != nil {
		t.Fatal(err)
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	cp := h.checkpoint()
	if cp.Epoch != 3 || cp.Tick != 11 || cp.LastScanned != 0 || cp.Phase != store.PhaseTailing || cp.Leader != "PRMR-1" {
		t.Fatalf("checkpoint %+v, want epoch 3 tick 11 (min of 15 and the batch's 11) without lastScanned", cp)
	}
	bs := h.pub.all()
	if len(bs) == 0 || bs[0].Prev != (events.Position{Epoch: 3, Tick: 5}) {
		t.Fatalf("first batch %+v: Prev must be the resumed position 3/5/0", bs)
	}
}

func TestCheckpointKeepsLastScannedWhenExact(t *testing.T) {
	h := newHarness(t, source.Start{Epoch: 3, Leader: "PRMR-1", Tick: 5}, true, nil)
	if err := h.ep.Emit(context.Background(), []events.Record{doc(10, "a")}, tailPos(10, 12)); err != nil {
		t.Fatal(err)
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	if cp := h.checkpoint(); cp.Tick != 10 || cp.LastScanned != 12 {
		t.Fatalf("checkpoint %+v, want tick 10 lastScanned 12", cp)
	}
}

func TestOpenTransactionKeepsTheCheckpointBeforeIt(t *testing.T) {
	h := newHarness(t, source.Start{Epoch: 3, Leader: "PRMR-1", Tick: 5}, true, nil)
	ctx := context.Background()
	recs := []events.Record{
		{Tick: 20, Event: &events.TransactionStart{Database: "shop", TID: "77"}},
		{Tick: 21, Event: &events.Document{TID: "77", Key: "a", Rev: "_a", Doc: []byte(`{"_key":"a"}`)}},
	}
	// A large transaction emitted in parts: the source position stays before it.
	if err := h.ep.Emit(ctx, recs, tailPos(19, 0)); err != nil {
		t.Fatal(err)
	}
	// The heartbeat must not carry a tick below the transaction's records.
	h.ep.lastEmit = time.Time{}
	if err := h.ep.heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.ep.Emit(ctx, []events.Record{{Tick: 22, Event: &events.TransactionCommit{Database: "shop", TID: "77"}}}, tailPos(22, 0)); err != nil {
		t.Fatal(err)
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	if cp := h.checkpoint(); cp.Tick != 22 {
		t.Fatalf("checkpoint %+v, want 22 after the commit", cp)
	}
	for _, b := range h.pub.all() {
		if err := b.Validate(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIdleHeartbeatMovesTheCheckpoint(t *testing.T) {
	h := newHarness(t, source.Start{Epoch: 3, Leader: "PRMR-1", Tick: 5}, true, nil)
	ctx := context.Background()
	if err := h.ep.Emit(ctx, []events.Record{doc(10, "a")}, tailPos(10, 0)); err != nil {
		t.Fatal(err)
	}
	// The tail moved on without records of this shard (position only).
	h.ep.mu.Lock()
	h.ep.lastPos = tailPos(40, 41)
	h.ep.mu.Unlock()
	h.task.leaderTick.Store(44)
	h.ep.lastEmit = time.Time{}
	if err := h.ep.heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	if cp := h.checkpoint(); cp.Tick != 40 || cp.LastScanned != 41 {
		t.Fatalf("checkpoint %+v, want the heartbeat's tick 40", cp)
	}
	bs := h.pub.all()
	last := bs[len(bs)-1]
	hb, ok := last.Records[len(last.Records)-1].Event.(*events.Heartbeat)
	if !ok || hb.LeaderTick != 44 || hb.Phase != "tailing" || last.Pos.Tick != 40 {
		t.Fatalf("last batch %+v: want a heartbeat at tick 40 with leader tick 44", last)
	}
}

func TestSnapshotPhaseIsNotResumable(t *testing.T) {
	h := newHarness(t, source.Start{Epoch: 4, Leader: "PRMR-1"}, false, nil)
	ctx := context.Background()
	pos := source.Position{Epoch: 4, Leader: "PRMR-1", Phase: source.PhaseSnapshot, SnapshotTick: 50}
	if err := h.ep.Emit(ctx, []events.Record{{Event: &events.SnapshotBegin{SnapshotTick: 50, Leader: "PRMR-1", Mode: events.SnapshotFull}}}, pos); err != nil {
		t.Fatal(err)
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	cp := h.checkpoint()
	if cp.Phase != store.PhaseInitialSync || cp.Tick != 0 || cp.Epoch != 4 {
		t.Fatalf("checkpoint %+v: a snapshot position must not be resumable", cp)
	}
	if _, resume, err := h.task.resumePoint(); err != nil || resume {
		t.Fatalf("resumePoint after a snapshot checkpoint: resume=%v err=%v, want a new epoch", resume, err)
	}
}

func TestNothingIsCheckpointedWithoutTheAck(t *testing.T) {
	h := newHarness(t, source.Start{Epoch: 3, Leader: "PRMR-1", Tick: 5}, true, nil)
	h.pub.fail = kafka.ErrUnreachable
	_ = h.ep.Emit(context.Background(), []events.Record{doc(10, "a")}, tailPos(10, 0))
	if err := h.close(); !errors.Is(err, kafka.ErrUnreachable) {
		t.Fatalf("batcher: %v, want the publish error", err)
	}
	if _, err := h.st.Source("s", ref.String()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a checkpoint was written without an ack: %v", err)
	}
}

func TestStoreEpochsAreStrictlyIncreasing(t *testing.T) {
	st, err := store.Open(store.Config{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := &StoreEpochs{Store: st, Sync: "s"}
	ctx := context.Background()
	a, _ := e.Next(ctx, "x")
	b, _ := e.Next(ctx, "x")
	if a != 1 || b != 2 {
		t.Fatalf("epochs %d, %d", a, b)
	}
	if err := st.Put(store.SourcePosition{Sync: "s", Shard: "x", Epoch: 9, Leader: "L", Phase: store.PhaseInitialSync}); err != nil {
		t.Fatal(err)
	}
	// A new process (fresh allocator) continues above the stored epoch.
	e2 := &StoreEpochs{Store: st, Sync: "s"}
	if c, _ := e2.Next(ctx, "x"); c != 10 {
		t.Fatalf("after a stored epoch 9: %d, want 10", c)
	}
	if d, _ := e2.Next(ctx, "other"); d != 1 {
		t.Fatalf("another shard: %d", d)
	}
}

func TestTreeTimeoutFallsBackToAFullSnapshot(t *testing.T) {
	l, err := ctl.NewListener(ctl.ListenerConfig{Topic: "dc2dc.s.ctl.down", Kafka: kafka.Config{Consumer: kafka.ConsumerConfig{Group: "g"}}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, source.Start{Epoch: 5, Leader: "PRMR-1"}, false, l)
	rt := &RemoteTarget{ep: h.ep}
	tree, err := rt.Tree(context.Background())
	if err != nil || tree != nil {
		t.Fatalf("Tree after the timeout: %v, %v; want nil (full snapshot)", tree, err)
	}
	if st := h.task.Status(); st.TreeRequests != 1 || st.TreeFallbacks != 1 {
		t.Fatalf("status %+v: want 1 tree request, 1 fallback", st)
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
	bs := h.pub.all()
	if len(bs) != 1 || len(bs[0].Records) != 1 {
		t.Fatalf("published %+v, want one batch with the request", bs)
	}
	c, ok := bs[0].Records[0].Event.(*events.Control)
	if !ok || c.Type != ctl.TypeTreeRequest || bs[0].Prev != (events.Position{Epoch: 5}) {
		t.Fatalf("batch %+v: want the epoch's first batch with a tree-request", bs[0])
	}
}

func TestTreeAnswerArrivesThroughTheListener(t *testing.T) {
	l, err := ctl.NewListener(ctl.ListenerConfig{Topic: "dc2dc.s.ctl.down", Kafka: kafka.Config{Consumer: kafka.ConsumerConfig{Group: "g"}}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, source.Start{Epoch: 5, Leader: "PRMR-1"}, false, l)
	h.task.cfg.TreeTimeout = time.Minute
	rt := &RemoteTarget{ep: h.ep}
	got := make(chan error, 1)
	go func() {
		revs, err := rt.Revisions(context.Background(), nil)
		if err == nil && (len(revs) != 1 || revs[0].Key != "k") {
			err = errors.New("wrong revisions")
		}
		got <- err
	}()
	// B's side: read the request from the data stream, answer on ctl.down.
	var req ctl.Request
	deadline := time.Now().Add(10 * time.Second)
	for req.ID == "" {
		for _, b := range h.pub.all() {
			for _, c := range ctl.Controls(b) {
				if err := ctl.Decode(c, &req); err != nil {
					t.Fatal(err)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no request published")
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronization
	}
	msg, err := ctl.Message("s", ref, 5, ctl.TypeRevisions, "B", ctl.Answer{ID: req.ID, Revisions: []events.KeyRev{{Key: "k", Rev: "_k"}}})
	if err != nil {
		t.Fatal(err)
	}
	l.Handle(msg.Payload)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if err := h.close(); err != nil {
		t.Fatal(err)
	}
}
