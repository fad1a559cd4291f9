package progress

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// DefaultWindow is the number of in-flight batches a Tracker holds when
// Config.Window is zero.
const DefaultWindow = 4096

var (
	// ErrFull is returned by TryAdd when Config.Window batches are in flight.
	ErrFull = errors.New("progress: too many batches in flight")
	// ErrClosed is returned by Add and TryAdd after Close.
	ErrClosed = errors.New("progress: tracker closed")
	// ErrOutOfOrder is returned by Add when seq is not greater than the
	// previous one: batches must be added in send order.
	ErrOutOfOrder = errors.New("progress: sequence number not increasing")
	// ErrUnknownSeq is returned by Ack for a sequence number that is not in
	// flight (never added, or already below the checkpoint).
	ErrUnknownSeq = errors.New("progress: ack for a batch that is not in flight")
	// ErrDuplicateAck is returned by Ack for a batch that is already acked.
	ErrDuplicateAck = errors.New("progress: batch acked twice")
)

// Config configures a Tracker.
type Config struct {
	// Window is the maximum number of batches in flight (added, and not yet
	// covered by the checkpoint). Zero means DefaultWindow.
	Window int
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Window < 0 {
		errs = append(errs, fmt.Errorf("progress: Window is %d: use a positive number of in-flight batches, or 0 for the default %d", c.Window, DefaultWindow))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	return c
}

type entry[P any] struct {
	seq   uint64
	pos   P
	acked bool
}

// Tracker computes the checkpoint of one stream of batches (one shard). P is
// the caller's position type (for example a WAL tick, or a Kafka offset).
type Tracker[P any] struct {
	mu      sync.Mutex
	ring    []entry[P] // capacity Window
	head    int        // index of the oldest in-flight entry
	n       int        // number of in-flight entries
	lastSeq uint64
	added   bool // lastSeq is meaningful
	cp      P
	cpOK    bool
	cpSeq   uint64
	closed  bool
	// room is closed (and replaced by nil) when entries leave the window or
	// the tracker is closed; Adds waiting for room select on it.
	room chan struct{}
}

// New returns an empty tracker. Checkpoint reports ok=false until the first
// batch is acknowledged.
func New[P any](cfg Config) (*Tracker[P], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Tracker[P]{ring: make([]entry[P], cfg.Window)}, nil
}

// Add records that the batch seq, ending at position pos, was sent. Batches
// must be added in send order with strictly increasing seq. When the window
// is full, Add waits until acks free room, ctx ends (returning ctx.Err()) or
// the tracker is closed (ErrClosed).
func (t *Tracker[P]) Add(ctx context.Context, seq uint64, pos P) error {
	for {
		t.mu.Lock()
		err := t.addLocked(seq, pos)
		if !errors.Is(err, ErrFull) {
			t.mu.Unlock()
			return err
		}
		if t.room == nil {
			t.room = make(chan struct{})
		}
		room := t.room
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-room:
		}
	}
}

// TryAdd is Add without waiting: it returns ErrFull when the window is full.
func (t *Tracker[P]) TryAdd(seq uint64, pos P) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.addLocked(seq, pos)
}

func (t *Tracker[P]) addLocked(seq uint64, pos P) error {
	if t.closed {
		return ErrClosed
	}
	if t.added && seq <= t.lastSeq {
		return fmt.Errorf("%w: got %d after %d", ErrOutOfOrder, seq, t.lastSeq)
	}
	if t.n == len(t.ring) {
		return ErrFull
	}
	t.ring[(t.head+t.n)%len(t.ring)] = entry[P]{seq: seq, pos: pos}
	t.n++
	t.lastSeq, t.added = seq, true
	return nil
}

// Ack records that Kafka acknowledged the batch seq and advances the
// checkpoint over the unbroken run of acknowledged batches. It reports
// whether the checkpoint moved.
func (t *Tracker[P]) Ack(seq uint64) (advanced bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.find(seq)
	if !ok {
		return false, fmt.Errorf("%w: seq %d", ErrUnknownSeq, seq)
	}
	e := &t.ring[i]
	if e.acked {
		return false, fmt.Errorf("%w: seq %d", ErrDuplicateAck, seq)
	}
	e.acked = true
	var zero entry[P]
	for t.n > 0 && t.ring[t.head].acked {
		h := &t.ring[t.head]
		t.cp, t.cpSeq, t.cpOK = h.pos, h.seq, true
		*h = zero // drop the reference to pos
		t.head = (t.head + 1) % len(t.ring)
		t.n--
		advanced = true
	}
	if advanced && t.room != nil {
		close(t.room)
		t.room = nil
	}
	return advanced, nil
}

// find returns the ring index of the in-flight entry with sequence seq.
func (t *Tracker[P]) find(seq uint64) (int, bool) {
	k := sort.Search(t.n, func(k int) bool {
		return t.ring[(t.head+k)%len(t.ring)].seq >= seq
	})
	if k == t.n {
		return 0, false
	}
	i := (t.head + k) % len(t.ring)
	return i, t.ring[i].seq == seq
}

// Checkpoint returns the position of the last batch of the longest
// acknowledged prefix, and false when no batch has been acknowledged yet.
func (t *Tracker[P]) Checkpoint() (pos P, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cp, t.cpOK
}

// CheckpointSeq is Checkpoint with the sequence number of that batch.
func (t *Tracker[P]) CheckpointSeq() (seq uint64, pos P, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cpSeq, t.cp, t.cpOK
}

// InFlight returns the number of batches added and not yet covered by the
// checkpoint (acknowledged batches behind a gap count as in flight).
func (t *Tracker[P]) InFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// Close makes pending and future Adds return ErrClosed. Acks and Checkpoint
// keep working, so a sender can drain outstanding acks after closing.
// Close is idempotent.
func (t *Tracker[P]) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.room != nil {
		close(t.room)
		t.room = nil
	}
}
