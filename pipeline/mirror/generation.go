package mirror

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"golang.org/x/sync/errgroup"
)

// generation is one consumer-group session of a route: the partitions it
// claimed, one idempotent producer, and the acknowledgement loops. It is
// the sarama.ConsumerGroupHandler.
//
// Order of duties in a generation:
//  1. Setup: create or grow the target topics of the claims; read the last
//     forwarded record of every claimed target partition and move the
//     source position just after it; start the producer.
//  2. ConsumeClaim, per partition: forward records in source order to the
//     same target partition, remembering each sent offset in order.
//  3. On each acknowledgement, in order per partition: mark source
//     offset+1 (sarama commits marked offsets every second).
//  4. Cleanup: close the producer, which waits for every record in flight,
//     so the next generation's step 1 sees them in the target.
type generation struct {
	r     *route
	src   sarama.Client
	dst   sarama.Client
	admin sarama.ClusterAdmin // on the target
	// srcAdmin is on the source; it reads the committed offsets.
	srcAdmin sarama.ClusterAdmin
	runCtx   context.Context

	sess     sarama.ConsumerGroupSession
	producer sarama.AsyncProducer
	parts    map[topicPartition]*partState
	acks     sync.WaitGroup

	failOnce sync.Once
	failed   chan struct{} // closed on the first produce error
	failErr  error
	fatalErr atomic.Pointer[error]
}

func (g *generation) fail(err error) {
	g.failOnce.Do(func() {
		g.failErr = err
		close(g.failed)
	})
	if errors.Is(err, ErrPermanent) {
		g.fatalErr.CompareAndSwap(nil, &err)
	}
}

func (g *generation) failedErr() error {
	select {
	case <-g.failed:
		return g.failErr
	default:
		return nil
	}
}

func (g *generation) fatal() error {
	if p := g.fatalErr.Load(); p != nil {
		return *p
	}
	return nil
}

// partState tracks one claimed partition: the source offsets sent and not
// yet acknowledged, in send order. Offsets are marked only when the oldest
// one in flight is acknowledged, so the committed offset never passes a
// record the target does not hold.
type partState struct {
	tp   topicPartition
	pm   *partMetrics
	hwm  atomic.Int64 // source high-water mark last seen
	next atomic.Int64 // next source offset the target lacks; -1 until known

	mu       sync.Mutex
	queue    []int64
	head     int
	failedAt int64 // lowest refused offset, -1 if none
}

func (ps *partState) push(off int64) {
	ps.mu.Lock()
	ps.queue = append(ps.queue, off)
	ps.mu.Unlock()
}

// unpush forgets the last pushed offset (it was not handed to the producer).
func (ps *partState) unpush() {
	ps.mu.Lock()
	ps.queue = ps.queue[:len(ps.queue)-1]
	ps.mu.Unlock()
}

// ack reports whether off may be marked: it is the oldest in flight and no
// older record of the partition was refused.
func (ps *partState) ack(off int64) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.head >= len(ps.queue) || ps.queue[ps.head] != off {
		return false
	}
	ps.head++
	if ps.head >= 4096 && ps.head*2 >= len(ps.queue) {
		n := copy(ps.queue, ps.queue[ps.head:])
		ps.queue = ps.queue[:n]
		ps.head = 0
	}
	return ps.failedAt < 0
}

// refuse records that the target did not take off; it reports whether off
// is now the partition's lowest failed offset.
func (ps *partState) refuse(off int64) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.failedAt < 0 || off < ps.failedAt {
		ps.failedAt = off
		return true
	}
	return false
}

// failedMark is the metadata of a committed offset whose record the target
// did not take (refused, or given up on); later records of the partition may
// have reached the target.
const failedMark = "dc2dc-mirror:failed"

// ackRef travels in ProducerMessage.Metadata.
type ackRef struct {
	ps   *partState
	off  int64
	size int
}

// Setup implements sarama.ConsumerGroupHandler.
func (g *generation) Setup(sess sarama.ConsumerGroupSession) error {
	g.sess = sess
	r := g.r
	ctx := sess.Context()
	claims := sess.Claims()
	for topic := range claims {
		ps, err := g.src.Partitions(topic)
		if err != nil {
			r.m.met.error(r.cfg.Name, errKindTopics)
			return fmt.Errorf("partitions of source topic %s: %w", topic, err)
		}
		if err := r.ensureTarget(ctx, g.admin, g.srcAdmin, g.dst, topic, len(ps)); err != nil {
			r.m.met.error(r.cfg.Name, errKindTopics)
			return err
		}
	}

	cons, err := sarama.NewConsumerFromClient(g.dst)
	if err != nil {
		return fmt.Errorf("consumer on target cluster %s: %w", r.cfg.To, err)
	}
	defer func() { _ = cons.Close() }() // only reads the target: nothing to lose on close
	type found struct {
		pos SourcePos
		ok  bool
	}
	var mu sync.Mutex
	res := map[topicPartition]found{}
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(8)
	for topic, parts := range claims {
		for _, p := range parts {
			tp := topicPartition{topic, p}
			eg.Go(func() error {
				pos, ok, err := r.lastForwarded(ectx, g.dst, cons, tp)
				if err != nil {
					return fmt.Errorf("read the last forwarded record of target partition %s: %w", tp, err)
				}
				mu.Lock()
				res[tp] = found{pos, ok}
				mu.Unlock()
				return nil
			})
		}
	}
	if err := eg.Wait(); err != nil {
		r.m.met.error(r.cfg.Name, errKindResume)
		return err
	}

	g.parts = make(map[topicPartition]*partState, len(res))
	// A record that failed in an earlier run left its offset committed with
	// failedMark: treat it like a failure of this process.
	committed, err := g.srcAdmin.ListConsumerGroupOffsets(r.cfg.GroupID, claims)
	if err != nil {
		r.m.met.error(r.cfg.Name, errKindResume)
		return fmt.Errorf("read committed offsets of group %s: %w", r.cfg.GroupID, err)
	}
	for tp := range res {
		if b := committed.GetBlock(tp.topic, tp.partition); b != nil && b.Metadata == failedMark && b.Offset >= 0 {
			if fa, ok := r.failedAt[tp]; !ok || b.Offset < fa {
				r.failedAt[tp] = b.Offset
			}
		}
	}
	for tp, f := range res {
		if fa, ok := r.failedAt[tp]; ok && f.ok && f.pos.Offset > fa {
			// A record after the refused one reached the target. Unless the
			// refused one did too (its acknowledgement was lost), there is a
			// hole that resuming after the last record would keep.
			held, err := r.holdsSource(ctx, g.dst, cons, tp, fa)
			if err != nil {
				r.m.met.error(r.cfg.Name, errKindResume)
				return fmt.Errorf("check target partition %s for source offset %d: %w", tp, fa, err)
			}
			if !held {
				err := &StopError{Code: CodeGap, Route: r.cfg.Name, Pos: SourcePos{r.cfg.From, tp.topic, tp.partition, fa},
					Err: fmt.Errorf("target partition holds source offset %d but not %d", f.pos.Offset, fa)}
				g.fail(err)
				return err
			}
		}
		ps := &partState{tp: tp, pm: r.m.met.partition(r.cfg.Name, tp.topic, tp.partition), failedAt: -1}
		ps.next.Store(-1)
		g.parts[tp] = ps
		if f.ok {
			next := f.pos.Offset + 1
			// MarkOffset only moves forward and ResetOffset only backward:
			// together they set the position to exactly next.
			sess.MarkOffset(tp.topic, tp.partition, next, "")
			sess.ResetOffset(tp.topic, tp.partition, next, "")
			r.m.met.resumes.WithLabelValues(r.cfg.Name, "target").Inc()
			r.log.Debug("resume after the last forwarded record", "partition", tp.String(), "offset", next)
		} else {
			r.m.met.resumes.WithLabelValues(r.cfg.Name, "group").Inc()
			r.log.Debug("target partition holds no forwarded record: resume at the group's position", "partition", tp.String())
		}
	}
	clear(r.failedAt)

	g.producer, err = sarama.NewAsyncProducerFromClient(g.dst)
	if err != nil {
		return fmt.Errorf("producer on target cluster %s: %w", r.cfg.To, err)
	}
	g.acks.Go(g.ackLoop)
	g.acks.Go(g.errorLoop)
	g.acks.Go(func() { g.lagLoop(ctx) })
	r.log.Info("mirror session started", "generation", sess.GenerationID(), "partitions", len(g.parts))
	return nil
}

func (g *generation) ackLoop() {
	for msg := range g.producer.Successes() {
		ref := msg.Metadata.(ackRef)
		ps := ref.ps
		if !ps.ack(ref.off) {
			// An older record of this partition was refused: never mark past it.
			continue
		}
		g.sess.MarkOffset(ps.tp.topic, ps.tp.partition, ref.off+1, "")
		ps.next.Store(ref.off + 1)
		ps.pm.acked(1, ref.size, max(0, ps.hwm.Load()-ref.off-1))
	}
}

// lagInterval is how often the lag of owned partitions is measured against
// the source's high-water marks, so that the lag keeps growing while the
// target is down and nothing is acknowledged.
const lagInterval = 5 * time.Second

func (g *generation) lagLoop(ctx context.Context) {
	t := time.NewTicker(lagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, ps := range g.parts {
			next := ps.next.Load()
			if next < 0 {
				continue
			}
			hwm, err := g.src.GetOffset(ps.tp.topic, ps.tp.partition, sarama.OffsetNewest)
			if err != nil || ctx.Err() != nil {
				continue
			}
			ps.hwm.Store(hwm)
			ps.pm.setLag(max(0, hwm-next))
		}
	}
}

func (g *generation) errorLoop() {
	for perr := range g.producer.Errors() {
		ref := perr.Msg.Metadata.(ackRef)
		lowest := ref.ps.refuse(ref.off)
		r := g.r
		r.m.met.error(r.cfg.Name, errKindProduce)
		pos := SourcePos{r.cfg.From, ref.ps.tp.topic, ref.ps.tp.partition, ref.off}
		if lowest {
			// Commit the failed offset, marked, so that a later run (after
			// a crash or a restart) that finds newer records of the
			// partition in the target reports the hole (CodeGap) instead
			// of resuming after it. Acknowledgements past it clear the mark.
			g.sess.MarkOffset(pos.Topic, pos.Partition, pos.Offset, failedMark)
			g.sess.ResetOffset(pos.Topic, pos.Partition, pos.Offset, failedMark)
		}
		var err error
		if isRefusedForGood(perr.Err) {
			err = &StopError{Code: CodeRefused, Route: r.cfg.Name, Pos: pos, Err: perr.Err}
		} else {
			err = fmt.Errorf("forward source record %s: %w", pos, perr.Err)
		}
		r.log.Error("target did not take a record", "record", pos.String(), "err", perr.Err)
		g.fail(err)
	}
}

// ConsumeClaim implements sarama.ConsumerGroupHandler.
func (g *generation) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ps := g.parts[topicPartition{claim.Topic(), claim.Partition()}]
	if ps == nil {
		return fmt.Errorf("claim %s/%d was not set up", claim.Topic(), claim.Partition())
	}
	ctx := sess.Context()
	ps.next.CompareAndSwap(-1, claim.InitialOffset())
	in := g.producer.Input()
	srcKey := []byte(SourceHeader)
	pos := SourcePos{Cluster: g.r.cfg.From, Topic: claim.Topic(), Partition: claim.Partition()}
	for {
		var msg *sarama.ConsumerMessage
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			msg = m
		case <-ctx.Done():
			return nil
		case <-g.failed:
			return nil
		}
		ps.hwm.Store(claim.HighWaterMarkOffset())
		headers := make([]sarama.RecordHeader, 0, len(msg.Headers)+1)
		for _, h := range msg.Headers {
			if h != nil && string(h.Key) != SourceHeader {
				headers = append(headers, *h)
			}
		}
		pos.Offset = msg.Offset
		headers = append(headers, sarama.RecordHeader{Key: srcKey, Value: pos.appendTo(make([]byte, 0, 48))})
		pm := &sarama.ProducerMessage{
			Topic:     msg.Topic,
			Partition: msg.Partition,
			Headers:   headers,
			Timestamp: msg.Timestamp,
			Metadata:  ackRef{ps: ps, off: msg.Offset, size: len(msg.Key) + len(msg.Value)},
		}
		if msg.Key != nil {
			pm.Key = sarama.ByteEncoder(msg.Key)
		}
		if msg.Value != nil {
			pm.Value = sarama.ByteEncoder(msg.Value)
		}
		ps.push(msg.Offset)
		select {
		case in <- pm:
		case <-ctx.Done():
			ps.unpush()
			return nil
		case <-g.failed:
			ps.unpush()
			return nil
		}
	}
}

// Cleanup implements sarama.ConsumerGroupHandler. Every ConsumeClaim has
// returned: close the producer and wait for the records in flight, so the
// next generation reads them as the target's last records. When the mirror
// is shutting down the wait is bounded by ShutdownTimeout, then the target
// client is closed under the producer.
func (g *generation) Cleanup(sarama.ConsumerGroupSession) error {
	defer func() {
		for tp, ps := range g.parts {
			ps.mu.Lock()
			if ps.failedAt >= 0 {
				g.r.failedAt[tp] = ps.failedAt
			}
			ps.mu.Unlock()
			ps.pm.release()
		}
	}()
	if g.producer == nil {
		return nil
	}
	g.producer.AsyncClose()
	done := make(chan struct{})
	go func() {
		g.acks.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-g.runCtx.Done():
	}
	t := time.NewTimer(g.r.m.cfg.ShutdownTimeout.D())
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	}
	g.r.log.Warn("records still in flight at shutdown: closing the target connection; they are re-forwarded on restart if the target lacks them")
	_ = g.dst.Close()
	t.Reset(g.r.m.cfg.ShutdownTimeout.D())
	select {
	case <-done:
	case <-t.C:
		g.r.log.Error("producer did not stop after its connection was closed; giving up on it")
	}
	return nil
}
