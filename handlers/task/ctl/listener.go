package ctl

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// ListenerConfig configures a Listener.
type ListenerConfig struct {
	// Kafka is cluster A's Kafka; Consumer.Group must be set and should be
	// unique per worker (every worker needs every answer).
	Kafka kafka.Config
	// Topic is dc2dc.<sync>.ctl.down.
	Topic  string
	Logger *slog.Logger
}

// Validate reports every problem at once.
func (c ListenerConfig) Validate() error {
	var errs []error
	if c.Topic == "" {
		errs = append(errs, errors.New("ctl listener: no topic: give dc2dc.<sync>.ctl.down"))
	}
	if c.Kafka.Consumer.Group == "" {
		errs = append(errs, errors.New("ctl listener: no consumer group: give one per worker, e.g. dc2dc.<sync>.ctl.<worker-id>"))
	}
	return errors.Join(errs...)
}

// Listener dispatches ctl.down messages in A (see the package doc).
type Listener struct {
	cfg     ListenerConfig
	mu      sync.Mutex
	waiters map[string]chan Answer
	resyncs map[string]chan Resync
	ready   chan struct{}
	once    sync.Once
}

// NewListener returns a listener; start it with Run.
func NewListener(cfg ListenerConfig) (*Listener, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Listener{cfg: cfg, waiters: make(map[string]chan Answer), resyncs: make(map[string]chan Resync), ready: make(chan struct{})}, nil
}

// Ready is closed once the subscription is made.
func (l *Listener) Ready() <-chan struct{} { return l.ready }

// Expect registers a waiter for the answer to request id; call it before
// publishing the request, and cancel when done.
func (l *Listener) Expect(id string) (<-chan Answer, func()) {
	ch := make(chan Answer, 1)
	l.mu.Lock()
	l.waiters[id] = ch
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.waiters, id)
		l.mu.Unlock()
	}
}

// Resyncs returns the resync requests of a shard (buffered; a request that
// finds the buffer full is dropped: one pending request is enough).
func (l *Listener) Resyncs(shard string) (<-chan Resync, func()) {
	ch := make(chan Resync, 1)
	l.mu.Lock()
	l.resyncs[shard] = ch
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		if l.resyncs[shard] == ch {
			delete(l.resyncs, shard)
		}
		l.mu.Unlock()
	}
}

// Run consumes until ctx ends.
func (l *Listener) Run(ctx context.Context) (err error) {
	sub, err := kafka.NewSubscriber(l.cfg.Kafka)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, sub.Close()) }()
	msgs, err := sub.Subscribe(ctx, l.cfg.Topic)
	if err != nil {
		return err
	}
	l.once.Do(func() { close(l.ready) })
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-msgs:
			if !ok {
				return nil
			}
			l.Handle(msg.Payload)
			msg.Ack()
		}
	}
}

// Handle dispatches one ctl.down payload (Run calls it for every message; a
// worker that consumes ctl.down itself can call it directly).
func (l *Listener) Handle(payload []byte) {
	b, err := events.Decode(payload)
	if err != nil {
		l.cfg.Logger.Warn("ctl: undecodable message on ctl.down ignored", "err", err)
		return
	}
	for _, c := range Controls(b) {
		switch c.Type {
		case TypeTree, TypeRevisions:
			var a Answer
			if err := Decode(c, &a); err != nil {
				l.cfg.Logger.Warn("ctl: bad answer ignored", "err", err)
				continue
			}
			l.mu.Lock()
			ch, ok := l.waiters[a.ID]
			l.mu.Unlock()
			if ok {
				select {
				case ch <- a:
				default:
				}
			}
		case TypeResyncRequest:
			var r Resync
			if err := Decode(c, &r); err != nil {
				l.cfg.Logger.Warn("ctl: bad resync request ignored", "err", err)
				continue
			}
			l.mu.Lock()
			ch, ok := l.resyncs[r.Shard]
			l.mu.Unlock()
			if ok {
				select {
				case ch <- r:
				default:
				}
			}
		}
	}
}
