package arangosim

import (
	"sort"
	"sync"
)

// Marker types of the RocksDB WAL tail (spec §1.5).
const (
	MarkerDatabaseCreate   = 1100
	MarkerDatabaseDrop     = 1101
	MarkerCollectionCreate = 2000
	MarkerCollectionDrop   = 2001
	MarkerCollectionRename = 2002
	MarkerCollectionChange = 2003
	MarkerCollectionTrunc  = 2004
	MarkerIndexCreate      = 2100
	MarkerIndexDrop        = 2101
	MarkerViewCreate       = 2110
	MarkerViewDrop         = 2111
	MarkerViewChange       = 2112
	MarkerTrxStart         = 2200
	MarkerTrxCommit        = 2201
	MarkerDocument         = 2300
	MarkerRemove           = 2302
)

// Marker is one WAL entry of a DB-Server, already rendered as its JSON line. What
// markers share (their database and shard; for the document markers of one write
// batch and shard also their head) lives in one markerSrc: a marker is 72 bytes with
// two pointers, which matters as the WAL keeps every marker and the GC scans them.
type Marker struct {
	Tick       uint64
	BatchStart uint64 // first tick of the write batch the marker belongs to
	BatchEnd   uint64 // last tick of that write batch
	Type       int
	TID        uint64
	*markerSrc // DB, DBID, Shard, PlanID, System
	// The marker object (without the trailing newline) is head, or, for a document
	// marker (data != nil), `{"tick":"<Tick>"` + head + data + "}": head is then the
	// part from `,"type"` to `"data":`, and data the document's JSON, shared with the
	// stored *Doc.
	data []byte
}

// markerSrc is what markers have in common; never nil in a Marker.
type markerSrc struct {
	DB     string
	DBID   uint64
	Shard  string // shard name for collection/index/document markers, view guid for views
	PlanID uint64 // cluster collection id (0 for database/view/transaction markers)
	System bool   // marker of a system collection
	head   []byte // see Marker
}

// tickPrefix starts every marker object.
const tickPrefix = `{"tick":"`

// Len is the length of the marker object.
func (m *Marker) Len() int {
	if m.data != nil {
		return len(tickPrefix) + decimalLen(m.Tick) + 1 + len(m.head) + len(m.data) + 1
	}
	return len(m.head)
}

// decimalLen is the number of decimal digits of v.
func decimalLen(v uint64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// AppendJSON appends the marker object (without the trailing newline).
func (m *Marker) AppendJSON(dst []byte) []byte {
	if m.data == nil {
		return append(dst, m.head...)
	}
	dst = appendTick(dst, m.Tick)
	dst = append(dst, m.head...)
	dst = append(dst, m.data...)
	return append(dst, '}')
}

// JSON returns the marker object (without the trailing newline).
func (m *Marker) JSON() []byte { return m.AppendJSON(make([]byte, 0, m.Len())) }

// pendingMarker is a marker before its tick is assigned: render appends the object
// for the tick; a document marker has none and carries its shared source (with its
// head) and its data instead.
type pendingMarker struct {
	Type   int
	DB     string
	DBID   uint64
	Shard  string
	PlanID uint64
	System bool
	TID    uint64
	render func(dst []byte, tick uint64) []byte
	src    *markerSrc // document markers (see Marker)
	data   []byte
}

// WAL is the write-ahead log of one DB-Server. Ticks are that server's own sequence.
type WAL struct {
	mu sync.RWMutex
	// entries point into the markers of each write batch (one allocation per batch):
	// growing the log copies pointers, not markers.
	entries []*Marker
	last    uint64 // latest tick handed out
	pruned  uint64 // every tick <= pruned was removed
	notify  chan struct{}
	// onAppend, when set, is called with the new markers (persistence).
	onAppend func([]Marker)
	// onPrune, when set, is called after automatic pruning (persistence).
	onPrune func(upTo uint64)
	// max bounds the number of markers kept (0 = unbounded).
	max int
}

func newWAL(base uint64) *WAL {
	return &WAL{last: base, notify: make(chan struct{})}
}

// LastTick returns the server's latest tick.
func (w *WAL) LastTick() uint64 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.last
}

// Range returns the first available tick and the latest tick.
func (w *WAL) Range() (first, last uint64) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	first = w.pruned + 1
	if len(w.entries) > 0 {
		first = w.entries[0].Tick
	}
	return first, w.last
}

// Pruned returns the last removed tick (0 if nothing was pruned).
func (w *WAL) Pruned() uint64 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.pruned
}

// Changed returns a channel closed at the next append.
func (w *WAL) Changed() <-chan struct{} {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.notify
}

// append assigns consecutive ticks to ms as one write batch and stores them.
// It returns the ticks of the batch.
func (w *WAL) append(ms []pendingMarker) (first, last uint64) {
	if len(ms) == 0 {
		return 0, 0
	}
	w.mu.Lock()
	start := w.last + 1
	end := w.last + uint64(len(ms))
	// The rendered markers of the whole batch share one buffer and one array of
	// sources; a marker's slice of the buffer is never appended to (cap = len).
	// Document markers render nothing here.
	out := make([]Marker, len(ms))
	var (
		buf  []byte
		srcs []markerSrc
	)
	for i := range ms {
		pm := &ms[i]
		t := start + uint64(i)
		out[i] = Marker{Tick: t, BatchStart: start, BatchEnd: end, Type: pm.Type, TID: pm.TID, markerSrc: pm.src, data: pm.data}
		if pm.render != nil {
			if srcs == nil {
				n := 0
				for j := i; j < len(ms); j++ {
					if ms[j].render != nil {
						n++
					}
				}
				srcs = make([]markerSrc, 0, n)
				buf = make([]byte, 0, 160*n)
			}
			n := len(buf)
			buf = pm.render(buf, t)
			srcs = append(srcs, markerSrc{DB: pm.DB, DBID: pm.DBID, Shard: pm.Shard, PlanID: pm.PlanID, System: pm.System,
				head: buf[n:len(buf):len(buf)]})
			out[i].markerSrc = &srcs[len(srcs)-1]
		}
		w.entries = append(w.entries, &out[i])
	}
	w.last = end
	var prunedTo uint64
	if w.max > 0 && len(w.entries) > w.max+w.max/4 {
		prunedTo = w.entries[len(w.entries)-w.max-1].Tick
		w.pruneLocked(prunedTo)
	}
	ch := w.notify
	w.notify = make(chan struct{})
	cb, pcb := w.onAppend, w.onPrune
	w.mu.Unlock()
	close(ch)
	if cb != nil {
		cb(out)
	}
	if prunedTo != 0 && pcb != nil {
		pcb(prunedTo)
	}
	return start, end
}

// restore puts persisted markers back (startup only).
func (w *WAL) restore(ms []Marker, last, pruned uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.entries = make([]*Marker, len(ms))
	for i := range ms {
		w.entries[i] = &ms[i]
	}
	if last > w.last {
		w.last = last
	}
	w.pruned = pruned
}

// Prune removes every marker with a tick <= upTo. A tailer asking for an older tick
// then gets frompresent=false. It returns the number of removed markers.
func (w *WAL) Prune(upTo uint64) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pruneLocked(upTo)
}

func (w *WAL) pruneLocked(upTo uint64) int {
	if upTo > w.last {
		upTo = w.last
	}
	if upTo <= w.pruned {
		return 0
	}
	n := sort.Search(len(w.entries), func(i int) bool { return w.entries[i].Tick > upTo })
	w.entries = append([]*Marker(nil), w.entries[n:]...)
	w.pruned = upTo
	return n
}

// since returns the markers with Tick > tick (shared slice, read-only) and the WAL state.
func (w *WAL) since(tick uint64) (ms []*Marker, last, pruned uint64) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	n := sort.Search(len(w.entries), func(i int) bool { return w.entries[i].Tick > tick })
	return w.entries[n:len(w.entries):len(w.entries)], w.last, w.pruned
}
