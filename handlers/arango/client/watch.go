package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// ChangeKind says what changed between two topologies.
type ChangeKind int

// Change kinds.
const (
	DatabaseAdded ChangeKind = iota + 1
	DatabaseDropped
	CollectionAdded
	CollectionDropped
	CollectionRenamed
	ShardLeaderChanged
	ServerFailed
	ServerRecovered
)

func (k ChangeKind) String() string {
	switch k {
	case DatabaseAdded:
		return "database-added"
	case DatabaseDropped:
		return "database-dropped"
	case CollectionAdded:
		return "collection-added"
	case CollectionDropped:
		return "collection-dropped"
	case CollectionRenamed:
		return "collection-renamed"
	case ShardLeaderChanged:
		return "shard-leader-changed"
	case ServerFailed:
		return "server-failed"
	case ServerRecovered:
		return "server-recovered"
	}
	return fmt.Sprintf("change-%d", int(k))
}

// Change is one difference between two topologies. Fields that do not apply
// to the kind are empty.
type Change struct {
	Kind         ChangeKind
	Database     string
	CollectionID string
	Collection   string // name (the new name for a rename)
	OldName      string // rename only
	Shard        string
	ShardIndex   int
	OldLeader    string
	NewLeader    string
	Server       string // server id for server changes
}

func (c Change) String() string {
	switch c.Kind {
	case DatabaseAdded, DatabaseDropped:
		return fmt.Sprintf("%s %s", c.Kind, c.Database)
	case CollectionAdded, CollectionDropped:
		return fmt.Sprintf("%s %s/%s (%s)", c.Kind, c.Database, c.Collection, c.CollectionID)
	case CollectionRenamed:
		return fmt.Sprintf("%s %s/%s → %s (%s)", c.Kind, c.Database, c.OldName, c.Collection, c.CollectionID)
	case ShardLeaderChanged:
		return fmt.Sprintf("%s %s/%s %s: %s → %s", c.Kind, c.Database, c.Collection, c.Shard, c.OldLeader, c.NewLeader)
	}
	return fmt.Sprintf("%s %s", c.Kind, c.Server)
}

// Diff lists what changed from old to new, in a stable order: servers,
// then databases by name, collections by plan id, shards by index.
func Diff(old, new *Topology) []Change {
	var out []Change
	ids := make([]string, 0, len(new.Servers))
	for id := range new.Servers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		n := new.Servers[id]
		o, had := old.Servers[id]
		switch {
		case n.Failed() && (!had || !o.Failed()):
			out = append(out, Change{Kind: ServerFailed, Server: id})
		case !n.Failed() && had && o.Failed():
			out = append(out, Change{Kind: ServerRecovered, Server: id})
		}
	}
	names := unionKeys(old.Databases, new.Databases)
	for _, name := range names {
		od, inOld := old.Databases[name]
		nd, inNew := new.Databases[name]
		switch {
		case !inOld:
			out = append(out, Change{Kind: DatabaseAdded, Database: name})
			for _, c := range nd.Collections {
				out = append(out, Change{Kind: CollectionAdded, Database: name, CollectionID: c.ID, Collection: c.Name})
			}
			continue
		case !inNew:
			out = append(out, Change{Kind: DatabaseDropped, Database: name})
			continue
		}
		out = append(out, diffDatabase(od, nd)...)
	}
	return out
}

func diffDatabase(od, nd *Database) []Change {
	var out []Change
	oldByID := make(map[string]*Collection, len(od.Collections))
	for _, c := range od.Collections {
		oldByID[c.ID] = c
	}
	newByID := make(map[string]*Collection, len(nd.Collections))
	for _, c := range nd.Collections {
		newByID[c.ID] = c
	}
	for _, c := range od.Collections {
		if _, ok := newByID[c.ID]; !ok {
			out = append(out, Change{Kind: CollectionDropped, Database: nd.Name, CollectionID: c.ID, Collection: c.Name})
		}
	}
	for _, c := range nd.Collections {
		oc, ok := oldByID[c.ID]
		if !ok {
			out = append(out, Change{Kind: CollectionAdded, Database: nd.Name, CollectionID: c.ID, Collection: c.Name})
			continue
		}
		if oc.Name != c.Name {
			out = append(out, Change{Kind: CollectionRenamed, Database: nd.Name, CollectionID: c.ID, Collection: c.Name, OldName: oc.Name})
		}
		for _, s := range c.Shards {
			os, ok := oc.ShardByName(s.Name)
			if ok && os.Leader != s.Leader {
				out = append(out, Change{Kind: ShardLeaderChanged, Database: nd.Name, CollectionID: c.ID, Collection: c.Name,
					Shard: s.Name, ShardIndex: s.Index, OldLeader: os.Leader, NewLeader: s.Leader})
			}
		}
	}
	return out
}

func unionKeys[V any](a, b map[string]V) []string {
	out := make([]string, 0, len(a)+len(b))
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// WatcherConfig configures a Watcher.
type WatcherConfig struct {
	// Interval between two polls (default 2s).
	Interval time.Duration
	// MaxBackoff bounds the wait after consecutive failures (default 30s);
	// the wait doubles from Interval with ±20% jitter.
	MaxBackoff time.Duration
	// IncludeSystem includes system collections (default false).
	IncludeSystem bool
}

// WithDefaults fills unset fields.
func (cfg WatcherConfig) WithDefaults() WatcherConfig {
	if cfg.Interval == 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	return cfg
}

// Validate reports every problem at once.
func (cfg WatcherConfig) Validate() error {
	var errs []error
	if cfg.Interval <= 0 {
		errs = append(errs, fmt.Errorf("topology poll interval %v: must be positive", cfg.Interval))
	}
	if cfg.MaxBackoff < cfg.Interval {
		errs = append(errs, fmt.Errorf("topology max backoff %v: must be at least the poll interval %v", cfg.MaxBackoff, cfg.Interval))
	}
	return errors.Join(errs...)
}

// Watcher polls a cluster's topology and reports the changes.
type Watcher struct {
	c        *Client
	cfg      WatcherConfig
	onChange func(*Topology, []Change)
	onError  func(error)

	mu      sync.Mutex
	current *Topology
	changed chan struct{}
	err     error
}

// NewWatcher returns a watcher. onChange (may be nil) is called from Run's
// goroutine with the new topology and the changes since the previous one;
// onError (may be nil) with every failed poll.
func NewWatcher(c *Client, cfg WatcherConfig, onChange func(*Topology, []Change), onError func(error)) (*Watcher, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	return &Watcher{c: c, cfg: cfg, onChange: onChange, onError: onError, changed: make(chan struct{})}, nil
}

// Current returns the latest topology (nil before the first successful poll).
func (w *Watcher) Current() *Topology {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}

// LastError returns the error of the latest poll (nil after a success).
func (w *Watcher) LastError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Changed returns a channel closed at the next successful poll.
func (w *Watcher) Changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

// ShardLeader returns the latest known planned leader of a shard.
func (w *Watcher) ShardLeader(db, shard string) (string, bool) {
	return w.Current().ShardLeader(db, shard)
}

// Server returns the latest known health of a server.
func (w *Watcher) Server(id string) (Server, bool) {
	t := w.Current()
	if t == nil {
		return Server{}, false
	}
	s, ok := t.Servers[id]
	return s, ok
}

// Poll reads the topology once and reports changes. Run calls it.
func (w *Watcher) Poll(ctx context.Context) error {
	t, err := w.c.Topology(ctx, w.cfg.IncludeSystem)
	if err != nil {
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
		if w.onError != nil && ctx.Err() == nil {
			w.onError(err)
		}
		return err
	}
	w.mu.Lock()
	prev := w.current
	w.current, w.err = t, nil
	ch := w.changed
	w.changed = make(chan struct{})
	w.mu.Unlock()
	close(ch)
	if w.onChange != nil {
		var changes []Change
		if prev == nil {
			changes = Diff(&Topology{}, t)
		} else {
			changes = Diff(prev, t)
		}
		if len(changes) > 0 {
			w.onChange(t, changes)
		}
	}
	return nil
}

// Run polls until ctx ends; it returns ctx's error. Failed polls are retried
// with jittered exponential backoff.
func (w *Watcher) Run(ctx context.Context) error {
	failures := 0
	for {
		wait := w.cfg.Interval
		if err := w.Poll(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			wait = Backoff(w.cfg.Interval, w.cfg.MaxBackoff, failures)
		} else {
			failures = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Backoff returns the wait before retry number n (1-based): base doubled
// n-1 times, capped at max, with ±20% jitter.
func Backoff(base, max time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	j := time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	if j <= 0 {
		j = time.Millisecond
	}
	return j
}
