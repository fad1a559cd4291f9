package apitest

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/election"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
)

// Call is one recorded call of the fake.
type Call struct {
	Method string
	Sync   string
	Arg    any
}

// Syncs is a fake api.Syncs.
type Syncs struct {
	mu     sync.Mutex
	status plan.Status
	calls  []Call
	errs   map[string]error
	check  map[string][]plan.CheckReport // per sync: answers in turn (the last repeats)
	shards map[string][]plan.ShardReport // per worker: the last reports
	// stopAfter: Status calls after a Stop until the sync shows stopped.
	stopAfter map[string]int
	// StopPolls is how many Status calls a stop takes (default 0: at once).
	StopPolls int
	// StopGivesUp: the stop ends with the sync running again with this
	// error (as the real manager does past the stop's deadline).
	StopGivesUp string
	// StatusUnavailable: after a Stop, this many Status calls answer 503
	// (no master leads: an election), before the stop goes on.
	StatusUnavailable int
}

var _ api.Syncs = (*Syncs)(nil)

// NewSyncs returns a fake holding st.
func NewSyncs(st plan.Status) *Syncs {
	return &Syncs{status: st, errs: map[string]error{}, check: map[string][]plan.CheckReport{},
		shards: map[string][]plan.ShardReport{}, stopAfter: map[string]int{}}
}

// FailWith makes every call of method (e.g. "Abort") fail with err (nil: succeed).
func (f *Syncs) FailWith(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[method] = err
}

// SetCheck sets the answers of Check for a sync, in turn (the last repeats).
func (f *Syncs) SetCheck(sync string, reps ...plan.CheckReport) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.check[sync] = reps
}

// SetStatus replaces the status.
func (f *Syncs) SetStatus(st plan.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = st
}

// Calls returns the calls so far.
func (f *Syncs) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// WorkerReports returns the last shard reports of a worker.
func (f *Syncs) WorkerReports(worker string) []plan.ShardReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.shards[worker]
}

// begin records a call and returns the configured error.
func (f *Syncs) begin(method, sync string, arg any) error {
	f.calls = append(f.calls, Call{Method: method, Sync: sync, Arg: arg})
	return f.errs[method]
}

// resolve finds a sync by name ("" = the only one).
func (f *Syncs) resolve(name string) (int, error) {
	if name == "" {
		switch len(f.status.Syncs) {
		case 1:
			return 0, nil
		case 0:
			return -1, &statusErr{404, "no sync is configured in this datacenter"}
		}
		ids := make([]string, 0, len(f.status.Syncs))
		for _, s := range f.status.Syncs {
			ids = append(ids, s.ID)
		}
		sort.Strings(ids)
		return -1, &statusErr{400, fmt.Sprintf("%d syncs are configured (%s): name one with --sync-id", len(ids), strings.Join(ids, ", "))}
	}
	for i, s := range f.status.Syncs {
		if s.ID == name {
			return i, nil
		}
	}
	return -1, &statusErr{404, fmt.Sprintf("sync %q: no such sync", name)}
}

type statusErr struct {
	status int
	msg    string
}

func (e *statusErr) Error() string   { return e.msg }
func (e *statusErr) HTTPStatus() int { return e.status }

// Configure implements api.Syncs.
func (f *Syncs) Configure(_ context.Context, req plan.ConfigureRequest) (plan.Sync, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("Configure", req.Sync, req); err != nil {
		return plan.Sync{}, err
	}
	id := req.Sync
	if id == "" {
		id = strings.ToLower(req.SourceDC + "-to-" + f.status.DC)
	}
	for _, s := range f.status.Syncs {
		if s.ID == id {
			return plan.Sync{}, fmt.Errorf("sync %q exists already (state %s): stop or abort it first: %w", id, s.State, fs.ErrExist) // the fs sentinel on purpose: StatusOf maps it to 409
		}
	}
	s := plan.Sync{ID: id, Role: plan.RoleTarget, Peer: req.SourceDC, State: plan.StateRunning, TopicPrefix: req.TopicPrefix,
		DataPartitions: req.DataPartitions, MessageTimeoutMillis: req.MessageTimeoutMillis, CreatedAt: time.Now()}
	f.status.Syncs = append(f.status.Syncs, plan.SyncStatus{Sync: s, Shards: []plan.ShardStatus{}})
	return s, nil
}

// Status implements api.Syncs.
func (f *Syncs) Status(context.Context) (plan.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs["Status"]; err != nil {
		return plan.Status{}, err
	}
	if f.StatusUnavailable > 0 && len(f.stopAfter) > 0 {
		f.StatusUnavailable--
		return plan.Status{}, &statusErr{503, "no master of the datacenter leads right now; retry in a few seconds"}
	}
	for i := range f.status.Syncs {
		id := f.status.Syncs[i].ID
		if n, ok := f.stopAfter[id]; ok {
			if n <= 0 {
				f.status.Syncs[i].State = plan.StateStopped
				if f.StopGivesUp != "" {
					f.status.Syncs[i].State, f.status.Syncs[i].Error = plan.StateRunning, f.StopGivesUp
				}
				delete(f.stopAfter, id)
			} else {
				f.stopAfter[id] = n - 1
			}
		}
	}
	// A deep enough copy: callers must not share the slices.
	out := f.status
	out.Syncs = append([]plan.SyncStatus(nil), f.status.Syncs...)
	return out, nil
}

// Stop implements api.Syncs.
func (f *Syncs) Stop(_ context.Context, req plan.StopRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("Stop", req.Sync, req); err != nil {
		return err
	}
	i, err := f.resolve(req.Sync)
	if err != nil {
		return err
	}
	s := &f.status.Syncs[i]
	if !s.State.Active() {
		return &statusErr{409, fmt.Sprintf("sync %s is %s: nothing to stop", s.ID, s.State)}
	}
	s.State, s.EnsureInSync = plan.StateStopping, req.EnsureInSync
	f.stopAfter[s.ID] = f.StopPolls
	return nil
}

func (f *Syncs) end(method, sync string, st plan.State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(method, sync, nil); err != nil {
		return err
	}
	i, err := f.resolve(sync)
	if err != nil {
		return err
	}
	f.status.Syncs[i].State = st
	return nil
}

// Abort implements api.Syncs.
func (f *Syncs) Abort(_ context.Context, sync string) error {
	return f.end("Abort", sync, plan.StateAborted)
}

// AbortOutgoing implements api.Syncs.
func (f *Syncs) AbortOutgoing(_ context.Context, sync string) error {
	return f.end("AbortOutgoing", sync, plan.StateAborted)
}

// ResetFailedShard implements api.Syncs.
func (f *Syncs) ResetFailedShard(_ context.Context, sync, shard string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("ResetFailedShard", sync, shard); err != nil {
		return err
	}
	i, err := f.resolve(sync)
	if err != nil {
		return err
	}
	for j, sh := range f.status.Syncs[i].Shards {
		if sh.Shard == shard || sh.Collection+"/"+shardIndex(sh.Shard) == shard {
			if sh.Phase != plan.ShardFailed {
				return &statusErr{409, fmt.Sprintf("shard %s is %s, not failed: nothing to reset", shard, sh.Phase)}
			}
			f.status.Syncs[i].Shards[j].Phase = plan.ShardPending
			f.status.Syncs[i].Shards[j].Error = ""
			return nil
		}
	}
	return &statusErr{404, fmt.Sprintf("sync %s has no shard %s", f.status.Syncs[i].ID, shard)}
}

func shardIndex(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// SetMessageTimeout implements api.Syncs.
func (f *Syncs) SetMessageTimeout(_ context.Context, sync string, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("SetMessageTimeout", sync, d); err != nil {
		return err
	}
	i, err := f.resolve(sync)
	if err != nil {
		return err
	}
	f.status.Syncs[i].MessageTimeoutMillis = d.Milliseconds()
	return nil
}

// Check implements api.Syncs.
func (f *Syncs) Check(_ context.Context, sync string) (plan.CheckReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("Check", sync, nil); err != nil {
		return plan.CheckReport{}, err
	}
	i, err := f.resolve(sync)
	if err != nil {
		return plan.CheckReport{}, err
	}
	id := f.status.Syncs[i].ID
	reps := f.check[id]
	if len(reps) == 0 {
		return plan.CheckReport{Sync: id, InSync: true}, nil
	}
	rep := reps[0]
	if len(reps) > 1 {
		f.check[id] = reps[1:]
	}
	return rep, nil
}

// WorkerShards implements api.Syncs.
func (f *Syncs) WorkerShards(workerID string, shards []plan.ShardReport, _ time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, Call{Method: "WorkerShards", Arg: workerID})
	f.shards[workerID] = append([]plan.ShardReport(nil), shards...)
}

// Assignments implements api.Syncs.
func (f *Syncs) Assignments() []plan.Assignment {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []plan.Assignment
	for _, s := range f.status.Syncs {
		if s.State.Active() {
			out = append(out, plan.Assignment{Sync: s.ID, Role: s.Role, State: s.State, TopicPrefix: s.TopicPrefix,
				MessageTimeoutMillis: s.MessageTimeoutMillis})
		}
	}
	return out
}

// Leader is a fake elector (api.Leadership).
type Leader struct {
	mu sync.Mutex
	st election.Status
}

// Status implements api.Leadership.
func (l *Leader) Status() election.Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

// Set changes the status.
func (l *Leader) Set(st election.Status) {
	l.mu.Lock()
	l.st = st
	l.mu.Unlock()
}

// Master is a master API on httptest.
type Master struct {
	URL      string
	Server   *api.Server
	Leader   *Leader
	Registry *registry.Registry
}

// NewMaster starts a master API server. cfg's Role, ID (default "m1"),
// Endpoint, Registry and Leadership are filled in; the master leads with
// epoch 1 unless lead is false. The server stops at the end of the test.
func NewMaster(t testing.TB, cfg api.Config, lead bool) *Master {
	t.Helper()
	reg, err := registry.New(registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Role, cfg.Registry = "master", reg
	if cfg.ID == "" {
		cfg.ID = "m1"
	}
	if cfg.Version == "" {
		cfg.Version = "test"
	}
	l := &Leader{}
	cfg.Leadership = l
	late := &lateHandler{}
	ts := httptest.NewServer(late)
	t.Cleanup(ts.Close)
	cfg.Endpoint = ts.URL
	s, err := api.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	late.set(s)
	if lead {
		l.Set(election.Status{ID: cfg.ID, Leader: true, Epoch: 1, LeaderEndpoint: ts.URL})
	}
	return &Master{URL: ts.URL, Server: s, Leader: l, Registry: reg}
}

type lateHandler struct {
	mu sync.Mutex
	h  http.Handler
}

func (l *lateHandler) set(h http.Handler) { l.mu.Lock(); l.h = h; l.mu.Unlock() }
func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	h := l.h
	l.mu.Unlock()
	h.ServeHTTP(w, r)
}
