package source

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// Shard names the shard a Source reads.
type Shard struct {
	Ref        events.ShardRef // database / collection plan id / shard index
	Collection string          // collection name (messages only)
	Name       string          // shard name on the DB-Servers (s<id>)
	Leader     string          // the leader's server id when the task was planned
}

// Start is where an epoch begins. A zero Tick means "take a snapshot first".
type Start struct {
	Epoch       uint64
	Leader      string // "" = Shard.Leader
	Tick        uint64 // resume after this tick (tailing only)
	LastScanned uint64
}

// Phase of the stream.
type Phase string

// Phases.
const (
	PhaseSnapshot Phase = "snapshot"
	PhaseTailing  Phase = "tailing"
)

// Position is where the stream stands after the records of an Emit call.
type Position struct {
	Epoch        uint64
	Leader       string
	Phase        Phase
	SnapshotTick uint64
	// Tick and LastScanned resume tailing (Start.Tick, Start.LastScanned):
	// every record with a tick <= Tick has been emitted. Zero in the
	// snapshot phase.
	Tick        uint64
	LastScanned uint64
}

// Sink receives the records. Emit blocks while the consumer is behind
// (backpressure); an error stops the Source and is returned by Run.
type Sink interface {
	Emit(ctx context.Context, recs []events.Record, pos Position) error
}

// Target is the replica side of a revision-tree resync: B's tree of the
// partner shard and B's revisions in given ranges.
type Target interface {
	// Tree returns B's revision tree; nil (or an empty tree) asks for a full dump.
	Tree(ctx context.Context) (*revtree.Tree, error)
	// Revisions returns B's documents (key, HLC revision) whose revisions
	// fall in the ranges, ascending by revision.
	Revisions(ctx context.Context, ranges []revtree.Range) ([]events.KeyRev, error)
}

// Dialer reaches DB-Servers (*client.Client).
type Dialer interface {
	DBServer(ctx context.Context, serverID string) (*client.Conn, error)
}

// Leaders tells the current leader of a shard (*client.Watcher).
type Leaders interface {
	ShardLeader(db, shard string) (leader string, ok bool)
}

// Source produces one epoch of one shard's stream. See the package doc.
type Source struct {
	cfg     Config
	shard   Shard
	start   Start
	dial    Dialer
	leaders Leaders
	target  Target
	sink    Sink
	leader  string
}

// New checks the arguments and returns a Source. target may be nil (full
// dumps only); leaders may be nil (leader changes are then only seen
// through errors, never through the shard map).
func New(cfg Config, shard Shard, start Start, dial Dialer, leaders Leaders, target Target, sink Sink) (*Source, error) {
	cfg = cfg.WithDefaults()
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := shard.Ref.Validate(); err != nil || shard.Ref.IsMeta() {
		errs = append(errs, fmt.Errorf("source shard ref %q: not a shard stream", shard.Ref))
	}
	if shard.Name == "" {
		errs = append(errs, errors.New("source shard: no shard name"))
	}
	leader := start.Leader
	if leader == "" {
		leader = shard.Leader
	}
	if leader == "" {
		errs = append(errs, errors.New("source shard: no leader"))
	}
	if dial == nil || sink == nil {
		errs = append(errs, errors.New("source: a Dialer and a Sink are required"))
	}
	if start.Tick == 0 && start.LastScanned != 0 {
		errs = append(errs, errors.New("source start: LastScanned without Tick"))
	}
	if len(errs) > 0 {
		return nil, failure.WithCode(failure.CodeConfigInvalid, errors.Join(errs...))
	}
	return &Source{cfg: cfg, shard: shard, start: start, dial: dial, leaders: leaders, target: target, sink: sink, leader: leader}, nil
}

// Run produces the stream until ctx ends or the epoch ends. It returns ctx's
// error, a *NewEpochError, ErrShardDropped (wrapped), or a permanent error.
func (s *Source) Run(ctx context.Context) error {
	pos := Position{Epoch: s.start.Epoch, Leader: s.leader, Phase: PhaseTailing,
		Tick: s.start.Tick, LastScanned: s.start.LastScanned}
	if s.start.Tick == 0 {
		t, err := s.snapshot(ctx)
		if err != nil {
			return err
		}
		pos = Position{Epoch: s.start.Epoch, Leader: s.leader, Phase: PhaseTailing, SnapshotTick: t, Tick: t}
	}
	return s.tail(ctx, pos)
}

// isSystem reports whether the shard belongs to a system collection.
func (s *Source) isSystem() bool { return strings.HasPrefix(s.shard.Collection, "_") }

// leaderChanged returns the shard's current leader when it differs.
func (s *Source) leaderChanged() (string, bool) {
	if s.leaders == nil {
		return "", false
	}
	l, ok := s.leaders.ShardLeader(s.shard.Ref.Database, s.shard.Name)
	if !ok || l == s.leader {
		return "", false
	}
	return l, true
}

func (s *Source) newEpoch(reason, leader string, cause error) error {
	if leader == "" {
		leader = s.leader
	}
	return &NewEpochError{Reason: reason, OldLeader: s.leader, Leader: leader, Cause: cause}
}

// retryWait waits before retry n (1-based) of a retryable error and reports
// a leader change seen meanwhile.
func (s *Source) retryWait(ctx context.Context, n int, cause error) error {
	if l, ok := s.leaderChanged(); ok {
		return s.newEpoch(ReasonFailover, l, cause)
	}
	d := client.Backoff(s.cfg.RetryBackoff, s.cfg.MaxRetryBackoff, n)
	s.cfg.Logger.Debug("source: retrying", "shard", s.shard.Ref.String(), "attempt", n, "wait", d, "error", cause)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	if l, ok := s.leaderChanged(); ok {
		return s.newEpoch(ReasonFailover, l, cause)
	}
	return nil
}

// conn returns the leader's connection, retrying retryable failures.
func (s *Source) conn(ctx context.Context) (*client.Conn, error) {
	for n := 1; ; n++ {
		c, err := s.dial.DBServer(ctx, s.leader)
		if err == nil {
			return c, nil
		}
		if !failure.IsRetryable(err) {
			return nil, err
		}
		if werr := s.retryWait(ctx, n, err); werr != nil {
			return nil, werr
		}
	}
}

// emit hands records to the sink.
func (s *Source) emit(ctx context.Context, recs []events.Record, pos Position) error {
	if len(recs) == 0 {
		return nil
	}
	return s.sink.Emit(ctx, recs, pos)
}

// recordSize estimates a record's bytes for the emit bounds.
func recordSize(r events.Record) int {
	switch e := r.Event.(type) {
	case *events.Document:
		return len(e.Doc) + 64
	case *events.SnapshotDocuments:
		n := 0
		for _, d := range e.Docs {
			n += len(d) + 8
		}
		return n
	case *events.SnapshotRemove:
		n := 0
		for _, k := range e.Keys {
			n += len(k.Key) + len(k.Rev) + 16
		}
		return n
	case *events.CollectionCreate:
		return len(e.Data) + 64
	case *events.CollectionChange:
		return len(e.Data) + 64
	case *events.IndexCreate:
		return len(e.Data) + 64
	}
	return 64
}
