package workload

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Workload writes a realistic, checkable load to one cluster (A). Create it with New,
// call Setup once per cluster, Run as long as wanted, read Stats, then Close.
type Workload struct {
	cfg   Config
	cl    *client
	run   string // distinguishes the keys and transfer ids of this process
	stats counters

	mu     sync.Mutex // serializes Run
	rounds int        // Runs started (under mu)
	dbs    []*dbState
}

// dbState is what the workload knows about one database: the per-account locks of
// its ledger and, per worker, the orders that worker created and alone writes.
type dbState struct {
	name  string
	locks []sync.Mutex // one per account: a transfer holds both of its accounts
	pools [][]*order   // per worker
}

// order is an order the workload created: only its owning worker writes it, so
// rev and ver are always the stored values unless an ambiguous failure intervened.
type order struct {
	key, customer, seq string
	rev                string
	ver                int64
}

// New checks cfg and connects to the cluster (no request is sent yet).
func New(cfg Config) (*Workload, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cl, err := dial(cfg.Cluster)
	if err != nil {
		return nil, err
	}
	w := &Workload{cfg: cfg, cl: cl, run: strconv.FormatInt(time.Now().UnixNano()%(1<<40), 36)}
	for _, name := range cfg.Databases {
		w.dbs = append(w.dbs, &dbState{name: name, locks: make([]sync.Mutex, cfg.Accounts),
			pools: make([][]*order, cfg.Workers)})
	}
	return w, nil
}

// Config returns the workload's configuration with every default filled in.
func (w *Workload) Config() Config { return w.cfg }

// Close releases the workload's connections. Call it after Run has returned.
func (w *Workload) Close() { w.cl.Close() }

// LedgerSum is the invariant sum of all balances of one database.
func (w *Workload) LedgerSum() int64 { return int64(w.cfg.Accounts) * w.cfg.InitialBalance }

// VerifyOptions returns options for Verify that know the workload's schema: the
// ledger collection and the sum every database's ledger must have.
func (w *Workload) VerifyOptions() VerifyOptions {
	return VerifyOptions{LedgerCollection: w.cfg.Collections.Accounts.Name, ExpectedLedgerSum: w.LedgerSum()}
}

// Stats is what the workload did. Completed operations count once however many
// attempts they took.
type Stats struct {
	Inserted, Updated, Replaced, Removed int64 // single orders
	Transferred                          int64 // committed transfers
	TransfersAborted                     int64 // transfers rolled back (nothing applied)
	Edges                                int64 // links inserted
	Bulks, BulkDocs                      int64 // batch inserts and the orders they created
	Retryable                            int64 // retryable errors seen (503, timeouts, refused connections)
	Retries                              int64 // requests sent again after a retryable error
	Ambiguous                            int64 // outcomes re-read to learn whether they applied
	Conflicts                            int64 // answers the workload did not expect (412, 404, 409); state re-read
	Failed                               int64 // operations given up (attempts exhausted or permanent error)
	Elapsed                              time.Duration
}

// Ops is the number of completed write operations.
func (s Stats) Ops() int64 {
	return s.Inserted + s.Updated + s.Replaced + s.Removed + s.Transferred + s.Edges + s.Bulks
}

func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ops=%d (insert=%d update=%d replace=%d remove=%d transfer=%d edge=%d bulk=%d/%d docs)",
		s.Ops(), s.Inserted, s.Updated, s.Replaced, s.Removed, s.Transferred, s.Edges, s.Bulks, s.BulkDocs)
	fmt.Fprintf(&b, " aborted=%d retryable=%d retries=%d ambiguous=%d conflicts=%d failed=%d",
		s.TransfersAborted, s.Retryable, s.Retries, s.Ambiguous, s.Conflicts, s.Failed)
	if s.Elapsed > 0 {
		fmt.Fprintf(&b, " in %v (%.0f ops/s)", s.Elapsed.Round(time.Millisecond), float64(s.Ops())/s.Elapsed.Seconds())
	}
	return b.String()
}

type counters struct {
	inserted, updated, replaced, removed, transferred, aborted, edges, bulks, bulkDocs atomic.Int64
	retryable, retries, ambiguous, conflicts, failed                                   atomic.Int64
	elapsed                                                                            atomic.Int64
}

// Stats returns a snapshot of the counters (safe while Run is going).
func (w *Workload) Stats() Stats {
	c := &w.stats
	return Stats{Inserted: c.inserted.Load(), Updated: c.updated.Load(), Replaced: c.replaced.Load(),
		Removed: c.removed.Load(), Transferred: c.transferred.Load(), TransfersAborted: c.aborted.Load(),
		Edges: c.edges.Load(), Bulks: c.bulks.Load(), BulkDocs: c.bulkDocs.Load(), Retryable: c.retryable.Load(),
		Retries: c.retries.Load(), Ambiguous: c.ambiguous.Load(), Conflicts: c.conflicts.Load(),
		Failed: c.failed.Load(), Elapsed: time.Duration(c.elapsed.Load())}
}
