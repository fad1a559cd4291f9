package plan

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// session is one leadership: everything it starts ends with it.
type session struct {
	m      *Manager
	deps   Deps
	conn   *target.Conn
	epoch  uint64
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	pub    message.Publisher

	writeMu sync.Mutex // serialises this session's record writes

	mu      sync.Mutex
	syncs   []Sync
	targets map[string]*targetRun
	sources map[string]*sourceRun
	watch   *client.Watcher
	// the server mode targetMode last set: read-only or not, and when
	modeSet, modeRO bool
	modeAt          time.Time
}

func startSession(ctx context.Context, m *Manager, deps Deps, conn *target.Conn, epoch uint64) (*session, error) {
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var syncs []Sync
	if _, _, err := deps.Store.Load(lctx, SyncsKey, &syncs); err != nil {
		return nil, err
	}
	pub, err := kafka.NewPublisher(m.cfg.Kafka)
	if err != nil {
		return nil, err
	}
	sctx, scancel := context.WithCancel(ctx)
	s := &session{m: m, deps: deps, conn: conn, epoch: epoch, ctx: sctx, cancel: scancel, pub: pub, syncs: syncs,
		targets: map[string]*targetRun{}, sources: map[string]*sourceRun{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop()
	}()
	return s, nil
}

// stop ends the session and waits for everything it started.
func (s *session) stop() {
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	sources := make([]*sourceRun, 0, len(s.sources))
	for _, r := range s.sources {
		sources = append(sources, r)
	}
	s.mu.Unlock()
	for _, r := range sources {
		r.release()
	}
	_ = s.pub.Close()
}

// leading reports whether this session's leadership still holds.
func (s *session) leading() bool {
	e, ok := s.deps.Leader()
	return ok && e == s.epoch && s.ctx.Err() == nil
}

func (s *session) go_(f func(context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(s.ctx)
	}()
}

// syncList returns a copy of the records.
func (s *session) syncList() []Sync {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.syncs)
}

// sync returns the record of id.
func (s *session) sync(id string) (Sync, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sy := range s.syncs {
		if sy.ID == id {
			return sy, true
		}
	}
	return Sync{}, false
}

// updateSyncs changes the records with compare-and-set under the leader
// epoch; fn gets a copy and must not have side effects.
func (s *session) updateSyncs(ctx context.Context, fn func([]Sync) ([]Sync, error)) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var result []Sync
	_, err := state.Update(ctx, s.deps.Store, s.epoch, SyncsKey, func(cur *[]Sync, _ bool) error {
		next, err := fn(slices.Clone(*cur))
		if err != nil {
			return err
		}
		*cur, result = next, next
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.syncs = result
	s.mu.Unlock()
	return nil
}

// changeSync applies fn to the record of id (errNoSync when missing).
func (s *session) changeSync(ctx context.Context, id string, fn func(*Sync) error) error {
	return s.updateSyncs(ctx, func(list []Sync) ([]Sync, error) {
		for i := range list {
			if list[i].ID == id {
				if err := fn(&list[i]); err != nil {
					return nil, err
				}
				list[i].UpdatedAt = time.Now().UTC()
				return list, nil
			}
		}
		return nil, errNoSync(id)
	})
}

// loop starts the runners of the records and of the discovered syncs.
func (s *session) loop() {
	ctx := s.ctx
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var lastDiscover time.Time
	for {
		s.reconcile()
		if time.Since(lastDiscover) >= s.m.cfg.DiscoverInterval {
			lastDiscover = time.Now()
			s.discover(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *session) reconcile() {
	s.targetMode()
	for _, sy := range s.syncList() {
		switch sy.Role {
		case RoleTarget:
			s.mu.Lock()
			_, ok := s.targets[sy.ID]
			if !ok {
				r := newTargetRun(s, sy.ID)
				s.targets[sy.ID] = r
				s.go_(r.run)
			}
			s.mu.Unlock()
		case RoleSource:
			s.startSource(sy.ID, sy.TopicPrefix)
		}
	}
}

func (s *session) startSource(id, prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sources[id]; ok {
		return
	}
	if _, ok := s.targets[id]; ok {
		return
	}
	r := newSourceRun(s, id, prefix)
	s.sources[id] = r
	s.go_(r.run)
}

// discover lists the ctl.down topics of this datacenter's Kafka: each names
// a sync that follows this datacenter (or one of ours as a target, which is
// skipped).
func (s *session) discover(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	topics, err := kafka.ListTopics(lctx, s.m.cfg.Kafka)
	if err != nil {
		if ctx.Err() == nil {
			s.m.log.Warn("cannot list the Kafka topics to discover syncs; retrying", "err", err)
		}
		return
	}
	targets := map[string]bool{}
	for _, sy := range s.syncList() {
		if sy.Role == RoleTarget {
			targets[sy.ID] = true
		}
	}
	for name := range topics {
		prefix, id, ok := parseCtlDown(name)
		if !ok || targets[id] {
			continue
		}
		if prefix == kafka.DefaultTopicPrefix {
			prefix = ""
		}
		s.startSource(id, prefix)
	}
}

// parseCtlDown splits "<prefix>.<id>.ctl.down".
func parseCtlDown(name string) (prefix, id string, ok bool) {
	rest, found := strings.CutSuffix(name, ".ctl.down")
	if !found {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 {
		return "", "", false
	}
	prefix, id = rest[:i], rest[i+1:]
	if kafka.ValidateSyncID(id) != nil {
		return "", "", false
	}
	return prefix, id, true
}

// watcher returns the topology watcher of this cluster (started on first use).
func (s *session) watcher() *client.Watcher {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watch != nil {
		return s.watch
	}
	w, err := client.NewWatcher(s.deps.Cluster, client.WatcherConfig{Interval: s.m.cfg.TopologyInterval,
		MaxBackoff: max(s.m.cfg.TopologyInterval, 30*time.Second), IncludeSystem: s.m.cfg.ReplicateUsers}, nil, func(err error) {
		s.m.log.Warn("topology of this cluster", "err", err)
	})
	if err != nil {
		s.m.log.Error("topology watcher", "err", err)
		return nil
	}
	s.watch = w
	s.go_(func(ctx context.Context) { _ = w.Run(ctx) })
	return w
}

// publish sends a leader message on a topic of this datacenter's Kafka.
func (s *session) publish(topic string, m Message) error {
	if !s.leading() {
		return notLeading()
	}
	m.Epoch, m.From = s.epoch, s.m.from()
	msg, err := Encode(m)
	if err != nil {
		return err
	}
	return s.pub.Publish(topic, msg)
}

// consume delivers the leader messages of topic until ctx ends, in a
// consumer group of this master and leadership epoch that starts at the
// newest offset: a new leadership never replays old state (the periodic
// messages repeat it, requests are repeated until answered). It retries
// subscribing while the topic does not exist.
func (s *session) consume(ctx context.Context, topic string, handle func(Message)) {
	kc := s.m.cfg.Kafka
	kc.Consumer.Group = s.m.groupName(topic, s.epoch)
	kc.Consumer.InitialOffset = kafka.OffsetNewest
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(client.Backoff(500*time.Millisecond, 10*time.Second, attempt)):
			}
		}
		sub, err := kafka.NewSubscriber(kc)
		if err != nil {
			s.m.log.Warn("control topic consumer", "topic", topic, "err", err)
			continue
		}
		msgs, err := sub.Subscribe(ctx, topic)
		if err != nil {
			_ = sub.Close()
			if ctx.Err() == nil && attempt%10 == 5 {
				s.m.log.Info("control topic not consumable yet; retrying", "topic", topic, "err", err)
			}
			continue
		}
		attempt = 0
		for msg := range msgs {
			m, err := Decode(msg.Payload)
			msg.Ack()
			switch {
			case errors.Is(err, ErrForeign):
			case err != nil:
				s.m.log.Warn("undecodable message on a control topic ignored", "topic", topic, "err", err)
			case s.m.cfg.DC != "" && m.From == s.m.cfg.DC:
				// our own message (a topic mirrored back): not for us
			default:
				handle(m)
			}
		}
		_ = sub.Close()
	}
}
