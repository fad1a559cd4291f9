package receive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/handlers/task/ctl"
	"github.com/dc2dc/dc2dc/pipeline/failure"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/middleware"
	"github.com/dc2dc/dc2dc/store"
)

// Config configures the receive side of one sync.
type Config struct {
	Sync string
	// Kafka is cluster B's Kafka; Consumer.Group defaults to
	// dc2dc.<sync>.apply.
	Kafka kafka.Config
	// Topics of the sync (kafka.TopicsFor).
	Topics kafka.Topics
	// Apply tunes the per-shard Appliers.
	Apply target.Config
	// Retry tunes the chain's retries of retryable apply errors.
	Retry middleware.RetryConfig
	// ResyncRepeat: a shard's resync request for one epoch is repeated at
	// most this often (default 30s).
	ResyncRepeat time.Duration
	// MaxRequestAge: tree/revisions requests older than this (by their
	// batch's SentAt) are not answered (default 10 min; the sender gave up).
	MaxRequestAge time.Duration
	// DocsPerRequest bounds one revisions/documents request (default 1000).
	DocsPerRequest int
	// MessageTimeout: a shard stream silent longer than this (the SentAt of
	// two consecutive batches of one epoch, heartbeats included, further
	// apart) is resynchronised when it resumes: its next batch is applied
	// and a resync request for the epoch goes to A. 0 = off. Changed at run
	// time with SetMessageTimeout.
	MessageTimeout time.Duration
	// From names this side in control messages (default "B").
	From           string
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Deps are what the receive side uses.
type Deps struct {
	Conn  *target.Conn // cluster B, superuser JWT (the tree lives on DB-Servers)
	Store *store.Store // the worker's checkpoint store
	// Resolver maps shards to B's collections; nil uses a BatchResolver.
	Resolver target.Resolver
	// Publisher writes to Kafka B (ctl.down and the poison topic).
	Publisher message.Publisher
}

func (c Config) withDefaults() Config {
	if c.Kafka.Consumer.Group == "" {
		c.Kafka.Consumer.Group = kafka.DefaultTopicPrefix + "." + c.Sync + ".apply"
	}
	if c.ResyncRepeat == 0 {
		c.ResyncRepeat = 30 * time.Second
	}
	if c.MaxRequestAge == 0 {
		c.MaxRequestAge = 10 * time.Minute
	}
	if c.DocsPerRequest == 0 {
		c.DocsPerRequest = 1000
	}
	if c.From == "" {
		c.From = "B"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if err := kafka.ValidateSyncID(c.Sync); err != nil {
		errs = append(errs, err)
	}
	if c.Topics.Data == "" || c.Topics.CtlDown == "" || c.Topics.Poison == "" {
		errs = append(errs, errors.New("receive: topics missing: use kafka.TopicsFor(prefix, sync)"))
	}
	if c.ResyncRepeat < 0 || c.MaxRequestAge < 0 || c.DocsPerRequest < 0 || c.MessageTimeout < 0 {
		errs = append(errs, errors.New("receive: ResyncRepeat, MaxRequestAge, DocsPerRequest and MessageTimeout must not be negative"))
	}
	return errors.Join(errs...)
}

// ShardStatus is the receive state of one shard.
type ShardStatus struct {
	Shard         string
	Phase         string // "snapshot", "tailing", "resync-requested", "ended"
	Applied       events.Position
	Leader        string
	LagSeconds    float64 // now − SentAt of the last applied batch, at apply
	LagTicks      uint64  // leader's latest tick (heartbeat) − applied tick, same epoch
	LastBatchAt   time.Time
	Heartbeat     time.Time // when the last heartbeat was applied
	Messages      uint64    // messages consumed (duplicates Dedupe skipped included)
	Batches       uint64    // batches applied
	Skipped       uint64    // batches the Receiver skipped as replays (behind Dedupe)
	Snapshots     int       // snapshots begun
	SnapshotMode  string    // of the last one
	SnapshotEpoch uint64    // epoch of the last one
	SnapshotDocs  int64     // documents received in the last snapshot
	SnapshotTotal int64     // documents the last snapshot announced (A's count; 0 = unknown)
	SnapshotRems  int64     // removals received in the last snapshot
	Resyncs       int       // resync requests sent
	Answers       int       // tree/revisions requests answered
	LastError     string
	LastErrorAt   time.Time
}

type shardState struct {
	recv       *target.Receiver
	st         ShardStatus
	resyncAt   time.Time
	resyncFrom uint64
	// the epoch and SentAt of the latest batch seen (message timeout)
	lastEpoch uint64
	lastSent  time.Time
}

// hasRequest reports whether b carries a tree or revisions request.
func hasRequest(b *events.Batch) bool {
	for _, c := range ctl.Controls(b) {
		if c.Type == ctl.TypeTreeRequest || c.Type == ctl.TypeRevisionsRequest {
			return true
		}
	}
	return false
}

// isHeartbeat reports whether b carries heartbeats only (an idle shard's
// batch: it moves no data).
func isHeartbeat(b *events.Batch) bool {
	for _, rec := range b.Records {
		if _, ok := rec.Event.(*events.Heartbeat); !ok {
			return false
		}
	}
	return len(b.Records) > 0
}

// redeliver names the replays that still reach the handler: a tree or
// revisions request (its answer may have been lost with a crash after the
// batch was recorded: it is answered again) and a heartbeat (a send task
// resumed on an idle shard numbers its heartbeats from sub 1 again at the
// checkpointed tick, so they are replays of what B holds; they still show
// the shard caught up: its lag. They do not end a silence for the message
// timeout: the first batch applied after it does).
func redeliver(b *events.Batch) bool { return hasRequest(b) || isHeartbeat(b) }

// silence reports how long the shard's stream was silent before b when b
// continues the epoch of the latest batch seen (lastEpoch, lastSent), and
// whether that exceeds timeout (0 = never).
func silence(lastEpoch uint64, lastSent time.Time, b *events.Batch, timeout time.Duration) (time.Duration, bool) {
	if timeout <= 0 || lastSent.IsZero() || b.Pos.Epoch != lastEpoch || b.SentAt.IsZero() {
		return 0, false
	}
	gap := b.SentAt.Sub(lastSent)
	return gap, gap > timeout
}

// Receiver is the receive side of one sync.
type Receiver struct {
	cfg   Config
	deps  Deps
	pos   *target.Positions
	batch *BatchResolver

	mu     sync.Mutex
	shards map[string]*shardState
	ready  chan struct{}

	msgTimeout atomic.Int64 // nanoseconds; Config.MessageTimeout
}

// SetMessageTimeout changes Config.MessageTimeout while the Receiver runs.
func (r *Receiver) SetMessageTimeout(d time.Duration) { r.msgTimeout.Store(int64(d)) }

// New checks the configuration.
func New(cfg Config, deps Deps) (*Receiver, error) {
	cfg = cfg.withDefaults()
	err := cfg.Validate()
	if deps.Conn == nil || deps.Store == nil || deps.Publisher == nil {
		err = errors.Join(err, errors.New("receive: a connection to B, a checkpoint store and a publisher are required"))
	}
	if err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	r := &Receiver{cfg: cfg, deps: deps, pos: target.NewPositions(deps.Conn, nil), shards: make(map[string]*shardState), ready: make(chan struct{})}
	r.msgTimeout.Store(int64(cfg.MessageTimeout))
	if deps.Resolver == nil {
		r.batch = &BatchResolver{}
		r.deps.Resolver = r.batch
	}
	return r, nil
}

// Ready is closed when the consumer runs.
func (r *Receiver) Ready() <-chan struct{} { return r.ready }

// Status returns every shard's status, sorted by shard.
func (r *Receiver) Status() []ShardStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ShardStatus, 0, len(r.shards))
	for _, s := range r.shards {
		out = append(out, s.st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Shard < out[j].Shard })
	return out
}

// Run consumes the data topic until ctx ends.
func (r *Receiver) Run(ctx context.Context) (err error) {
	if err := r.pos.Ensure(ctx); err != nil {
		return err
	}
	if _, err := kafka.WaitTopics(ctx, r.cfg.Kafka, 0, r.cfg.Topics.Data); err != nil {
		return err
	}
	chain, err := middleware.New(middleware.Config{
		PoisonTopic:     r.cfg.Topics.Poison,
		PoisonPublisher: r.deps.Publisher,
		Applied:         middleware.AppliedFunc(r.applied),
		OnGap: func(shard string, applied events.Position, b *events.Batch) {
			r.requestResync(context.Background(), b, target.ReasonGap, fmt.Sprintf("batch %s follows %s, applied %s", b.Pos, b.Prev, applied))
		},
		// A tree or revisions request is answered after its batch was
		// applied and recorded: a crash in between loses the answer, so
		// its replay goes to the handler, which answers it again; replayed
		// heartbeats still tell the shard's lag (redeliver).
		Redeliver:      redeliver,
		Retry:          r.cfg.Retry,
		TracerProvider: r.cfg.TracerProvider,
		MeterProvider:  r.cfg.MeterProvider,
		Logger:         r.cfg.Logger,
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, chain.Close()) }()
	sub, err := kafka.NewSubscriber(r.cfg.Kafka)
	if err != nil {
		return err
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, watermill.NewSlogLogger(r.cfg.Logger))
	if err != nil {
		_ = sub.Close()
		return err
	}
	wrapped := chain.Wrap(r.handle)
	router.AddConsumerHandler("dc2dc-apply", r.cfg.Topics.Data, sub, func(msg *message.Message) error {
		r.count(msg.Metadata.Get(events.MetaShard))
		_, err := wrapped(msg)
		return err
	})
	go func() {
		select {
		case <-router.Running():
			close(r.ready)
		case <-ctx.Done():
		}
	}()
	err = router.Run(ctx)
	if cerr := router.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		err = nil
	}
	return err
}

// count counts a consumed message of a shard.
func (r *Receiver) count(shard string) {
	if shard == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.shards[shard]
	if !ok {
		s = &shardState{st: ShardStatus{Shard: shard}}
		r.shards[shard] = s
	}
	s.st.Messages++
}

// applied is Dedupe's source: B's _dc2dc.
func (r *Receiver) applied(shard string) (events.Position, bool, error) {
	ref, err := events.ParseShardRef(shard)
	if err != nil {
		return events.Position{}, false, failure.Permanent(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec, ok, err := r.pos.Load(ctx, r.cfg.Sync, ref)
	if err != nil {
		return events.Position{}, false, err
	}
	return rec.Pos, ok, nil
}

// state returns the shard's state, creating and starting its Receiver.
func (r *Receiver) state(ctx context.Context, ref events.ShardRef) (*shardState, error) {
	key := ref.String()
	r.mu.Lock()
	s, ok := r.shards[key]
	r.mu.Unlock()
	if ok && s.recv != nil {
		return s, nil
	}
	a, err := target.NewApplier(r.deps.Conn, r.deps.Resolver, ref, r.cfg.Apply)
	if err != nil {
		return nil, err
	}
	recv := target.NewReceiver(r.cfg.Sync, a, r.pos)
	rec, _, err := recv.Start(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok = r.shards[key]
	if !ok {
		s = &shardState{st: ShardStatus{Shard: key}}
		r.shards[key] = s
	}
	if s.recv == nil {
		s.recv = recv
		s.st.Applied, s.st.Leader, s.st.Phase = rec.Pos, rec.Leader, "tailing"
	}
	return s, nil
}

func (r *Receiver) update(s *shardState, f func(*ShardStatus)) {
	r.mu.Lock()
	f(&s.st)
	r.mu.Unlock()
}

// handle is the handler inside the chain.
func (r *Receiver) handle(msg *message.Message) ([]*message.Message, error) {
	b, ok := middleware.BatchFrom(msg)
	if !ok {
		return nil, failure.WithCode(failure.CodeInternal, errors.New("receive: the decode middleware did not run"))
	}
	if b.Sync != "" && b.Sync != r.cfg.Sync {
		return nil, failure.Permanent(fmt.Errorf("receive: batch of sync %q on the topic of sync %q", b.Sync, r.cfg.Sync))
	}
	ctx := msg.Context()
	if r.batch != nil {
		r.batch.Learn(b)
	}
	s, err := r.state(ctx, b.Shard)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	gap, silent := silence(s.lastEpoch, s.lastSent, b, time.Duration(r.msgTimeout.Load()))
	r.mu.Unlock()
	loc := middleware.KafkaLocation(msg)
	reloads := s.recv.Reloads()
	out, err := s.recv.Receive(ctx, b, loc.Partition, loc.Offset)
	if s.recv.Reloads() != reloads {
		r.cfg.Logger.Info("receive: another worker applied this shard meanwhile (its partition was reassigned while this one stalled or was away); continuing from B's position",
			"shard", b.Shard.String(), "position", s.recv.Last().Pos.String(), "batch", b.Pos.String(), "outcome", out.String())
	}
	var rs *target.ResyncError
	var end *target.StreamEndError
	switch {
	case errors.As(err, &rs):
		r.update(s, func(st *ShardStatus) { st.LastError, st.LastErrorAt = err.Error(), time.Now() })
		r.requestResync(ctx, b, rs.Reason, rs.Detail)
		return nil, nil
	case errors.As(err, &end):
		r.update(s, func(st *ShardStatus) { st.Phase = "ended" })
		r.cfg.Logger.Info("receive: shard stream ended", "shard", b.Shard.String(), "marker", end.Marker.String())
	case err != nil:
		r.update(s, func(st *ShardStatus) { st.LastError, st.LastErrorAt = err.Error(), time.Now() })
		return nil, err
	}
	if out == target.Applied {
		last := s.recv.Last()
		if err := r.deps.Store.Put(store.AppliedPosition{Sync: r.cfg.Sync, Shard: b.Shard.String(), Epoch: last.Pos.Epoch, Tick: last.Pos.Tick, Sub: last.Pos.Sub,
			Partition: last.Partition, Offset: last.Offset, Phase: store.PhaseTailing}); err != nil {
			if !errors.Is(err, store.ErrRegression) {
				return nil, err
			}
			r.cfg.Logger.Warn("receive: the worker's checkpoint is ahead of B's _dc2dc; B's is the truth", "shard", b.Shard.String(), "err", err)
		}
	}
	r.observe(s, b, out, s.recv.Applied())
	r.mu.Lock()
	// A replayed heartbeat does not end a silence: the message timeout
	// judges the first batch applied after it.
	replayedHeartbeat := out != target.Applied && isHeartbeat(b)
	if !replayedHeartbeat && (b.Pos.Epoch > s.lastEpoch || (b.Pos.Epoch == s.lastEpoch && b.SentAt.After(s.lastSent))) {
		s.lastEpoch, s.lastSent = b.Pos.Epoch, b.SentAt
	}
	r.mu.Unlock()
	if silent && out == target.Applied {
		r.requestResync(ctx, b, "message-timeout", fmt.Sprintf("the shard's stream was silent for %v, longer than the message timeout %v",
			gap.Round(time.Second), time.Duration(r.msgTimeout.Load())))
	}
	if err := r.answer(ctx, s, b); err != nil {
		return nil, err
	}
	return nil, nil
}

// observe updates the shard's status from a handled batch; applied is the
// shard's applied position after it.
func (r *Receiver) observe(s *shardState, b *events.Batch, out target.Outcome, applied events.Position) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &s.st
	if out != target.Applied {
		st.Skipped++
		if isHeartbeat(b) && b.Pos.Epoch == st.Applied.Epoch && !st.Applied.Less(b.Pos) && !b.SentAt.IsZero() {
			// B holds everything up to the heartbeat's position: caught up
			// as of when it was sent.
			st.LagSeconds = now.Sub(b.SentAt).Seconds()
		}
		return
	}
	st.Batches++
	if b.Pos.Epoch > st.Applied.Epoch {
		// Every epoch begins with a snapshot: until its SnapshotBegin is
		// applied (a tree request comes first) the shard is not tailing.
		st.Phase = "snapshot"
	}
	st.Applied, st.Leader, st.LastBatchAt = applied, b.Leader, now
	st.LagSeconds = now.Sub(b.SentAt).Seconds()
	for _, rec := range b.Records {
		switch e := rec.Event.(type) {
		case *events.SnapshotBegin:
			st.Phase, st.Snapshots, st.SnapshotMode, st.SnapshotDocs, st.SnapshotRems = "snapshot", st.Snapshots+1, e.Mode, 0, 0
			st.SnapshotEpoch, st.SnapshotTotal = b.Pos.Epoch, e.Documents
		case *events.SnapshotDocuments:
			st.SnapshotDocs += int64(len(e.Docs))
		case *events.SnapshotRemove:
			st.SnapshotRems += int64(len(e.Keys))
		case *events.SnapshotEnd:
			st.Phase = "tailing"
		case *events.Heartbeat:
			st.Heartbeat = now
			if e.LeaderTick > st.Applied.Tick {
				st.LagTicks = e.LeaderTick - st.Applied.Tick
			} else {
				st.LagTicks = 0
			}
		}
	}
	if st.Phase == "snapshot" && st.Applied.Tick > 0 {
		// Past the snapshot tick of its epoch (events/doc.go): the
		// snapshot ended, also when another worker applied its
		// SnapshotEnd while this one was away (Receiver.Reloads).
		st.Phase = "tailing"
	}
}

// requestResync publishes a resync request for the batch's epoch (rate limited).
func (r *Receiver) requestResync(ctx context.Context, b *events.Batch, reason, detail string) {
	key := b.Shard.String()
	r.mu.Lock()
	s := r.shards[key]
	if s != nil {
		if s.resyncFrom == b.Pos.Epoch && time.Since(s.resyncAt) < r.cfg.ResyncRepeat {
			r.mu.Unlock()
			return
		}
		s.resyncFrom, s.resyncAt = b.Pos.Epoch, time.Now()
		s.st.Phase = "resync-requested"
		s.st.Resyncs++
	}
	r.mu.Unlock()
	r.cfg.Logger.Info("receive: asking A for a resync of the shard", "shard", key, "epoch", b.Pos.Epoch, "reason", reason, "detail", detail)
	msg, err := ctl.Message(r.cfg.Sync, b.Shard, b.Pos.Epoch, ctl.TypeResyncRequest, r.cfg.From,
		ctl.Resync{Shard: key, Epoch: b.Pos.Epoch, Reason: reason, Detail: detail})
	if err == nil {
		msg.SetContext(ctx)
		err = r.deps.Publisher.Publish(r.cfg.Topics.CtlDown, msg)
	}
	if err != nil {
		r.cfg.Logger.Warn("receive: resync request not sent (asked again on the next batch)", "shard", key, "err", err)
		r.mu.Lock()
		if s != nil {
			s.resyncAt = time.Time{}
		}
		r.mu.Unlock()
	}
}

// answer answers the tree and revisions requests of a batch on ctl.down.
func (r *Receiver) answer(ctx context.Context, s *shardState, b *events.Batch) error {
	for _, c := range ctl.Controls(b) {
		if c.Type != ctl.TypeTreeRequest && c.Type != ctl.TypeRevisionsRequest {
			continue
		}
		if time.Since(b.SentAt) > r.cfg.MaxRequestAge {
			continue
		}
		var req ctl.Request
		if err := ctl.Decode(c, &req); err != nil {
			r.cfg.Logger.Warn("receive: bad request ignored", "shard", b.Shard.String(), "err", err)
			continue
		}
		a := ctl.Answer{ID: req.ID, Shard: req.Shard, Epoch: req.Epoch}
		typ := ctl.TypeTree
		coll, err := r.deps.Resolver.Collection(ctx, b.Shard)
		if err == nil {
			if c.Type == ctl.TypeTreeRequest {
				a.Tree, err = bTree(ctx, r.deps.Conn, b.Shard.Database, coll, b.Shard.Index)
			} else {
				typ = ctl.TypeRevisions
				a.Revisions, err = bRevisions(ctx, r.deps.Conn, b.Shard.Database, coll, b.Shard.Index, req.Ranges, r.cfg.DocsPerRequest)
			}
		} else if c.Type == ctl.TypeRevisionsRequest {
			typ = ctl.TypeRevisions
		}
		if err != nil {
			if failure.IsRetryable(err) {
				return err // the batch is redelivered: skipped, then answered again
			}
			a.Error = err.Error()
		}
		msg, err := ctl.Message(r.cfg.Sync, b.Shard, b.Pos.Epoch, typ, r.cfg.From, a)
		if err != nil {
			return failure.WithCode(failure.CodeInternal, err)
		}
		msg.SetContext(ctx)
		if err := r.deps.Publisher.Publish(r.cfg.Topics.CtlDown, msg); err != nil {
			return err
		}
		r.update(s, func(st *ShardStatus) { st.Answers++ })
	}
	return nil
}
