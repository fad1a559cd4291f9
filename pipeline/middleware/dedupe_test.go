package middleware

import (
	"errors"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

func pos(e, t uint64, s uint32) events.Position { return events.Position{Epoch: e, Tick: t, Sub: s} }

func TestDedupeTable(t *testing.T) {
	type step struct {
		prev, pos  events.Position
		handlerErr error
		wantCall   bool
		wantCode   failure.Code // expected error code ("" = no error unless handlerErr)
		wantApply  events.Position
	}
	tests := []struct {
		name   string
		stored map[string]events.Position // durable positions
		steps  []step
	}{
		{"in order, then replays", nil, []step{
			{prev: pos(1, 0, 0), pos: pos(1, 0, 1), wantCall: true, wantApply: pos(1, 0, 1)},
			{prev: pos(1, 0, 1), pos: pos(1, 0, 2), wantCall: true, wantApply: pos(1, 0, 2)},
			{prev: pos(1, 0, 2), pos: pos(1, 50, 0), wantCall: true, wantApply: pos(1, 50, 0)},
			{prev: pos(1, 0, 2), pos: pos(1, 50, 0), wantCall: false, wantApply: pos(1, 50, 0)}, // exact replay
			{prev: pos(1, 0, 0), pos: pos(1, 0, 1), wantCall: false, wantApply: pos(1, 50, 0)},  // older replay
			{prev: pos(1, 50, 0), pos: pos(1, 90, 0), wantCall: true, wantApply: pos(1, 90, 0)},
		}},
		{"failed handler does not advance", nil, []step{
			{prev: pos(1, 0, 0), pos: pos(1, 10, 0), wantCall: true, wantApply: pos(1, 10, 0)},
			{prev: pos(1, 10, 0), pos: pos(1, 20, 0), handlerErr: failure.Retryable(errors.New("down")), wantCall: true, wantApply: pos(1, 10, 0)},
			{prev: pos(1, 10, 0), pos: pos(1, 20, 0), wantCall: true, wantApply: pos(1, 20, 0)}, // redelivered
		}},
		{"overlap: Prev below P is a continuation", nil, []step{
			{prev: pos(1, 0, 0), pos: pos(1, 30, 0), wantCall: true, wantApply: pos(1, 30, 0)},
			{prev: pos(1, 20, 0), pos: pos(1, 40, 0), wantCall: true, wantApply: pos(1, 40, 0)},
		}},
		{"gap is refused", nil, []step{
			{prev: pos(1, 0, 0), pos: pos(1, 30, 0), wantCall: true, wantApply: pos(1, 30, 0)},
			{prev: pos(1, 40, 0), pos: pos(1, 50, 0), wantCall: false, wantCode: failure.CodeStreamGap, wantApply: pos(1, 30, 0)},
			{prev: pos(1, 30, 0), pos: pos(1, 40, 0), wantCall: true, wantApply: pos(1, 40, 0)},
		}},
		{"fresh receiver mid-epoch is a gap", nil, []step{
			{prev: pos(1, 10, 0), pos: pos(1, 20, 0), wantCall: false, wantCode: failure.CodeStreamGap},
		}},
		{"new epoch supersedes", nil, []step{
			{prev: pos(1, 0, 0), pos: pos(1, 30, 0), wantCall: true, wantApply: pos(1, 30, 0)},
			{prev: pos(2, 0, 0), pos: pos(2, 0, 1), wantCall: true, wantApply: pos(2, 0, 1)},
			{prev: pos(1, 30, 0), pos: pos(1, 40, 0), wantCall: false, wantApply: pos(2, 0, 1)}, // old epoch: replay
			{prev: pos(3, 5, 0), pos: pos(3, 9, 0), wantCall: false, wantCode: failure.CodeStreamGap, wantApply: pos(2, 0, 1)},
		}},
		{"durable position seeds memory", map[string]events.Position{testShard.String(): pos(4, 100, 0)}, []step{
			{prev: pos(4, 50, 0), pos: pos(4, 100, 0), wantCall: false, wantApply: pos(4, 100, 0)},
			{prev: pos(4, 100, 0), pos: pos(4, 120, 0), wantCall: true, wantApply: pos(4, 120, 0)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDedupe(&memApplied{pos: tt.stored}, nil)
			var gaps int
			d.OnGap = func(shard string, applied events.Position, b *events.Batch) { gaps++ }
			wantGaps := 0
			for i, st := range tt.steps {
				b := batchAt(testShard, st.pos.Epoch, st.pos.Tick, st.pos.Sub, 1)
				b.Prev = st.prev
				msg := message.NewMessage("u", nil)
				msg.SetContext(WithBatch(msg.Context(), b))
				called := false
				_, err := d.Middleware(func(*message.Message) ([]*message.Message, error) {
					called = true
					return nil, st.handlerErr
				})(msg)
				if called != st.wantCall {
					t.Fatalf("step %d (%s after %s): called = %v", i, st.pos, st.prev, called)
				}
				switch {
				case st.wantCode != "":
					wantGaps++
					if failure.CodeOf(err) != st.wantCode || !failure.IsPermanent(err) {
						t.Fatalf("step %d: err %v, want permanent %s", i, err, st.wantCode)
					}
				case st.handlerErr != nil:
					if !errors.Is(err, st.handlerErr) {
						t.Fatalf("step %d: err %v", i, err)
					}
				case err != nil:
					t.Fatalf("step %d: %v", i, err)
				}
				if got, _, _ := d.Applied(testShard.String()); got != st.wantApply {
					t.Fatalf("step %d: applied %s, want %s", i, got, st.wantApply)
				}
			}
			if gaps != wantGaps {
				t.Errorf("OnGap called %d times, want %d", gaps, wantGaps)
			}
		})
	}
}

func TestDedupeForgetReloads(t *testing.T) {
	store := &memApplied{pos: map[string]events.Position{}}
	d := NewDedupe(store, nil)
	ok := func(*message.Message) ([]*message.Message, error) { return nil, nil }
	run := func(b *events.Batch) bool {
		called := false
		msg := message.NewMessage("u", nil)
		msg.SetContext(WithBatch(msg.Context(), b))
		if _, err := d.Middleware(func(m *message.Message) ([]*message.Message, error) { called = true; return ok(m) })(msg); err != nil {
			t.Fatal(err)
		}
		return called
	}
	if !run(batchAt(testShard, 1, 10, 0, 1)) {
		t.Fatal("first batch skipped")
	}
	// The store moves on elsewhere (another owner applied more); memory
	// still says 10 until the shard is forgotten.
	store.mu.Lock()
	store.pos[testShard.String()] = pos(1, 30, 0)
	store.mu.Unlock()
	if !run(after(batchAt(testShard, 1, 20, 0, 1), batchAt(testShard, 1, 10, 0, 1))) {
		t.Fatal("20 skipped before Forget")
	}
	d.Forget(testShard.String())
	if run(after(batchAt(testShard, 1, 30, 0, 1), batchAt(testShard, 1, 20, 0, 1))) {
		t.Fatal("30 applied although the store says 30 is applied")
	}
}

// TestDedupeGapAsksTheSourceAgain: this worker held a shard's partition,
// lost it in a rebalance and got it back; meanwhile another worker applied
// more. The next batch looks like a gap against the stale position in
// memory, but the source closes it: no gap, no resync, no poison. A real
// gap (the source does not close it) stays one.
func TestDedupeGapAsksTheSourceAgain(t *testing.T) {
	store := &memApplied{pos: map[string]events.Position{}}
	d := NewDedupe(store, nil)
	gaps := 0
	d.OnGap = func(string, events.Position, *events.Batch) { gaps++ }
	run := func(b *events.Batch) (bool, error) {
		called := false
		msg := message.NewMessage("u", nil)
		msg.SetContext(WithBatch(msg.Context(), b))
		_, err := d.Middleware(func(*message.Message) ([]*message.Message, error) { called = true; return nil, nil })(msg)
		return called, err
	}
	b10 := batchAt(testShard, 1, 10, 0, 1)
	if called, err := run(b10); !called || err != nil {
		t.Fatalf("first batch: %v %v", called, err)
	}
	store.mu.Lock()
	store.pos[testShard.String()] = pos(1, 30, 0) // the other worker's
	store.mu.Unlock()
	b40 := after(batchAt(testShard, 1, 40, 0, 1), batchAt(testShard, 1, 30, 0, 1))
	if called, err := run(b40); !called || err != nil || gaps != 0 {
		t.Fatalf("continuation of the other worker's position: called %v, err %v, %d gaps", called, err, gaps)
	}
	if p, _, _ := d.Applied(testShard.String()); p != pos(1, 40, 0) {
		t.Fatalf("applied after it: %s", p)
	}
	b60 := after(batchAt(testShard, 1, 60, 0, 1), batchAt(testShard, 1, 50, 0, 1))
	if called, err := run(b60); called || failure.CodeOf(err) != failure.CodeStreamGap || gaps != 1 {
		t.Fatalf("a real gap: called %v, err %v, %d gaps", called, err, gaps)
	}
}

func TestDedupeWithoutBatch(t *testing.T) {
	_, err := NewDedupe(nil, nil).Middleware(func(*message.Message) ([]*message.Message, error) {
		t.Fatal("handler called")
		return nil, nil
	})(message.NewMessage("u", nil))
	if failure.CodeOf(err) != failure.CodeInternal {
		t.Fatalf("err %v", err)
	}
}

func TestDedupeStoreError(t *testing.T) {
	ioErr := failure.WithCode(failure.CodeCheckpointIO, errors.New("read: input/output error"))
	store := &memApplied{err: ioErr}
	d := NewDedupe(store, nil)
	msg := message.NewMessage("u", nil)
	msg.SetContext(WithBatch(msg.Context(), batchAt(testShard, 1, 10, 0, 1)))
	_, err := d.Middleware(func(*message.Message) ([]*message.Message, error) {
		t.Fatal("handler called without knowing the applied position")
		return nil, nil
	})(msg)
	if !errors.Is(err, ioErr) || failure.CodeOf(err) != failure.CodeCheckpointIO {
		t.Fatalf("err %v", err)
	}
	// AppliedFunc adapts a closure.
	var f AppliedPositions = AppliedFunc(func(shard string) (events.Position, bool, error) {
		return pos(2, 5, 0), shard == testShard.String(), nil
	})
	if p, ok, err := NewDedupe(f, nil).Applied(testShard.String()); !ok || err != nil || p != pos(2, 5, 0) {
		t.Errorf("AppliedFunc: %s %v %v", p, ok, err)
	}
}

func TestDedupeRedeliverNamedReplays(t *testing.T) {
	store := &memApplied{pos: map[string]events.Position{testShard.String(): pos(1, 30, 0)}}
	d := NewDedupe(store, nil)
	d.Redeliver = func(b *events.Batch) bool { return b.Pos.Tick == 20 }
	run := func(b *events.Batch) bool {
		called := false
		msg := message.NewMessage("u", nil)
		msg.SetContext(WithBatch(msg.Context(), b))
		if _, err := d.Middleware(func(*message.Message) ([]*message.Message, error) { called = true; return nil, nil })(msg); err != nil {
			t.Fatal(err)
		}
		return called
	}
	if run(after(batchAt(testShard, 1, 10, 0, 1), batchAt(testShard, 1, 5, 0, 1))) {
		t.Error("a replay Redeliver does not name reached the handler")
	}
	if !run(after(batchAt(testShard, 1, 20, 0, 1), batchAt(testShard, 1, 10, 0, 1))) {
		t.Error("a replay Redeliver names did not reach the handler")
	}
	if p, _, _ := d.Applied(testShard.String()); p != pos(1, 30, 0) {
		t.Errorf("applied position after a redelivered replay: %s, want 1:30.0", p)
	}
}
