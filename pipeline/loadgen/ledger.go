package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/dc2dc/dc2dc/events"
)

// Ledger is the stand-in for cluster B: a Pebble database that records every
// applied event and the applied position of every shard.
//
// Keys: "p/<shard>" → position (epoch, tick, sub); "e/<shard>/<tick:8 bytes>"
// → 1 per applied event; "c/<shard>" → counters (applied, duplicates, gaps).
//
// Shards apply concurrently, each under its own lock (as cluster B applies
// different shards in parallel), so the synced commits of several shards
// share fsyncs in Pebble's commit pipeline; one shard's applies are serial.
type Ledger struct {
	db *pebble.DB
	mu sync.Mutex // guards shards (the map, not the states)
	// per shard: positions and counters, loaded lazily.
	shards map[string]*shardState
}

type shardState struct {
	mu     sync.Mutex // held across a read or an apply of the shard
	loaded bool
	shardData
}

type shardData struct {
	pos     events.Position
	applied uint64
	dups    uint64
	gaps    uint64
	// top is the highest tick with a recorded event (0: none), found once
	// by a reverse seek and then kept: a tick above it cannot be a
	// duplicate, so only ticks at or below it are looked up.
	top uint64
}

// ShardReport is what the ledger holds for one shard.
type ShardReport struct {
	Shard      string
	Position   events.Position
	Applied    uint64 // events applied
	Duplicates uint64 // events applied a second time
	Gaps       uint64 // events whose tick did not follow the previous one
}

// OpenLedger opens (or creates) the ledger in dir.
func OpenLedger(dir string) (*Ledger, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("open the target ledger %s: %w", dir, err)
	}
	return &Ledger{db: db, shards: map[string]*shardState{}}, nil
}

// Close closes the ledger.
func (l *Ledger) Close() error { return l.db.Close() }

// lock returns the state of shard, locked (the caller unlocks s.mu) and
// loaded.
func (l *Ledger) lock(shard string) (*shardState, error) {
	l.mu.Lock()
	s, ok := l.shards[shard]
	if !ok {
		s = &shardState{}
		l.shards[shard] = s
	}
	l.mu.Unlock()
	s.mu.Lock()
	if !s.loaded {
		if err := l.load(shard, &s.shardData); err != nil {
			s.mu.Unlock()
			return nil, err
		}
		s.loaded = true
	}
	return s, nil
}

// load reads the position, counters and top tick of shard into s.
func (l *Ledger) load(shard string, s *shardData) error {
	v, closer, err := l.db.Get([]byte("p/" + shard))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return err
	default:
		if len(v) != 20 {
			_ = closer.Close()
			return fmt.Errorf("ledger: corrupt position of %s", shard)
		}
		s.pos = events.Position{Epoch: binary.BigEndian.Uint64(v), Tick: binary.BigEndian.Uint64(v[8:]), Sub: binary.BigEndian.Uint32(v[16:])}
		_ = closer.Close()
	}
	v, closer, err = l.db.Get([]byte("c/" + shard))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return err
	default:
		if len(v) != 24 {
			_ = closer.Close()
			return fmt.Errorf("ledger: corrupt counters of %s", shard)
		}
		s.applied, s.dups, s.gaps = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]), binary.BigEndian.Uint64(v[16:])
		_ = closer.Close()
	}
	s.top, err = l.topTick(shard)
	return err
}

// Applied returns the applied position of a shard (middleware.AppliedPositions).
func (l *Ledger) Applied(shard string) (events.Position, bool, error) {
	s, err := l.lock(shard)
	if err != nil {
		return events.Position{}, false, err
	}
	defer s.mu.Unlock()
	if s.pos.IsZero() {
		return events.Position{}, false, nil
	}
	return s.pos, true, nil
}

// Apply applies a batch: every document record whose tick is above the
// shard's applied position (within the same epoch) is appended; the new
// position and counters are written in the same synced Pebble batch. It
// returns how many events it applied.
func (l *Ledger) Apply(b *events.Batch) (int, error) {
	shard := b.Shard.String()
	s, err := l.lock(shard)
	if err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if !s.pos.Less(b.Pos) {
		return 0, nil // a replay of something applied
	}
	next := s.shardData
	wb := l.db.NewBatch()
	defer func() { _ = wb.Close() }() // the commit below is what counts
	n := 0
	for _, r := range b.Records {
		if _, ok := r.Event.(*events.Document); !ok || r.Tick == 0 {
			continue
		}
		if b.Pos.Epoch == next.pos.Epoch && r.Tick <= next.pos.Tick {
			continue // inside a batch that straddles the applied position
		}
		if r.Tick != next.pos.Tick+1 {
			next.gaps++
		}
		key := eventKey(shard, r.Tick)
		if r.Tick <= next.top {
			if _, closer, err := l.db.Get(key); err == nil {
				_ = closer.Close()
				next.dups++
			} else if !errors.Is(err, pebble.ErrNotFound) {
				return 0, err
			}
		} else {
			next.top = r.Tick
		}
		if err := wb.Set(key, []byte{1}, nil); err != nil {
			return 0, err
		}
		next.pos = events.Position{Epoch: b.Pos.Epoch, Tick: r.Tick}
		next.applied++
		n++
	}
	next.pos = b.Pos
	var pv [20]byte
	binary.BigEndian.PutUint64(pv[:], next.pos.Epoch)
	binary.BigEndian.PutUint64(pv[8:], next.pos.Tick)
	binary.BigEndian.PutUint32(pv[16:], next.pos.Sub)
	var cv [24]byte
	binary.BigEndian.PutUint64(cv[:], next.applied)
	binary.BigEndian.PutUint64(cv[8:], next.dups)
	binary.BigEndian.PutUint64(cv[16:], next.gaps)
	if err := wb.Set([]byte("p/"+shard), pv[:], nil); err != nil {
		return 0, err
	}
	if err := wb.Set([]byte("c/"+shard), cv[:], nil); err != nil {
		return 0, err
	}
	if err := wb.Commit(pebble.Sync); err != nil {
		return 0, err
	}
	s.shardData = next
	return n, nil
}

// topTick returns the highest tick with a recorded event of shard, or 0.
func (l *Ledger) topTick(shard string) (uint64, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: eventKey(shard, 0), UpperBound: eventKey(shard, ^uint64(0))})
	if err != nil {
		return 0, err
	}
	var top uint64
	if it.Last() {
		k := it.Key()
		top = binary.BigEndian.Uint64(k[len(k)-8:])
	}
	return top, it.Close()
}

func eventKey(shard string, tick uint64) []byte {
	k := make([]byte, 0, 2+len(shard)+1+8)
	k = append(k, "e/"...)
	k = append(k, shard...)
	k = append(k, '/')
	return binary.BigEndian.AppendUint64(k, tick)
}

// Report returns every shard's counters, and verifies that the events
// recorded for each shard are exactly the ticks 1..Applied (no hole).
func (l *Ledger) Report() ([]ShardReport, error) {
	shards, err := l.shardNames()
	if err != nil {
		return nil, err
	}
	out := make([]ShardReport, 0, len(shards))
	for _, sh := range shards {
		r, err := l.report(sh)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// report counts the recorded events of one shard and checks they are 1..n,
// holding the shard's lock so that no apply runs meanwhile.
func (l *Ledger) report(shard string) (ShardReport, error) {
	s, err := l.lock(shard)
	if err != nil {
		return ShardReport{}, err
	}
	defer s.mu.Unlock()
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: eventKey(shard, 0), UpperBound: eventKey(shard, ^uint64(0))})
	if err != nil {
		return ShardReport{}, err
	}
	var want, holes uint64 = 1, 0
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		tick := binary.BigEndian.Uint64(k[len(k)-8:])
		if tick != want {
			holes++
		}
		want = tick + 1
	}
	if err := it.Close(); err != nil {
		return ShardReport{}, err
	}
	return ShardReport{Shard: shard, Position: s.pos, Applied: s.applied, Duplicates: s.dups, Gaps: s.gaps + holes}, nil
}

// shardNames returns the shards with an applied position, sorted.
func (l *Ledger) shardNames() ([]string, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte("p/"), UpperBound: []byte("p0")})
	if err != nil {
		return nil, err
	}
	var shards []string
	for it.First(); it.Valid(); it.Next() {
		shards = append(shards, strings.TrimPrefix(string(it.Key()), "p/"))
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	sort.Strings(shards)
	return shards, nil
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// Summary adds up the counters of every shard (cheap: no scan of events).
func (l *Ledger) Summary() (Progress, error) {
	shards, err := l.shardNames()
	if err != nil {
		return Progress{}, err
	}
	var p Progress
	for _, sh := range shards {
		s, err := l.lock(sh)
		if err != nil {
			return Progress{}, err
		}
		p.Applied += s.applied
		p.Duplicates += s.dups
		p.Gaps += s.gaps
		s.mu.Unlock()
	}
	return p, nil
}
