package registry

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dc2dc/dc2dc/events"
)

// DefaultDeadAfter is how long a worker may stay silent.
const DefaultDeadAfter = 3 * time.Second

// Config of a Registry.
type Config struct {
	// DeadAfter: a worker silent this long is dead (default 3s).
	DeadAfter time.Duration
}

// WithDefaults fills the unset fields.
func (c Config) WithDefaults() Config {
	if c.DeadAfter == 0 {
		c.DeadAfter = DefaultDeadAfter
	}
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	if c.DeadAfter < 0 {
		return fmt.Errorf("registry: dead-after %v: must be positive (default 3s)", c.DeadAfter)
	}
	return nil
}

// WorkerInfo is what a worker declares when it registers.
type WorkerInfo struct {
	ID       string `json:"id"`
	Endpoint string `json:"endpoint"`
	Host     string `json:"host,omitempty"`
	// DBServer is the id of the DB-Server this worker sits next to
	// (affinity of send-shard tasks); "" = none.
	DBServer string `json:"dbServer,omitempty"`
	// Capacity is the most tasks the worker takes (0 = unlimited).
	Capacity int `json:"capacity,omitempty"`
}

// Validate reports every problem of a registration at once.
func (w WorkerInfo) Validate() error {
	var errs []error
	if strings.TrimSpace(w.ID) == "" {
		errs = append(errs, errors.New("worker id is empty: give every worker a stable id"))
	}
	if w.Capacity < 0 {
		errs = append(errs, fmt.Errorf("worker %s: capacity %d: must be 0 (unlimited) or positive", w.ID, w.Capacity))
	}
	return errors.Join(errs...)
}

// Worker is a registered worker as the registry sees it.
type Worker struct {
	WorkerInfo
	RegisteredAt time.Time `json:"registeredAt"`
	LastSeen     time.Time `json:"lastSeen"`
	Alive        bool      `json:"alive"`
	Tasks        int       `json:"tasks"`
}

// Kind of a task.
type Kind string

// Task kinds.
const (
	KindSendShard    Kind = "send-shard"
	KindReceiveShard Kind = "receive-shard"
)

// Phase of a task.
type Phase string

// Phases (arangosync's status names where they exist).
const (
	PhasePending     Phase = "pending"
	PhaseInitialSync Phase = "initial-sync"
	PhaseRunning     Phase = "running"
	PhaseFailed      Phase = "failed"
	PhaseStopped     Phase = "stopped"
)

// Task is one task record: its definition, its assignment and what its
// worker last reported.
type Task struct {
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// Sync is the sync id the task belongs to (names its topics).
	Sync string `json:"sync,omitempty"`
	// Shard is the shard stream ("database/collectionId/index").
	Shard string `json:"shard"`
	// Collection is the collection's name in the source and ShardName the
	// shard's name there ("s8010047"), as planned; the worker re-reads the
	// shard map for the current leader.
	Collection string `json:"collection,omitempty"`
	ShardName  string `json:"shardName,omitempty"`
	// ShardLeader is the DB-Server leading the shard in the source (the
	// affinity of send-shard tasks).
	ShardLeader string `json:"shardLeader,omitempty"`

	// Worker is the assigned worker ("" = unassigned).
	Worker string `json:"worker,omitempty"`
	// LeaderEpoch is the epoch of the master that made the assignment.
	LeaderEpoch uint64 `json:"leaderEpoch"`
	// Generation increments with every (re)assignment.
	Generation uint64 `json:"generation"`

	// StreamEpoch is the shard stream's epoch counter (ARCHITECTURE.md §6.3).
	StreamEpoch uint64 `json:"streamEpoch"`
	Phase       Phase  `json:"phase"`
	// Acked is the last acknowledged position the worker reported.
	Acked events.Position `json:"acked"`
	// LeaderTick is the shard leader's latest tick the worker saw (lag in
	// ticks = LeaderTick - Acked.Tick within one epoch).
	LeaderTick uint64    `json:"leaderTick,omitempty"`
	Error      string    `json:"error,omitempty"`
	ErrorCode  string    `json:"errorCode,omitempty"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// ShardRef parses Shard.
func (t Task) ShardRef() (events.ShardRef, error) { return events.ParseShardRef(t.Shard) }

// Validate reports every problem of a task definition at once.
func (t Task) Validate() error {
	var errs []error
	if strings.TrimSpace(t.ID) == "" {
		errs = append(errs, errors.New("task id is empty"))
	}
	if t.Kind != KindSendShard && t.Kind != KindReceiveShard {
		errs = append(errs, fmt.Errorf("task %s: kind %q: use %s or %s", t.ID, t.Kind, KindSendShard, KindReceiveShard))
	}
	if _, err := t.ShardRef(); err != nil {
		errs = append(errs, fmt.Errorf("task %s: %w", t.ID, err))
	}
	return errors.Join(errs...)
}

// Report is a worker's report about one of its tasks.
type Report struct {
	TaskID      string          `json:"taskId"`
	Generation  uint64          `json:"generation"`
	Phase       Phase           `json:"phase,omitempty"`
	StreamEpoch uint64          `json:"streamEpoch,omitempty"`
	Acked       events.Position `json:"acked"`
	LeaderTick  uint64          `json:"leaderTick,omitempty"`
	Error       string          `json:"error,omitempty"`
	ErrorCode   string          `json:"errorCode,omitempty"`
}

// Move is one change of assignment made by Schedule.
type Move struct {
	TaskID     string `json:"taskId"`
	From, To   string // worker ids ("" = unassigned)
	Generation uint64 // the task's new generation
	Reason     string
}

// ErrUnknownWorker: a heartbeat or report from a worker that is not registered.
var ErrUnknownWorker = errors.New("registry: unknown worker: register first")

type worker struct {
	info       WorkerInfo
	registered time.Time
	lastSeen   time.Time
}

// Registry holds the workers and the tasks. Safe for concurrent use.
type Registry struct {
	cfg Config

	mu      sync.Mutex
	epoch   uint64
	workers map[string]*worker
	tasks   map[string]*Task
}

// New returns an empty registry.
func New(cfg Config) (*Registry, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Registry{cfg: cfg, workers: map[string]*worker{}, tasks: map[string]*Task{}}, nil
}

// SetEpoch sets the leader epoch new assignments carry, and stamps it on
// every current assignment (a new leader adopts them: the generations stay).
func (r *Registry) SetEpoch(epoch uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.epoch = epoch
	for _, t := range r.tasks {
		if t.Worker != "" {
			t.LeaderEpoch = epoch
		}
	}
}

// DeadAfter returns how long a worker may stay silent.
func (r *Registry) DeadAfter() time.Duration { return r.cfg.DeadAfter }

// Epoch returns the leader epoch.
func (r *Registry) Epoch() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.epoch
}

// Register adds or updates a worker; it counts as a heartbeat.
func (r *Registry) Register(info WorkerInfo, now time.Time) error {
	if err := info.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.workers[info.ID]
	if !ok || !r.aliveLocked(w, now) {
		w = &worker{registered: now}
		r.workers[info.ID] = w
	}
	w.info, w.lastSeen = info, now
	return nil
}

// Heartbeat records that the worker is alive. It returns ErrUnknownWorker
// for a worker that is not registered (it must register again, e.g. with a
// new leader).
func (r *Registry) Heartbeat(id string, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.workers[id]
	if !ok {
		return ErrUnknownWorker
	}
	if now.After(w.lastSeen) {
		w.lastSeen = now
	}
	return nil
}

// Unregister removes a worker (a clean stop); its tasks move at the next pass.
func (r *Registry) Unregister(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.workers, id)
}

// Forget removes workers dead for longer than age (so the list stays short).
func (r *Registry) Forget(age time.Duration, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, w := range r.workers {
		if now.Sub(w.lastSeen) > age {
			delete(r.workers, id)
		}
	}
}

func (r *Registry) aliveLocked(w *worker, now time.Time) bool {
	return now.Sub(w.lastSeen) < r.cfg.DeadAfter
}

// Workers lists the workers, sorted by id.
func (r *Registry) Workers(now time.Time) []Worker {
	r.mu.Lock()
	defer r.mu.Unlock()
	load := map[string]int{}
	for _, t := range r.tasks {
		if t.Worker != "" {
			load[t.Worker]++
		}
	}
	out := make([]Worker, 0, len(r.workers))
	for _, w := range r.workers {
		out = append(out, Worker{WorkerInfo: w.info, RegisteredAt: w.registered, LastSeen: w.lastSeen,
			Alive: r.aliveLocked(w, now), Tasks: load[w.info.ID]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PutTask adds a task or updates its definition (kind, shard, shard
// leader). A new task starts unassigned and pending unless t says
// otherwise (a task record loaded from the store keeps its assignment,
// generation and progress).
func (r *Registry) PutTask(t Task) error {
	if err := t.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.tasks[t.ID]; ok {
		cur.Kind, cur.Shard, cur.ShardLeader = t.Kind, t.Shard, t.ShardLeader
		return nil
	}
	if t.Phase == "" {
		t.Phase = PhasePending
	}
	r.tasks[t.ID] = &t
	return nil
}

// RemoveTask removes a task.
func (r *Registry) RemoveTask(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.tasks, id)
}

// Tasks lists the tasks, sorted by id.
func (r *Registry) Tasks() []Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.listLocked(func(*Task) bool { return true })
}

// TasksOf lists the tasks assigned to a worker, sorted by id.
func (r *Registry) TasksOf(workerID string) []Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.listLocked(func(t *Task) bool { return t.Worker == workerID })
}

func (r *Registry) listLocked(keep func(*Task) bool) []Task {
	out := make([]Task, 0, len(r.tasks))
	for _, t := range r.tasks {
		if keep(t) {
			out = append(out, *t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Report applies a worker's reports about its tasks. Reports of a task
// that is not assigned to this worker, or of an older generation, are
// ignored (the worker was superseded); their task ids are returned.
func (r *Registry) Report(workerID string, reps []Report, now time.Time) (superseded []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rep := range reps {
		t, ok := r.tasks[rep.TaskID]
		if !ok || t.Worker != workerID || rep.Generation != t.Generation {
			superseded = append(superseded, rep.TaskID)
			continue
		}
		if rep.Phase != "" {
			t.Phase = rep.Phase
		}
		if rep.StreamEpoch > t.StreamEpoch {
			t.StreamEpoch = rep.StreamEpoch
		}
		if t.Acked.Less(rep.Acked) {
			t.Acked = rep.Acked
		}
		if rep.LeaderTick != 0 {
			t.LeaderTick = rep.LeaderTick
		}
		t.Error, t.ErrorCode = rep.Error, rep.ErrorCode
		t.UpdatedAt = now
	}
	return superseded
}
