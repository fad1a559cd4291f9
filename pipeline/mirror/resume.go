package mirror

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// lastForwarded finds the last record of target partition tp that this
// route forwarded, and returns its source position. It reads a window at
// the end of the partition, widening it (up to ResumeScanMax records) when
// the window holds no record of this route. ok is false when the partition
// holds no such record.
func (r *route) lastForwarded(ctx context.Context, dst sarama.Client, cons sarama.Consumer, tp topicPartition) (pos SourcePos, ok bool, err error) {
	newest, err := dst.GetOffset(tp.topic, tp.partition, sarama.OffsetNewest)
	if err != nil {
		return pos, false, err
	}
	oldest, err := dst.GetOffset(tp.topic, tp.partition, sarama.OffsetOldest)
	if err != nil {
		return pos, false, err
	}
	if newest <= oldest {
		return pos, false, nil
	}
	window := int64(8)
	end := newest
	for {
		start := max(oldest, newest-window)
		err = r.scanForwarded(ctx, cons, tp, start, end, func(p SourcePos) { pos, ok = p, true })
		if err != nil || ok {
			return pos, ok, err
		}
		if start == oldest || window >= r.m.cfg.ResumeScanMax {
			r.log.Warn("target partition has records but none forwarded by this route near its end: resume at the group's position",
				"partition", tp.String(), "scanned_from", start, "end", newest)
			return pos, false, nil
		}
		end = start
		window = min(window*8, r.m.cfg.ResumeScanMax)
	}
}

// holdsSource reports whether target partition tp holds the record of
// source offset off, searching backwards from its end until it passes off.
// It answers false when the search reaches ResumeScanMax records first.
func (r *route) holdsSource(ctx context.Context, dst sarama.Client, cons sarama.Consumer, tp topicPartition, off int64) (bool, error) {
	newest, err := dst.GetOffset(tp.topic, tp.partition, sarama.OffsetNewest)
	if err != nil {
		return false, err
	}
	oldest, err := dst.GetOffset(tp.topic, tp.partition, sarama.OffsetOldest)
	if err != nil {
		return false, err
	}
	end := newest
	for window := int64(64); end > oldest && newest-end < r.m.cfg.ResumeScanMax; window *= 4 {
		start := max(oldest, end-window)
		found, passed := false, false
		err := r.scanForwarded(ctx, cons, tp, start, end, func(p SourcePos) {
			found = found || p.Offset == off
			passed = passed || p.Offset <= off
		})
		if err != nil || found || passed {
			return found, err
		}
		end = start
	}
	return false, nil
}

// scanForwarded reads target offsets [start, end) and calls visit, in
// order, with the source position of every record carrying this route's
// SourceHeader for the same source partition.
func (r *route) scanForwarded(ctx context.Context, cons sarama.Consumer, tp topicPartition, start, end int64, visit func(SourcePos)) error {
	pc, err := cons.ConsumePartition(tp.topic, tp.partition, start)
	if err != nil {
		return err
	}
	defer func() { _ = pc.Close() }() // only reads the target: nothing to lose on close
	timer := time.NewTimer(r.m.cfg.ResumeTimeout.D())
	defer timer.Stop()
	for {
		select {
		case msg := <-pc.Messages():
			if msg.Offset >= end {
				return nil
			}
			if p, match := r.ownHeader(msg, tp); match {
				visit(p)
			}
			if msg.Offset >= end-1 {
				return nil
			}
		case cerr := <-pc.Errors():
			return cerr
		case <-timer.C:
			return fmt.Errorf("reading offsets %d..%d took longer than resume_timeout %s", start, end, r.m.cfg.ResumeTimeout.D())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ownHeader returns the SourceHeader of msg when this route wrote it from
// the same source partition.
func (r *route) ownHeader(msg *sarama.ConsumerMessage, tp topicPartition) (SourcePos, bool) {
	for _, h := range msg.Headers {
		if h == nil || string(h.Key) != SourceHeader {
			continue
		}
		p, err := ParseSourcePos(string(h.Value))
		if err != nil {
			r.log.Warn("target record has a malformed source header", "partition", tp.String(), "offset", msg.Offset, "err", err)
			return SourcePos{}, false
		}
		return p, p.Cluster == r.cfg.From && p.Topic == tp.topic && p.Partition == tp.partition
	}
	return SourcePos{}, false
}
