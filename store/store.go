package store

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// storeFormat is the version of the key layout; it is kept in the store's
// own format record and checked at Open.
const storeFormat = 1

var formatKey = makeKey(kindStore, "format", "")

// stripes is the number of key-lock stripes: concurrent writers of distinct
// shards rarely wait for each other, and their synced commits share one
// fsync in Pebble's commit pipeline (group commit).
const stripes = 64

// openDirs holds the directories open in this process: Pebble's lock is
// per process, so a second Open of the same directory here would otherwise
// succeed at the fcntl level and then fail with an unclassified error.
var openDirs = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// Store is a Pebble database of checkpoints. It is safe for concurrent use.
type Store struct {
	cfg   Config
	dir   string
	reg   string // key in openDirs
	db    *pebble.DB
	wo    *pebble.WriteOptions
	keyMu [stripes]sync.Mutex
	// last caches the last record written or read for the guard, per
	// stripe, guarded by keyMu of that stripe. The store is exclusive to
	// this process (directory lock), so nothing else can change the keys.
	last    [stripes]map[string]Record
	closeMu sync.RWMutex
	closed  bool
}

// Open opens (or creates) the store in cfg.Dir. It fails with a *LockedError
// when another process has the directory open, with ErrCorrupt when Pebble
// finds corruption, with ErrNotExist when ReadOnly or MustExist is set and
// there is no store, and with ErrIncompatible when a newer dc2dc wrote it.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("store: resolving %s: %w", cfg.Dir, err)
	}
	reg := dir
	if cfg.fs != vfs.Default {
		reg = fmt.Sprintf("%p:%s", cfg.fs, dir) // tests: one namespace per filesystem
	}
	openDirs.Lock()
	if openDirs.m[reg] {
		openDirs.Unlock()
		return nil, &LockedError{Dir: dir, Self: true}
	}
	openDirs.m[reg] = true
	openDirs.Unlock()
	s, err := open(cfg, dir)
	if err != nil {
		openDirs.Lock()
		delete(openDirs.m, reg)
		openDirs.Unlock()
		return nil, err
	}
	s.reg = reg
	return s, nil
}

func open(cfg Config, dir string) (*Store, error) {
	if cfg.ReadOnly || cfg.MustExist {
		desc, err := pebble.Peek(dir, cfg.fs)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && !desc.Exists) {
			return nil, fmt.Errorf("%w: %s has no checkpoint store (check --dir, or start the worker once to create it)", ErrNotExist, dir)
		}
		if err != nil {
			return nil, classifyOpenError(dir, err)
		}
	}
	opts := &pebble.Options{
		FS:           cfg.fs,
		CacheSize:    cfg.CacheSize,
		MemTableSize: uint64(cfg.MemTableSize),
		Logger:       pebbleLogger{cfg.Logger},
		ReadOnly:     cfg.ReadOnly,
	}
	if !cfg.ReadOnly {
		opts.FormatMajorVersion = pebble.FormatNewest
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, classifyOpenError(dir, err)
	}
	s := &Store{cfg: cfg, dir: dir, db: db, wo: pebble.Sync}
	for i := range s.last {
		s.last[i] = map[string]Record{}
	}
	if cfg.NoSync {
		s.wo = pebble.NoSync
	}
	if err := s.checkFormat(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func classifyOpenError(dir string, err error) error {
	switch {
	case isLockConflict(err):
		return &LockedError{Dir: dir, PID: lockHolder(filepath.Join(dir, "LOCK")), Err: err}
	case pebble.IsCorruptionError(err):
		return failure.WithCode(failure.CodeCheckpointCorrupt, fmt.Errorf("%w: %s: %w; move the directory aside (keep it for diagnosis) and let dc2dc resynchronise the shards it held", ErrCorrupt, dir, err))
	}
	return ioError(fmt.Errorf("store: opening the checkpoint store %s: %w", dir, err))
}

// checkFormat writes the format record into a new store and refuses a store
// of a newer format.
func (s *Store) checkFormat() error {
	v, closer, err := s.db.Get(formatKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if s.cfg.ReadOnly {
			return nil
		}
		return s.db.Set(formatKey, []byte{storeFormat}, pebble.Sync)
	case err != nil:
		return ioError(fmt.Errorf("store: reading the format of %s: %w", s.dir, err))
	}
	defer func() { _ = closer.Close() }() // releases the read's buffer; nothing to lose
	if len(v) != 1 || v[0] == 0 {
		return failure.WithCode(failure.CodeCheckpointCorrupt, fmt.Errorf("%w: %s: format record %x is garbage", ErrCorrupt, s.dir, v))
	}
	if v[0] > storeFormat {
		return failure.Permanent(fmt.Errorf("%w: %s has format %d, this dc2dc knows up to %d: use a newer dc2dc", ErrIncompatible, s.dir, v[0], storeFormat))
	}
	return nil
}

// Dir returns the absolute directory of the store.
func (s *Store) Dir() string { return s.dir }

// Close flushes and closes the store. It is idempotent.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.db.Close()
	openDirs.Lock()
	delete(openDirs.m, s.reg)
	openDirs.Unlock()
	if err != nil {
		return ioError(fmt.Errorf("store: closing %s: %w", s.dir, err))
	}
	return nil
}

// enter guards an operation against a concurrent Close; call the returned
// function when done.
func (s *Store) enter(write bool) (func(), error) {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, ErrClosed
	}
	if write && s.cfg.ReadOnly {
		s.closeMu.RUnlock()
		return nil, ErrReadOnly
	}
	return s.closeMu.RUnlock, nil
}

// Get returns the record of the given kind, sync and shard (shard is empty
// for KindMeta), or an error wrapping ErrNotFound.
func (s *Store) Get(kind Kind, sync, shard string) (Record, error) {
	if err := checkID("sync id", sync, false); err != nil {
		return nil, err
	}
	if err := checkID("shard key", shard, kind == KindMeta); err != nil {
		return nil, err
	}
	done, err := s.enter(false)
	if err != nil {
		return nil, err
	}
	defer done()
	return s.get(makeKey(kind, sync, shard))
}

func (s *Store) get(key []byte) (Record, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		k, sync, shard, _ := parseKey(key)
		return nil, fmt.Errorf("%w: no %s checkpoint for %s", ErrNotFound, k, strings.TrimSuffix(sync+"/"+shard, "/"))
	}
	if err != nil {
		return nil, ioError(fmt.Errorf("store: reading %q: %w", key, err))
	}
	defer func() { _ = closer.Close() }() // releases the read's buffer; nothing to lose
	return decodeRecord(key, v)
}

// Source returns the source position of a shard.
func (s *Store) Source(sync, shard string) (SourcePosition, error) {
	r, err := s.Get(KindSource, sync, shard)
	if err != nil {
		return SourcePosition{}, err
	}
	return r.(SourcePosition), nil
}

// Applied returns the applied position of a shard.
func (s *Store) Applied(sync, shard string) (AppliedPosition, error) {
	r, err := s.Get(KindApplied, sync, shard)
	if err != nil {
		return AppliedPosition{}, err
	}
	return r.(AppliedPosition), nil
}

// Meta returns the metadata of a sync.
func (s *Store) Meta(sync string) (SyncMeta, error) {
	r, err := s.Get(KindMeta, sync, "")
	if err != nil {
		return SyncMeta{}, err
	}
	return r.(SyncMeta), nil
}

// Put writes one record; see PutMany.
func (s *Store) Put(r Record) error { return s.PutMany(r) }

// PutMany writes the records atomically in one Pebble batch, fsynced unless
// Config.NoSync. A record whose Order (epoch, tick) is lower than the stored
// one's is refused with a *RegressionError and nothing is written; an equal
// Order is accepted (rewriting a checkpoint is idempotent). Records with a
// zero UpdatedAt are stamped with Config.Now. Records of the same key later
// in the list win, and are checked against the earlier ones.
func (s *Store) PutMany(recs ...Record) error { return s.write(recs, true) }

// Reset writes the records like PutMany but without the monotonicity guard:
// it is how an operator or a resync moves a position backwards on purpose.
// Each backwards move is logged as a warning.
func (s *Store) Reset(recs ...Record) error { return s.write(recs, false) }

func (s *Store) write(recs []Record, guard bool) error {
	if len(recs) == 0 {
		return nil
	}
	return s.writeGroups([][]Record{recs}, guard)[0]
}

// writeGroups commits several independent groups of records in one Pebble
// batch (one fsync). Each group is atomic and checked on its own: a group
// that is invalid or would regress gets its error and is left out, the
// others are written. A commit failure fails every group that was in it.
func (s *Store) writeGroups(groups [][]Record, guard bool) []error {
	errs := make([]error, len(groups))
	fail := func(err error) []error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	done, err := s.enter(true)
	if err != nil {
		return fail(err)
	}
	defer done()

	type staged struct {
		key, val []byte
		rec      Record
	}
	now := s.cfg.Now()
	stagedGroups := make([][]staged, len(groups))
	var allKeys [][]byte
	for gi, g := range groups {
		st := make([]staged, 0, len(g))
		for _, r := range g {
			if err := checkRecord(r); err != nil {
				errs[gi] = err
				break
			}
			r = r.stamped(now)
			k, v := encodeRecord(r)
			st = append(st, staged{k, v, r})
		}
		if errs[gi] != nil {
			continue
		}
		stagedGroups[gi] = st
		for _, e := range st {
			allKeys = append(allKeys, e.key)
		}
	}
	unlock := s.lockKeys(allKeys)
	defer unlock()

	batch := s.db.NewBatch()
	// Close only recycles the batch: Commit, checked below, is the write, and
	// Close errs only when called twice.
	defer func() { _ = batch.Close() }()
	latest := map[string]Record{} // what the batch will leave in each key
	var committed []int
	for gi, st := range stagedGroups {
		if errs[gi] != nil || len(st) == 0 {
			continue
		}
		local := make(map[string]Record, len(st))
		for _, e := range st {
			have, ok := local[string(e.key)]
			if !ok {
				have, ok = latest[string(e.key)]
			}
			if !ok {
				if have, err = s.lastLocked(e.key); err != nil {
					errs[gi] = err
					break
				}
			}
			if have != nil && less(e.rec, have) {
				if guard {
					re := &RegressionError{Have: have, Want: e.rec}
					if s.cfg.Events.Refused != nil {
						s.cfg.Events.Refused(re)
					}
					errs[gi] = re
					break
				}
				sync, shard := e.rec.ID()
				s.cfg.Logger.Warn("checkpoint reset backwards", "kind", e.rec.Kind().String(), "sync", sync, "shard", shard,
					"from", have.Order().String(), "to", e.rec.Order().String())
			}
			local[string(e.key)] = e.rec
		}
		if errs[gi] != nil {
			continue
		}
		for _, e := range st {
			if err := batch.Set(e.key, e.val, nil); err != nil {
				return fail(fmt.Errorf("store: batching %q: %w", e.key, err))
			}
		}
		for k, r := range local {
			latest[k] = r
		}
		committed = append(committed, gi)
	}
	if len(committed) == 0 {
		return errs
	}
	start := time.Now()
	if err := batch.Commit(s.wo); err != nil {
		for k := range latest {
			delete(s.last[stripeOf([]byte(k))], k) // state unknown: re-read next time
		}
		err = ioError(fmt.Errorf("store: committing %d checkpoint(s) to %s: %w", batch.Count(), s.dir, err))
		for _, gi := range committed {
			errs[gi] = err
		}
		return errs
	}
	for k, r := range latest {
		s.last[stripeOf([]byte(k))][k] = r
	}
	s.committed(int(batch.Count()), len(committed), start)
	return errs
}

func (s *Store) committed(records, groups int, start time.Time) {
	if s.cfg.Events.Committed != nil {
		s.cfg.Events.Committed(CommitInfo{Records: records, Groups: groups, Synced: s.wo.Sync, Duration: time.Since(start)})
	}
}

// lastLocked returns the stored record of key (nil if none), from the cache
// or from Pebble. The caller holds the key's stripe lock.
func (s *Store) lastLocked(key []byte) (Record, error) {
	cache := s.last[stripeOf(key)]
	if r, ok := cache[string(key)]; ok {
		return r, nil
	}
	r, err := s.get(key)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cache[string(key)] = r
	return r, nil
}

func stripeOf(key []byte) int {
	h := fnv.New32a()
	_, _ = h.Write(key)
	return int(h.Sum32() % stripes)
}

// less reports whether a is ordered before b.
func less(a, b Record) bool { return a.Order().Less(b.Order()) }

// lockKeys locks the stripes of the keys in a fixed order (no deadlock
// between concurrent multi-key writes) and returns the unlock function.
func (s *Store) lockKeys(keys [][]byte) func() {
	idx := make([]int, 0, len(keys))
	for _, k := range keys {
		idx = append(idx, stripeOf(k))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		s.keyMu[i].Lock()
	}
	return func() {
		for _, i := range idx {
			s.keyMu[i].Unlock()
		}
	}
}

// Delete removes one record (shard empty for KindMeta). Deleting a missing
// record is not an error. The deletion is fsynced unless Config.NoSync.
func (s *Store) Delete(kind Kind, sync, shard string) error {
	_, err := s.deleteKeys([][]byte{makeKey(kind, sync, shard)})
	return err
}

// ResetShard deletes the source and applied positions of a shard in one
// synced batch, so the shard's next task starts from scratch (initial
// sync). It returns the records it deleted.
func (s *Store) ResetShard(sync, shard string) ([]Record, error) {
	if err := checkID("shard key", shard, false); err != nil {
		return nil, err
	}
	return s.deleteKeys([][]byte{makeKey(KindSource, sync, shard), makeKey(KindApplied, sync, shard)})
}

func (s *Store) deleteKeys(keys [][]byte) ([]Record, error) {
	done, err := s.enter(true)
	if err != nil {
		return nil, err
	}
	defer done()
	for _, k := range keys {
		if _, _, _, err := parseKey(k); err != nil {
			// %v on purpose: a bad key argument is invalid input, and
			// wrapping parseKey's *DecodeError would make it match
			// ErrCorruptRecord and carry the checkpoint-corrupt code.
			return nil, fmt.Errorf("%w: %v", ErrInvalidRecord, err) //nolint:errorlint // see above: must not wrap the *DecodeError
		}
	}
	unlock := s.lockKeys(keys)
	defer unlock()
	var deleted []Record
	batch := s.db.NewBatch()
	// Close only recycles the batch: Commit, checked below, is the write, and
	// Close errs only when called twice.
	defer func() { _ = batch.Close() }()
	for _, k := range keys {
		r, err := s.get(k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil && !errors.Is(err, ErrCorruptRecord) {
			return nil, err
		}
		if r != nil {
			deleted = append(deleted, r)
		}
		if err := batch.Delete(k, nil); err != nil {
			return nil, fmt.Errorf("store: batching delete of %q: %w", k, err)
		}
	}
	for _, k := range keys {
		delete(s.last[stripeOf(k)], string(k))
	}
	if batch.Empty() {
		return nil, nil
	}
	start := time.Now()
	if err := batch.Commit(s.wo); err != nil {
		return nil, ioError(fmt.Errorf("store: deleting checkpoints in %s: %w", s.dir, err))
	}
	s.committed(int(batch.Count()), 1, start)
	for _, r := range deleted {
		sync, shard := r.ID()
		s.cfg.Logger.Warn("checkpoint deleted", "kind", r.Kind().String(), "sync", sync, "shard", shard)
	}
	return deleted, nil
}

// Export writes a consistent copy of the store into dir, which must not
// exist, while the store stays open and in use. Open the copy with
// Config{Dir: dir, ReadOnly: true} (or dc2dc checkpoints list --dir dir) to
// read the checkpoints of a running worker; writes to the copy do not affect
// the store.
func (s *Store) Export(dir string) error {
	done, err := s.enter(false)
	if err != nil {
		return err
	}
	defer done()
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return ioError(fmt.Errorf("store: exporting %s to %s: %w", s.dir, dir, err))
	}
	return nil
}

// Filter selects records for List. The zero Filter selects everything.
type Filter struct {
	// Kind restricts the listing to one kind; 0 means all kinds.
	Kind Kind
	// Sync restricts the listing to one sync id (a prefix scan).
	Sync string
	// ShardPrefix restricts the listing to shards whose key starts with it,
	// e.g. "db1/" for one database.
	ShardPrefix string
}

// List returns the records the filter selects, ordered by kind (applied,
// meta, source), sync id and shard key. An undecodable record fails the
// listing with a *DecodeError.
func (s *Store) List(f Filter) ([]Record, error) {
	done, err := s.enter(false)
	if err != nil {
		return nil, err
	}
	defer done()
	kinds := []Kind{KindApplied, KindMeta, KindSource}
	if f.Kind != 0 {
		kinds = []Kind{f.Kind}
	}
	var out []Record
	for _, k := range kinds {
		prefix := keyPrefix(k, f.Sync, f.ShardPrefix)
		if k == KindMeta && f.Sync != "" {
			prefix = keyPrefix(k, f.Sync, "")
		}
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
		if err != nil {
			return nil, ioError(fmt.Errorf("store: listing %s: %w", s.dir, err))
		}
		for ok := it.First(); ok; ok = it.Next() {
			r, err := decodeRecord(it.Key(), it.Value())
			if err != nil {
				_ = it.Close()
				return nil, err
			}
			if _, shard := r.ID(); k != KindMeta && !strings.HasPrefix(shard, f.ShardPrefix) {
				continue
			}
			out = append(out, r)
		}
		if err := it.Close(); err != nil {
			return nil, ioError(fmt.Errorf("store: listing %s: %w", s.dir, err))
		}
	}
	return out, nil
}

// Sources returns the source positions of one sync (all syncs when sync is
// empty), ordered by sync id and shard key.
func (s *Store) Sources(sync string) ([]SourcePosition, error) {
	recs, err := s.List(Filter{Kind: KindSource, Sync: sync})
	if err != nil {
		return nil, err
	}
	out := make([]SourcePosition, len(recs))
	for i, r := range recs {
		out[i] = r.(SourcePosition)
	}
	return out, nil
}

// AppliedPositions returns the applied positions of one sync (all syncs when
// sync is empty), ordered by sync id and shard key.
func (s *Store) AppliedPositions(sync string) ([]AppliedPosition, error) {
	recs, err := s.List(Filter{Kind: KindApplied, Sync: sync})
	if err != nil {
		return nil, err
	}
	out := make([]AppliedPosition, len(recs))
	for i, r := range recs {
		out[i] = r.(AppliedPosition)
	}
	return out, nil
}

// pebbleLogger sends Pebble's messages to the store's logger: its routine
// messages at debug level, its errors at error level.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble", "fatal", true)
	panic("pebble: " + msg)
}
