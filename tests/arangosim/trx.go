package arangosim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"sync"
)

// trxManager holds the running stream transactions of the cluster.
type trxManager struct {
	c   *Cluster
	mu  sync.Mutex
	trx map[string]*streamTrx
}

// streamTrx is one stream transaction: its writes live in an overlay until commit.
type streamTrx struct {
	mu      sync.Mutex
	id      string
	db      string
	status  string // running | committed | aborted
	colls   map[*Collection]bool
	ov      *overlay
	changes []change
}

func newTrxManager(c *Cluster) *trxManager {
	return &trxManager{c: c, trx: make(map[string]*streamTrx)}
}

func (t *trxManager) dropDatabase(db string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, tx := range t.trx {
		if tx.db == db {
			delete(t.trx, id)
		}
	}
}

func trxNotFound(id string) *ArangoError {
	return newErr(http.StatusNotFound, errNumTrxNotFound, "transaction '"+id+"' not found")
}

func (t *trxManager) get(db, id string) (*streamTrx, error) {
	t.mu.Lock()
	tx, ok := t.trx[id]
	t.mu.Unlock()
	if !ok || tx.db != db {
		return nil, trxNotFound(id)
	}
	return tx, nil
}

func (t *trxManager) running(db, id string) (*streamTrx, error) {
	tx, err := t.get(db, id)
	if err != nil {
		return nil, err
	}
	if tx.status != "running" {
		return nil, newErr(http.StatusGone, errNumTrxAborted, "transaction aborted")
	}
	return tx, nil
}

// execute runs ops inside a transaction: results are decided against the transaction's
// own view (its overlay over the leaders' state) and kept until commit.
func (t *trxManager) execute(db, id string, col *Collection, ops []*docOp, o writeOptions) ([]opResult, error) {
	tx, err := t.running(db, id)
	if err != nil {
		return nil, err
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.status != "running" {
		return nil, newErr(http.StatusGone, errNumTrxAborted, "transaction aborted")
	}
	col.prepare(t.c, ops, o)
	results := make([]opResult, len(ops))
	memo := newReqMemo(col)
	for i, op := range ops {
		if op.err != nil {
			results[i] = opResult{err: op.err}
			continue
		}
		if (op.kind == opUpdate || op.kind == opRemove) && !col.shardKeyOnlyKey() && len(col.Shards) > 1 {
			// By key on a collection sharded by other attributes: the
			// transaction's own writes count too (a Coordinator asks every
			// shard, each sees the transaction's changes).
			for _, sh := range col.Shards {
				if _, _, hit := tx.ov.get(sh, op.key); hit {
					op.shard = sh
					break
				}
			}
		}
		op.shard.mu.Lock()
		var ch change
		res, changed := t.c.decide(col, op, o, tx.ov, memo, &ch)
		op.shard.mu.Unlock()
		results[i] = res
		if changed {
			tx.ov.set(&ch)
			tx.changes = append(tx.changes, ch)
			tx.colls[col] = true
		}
	}
	return results, nil
}

// read returns a document as the transaction sees it.
func (t *trxManager) read(db, id string, col *Collection, key string) (*Doc, bool, error) {
	tx, err := t.running(db, id)
	if err != nil {
		return nil, false, err
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	sh := col.shardFor(key, nil)
	if !col.shardKeyOnlyKey() && len(col.Shards) > 1 {
		for _, s := range col.Shards {
			if d, ok, hit := tx.ov.get(s, key); hit {
				return d, ok, nil
			}
		}
		if sh = col.locate(key); sh == nil {
			return nil, false, nil
		}
	}
	d, ok := current(sh, key, tx.ov)
	return d, ok, nil
}

func (t *trxManager) begin(db *Database, colls []string) (*streamTrx, error) {
	tx := &streamTrx{id: strconv.FormatUint(t.c.nextID(), 10), db: db.Name, status: "running",
		colls: map[*Collection]bool{}, ov: newOverlay()}
	for _, n := range colls {
		col, ok := db.Collection(n)
		if !ok {
			return nil, newErr(http.StatusNotFound, errNumDataSourceNotFound, "collection or view not found: "+n)
		}
		tx.colls[col] = false
	}
	t.mu.Lock()
	t.trx[tx.id] = tx
	t.mu.Unlock()
	return tx, nil
}

// commit applies the transaction's changes: on every DB-Server one write batch
// 2200 … 2201 with one tid.
func (t *trxManager) commit(tx *streamTrx) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.status == "aborted" {
		return newErr(http.StatusConflict, errNumTrxAborted, "transaction aborted")
	}
	if tx.status == "committed" {
		return nil
	}
	var shards []*Shard
	for _, ch := range tx.changes {
		if !slices.Contains(shards, ch.sh) {
			shards = append(shards, ch.sh)
		}
	}
	slices.SortFunc(shards, func(a, b *Shard) int { return cmpUint(a.ID, b.ID) })
	for _, sh := range shards {
		sh.mu.Lock()
	}
	t.c.commitChanges(tx.changes, true)
	for _, sh := range shards {
		sh.mu.Unlock()
	}
	tx.status = "committed"
	tx.changes = nil
	return nil
}

func (t *trxManager) abort(tx *streamTrx) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.status == "committed" {
		return newErr(http.StatusConflict, errNumTrxAborted, "transaction already committed")
	}
	tx.status = "aborted"
	tx.changes = nil
	return nil
}

func trxResult(tx *streamTrx, code int) []byte {
	return obj("code", code, "error", false, "result", rawJSON(obj("id", tx.id, "status", tx.status)))
}

// stringOrList accepts "a" or ["a","b"].
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

func handleTrxBegin(w http.ResponseWriter, r *Request) {
	body, _ := r.Body()
	var req struct {
		Collections struct {
			Read      stringOrList `json:"read"`
			Write     stringOrList `json:"write"`
			Exclusive stringOrList `json:"exclusive"`
		} `json:"collections"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
		return
	}
	var names []string
	names = append(names, req.Collections.Read...)
	names = append(names, req.Collections.Write...)
	names = append(names, req.Collections.Exclusive...)
	if len(req.Collections.Write)+len(req.Collections.Exclusive) > 0 && refuseReadOnly(w, r) {
		return
	}
	tx, err := r.Server.c.trx.begin(r.DB, names)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeRaw(w, http.StatusCreated, trxResult(tx, 201))
}

func handleTrxStatus(w http.ResponseWriter, r *Request) {
	tx, err := r.Server.c.trx.get(r.DBName, r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	writeRaw(w, http.StatusOK, trxResult(tx, 200))
}

func handleTrxCommit(w http.ResponseWriter, r *Request) {
	t := r.Server.c.trx
	tx, err := t.get(r.DBName, r.PathValue("id"))
	if err == nil {
		err = t.commit(tx)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	writeRaw(w, http.StatusOK, trxResult(tx, 200))
}

func handleTrxAbort(w http.ResponseWriter, r *Request) {
	t := r.Server.c.trx
	tx, err := t.get(r.DBName, r.PathValue("id"))
	if err == nil {
		err = t.abort(tx)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	writeRaw(w, http.StatusOK, trxResult(tx, 200))
}

func handleTrxList(w http.ResponseWriter, r *Request) {
	t := r.Server.c.trx
	t.mu.Lock()
	var items [][]byte
	ids := make([]string, 0, len(t.trx))
	for id, tx := range t.trx {
		if tx.db == r.DBName && tx.status == "running" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		items = append(items, obj("id", id, "state", "running"))
	}
	t.mu.Unlock()
	writeRaw(w, http.StatusOK, obj("transactions", rawJSON(joinArray(items))))
}

// handleJSTransaction answers POST /_api/transaction (JavaScript transactions): arangosim
// runs no JavaScript, but unknown collections are reported like arangod does.
func handleJSTransaction(w http.ResponseWriter, r *Request) {
	body, _ := r.Body()
	var req struct {
		Collections struct {
			Read      stringOrList `json:"read"`
			Write     stringOrList `json:"write"`
			Exclusive stringOrList `json:"exclusive"`
		} `json:"collections"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
		return
	}
	for _, l := range [][]string{req.Collections.Read, req.Collections.Write, req.Collections.Exclusive} {
		for _, n := range l {
			if _, ok := r.DB.Collection(n); !ok {
				WriteError(w, http.StatusNotFound, errNumDataSourceNotFound, "collection or view not found: "+n)
				return
			}
		}
	}
	WriteError(w, http.StatusNotImplemented, errNumNotImplemented, "JavaScript transactions are not supported by arangosim")
}
