package target

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// structureMissing is how writer reports a 1203/1228 answer to the Applier.
type structureMissing struct {
	coll string
	err  error
}

func (e *structureMissing) Error() string { return e.err.Error() }
func (e *structureMissing) Unwrap() error { return e.err }

// writer writes ops into one collection of B.
type writer struct {
	do   Doer
	cfg  *Config
	db   string
	coll string
}

// itemResult is one element of a multi-document answer.
type itemResult struct {
	Error        bool   `json:"error"`
	ErrorNum     int    `json:"errorNum"`
	ErrorMessage string `json:"errorMessage"`
}

// apply writes ops in order: consecutive documents as multi-document
// inserts (isRestore, overwriteMode=replace), consecutive removals as
// multi-document removals; each request bounded by MaxRequestDocs and
// MaxRequestBytes. trx is the stream transaction id, or "". A long run
// outside a transaction is written by Config.Parallelism concurrent request
// streams (see parallel).
func (w *writer) apply(ctx context.Context, trx string, ops []op) error {
	for i := 0; i < len(ops); {
		j := i
		for j < len(ops) && ops[j].remove == ops[i].remove {
			j++
		}
		var err error
		if trx == "" && w.cfg.Parallelism > 1 && j-i > w.cfg.MaxRequestDocs {
			err = w.parallel(ctx, ops[i:j])
		} else {
			_, err = w.sequential(ctx, trx, ops[i:j], true)
		}
		if err != nil {
			return err
		}
		i = j
	}
	return nil
}

// sequential writes a run of ops of one kind in requests, in order. With
// repair false, documents that violate a unique constraint are returned
// instead of repaired.
func (w *writer) sequential(ctx context.Context, trx string, ops []op, repair bool) ([]op, error) {
	var conflicts []op
	for i := 0; i < len(ops); {
		j, size := i, 0
		for j < len(ops) && j-i < w.cfg.MaxRequestDocs {
			n := len(ops[j].doc) + len(ops[j].key) + 16
			if j > i && size+n > w.cfg.MaxRequestBytes {
				break
			}
			size += n
			j++
		}
		if ops[i].remove {
			if err := w.remove(ctx, trx, ops[i:j]); err != nil {
				return nil, err
			}
			w.cfg.Metrics.wrote(0, j-i, 0)
		} else {
			c, err := w.insert(ctx, trx, ops[i:j], 0, repair)
			if err != nil {
				return nil, err
			}
			conflicts = append(conflicts, c...)
			w.cfg.Metrics.wrote(j-i-len(c), 0, int64(size))
		}
		i = j
	}
	return conflicts, nil
}

// parallel writes a run of ops of one kind (outside a transaction) as
// Parallelism concurrent request streams. Ops are split by a hash of their
// key, so the writes of one key stay in one stream, in order; the final
// state of every key is the same as with one stream. Unique-constraint
// conflicts are not repaired concurrently (a concurrent stream may be about
// to move the conflicting document): they are collected and repaired by one
// stream after all others finished, when every key of the run holds its
// final version.
func (w *writer) parallel(ctx context.Context, ops []op) error {
	p := w.cfg.Parallelism
	groups := make([][]op, p)
	for _, o := range ops {
		h := fnv.New32a()
		_, _ = h.Write([]byte(opKey(o)))
		g := int(h.Sum32() % uint32(p))
		groups[g] = append(groups[g], o)
	}
	var mu sync.Mutex
	var conflicts []op
	eg, ectx := errgroup.WithContext(ctx)
	for _, g := range groups {
		if len(g) == 0 {
			continue
		}
		eg.Go(func() error {
			c, err := w.sequential(ectx, "", g, false)
			if len(c) > 0 {
				mu.Lock()
				conflicts = append(conflicts, c...)
				mu.Unlock()
			}
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	if len(conflicts) == 0 {
		return nil
	}
	_, err := w.sequential(ctx, "", conflicts, true)
	return err
}

// opKey returns an op's key cheaply: documents from ArangoDB start with
// {"_key":"...", otherwise the document is parsed.
func opKey(o op) string {
	if o.key != "" {
		return o.key
	}
	const prefix = `{"_key":"`
	if bytes.HasPrefix(o.doc, []byte(prefix)) {
		rest := o.doc[len(prefix):]
		for end, c := range rest {
			if c == '"' {
				return string(rest[:end])
			}
			if !keyByte(c) {
				break
			}
		}
	}
	return docKey(o)
}

func (w *writer) docPath() string {
	return DBPath(w.db, "/_api/document/", url.PathEscape(w.coll))
}

func (w *writer) header(trx string) map[string]string {
	if trx == "" {
		return nil
	}
	return map[string]string{"x-arango-trx-id": trx}
}

// send sends a write and turns a 404 for the collection or database into
// *structureMissing.
func (w *writer) send(ctx context.Context, req Request, ok ...int) (*Response, error) {
	resp, err := w.do.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	for _, s := range ok {
		if resp.Status == s {
			return resp, nil
		}
	}
	ae := answerError(req, resp)
	if ae.Num == numDataSourceNotFound || ae.Num == numDatabaseNotFound {
		return nil, &structureMissing{coll: w.coll, err: ae}
	}
	return nil, classify(ae)
}

// insert writes documents with isRestore=true and overwriteMode=replace, so
// B holds exactly A's _key and _rev however often they are written. A
// unique-constraint violation (1210) is repaired like ArangoDB's follower
// does: the conflicting document is removed and the document written again,
// at most UniqueRetries times.
func (w *writer) insert(ctx context.Context, trx string, ops []op, attempt int, repair bool) ([]op, error) {
	var body bytes.Buffer
	size := len(ops) + 2
	for _, o := range ops {
		size += len(o.doc)
	}
	body.Grow(size) // one allocation, no regrowth copies
	body.WriteByte('[')
	for i, o := range ops {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(o.doc)
	}
	body.WriteByte(']')
	q := url.Values{
		"isRestore":     {"true"},
		"overwriteMode": {"replace"},
		"waitForSync":   {"false"},
	}
	if !w.cfg.ValidateSchema {
		q.Set("skipDocumentValidation", "true")
	}
	req := Request{Method: http.MethodPost, Path: w.docPath(), Query: q, Header: w.header(trx), Body: body.Bytes()}
	resp, err := w.send(ctx, req, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return nil, err
	}
	if resp.Header("x-arango-error-codes") == "" {
		return nil, nil
	}
	items, err := parseItems(req, resp, len(ops))
	if err != nil {
		return nil, err
	}
	// Keys this request wrote: a conflict with one of them is already gone
	// (the request wrote its new version), so only the retry is needed.
	written := make(map[string]bool)
	for i, it := range items {
		if !it.Error {
			written[docKey(ops[i])] = true
		}
	}
	var retry []op
	for i, it := range items {
		if !it.Error {
			continue
		}
		if it.ErrorNum != numUniqueConstraint {
			return nil, w.itemError(req, ops[i], it)
		}
		if !repair {
			retry = append(retry, ops[i])
			continue
		}
		if attempt+1 >= w.cfg.UniqueRetries {
			return nil, failure.WithCode(failure.CodeApplyRejected, fmt.Errorf(
				"%s: document %q still violates a unique constraint after %d repairs: %s", w.coll, docKey(ops[i]), attempt+1, it.ErrorMessage))
		}
		conflict, ok := conflictingKey(it.ErrorMessage)
		if !ok || conflict == docKey(ops[i]) {
			return nil, failure.WithCode(failure.CodeApplyRejected, fmt.Errorf(
				"%s: document %q violates a unique constraint and the conflicting document is not named: %s", w.coll, docKey(ops[i]), it.ErrorMessage))
		}
		retry = append(retry, ops[i])
		if written[conflict] {
			continue
		}
		w.cfg.Logger.Debug("removing a document that conflicts on a unique index", "collection", w.coll, "key", docKey(ops[i]), "conflicting", conflict)
		if err := w.remove(ctx, trx, []op{{remove: true, key: conflict}}); err != nil {
			return nil, err
		}
		w.cfg.Metrics.repaired()
	}
	if !repair {
		return retry, nil
	}
	if len(retry) > 0 {
		return w.insert(ctx, trx, retry, attempt+1, true)
	}
	return nil, nil
}

// remove removes documents by key; a missing document is success.
func (w *writer) remove(ctx context.Context, trx string, ops []op) error {
	keys := make([]string, len(ops))
	for i, o := range ops {
		keys[i] = o.key
	}
	body, err := json.Marshal(keys)
	if err != nil {
		return failure.Permanent(err)
	}
	req := Request{Method: http.MethodDelete, Path: w.docPath(),
		Query: url.Values{"ignoreRevs": {"true"}, "waitForSync": {"false"}}, Header: w.header(trx), Body: body}
	resp, err := w.send(ctx, req, http.StatusOK, http.StatusAccepted)
	if err != nil {
		return err
	}
	if resp.Header("x-arango-error-codes") == "" {
		return nil
	}
	items, err := parseItems(req, resp, len(ops))
	if err != nil {
		return err
	}
	for i, it := range items {
		if it.Error && it.ErrorNum != numDocumentNotFound {
			return w.itemError(req, ops[i], it)
		}
	}
	return nil
}

// itemError classifies a failed element of a multi-document request.
func (w *writer) itemError(req Request, o op, it itemResult) error {
	e := &ArangoError{Status: itemStatus(it.ErrorNum), Num: it.ErrorNum, Message: it.ErrorMessage, Method: req.Method, Path: req.Path}
	return fmt.Errorf("%s: document %q: %w", w.coll, docKey(o), classify(e))
}

// itemStatus gives a per-item error the HTTP status a single-document request
// would have had, so classify treats it the same.
func itemStatus(num int) int {
	switch num {
	case numLeaderResigned, numNotLeader, numLeadershipChallenge:
		return http.StatusServiceUnavailable
	case numClusterTimeout, numLockTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusBadRequest
}

func parseItems(req Request, resp *Response, n int) ([]itemResult, error) {
	var items []itemResult
	if err := json.Unmarshal(resp.Body, &items); err != nil {
		return nil, failure.Permanent(fmt.Errorf("%s %s: answer is not a result array: %w", req.Method, req.Path, err))
	}
	if len(items) != n {
		return nil, failure.Permanent(fmt.Errorf("%s %s: %d results for %d documents (x-arango-error-codes %s)", req.Method, req.Path, len(items), n, resp.Header("x-arango-error-codes")))
	}
	return items, nil
}

// conflictingKey reads the key ArangoDB names in a unique-constraint error
// ("unique constraint violated - in index ... ; conflicting key: abc"). The
// HTTP API offers the conflicting document nowhere else.
func conflictingKey(msg string) (string, bool) {
	const marker = "conflicting key: "
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return "", false
	}
	k := strings.TrimSpace(msg[i+len(marker):])
	return k, k != ""
}

// keyByte reports whether c may appear in a document key (ArangoDB's
// traditional key alphabet).
func keyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-:.@()+,=;$!*'%", c) >= 0
}

// docKey returns an op's key, reading it from the document when needed.
func docKey(o op) string {
	if o.key != "" {
		return o.key
	}
	var k struct {
		Key string `json:"_key"`
	}
	_ = json.Unmarshal(o.doc, &k)
	return k.Key
}

// transaction applies ops as one stream transaction: begin, write, commit.
// On any failure the transaction is aborted on B, so B holds all of it or
// nothing; the caller retries the whole unit.
func (w *writer) transaction(ctx context.Context, ops []op) error {
	begin, _ := json.Marshal(map[string]any{
		"collections": map[string]any{"write": []string{w.coll}},
		"waitForSync": false,
	})
	req := Request{Method: http.MethodPost, Path: DBPath(w.db, "/_api/transaction/begin"), Body: begin}
	resp, err := w.send(ctx, req, http.StatusCreated, http.StatusOK)
	if err != nil {
		return err
	}
	var ans struct {
		Result struct {
			ID string `json:"id"`
		} `json:"result"`
	}
	if err := json.Unmarshal(resp.Body, &ans); err != nil || ans.Result.ID == "" {
		return failure.Permanent(fmt.Errorf("%s %s: no transaction id in %q", req.Method, req.Path, truncate(resp.Body)))
	}
	id := ans.Result.ID
	if err := w.apply(ctx, id, ops); err != nil {
		w.abort(id)
		return err
	}
	creq := Request{Method: http.MethodPut, Path: DBPath(w.db, "/_api/transaction/", url.PathEscape(id))}
	if _, err := w.send(ctx, creq, http.StatusOK); err != nil {
		w.abort(id)
		return err
	}
	return nil
}

// abort aborts a stream transaction on B, best effort (B also aborts idle
// transactions on its own after --transaction.streaming-idle-timeout).
func (w *writer) abort(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := Request{Method: http.MethodDelete, Path: DBPath(w.db, "/_api/transaction/", url.PathEscape(id))}
	if _, err := w.send(ctx, req, http.StatusOK); err != nil && !errors.Is(err, context.Canceled) {
		w.cfg.Logger.Debug("aborting a stream transaction on B failed", "transaction", id, "error", err)
	}
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
