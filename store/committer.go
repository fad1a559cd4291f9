package store

import (
	"context"
	"errors"
	"fmt"
)

// ErrCommitterStopped is returned by Committer.Put when the committer's Run
// has returned (or returns before the write was committed).
var ErrCommitterStopped = errors.New("store: committer stopped")

// DefaultMaxGroup is the most write requests a Committer puts in one batch
// when CommitterConfig.MaxGroup is zero.
const DefaultMaxGroup = 256

// CommitterConfig configures a Committer.
type CommitterConfig struct {
	// MaxGroup is the most Put requests committed in one Pebble batch;
	// 0 means DefaultMaxGroup.
	MaxGroup int
}

// Validate reports every problem of the configuration at once.
func (c CommitterConfig) Validate() error {
	var errs []error
	if c.MaxGroup < 0 {
		errs = append(errs, fmt.Errorf("store: committer MaxGroup is %d: use a positive number of requests, or 0 for the default %d", c.MaxGroup, DefaultMaxGroup))
	}
	return errors.Join(errs...)
}

// Committer groups the checkpoint writes of many shards into few synced
// Pebble batches: the tasks of all shards call Put concurrently, and Run
// commits whatever requests are waiting in one batch (one fsync), then the
// next group. Each Put is atomic and checked on its own: a regression fails
// only that Put. Put returns once its records are durable.
type Committer struct {
	s        *Store
	maxGroup int
	reqs     chan *commitReq
	stopped  chan struct{}
}

type commitReq struct {
	recs []Record
	done chan error // buffered: Run never blocks on it
}

// NewCommitter returns a committer writing to s. Start its Run.
func (s *Store) NewCommitter(cfg CommitterConfig) (*Committer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxGroup == 0 {
		cfg.MaxGroup = DefaultMaxGroup
	}
	return &Committer{s: s, maxGroup: cfg.MaxGroup, reqs: make(chan *commitReq), stopped: make(chan struct{})}, nil
}

// Run commits groups of waiting Put requests until ctx ends; it blocks for
// the first request, then takes every request already waiting (up to
// MaxGroup) and commits them together. It returns ctx's error, or ErrClosed
// when the store was closed. Run may be called once.
func (c *Committer) Run(ctx context.Context) error {
	defer close(c.stopped)
	group := make([]*commitReq, 0, c.maxGroup)
	recs := make([][]Record, 0, c.maxGroup)
	for {
		group, recs = group[:0], recs[:0]
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-c.reqs:
			group = append(group, r)
		}
	fill:
		for len(group) < c.maxGroup {
			select {
			case r := <-c.reqs:
				group = append(group, r)
			default:
				break fill
			}
		}
		for _, r := range group {
			recs = append(recs, r.recs)
		}
		errs := c.s.writeGroups(recs, true)
		for i, r := range group {
			r.done <- errs[i]
		}
		for _, err := range errs {
			if errors.Is(err, ErrClosed) {
				return err
			}
		}
	}
}

// Put writes the records atomically, like Store.PutMany, grouped with the
// concurrent Puts of other goroutines. It returns when the records are
// durable, with the write's error, ctx's error (the write may still happen),
// or ErrCommitterStopped.
func (c *Committer) Put(ctx context.Context, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	r := &commitReq{recs: recs, done: make(chan error, 1)}
	select {
	case c.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stopped:
		return ErrCommitterStopped
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
