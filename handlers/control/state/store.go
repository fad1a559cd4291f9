package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// Lease is the election's lease document (key LeaseKey). The election
// package owns its protocol; the fenced Store reads its Epoch.
type Lease struct {
	// Holder is the holding master's id ("" = released).
	Holder string `json:"holder"`
	// Incarnation tells two runs of the same master apart (random per run).
	Incarnation string `json:"incarnation,omitempty"`
	// Endpoint is the holder's admin API endpoint (for forwarding).
	Endpoint string `json:"endpoint"`
	// Epoch is incremented on every takeover; it fences everything the
	// leader does.
	Epoch uint64 `json:"epoch"`
	// LeaseMillis is the lease duration the holder uses.
	LeaseMillis int64 `json:"leaseMillis"`
	// RenewedAt is the holder's wall clock at the last renewal: for people
	// only, never compared with another host's clock.
	RenewedAt time.Time `json:"renewedAt"`
}

// ErrFenced matches every *FencedError.
var ErrFenced = errors.New("fenced: a newer leader epoch exists")

// FencedError refuses a write whose leader epoch is lower than the current
// one (in the lease or in the stored record).
type FencedError struct {
	Key     string
	Epoch   uint64 // the writer's epoch
	Current uint64 // the higher epoch found
	Where   string // "lease" or "record"
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("write of %s/%s with leader epoch %d refused: the %s holds epoch %d (a newer master leads; this one must stop acting as leader)",
		Collection, e.Key, e.Epoch, e.Where, e.Current)
}

// Is matches ErrFenced.
func (e *FencedError) Is(target error) bool { return target == ErrFenced }

func fenced(key string, epoch, current uint64, where string) error {
	return failure.WithCode(failure.CodeSyncFenced, failure.Permanent(&FencedError{Key: key, Epoch: epoch, Current: current, Where: where}))
}

// envelope is the stored form of a record.
type envelope struct {
	Type      string          `json:"type"`
	Epoch     uint64          `json:"epoch"`
	UpdatedAt time.Time       `json:"updatedAt"`
	Data      json.RawMessage `json:"data"`
}

// RecordType is the value of the "type" attribute of fenced records.
const RecordType = "control-record"

// Version is where a record stands: its revision (for the next
// compare-and-set) and the epoch of the leader that wrote it.
type Version struct {
	Rev   string
	Epoch uint64
}

// Store keeps the leader's records with fencing. Safe for concurrent use.
type Store struct {
	docs *Docs
	now  func() time.Time
}

// NewStore returns the fenced record store over docs.
func NewStore(docs *Docs) *Store { return &Store{docs: docs, now: time.Now} }

// Docs returns the raw document access.
func (s *Store) Docs() *Docs { return s.docs }

// Lease reads the lease document; ok is false when there is none.
func (s *Store) Lease(ctx context.Context) (l Lease, rev string, ok bool, err error) {
	d, err := s.docs.Get(ctx, LeaseKey)
	if errors.Is(err, ErrNotFound) {
		return Lease{}, "", false, nil
	}
	if err != nil {
		return Lease{}, "", false, err
	}
	if err := json.Unmarshal(d.Body, &l); err != nil {
		return Lease{}, "", false, failure.WithCode(failure.CodeCheckpointCorrupt, fmt.Errorf("%s/%s: %w", Collection, LeaseKey, err))
	}
	return l, d.Rev, true, nil
}

// Load decodes the record under key into out (which may be nil). ok is
// false when there is none.
func (s *Store) Load(ctx context.Context, key string, out any) (v Version, ok bool, err error) {
	if key == LeaseKey {
		return Version{}, false, failure.WithCode(failure.CodeInternal, errors.New("state: the lease is not a record"))
	}
	d, err := s.docs.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return Version{}, false, nil
	}
	if err != nil {
		return Version{}, false, err
	}
	var env envelope
	if err := json.Unmarshal(d.Body, &env); err != nil {
		return Version{}, false, failure.WithCode(failure.CodeCheckpointCorrupt, fmt.Errorf("%s/%s: not a control record (type %q): %w", Collection, key, env.Type, err))
	}
	if env.Type != RecordType { // valid JSON of another type: the same text as before, "<nil>" for the absent cause
		return Version{}, false, failure.WithCode(failure.CodeCheckpointCorrupt, fmt.Errorf("%s/%s: not a control record (type %q): <nil>", Collection, key, env.Type))
	}
	if out != nil && len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return Version{}, false, failure.WithCode(failure.CodeCheckpointCorrupt, fmt.Errorf("%s/%s: %w", Collection, key, err))
		}
	}
	return Version{Rev: d.Rev, Epoch: env.Epoch}, true, nil
}

// Save writes v under key on behalf of the leader of the given epoch.
// expectRev is the revision the caller read ("" = the record must not
// exist yet). It returns the new version, a *FencedError when a newer epoch
// exists (in the lease or the record), or ErrConflict when the record
// changed since it was read by a writer of the same epoch.
func (s *Store) Save(ctx context.Context, epoch uint64, key, expectRev string, v any) (Version, error) {
	if key == LeaseKey || key == "" {
		return Version{}, failure.WithCode(failure.CodeInternal, fmt.Errorf("state: invalid record key %q", key))
	}
	if epoch == 0 {
		return Version{}, failure.WithCode(failure.CodeInternal, errors.New("state: a write needs the leader epoch (0 given)"))
	}
	lease, _, ok, err := s.Lease(ctx)
	if err != nil {
		return Version{}, err
	}
	if !ok {
		return Version{}, failure.WithCode(failure.CodeInternal, fmt.Errorf("state: write of %s with epoch %d but there is no lease", key, epoch))
	}
	if lease.Epoch > epoch {
		return Version{}, fenced(key, epoch, lease.Epoch, "lease")
	}
	if lease.Epoch < epoch {
		return Version{}, failure.WithCode(failure.CodeInternal, fmt.Errorf("state: write of %s with epoch %d ahead of the lease's epoch %d", key, epoch, lease.Epoch))
	}
	data, err := json.Marshal(v)
	if err != nil {
		return Version{}, failure.WithCode(failure.CodeInternal, fmt.Errorf("state: %s: %w", key, err))
	}
	env := envelope{Type: RecordType, Epoch: epoch, UpdatedAt: s.now().UTC(), Data: data}
	var rev string
	if expectRev == "" {
		rev, err = s.docs.Create(ctx, key, env)
	} else {
		rev, err = s.docs.Replace(ctx, key, expectRev, env)
	}
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
		// Someone else wrote: a newer leader (fenced) or a race of ours.
		cur, ok, lerr := s.Load(ctx, key, nil)
		if lerr != nil {
			return Version{}, errors.Join(err, lerr)
		}
		if ok && cur.Epoch > epoch {
			return Version{}, fenced(key, epoch, cur.Epoch, "record")
		}
		return Version{}, err
	}
	if err != nil {
		return Version{}, err
	}
	return Version{Rev: rev, Epoch: epoch}, nil
}

// Update is a compare-and-set loop: it loads the record (into a fresh value
// made by newV), lets fn change it (exists says whether there was one) and
// saves it; when another writer of the same epoch won the race it starts
// over, at most attempts times. fn must not have side effects.
func Update[T any](ctx context.Context, s *Store, epoch uint64, key string, fn func(cur *T, exists bool) error) (Version, error) {
	const attempts = 8
	var lastErr error
	for i := 0; i < attempts; i++ {
		var cur T
		ver, ok, err := s.Load(ctx, key, &cur)
		if err != nil {
			return Version{}, err
		}
		if ok && ver.Epoch > epoch {
			return Version{}, fenced(key, epoch, ver.Epoch, "record")
		}
		if err := fn(&cur, ok); err != nil {
			return Version{}, err
		}
		nv, err := s.Save(ctx, epoch, key, ver.Rev, &cur)
		if errors.Is(err, ErrConflict) || (errors.Is(err, ErrNotFound) && ok) {
			lastErr = err
			continue
		}
		return nv, err
	}
	return Version{}, failure.Retryable(fmt.Errorf("state: %s: %d compare-and-set attempts lost: %w", key, attempts, lastErr))
}
