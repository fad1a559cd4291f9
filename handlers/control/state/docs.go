package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// Collection is dc2dc's system collection in the `_system` database of each
// datacenter's cluster (shared with the apply side's positions).
const Collection = "_dc2dc"

// Keys of the control plane's documents in _dc2dc. The apply side's
// positions use keys starting with "pos:" (handlers/target).
const (
	// LeaseKey is the election's lease (raw document, see Lease).
	LeaseKey = "leader"
	// TasksKey is the leader's task table (fenced record, []registry.Task).
	TasksKey = "tasks"
	// WorkersKey is the leader's last known worker list (fenced record).
	WorkersKey = "workers"
	// SyncKeyPrefix + sync id is a sync's configuration (fenced record).
	SyncKeyPrefix = "sync:"
)

// ArangoDB error numbers this package acts on.
const (
	numConflict          = 1200
	numDataSourceMissing = 1203
	numDocumentNotFound  = 1202
	numDuplicateName     = 1207
	numUniqueViolated    = 1210
)

var (
	// ErrConflict: a compare-and-set lost (the document changed since it was
	// read, or a document to create exists already).
	ErrConflict = errors.New("state: the document changed concurrently (compare-and-set lost)")
	// ErrNotFound: the document does not exist.
	ErrNotFound = errors.New("state: document not found")
)

// Doer sends one raw request to the cluster's Coordinators; an answer with a
// status in ok is returned, any other one is a classified error.
// *client.Conn (Client.Coordinator()) satisfies it.
type Doer interface {
	Do(ctx context.Context, r client.Request, ok ...int) (*client.Response, error)
}

// Doc is a stored document: its key, revision and full body (with the
// system attributes).
type Doc struct {
	Key  string
	Rev  string
	Body json.RawMessage
}

// Docs is compare-and-set access to the documents of _system/_dc2dc. It is
// safe for concurrent use.
type Docs struct {
	do Doer
}

// NewDocs returns document access through do (the Coordinators).
func NewDocs(do Doer) *Docs { return &Docs{do: do} }

func docPath(key string) string {
	p := client.DBPath("_system", "_api/document", Collection)
	if key != "" {
		p += "/" + url.PathEscape(key)
	}
	return p
}

type errorBody struct {
	ErrorNum     int    `json:"errorNum"`
	ErrorMessage string `json:"errorMessage"`
}

func errorNum(body []byte) int {
	var e errorBody
	_ = json.Unmarshal(body, &e)
	return e.ErrorNum
}

func unexpected(resp *client.Response, what string) error {
	var e errorBody
	_ = json.Unmarshal(resp.Body, &e)
	return failure.WithCode(failure.CodeArangoUnavailable, fmt.Errorf(
		"%s: unexpected answer HTTP %d, errorNum %d: %s", what, resp.Status, e.ErrorNum, e.ErrorMessage))
}

// Ensure creates _system/_dc2dc as a system collection when it is missing.
func (d *Docs) Ensure(ctx context.Context) error {
	resp, err := d.do.Do(ctx, client.Request{Method: http.MethodGet,
		Path: client.DBPath("_system", "_api/collection", Collection), What: "collection _system/" + Collection},
		http.StatusOK, http.StatusNotFound)
	if err != nil {
		return err
	}
	if resp.Status == http.StatusOK {
		return nil
	}
	body, _ := json.Marshal(map[string]any{"name": Collection, "isSystem": true, "type": 2})
	resp, err = d.do.Do(ctx, client.Request{Method: http.MethodPost, Path: client.DBPath("_system", "_api/collection"),
		Body: body, What: "collection _system/" + Collection}, http.StatusOK, http.StatusCreated, http.StatusConflict)
	if err != nil {
		return err
	}
	if resp.Status == http.StatusConflict && errorNum(resp.Body) != numDuplicateName {
		return unexpected(resp, "create collection _system/"+Collection)
	}
	return nil // created, or another master created it first
}

// Get returns the document with the given key, or ErrNotFound.
func (d *Docs) Get(ctx context.Context, key string) (Doc, error) {
	resp, err := d.do.Do(ctx, client.Request{Method: http.MethodGet, Path: docPath(key), What: "document " + Collection + "/" + key},
		http.StatusOK, http.StatusNotFound)
	if err != nil {
		return Doc{}, err
	}
	if resp.Status == http.StatusNotFound {
		switch errorNum(resp.Body) {
		case numDocumentNotFound, numDataSourceMissing, 0:
			return Doc{}, ErrNotFound
		}
		return Doc{}, unexpected(resp, "read "+Collection+"/"+key)
	}
	var meta struct {
		Rev string `json:"_rev"`
	}
	if err := json.Unmarshal(resp.Body, &meta); err != nil {
		return Doc{}, failure.WithCode(failure.CodeCheckpointCorrupt, fmt.Errorf("%s/%s: not a document: %w", Collection, key, err))
	}
	if meta.Rev == "" { // valid JSON without _rev: the same text as before, "<nil>" for the absent cause
		return Doc{}, failure.WithCode(failure.CodeCheckpointCorrupt, fmt.Errorf("%s/%s: not a document: <nil>", Collection, key))
	}
	return Doc{Key: key, Rev: meta.Rev, Body: resp.Body}, nil
}

// Create stores v (a value that marshals to a JSON object) under key and
// returns the new revision. It returns ErrConflict when the key exists.
// The collection is created first when it is missing.
func (d *Docs) Create(ctx context.Context, key string, v any) (string, error) {
	body, err := withSystem(v, key, "")
	if err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
		resp, err := d.do.Do(ctx, client.Request{Method: http.MethodPost, Path: docPath(""), Body: body,
			What: "document " + Collection + "/" + key},
			http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusConflict, http.StatusNotFound)
		if err != nil {
			return "", err
		}
		switch resp.Status {
		case http.StatusConflict:
			if n := errorNum(resp.Body); n == numUniqueViolated || n == numConflict {
				return "", ErrConflict
			}
			return "", unexpected(resp, "create "+Collection+"/"+key)
		case http.StatusNotFound:
			if attempt > 0 || errorNum(resp.Body) != numDataSourceMissing {
				return "", unexpected(resp, "create "+Collection+"/"+key)
			}
			if err := d.Ensure(ctx); err != nil {
				return "", err
			}
			continue
		}
		return revOf(resp, key)
	}
}

// Replace stores v under key if the document's revision is still rev, and
// returns the new revision. It returns ErrConflict when the document changed
// (HTTP 412) and ErrNotFound when it does not exist.
func (d *Docs) Replace(ctx context.Context, key, rev string, v any) (string, error) {
	body, err := withSystem(v, key, rev)
	if err != nil {
		return "", err
	}
	resp, err := d.do.Do(ctx, client.Request{Method: http.MethodPut, Path: docPath(key), Body: body,
		Query: url.Values{"ignoreRevs": {"false"}}, What: "document " + Collection + "/" + key},
		http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusPreconditionFailed, http.StatusNotFound)
	if err != nil {
		return "", err
	}
	switch resp.Status {
	case http.StatusPreconditionFailed:
		return "", ErrConflict
	case http.StatusNotFound:
		return "", ErrNotFound
	}
	return revOf(resp, key)
}

func revOf(resp *client.Response, key string) (string, error) {
	var meta struct {
		Rev string `json:"_rev"`
	}
	if err := json.Unmarshal(resp.Body, &meta); err != nil || meta.Rev == "" {
		return "", failure.WithCode(failure.CodeArangoUnavailable, fmt.Errorf("write %s/%s: answer without _rev: %q", Collection, key, resp.Body))
	}
	return meta.Rev, nil
}

// withSystem marshals v (a JSON object) and puts _key (and _rev) first.
func withSystem(v any, key, rev string) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, failure.WithCode(failure.CodeInternal, fmt.Errorf("%s/%s: %w", Collection, key, err))
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' {
		return nil, failure.WithCode(failure.CodeInternal, fmt.Errorf("%s/%s: value is not a JSON object", Collection, key))
	}
	var b bytes.Buffer
	b.WriteString(`{"_key":`)
	k, _ := json.Marshal(key)
	b.Write(k)
	if rev != "" {
		r, _ := json.Marshal(rev)
		b.WriteString(`,"_rev":`)
		b.Write(r)
	}
	rest := bytes.TrimSpace(raw[1:])
	if len(rest) > 0 && rest[0] != '}' {
		b.WriteByte(',')
	}
	b.Write(rest)
	return b.Bytes(), nil
}
