package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	driver "github.com/arangodb/go-driver"
)

// errorNumUniqueConstraint is ArangoDB's "unique constraint violated" (also a duplicate _key).
const errorNumUniqueConstraint = 1210

// maxPool bounds the orders a worker remembers per database; beyond it the worker
// prefers removals, so the set of live orders stays bounded.
const maxPool = 2000

// colls are the driver handles of one database's collections.
type colls struct {
	st                      *dbState
	db                      driver.Database
	accounts, orders, links driver.Collection
}

// worker is one concurrent writer with its own seeded random source.
type worker struct {
	w   *Workload
	id  int
	rng *rand.Rand
	n   int // operations started, for unique keys and ids
	// round numbers the Runs of one Workload: keys and order sequence
	// numbers of a second Run never repeat the first one's.
	round int
	dbs   []colls
}

// Run writes the configured mix at the configured rate until ctx ends, then
// returns nil once the operations in flight have finished (each bounded by
// Attempts × RequestTimeout). It returns an error early only when the cluster
// refuses the workload for good (authentication, missing database or collection:
// run Setup).
// Retryable errors are retried Attempts times and counted; no operation is ever
// applied twice: single-document writes carry If-Match, inserts carry unique keys,
// and a transfer is one stream transaction whose ambiguous outcome is re-read.
func (w *Workload) Run(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	round := w.rounds
	w.rounds++
	start := time.Now()
	defer func() { w.stats.elapsed.Add(int64(time.Since(start))) }()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	handles := make([]colls, len(w.dbs))
	for i, st := range w.dbs {
		h, err := w.open(ctx, st)
		if err != nil {
			return err
		}
		handles[i] = h
	}
	tokens := make(chan struct{}, w.cfg.Workers)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.pace(ctx, tokens)
	}()
	for i := range w.cfg.Workers {
		wk := &worker{w: w, id: i, dbs: handles, round: round, rng: rand.New(rand.NewPCG(w.cfg.Seed+uint64(round)<<32, uint64(i)+1))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tokens:
				}
				if err := wk.step(context.WithoutCancel(ctx)); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// open resolves the collections of one database.
func (w *Workload) open(ctx context.Context, st *dbState) (colls, error) {
	h := colls{st: st}
	var err error
	if h.db, err = w.cl.Database(ctx, st.name); err != nil {
		return h, fmt.Errorf("workload: database %s: %w (run Setup first)", st.name, err)
	}
	cc := w.cfg.Collections
	for _, p := range []struct {
		dst  *driver.Collection
		name string
	}{{&h.accounts, cc.Accounts.Name}, {&h.orders, cc.Orders.Name}, {&h.links, cc.Links.Name}} {
		if *p.dst, err = h.db.Collection(ctx, p.name); err != nil {
			return h, fmt.Errorf("workload: collection %s/%s: %w (run Setup first)", st.name, p.name, err)
		}
	}
	return h, nil
}

// pace hands out Rate tokens per second; tokens nobody takes are dropped, so a
// saturated cluster lowers the achieved rate instead of building a backlog.
func (w *Workload) pace(ctx context.Context, tokens chan<- struct{}) {
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	acc := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		acc += w.cfg.Rate * tick.Seconds()
		for acc >= 1 {
			select {
			case tokens <- struct{}{}:
				acc--
			default:
				acc = 0
			}
		}
	}
}

// fatal reports errors that no retry or later operation can fix.
func fatal(err error) bool {
	var ae driver.ArangoError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Code == http.StatusUnauthorized || ae.Code == http.StatusForbidden ||
		ae.ErrorNum == 1203 || ae.ErrorNum == 1228 // collection or database not found
}

// step runs one operation chosen by the mix. It returns an error only when fatal.
func (wk *worker) step(ctx context.Context) error {
	wk.n++
	h := &wk.dbs[wk.rng.IntN(len(wk.dbs))]
	m := wk.w.cfg.Mix
	pool := h.st.pools[wk.id]
	r := wk.rng.IntN(m.total())
	var err error
	switch {
	case r < m.Insert:
		err = wk.insert(ctx, h)
	case r < m.Insert+m.Update:
		err = wk.modify(ctx, h, false)
	case r < m.Insert+m.Update+m.Replace:
		err = wk.modify(ctx, h, true)
	case r < m.Insert+m.Update+m.Replace+m.Remove || len(pool) >= maxPool:
		err = wk.remove(ctx, h)
	case r < m.Insert+m.Update+m.Replace+m.Remove+m.Transfer:
		err = wk.transfer(ctx, h)
	case r < m.Insert+m.Update+m.Replace+m.Remove+m.Transfer+m.Edge:
		err = wk.edge(ctx, h)
	default:
		err = wk.bulk(ctx, h)
	}
	if err == nil {
		return nil
	}
	wk.w.stats.failed.Add(1)
	if fatal(err) {
		return fmt.Errorf("workload: %s: %w", h.st.name, err)
	}
	wk.w.cfg.Logger.Debug("workload operation failed", "db", h.st.name, "err", err)
	return nil
}

// attempt runs op until it succeeds, fails permanently or Attempts run out, each
// try bounded by RequestTimeout. ambiguous reports that an earlier try failed in a
// way that may have applied it (a timeout after sending, a lost answer). ctx is the
// operation's context, which Run's end does not cancel: an operation in flight
// finishes with all its tries, so the counts and the worker's knowledge of its
// orders stay exact.
func (wk *worker) attempt(ctx context.Context, op func(context.Context) error) (ambiguous bool, err error) {
	w := wk.w
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, w.cfg.RequestTimeout)
		err = op(actx)
		cancel()
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return ambiguous, err
		}
		w.stats.retryable.Add(1)
		if n >= w.cfg.Attempts {
			return ambiguous, err
		}
		ambiguous = true
		w.stats.retries.Add(1)
		if backoff(ctx, n) != nil {
			return ambiguous, err
		}
	}
}

// newOrder is the body of a fresh order.
func (wk *worker) newOrder() map[string]any {
	w := wk.w
	return map[string]any{
		"customer": accountKey(wk.rng.IntN(w.cfg.Accounts)), "seq": fmt.Sprintf("%s-%d-%d-%d", w.run, wk.round, wk.id, wk.n),
		"amount": wk.rng.IntN(10000), "status": "new", FieldVersion: 1, "createdAt": time.Now().Unix(),
		"items": []int{wk.rng.IntN(100), wk.rng.IntN(100)}, "note": w.pad(wk.n*31 + wk.id),
	}
}

func (wk *worker) remember(h *colls, doc map[string]any, meta driver.DocumentMeta) {
	h.st.pools[wk.id] = append(h.st.pools[wk.id], &order{key: meta.Key, rev: meta.Rev, ver: 1,
		customer: doc["customer"].(string), seq: doc["seq"].(string)})
}

func (wk *worker) insert(ctx context.Context, h *colls) error {
	doc := wk.newOrder()
	var meta driver.DocumentMeta
	amb, err := wk.attempt(ctx, func(ctx context.Context) (err error) {
		meta, err = h.orders.CreateDocument(ctx, doc)
		return err
	})
	switch {
	case err == nil:
		wk.remember(h, doc, meta)
		wk.w.stats.inserted.Add(1)
		return nil
	case amb && driver.IsArangoErrorWithErrorNum(err, errorNumUniqueConstraint):
		// An earlier try applied it (the unique [customer, seq] index refused the
		// retry); its server-generated key is unknown, so the worker forgets it.
		wk.w.stats.ambiguous.Add(1)
		wk.w.stats.inserted.Add(1)
		return nil
	}
	return err
}

func (wk *worker) bulk(ctx context.Context, h *colls) error {
	docs := make([]map[string]any, wk.w.cfg.BulkSize)
	for i := range docs {
		wk.n++
		docs[i] = wk.newOrder()
	}
	var metas driver.DocumentMetaSlice
	var errs driver.ErrorSlice
	amb, err := wk.attempt(ctx, func(ctx context.Context) (err error) {
		metas, errs, err = h.orders.CreateDocuments(ctx, docs)
		return err
	})
	if err != nil {
		return err
	}
	created := 0
	for i := range docs {
		switch {
		case errs[i] == nil:
			wk.remember(h, docs[i], metas[i])
			created++
		case amb && driver.IsArangoErrorWithErrorNum(errs[i], errorNumUniqueConstraint):
			wk.w.stats.ambiguous.Add(1)
			created++
		default:
			wk.w.stats.conflicts.Add(1)
		}
	}
	wk.w.stats.bulks.Add(1)
	wk.w.stats.bulkDocs.Add(int64(created))
	return nil
}

// pick returns a random order of the worker's pool, or nil.
func (wk *worker) pick(h *colls) (int, *order) {
	pool := h.st.pools[wk.id]
	if len(pool) == 0 {
		return -1, nil
	}
	i := wk.rng.IntN(len(pool))
	return i, pool[i]
}

func (wk *worker) forget(h *colls, i int) {
	pool := h.st.pools[wk.id]
	pool[i] = pool[len(pool)-1]
	h.st.pools[wk.id] = pool[:len(pool)-1]
}

type storedOrder struct {
	Rev string `json:"_rev"`
	Ver int64  `json:"ver"`
}

// modify PATCHes (or, with replace, PUTs) an order with If-Match, bumping ver. A
// retry after an ambiguous failure that meets 412 re-reads the order: ver already
// bumped means the earlier try applied.
func (wk *worker) modify(ctx context.Context, h *colls, replace bool) error {
	i, o := wk.pick(h)
	if o == nil {
		return wk.insert(ctx, h)
	}
	statuses := []string{"paid", "packed", "shipped", "delivered", "returned"}
	status := statuses[wk.rng.IntN(len(statuses))]
	amount := wk.rng.IntN(10000)
	var meta driver.DocumentMeta
	amb, err := wk.attempt(ctx, func(ctx context.Context) (err error) {
		ctx = driver.WithRevision(ctx, o.rev)
		if replace {
			doc := map[string]any{"customer": o.customer, "seq": o.seq, "amount": amount, "status": status,
				FieldVersion: o.ver + 1, "createdAt": time.Now().Unix(), "items": []int{wk.rng.IntN(100)},
				"note": wk.w.pad(wk.n*17 + wk.id)}
			meta, err = h.orders.ReplaceDocument(ctx, o.key, doc)
		} else {
			// The unchanged shard key lets a Coordinator route the PATCH to one shard.
			meta, err = h.orders.UpdateDocument(ctx, o.key, map[string]any{"customer": o.customer, "status": status,
				"amount": amount, FieldVersion: o.ver + 1})
		}
		return err
	})
	if err == nil {
		o.rev, o.ver = meta.Rev, o.ver+1
		wk.countModify(replace)
		return nil
	}
	if !driver.IsPreconditionFailed(err) && !driver.IsNotFoundGeneral(err) {
		return err
	}
	// Re-read: either an earlier try applied, or someone else wrote the order.
	var cur storedOrder
	_, rerr := wk.attempt(ctx, func(ctx context.Context) (err error) {
		_, err = h.orders.ReadDocument(ctx, o.key, &cur)
		return err
	})
	switch {
	case driver.IsNotFoundGeneral(rerr):
		wk.forget(h, i)
	case rerr != nil:
		return rerr
	default:
		applied := amb && cur.Ver == o.ver+1
		o.rev, o.ver = cur.Rev, cur.Ver
		if applied {
			wk.w.stats.ambiguous.Add(1)
			wk.countModify(replace)
			return nil
		}
	}
	wk.w.stats.conflicts.Add(1)
	return nil
}

func (wk *worker) countModify(replace bool) {
	if replace {
		wk.w.stats.replaced.Add(1)
	} else {
		wk.w.stats.updated.Add(1)
	}
}

func (wk *worker) remove(ctx context.Context, h *colls) error {
	i, o := wk.pick(h)
	if o == nil {
		return wk.insert(ctx, h)
	}
	amb, err := wk.attempt(ctx, func(ctx context.Context) error {
		_, err := h.orders.RemoveDocument(driver.WithRevision(ctx, o.rev), o.key)
		return err
	})
	switch {
	case err == nil:
	case amb && driver.IsNotFoundGeneral(err):
		wk.w.stats.ambiguous.Add(1)
	case driver.IsNotFoundGeneral(err) || driver.IsPreconditionFailed(err):
		wk.w.stats.conflicts.Add(1)
		if driver.IsPreconditionFailed(err) {
			return nil // keep it: someone else wrote it; a later write re-reads it
		}
		wk.forget(h, i)
		return nil
	default:
		return err
	}
	wk.forget(h, i)
	wk.w.stats.removed.Add(1)
	return nil
}

func (wk *worker) edge(ctx context.Context, h *colls) error {
	_, o := wk.pick(h)
	if o == nil {
		return wk.insert(ctx, h)
	}
	w := wk.w
	doc := map[string]any{"_key": fmt.Sprintf("l%s-%d-%d-%d", w.run, wk.round, wk.id, wk.n),
		"_from": w.cfg.Collections.Accounts.Name + "/" + o.customer, "_to": w.cfg.Collections.Orders.Name + "/" + o.key,
		"kind": "placed", "weight": wk.rng.IntN(100), FieldVersion: 1}
	amb, err := wk.attempt(ctx, func(ctx context.Context) error {
		_, err := h.links.CreateDocument(ctx, doc)
		return err
	})
	switch {
	case err == nil:
	case amb && driver.IsArangoErrorWithErrorNum(err, errorNumUniqueConstraint):
		w.stats.ambiguous.Add(1) // the key is ours: an earlier try applied
	default:
		return err
	}
	w.stats.edges.Add(1)
	return nil
}

type account struct {
	Key     string `json:"_key"`
	Rev     string `json:"_rev"`
	Balance int64  `json:"balance"`
	Ver     int64  `json:"ver"`
	LastTx  string `json:"lastTx"`
}

// transfer moves an amount between two accounts in one stream transaction while
// holding both accounts' locks (so no other writer of this workload interleaves).
// Nothing inside the transaction is retried: a failure aborts it. The commit is
// retried (committing a committed transaction is a no-op); if it still fails the
// transaction is aborted, and an abort that fails too is settled by re-reading the
// debited account's lastTx. The ledger sum never changes either way.
func (wk *worker) transfer(ctx context.Context, h *colls) error {
	w := wk.w
	a := wk.rng.IntN(w.cfg.Accounts)
	b := wk.rng.IntN(w.cfg.Accounts - 1)
	if b >= a {
		b++
	}
	amount := int64(1 + wk.rng.IntN(50))
	lo, hi := min(a, b), max(a, b)
	h.st.locks[lo].Lock()
	defer h.st.locks[lo].Unlock()
	h.st.locks[hi].Lock()
	defer h.st.locks[hi].Unlock()
	id := fmt.Sprintf("t%s-%d-%d-%d", w.run, wk.round, wk.id, wk.n)

	var tid driver.TransactionID
	if _, err := wk.attempt(ctx, func(ctx context.Context) (err error) {
		tid, err = h.db.BeginTransaction(ctx, driver.TransactionCollections{Write: []string{w.cfg.Collections.Accounts.Name}}, nil)
		return err
	}); err != nil {
		return err
	}
	tctx := driver.WithTransactionID(ctx, tid)
	abort := func(cause error) error {
		_, aerr := wk.attempt(ctx, func(ctx context.Context) error { return h.db.AbortTransaction(ctx, tid, nil) })
		w.stats.aborted.Add(1)
		if aerr != nil {
			w.cfg.Logger.Debug("workload: abort transfer", "id", id, "err", aerr)
		}
		return cause
	}
	var from, to account
	for _, p := range []struct {
		key string
		dst *account
	}{{accountKey(a), &from}, {accountKey(b), &to}} {
		if _, err := wk.attempt(tctx, func(ctx context.Context) error {
			_, err := h.accounts.ReadDocument(ctx, p.key, p.dst)
			return err
		}); err != nil {
			return abort(err)
		}
	}
	amount = min(amount, from.Balance)
	for _, p := range []struct {
		acc   *account
		delta int64
	}{{&from, -amount}, {&to, amount}} {
		// A retry after a lost answer meets 412 if the write happened inside the
		// transaction; re-reading in the transaction tells.
		amb, err := wk.attempt(tctx, func(ctx context.Context) error {
			_, err := h.accounts.UpdateDocument(driver.WithRevision(ctx, p.acc.Rev), p.acc.Key, map[string]any{
				FieldBalance: p.acc.Balance + p.delta, FieldVersion: p.acc.Ver + 1, "lastTx": id})
			return err
		})
		if amb && driver.IsPreconditionFailed(err) {
			var cur account
			if _, rerr := wk.attempt(tctx, func(ctx context.Context) error {
				_, err := h.accounts.ReadDocument(ctx, p.acc.Key, &cur)
				return err
			}); rerr == nil && cur.LastTx == id && cur.Ver == p.acc.Ver+1 {
				w.stats.ambiguous.Add(1)
				err = nil
			}
		}
		if err != nil {
			return abort(err)
		}
	}
	_, err := wk.attempt(ctx, func(ctx context.Context) error { return h.db.CommitTransaction(ctx, tid, nil) })
	if err == nil {
		w.stats.transferred.Add(1)
		return nil
	}
	w.stats.ambiguous.Add(1)
	_, aerr := wk.attempt(ctx, func(ctx context.Context) error { return h.db.AbortTransaction(ctx, tid, nil) })
	if aerr == nil {
		w.stats.aborted.Add(1)
		return err
	}
	var cur account
	if _, rerr := wk.attempt(ctx, func(ctx context.Context) error {
		_, err := h.accounts.ReadDocument(ctx, from.Key, &cur)
		return err
	}); rerr != nil {
		return errors.Join(err, rerr)
	}
	if cur.LastTx == id {
		w.stats.transferred.Add(1)
		return nil
	}
	w.stats.aborted.Add(1)
	return err
}
