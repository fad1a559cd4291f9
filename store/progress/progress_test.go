package progress

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// op is one step of a table test: add seq (pos = seq*10) or ack seq.
type op struct {
	add, ack uint64
	wantErr  error
	// wantCP is the expected checkpoint position after the step; 0 = none.
	wantCP uint64
}

func TestTrackerTable(t *testing.T) {
	tests := []struct {
		name   string
		window int
		ops    []op
	}{
		{"in order", 4, []op{
			{add: 1}, {add: 2}, {ack: 1, wantCP: 10}, {ack: 2, wantCP: 20},
		}},
		{"out of order waits for the gap", 4, []op{
			{add: 1}, {add: 2}, {add: 3},
			{ack: 3}, {ack: 2}, {ack: 1, wantCP: 30},
		}},
		{"partial prefix", 8, []op{
			{add: 1}, {add: 2}, {add: 3}, {add: 4},
			{ack: 2}, {ack: 1, wantCP: 20}, {ack: 4, wantCP: 20}, {ack: 3, wantCP: 40},
		}},
		{"gaps in seq are allowed", 4, []op{
			{add: 5}, {add: 9}, {ack: 9}, {ack: 5, wantCP: 90},
		}},
		{"add must increase", 4, []op{
			{add: 3}, {add: 3, wantErr: ErrOutOfOrder}, {add: 2, wantErr: ErrOutOfOrder},
		}},
		{"add must increase after checkpoint", 4, []op{
			{add: 3}, {ack: 3, wantCP: 30}, {add: 1, wantErr: ErrOutOfOrder, wantCP: 30},
		}},
		{"unknown ack", 4, []op{
			{add: 1}, {ack: 2, wantErr: ErrUnknownSeq}, {ack: 0, wantErr: ErrUnknownSeq},
		}},
		{"ack below checkpoint is unknown", 4, []op{
			{add: 1}, {ack: 1, wantCP: 10}, {ack: 1, wantErr: ErrUnknownSeq, wantCP: 10},
		}},
		{"duplicate ack behind a gap", 4, []op{
			{add: 1}, {add: 2}, {ack: 2}, {ack: 2, wantErr: ErrDuplicateAck},
		}},
		{"window full", 2, []op{
			{add: 1}, {add: 2}, {add: 3, wantErr: ErrFull},
			{ack: 2}, {add: 3, wantErr: ErrFull}, // acked behind a gap still occupies the window
			{ack: 1, wantCP: 20}, {add: 3, wantCP: 20}, {add: 4, wantCP: 20}, {add: 5, wantErr: ErrFull, wantCP: 20},
		}},
		{"ring wraps around", 3, []op{
			{add: 1}, {add: 2}, {add: 3}, {ack: 1, wantCP: 10}, {add: 4, wantCP: 10},
			{ack: 4, wantCP: 10}, {ack: 3, wantCP: 10}, {add: 5, wantErr: ErrFull, wantCP: 10},
			{ack: 2, wantCP: 40}, {add: 5, wantCP: 40}, {add: 6, wantCP: 40}, {ack: 6, wantCP: 40}, {ack: 5, wantCP: 60},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New[uint64](Config{Window: tc.window})
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range tc.ops {
				var err error
				if o.add != 0 {
					err = tr.TryAdd(o.add, o.add*10)
				} else {
					_, err = tr.Ack(o.ack)
				}
				if !errors.Is(err, o.wantErr) {
					t.Fatalf("step %d %+v: err = %v, want %v", i, o, err, o.wantErr)
				}
				cp, ok := tr.Checkpoint()
				if o.wantCP == 0 && ok {
					t.Fatalf("step %d %+v: checkpoint %d, want none", i, o, cp)
				}
				if o.wantCP != 0 && (!ok || cp != o.wantCP) {
					t.Fatalf("step %d %+v: checkpoint (%d, %v), want %d", i, o, cp, ok, o.wantCP)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New[int](Config{Window: -1}); err == nil {
		t.Fatal("negative window accepted")
	}
	tr, err := New[int](Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.ring) != DefaultWindow {
		t.Fatalf("default window %d, want %d", len(tr.ring), DefaultWindow)
	}
}

func TestAddBlocksUntilAck(t *testing.T) {
	tr, _ := New[int](Config{Window: 1})
	if err := tr.TryAdd(1, 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tr.Add(context.Background(), 2, 2) }()
	waitForWaiter(t, tr)
	select {
	case err := <-done:
		t.Fatalf("Add returned %v while the window was full", err)
	default:
	}
	if _, err := tr.Ack(1); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Add after ack: %v", err)
	}
	if got := tr.InFlight(); got != 1 {
		t.Fatalf("in flight %d, want 1", got)
	}
}

// waitForWaiter polls, with a deadline, until an Add is waiting for room.
func waitForWaiter[P any](t *testing.T, tr *Tracker[P]) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tr.mu.Lock()
		waiting := tr.room != nil
		tr.mu.Unlock()
		if waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no Add is waiting for room")
		}
		runtime.Gosched()
	}
}

func TestAddHonoursContextAndClose(t *testing.T) {
	tr, _ := New[int](Config{Window: 1})
	_ = tr.TryAdd(1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Add(ctx, 2, 2) }()
	waitForWaiter(t, tr)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Add after cancel: %v", err)
	}
	go func() { done <- tr.Add(context.Background(), 2, 2) }()
	waitForWaiter(t, tr)
	tr.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
	tr.Close() // idempotent
	if _, err := tr.Ack(1); err != nil {
		t.Fatalf("Ack after Close: %v", err)
	}
	if cp, ok := tr.Checkpoint(); !ok || cp != 1 {
		t.Fatalf("checkpoint after Close = (%d, %v)", cp, ok)
	}
}

// TestConcurrentAcks sends from one goroutine and acks from several, in a
// scrambled order, and checks the final checkpoint and that it never went
// backwards or past an unacked batch.
func TestConcurrentAcks(t *testing.T) {
	const total = 5000
	tr, _ := New[uint64](Config{Window: 64})
	var mu sync.Mutex
	acked := make(map[uint64]bool)
	work := make(chan uint64, 64)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for seq := range work {
				mu.Lock()
				acked[seq] = true
				mu.Unlock()
				if _, err := tr.Ack(seq); err != nil {
					t.Error(err)
					return
				}
				cp, ok := tr.Checkpoint()
				if !ok {
					continue
				}
				if cp < last {
					t.Errorf("checkpoint went back from %d to %d", last, cp)
				}
				last = cp
				mu.Lock()
				for s := uint64(1); s <= cp; s++ {
					if !acked[s] {
						t.Errorf("checkpoint %d passes unacked batch %d", cp, s)
						break
					}
				}
				mu.Unlock()
			}
		}()
	}
	for seq := uint64(1); seq <= total; seq++ {
		if err := tr.Add(context.Background(), seq, seq); err != nil {
			t.Fatal(err)
		}
		work <- seq
	}
	close(work)
	wg.Wait()
	if cp, ok := tr.Checkpoint(); !ok || cp != total {
		t.Fatalf("final checkpoint (%d, %v), want %d", cp, ok, total)
	}
	if n := tr.InFlight(); n != 0 {
		t.Fatalf("in flight %d after all acks", n)
	}
}

// model is the obvious, unbounded implementation the tracker must agree with.
type model struct {
	seqs   []uint64 // added, in order
	acked  map[uint64]bool
	window int
	cpIdx  int // number of seqs covered by the checkpoint
}

func (m *model) inFlight() int { return len(m.seqs) - m.cpIdx }

func (m *model) checkpoint() (uint64, bool) {
	for m.cpIdx < len(m.seqs) && m.acked[m.seqs[m.cpIdx]] {
		m.cpIdx++
	}
	if m.cpIdx == 0 {
		return 0, false
	}
	return m.seqs[m.cpIdx-1], true
}

func FuzzTrackerAgainstModel(f *testing.F) {
	f.Add([]byte{3, 0, 1, 0, 2, 0, 3, 1, 2, 1, 0, 1, 1})
	f.Add([]byte{1, 0, 5, 0, 1, 1, 0, 1, 0, 0, 9, 1, 1})
	f.Add([]byte{8, 0, 1, 0, 1, 0, 1, 1, 7, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		window := int(data[0]%8) + 1
		data = data[1:]
		tr, err := New[uint64](Config{Window: window})
		if err != nil {
			t.Fatal(err)
		}
		m := &model{acked: map[uint64]bool{}, window: window}
		var next uint64
		for len(data) >= 2 {
			kind, arg := data[0]%2, data[1]
			data = data[2:]
			if kind == 0 { // add with a step of arg%4 (0 = repeat: must fail)
				seq := next + uint64(arg%4)
				err := tr.TryAdd(seq, seq)
				var want error
				switch {
				case len(m.seqs) > 0 && seq <= m.seqs[len(m.seqs)-1]:
					want = ErrOutOfOrder
				case m.inFlight() == window:
					want = ErrFull
				}
				if !errors.Is(err, want) || (want == nil && err != nil) {
					t.Fatalf("add %d: err %v, want %v", seq, err, want)
				}
				if want == nil {
					m.seqs = append(m.seqs, seq)
					next = seq
				}
			} else { // ack one of the added seqs (or one past the end)
				var seq uint64
				if len(m.seqs) > 0 {
					seq = m.seqs[int(arg)%len(m.seqs)]
				}
				if arg%16 == 15 {
					seq = next + 1
				}
				_, err := tr.Ack(seq)
				var want error
				idx := -1
				for i, s := range m.seqs {
					if s == seq {
						idx = i
					}
				}
				switch {
				case idx < m.cpIdx:
					want = ErrUnknownSeq
				case m.acked[seq]:
					want = ErrDuplicateAck
				}
				if !errors.Is(err, want) || (want == nil && err != nil) {
					t.Fatalf("ack %d: err %v, want %v", seq, err, want)
				}
				if want == nil {
					m.acked[seq] = true
				}
			}
			wantCP, wantOK := m.checkpoint()
			cp, ok := tr.Checkpoint()
			if cp != wantCP || ok != wantOK {
				t.Fatalf("checkpoint (%d, %v), model (%d, %v)", cp, ok, wantCP, wantOK)
			}
			if tr.InFlight() != m.inFlight() {
				t.Fatalf("in flight %d, model %d", tr.InFlight(), m.inFlight())
			}
		}
	})
}

// BenchmarkAddAck measures one Add and one Ack with acks arriving in pairs
// out of order, the common case of a producer with two requests in flight.
func BenchmarkAddAck(b *testing.B) {
	tr, _ := New[uint64](Config{Window: 1024})
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i += 2 {
		s := uint64(i) + 1
		_ = tr.Add(ctx, s, s)
		_ = tr.Add(ctx, s+1, s+1)
		_, _ = tr.Ack(s + 1)
		_, _ = tr.Ack(s)
	}
}

// BenchmarkAckDeepWindow measures acks spread over a full window of 4096
// in-flight batches (binary search plus a long advance every 4096 acks).
func BenchmarkAckDeepWindow(b *testing.B) {
	const w = 4096
	tr, _ := New[uint64](Config{Window: w})
	b.ReportAllocs()
	var seq uint64
	for i := 0; i < b.N; i += w {
		base := seq
		for k := 0; k < w; k++ {
			seq++
			_ = tr.TryAdd(seq, seq)
		}
		for k := w; k > 0; k-- { // reverse order: the worst case
			_, _ = tr.Ack(base + uint64(k))
		}
	}
}
