package wal

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// Response headers of /_api/wal/tail.
const (
	HeaderLastIncluded = "X-Arango-Replication-Lastincluded"
	HeaderLastScanned  = "X-Arango-Replication-Lastscanned"
	HeaderLastTick     = "X-Arango-Replication-Lasttick"
	HeaderCheckMore    = "X-Arango-Replication-Checkmore"
	HeaderFromPresent  = "X-Arango-Replication-Frompresent"
)

// Defaults.
const (
	DefaultChunkSize  = 1 << 20
	DefaultMaxRecords = 10000
)

// ErrStartTickNotPresent: the leader's WAL no longer holds the tick the
// stream must continue from (ArangoDB's 1414
// ERROR_REPLICATION_START_TICK_NOT_PRESENT). Only a resync can continue.
var ErrStartTickNotPresent = errors.New("replication start tick not present (1414): the WAL was pruned past the shard's position")

// ErrInvalidResponse: the server's answer breaks the tail protocol
// (ArangoDB's 1401 ERROR_REPLICATION_INVALID_RESPONSE).
var ErrInvalidResponse = errors.New("invalid WAL tail response (1401)")

// Doer sends a raw request to a DB-Server (*client.Conn).
type Doer interface {
	Do(ctx context.Context, r client.Request, ok ...int) (*client.Response, error)
}

// Tailer tails one shard on one DB-Server. Set the fields, then call Next
// repeatedly; Next advances From and LastScanned. A Tailer is not safe for
// concurrent use.
type Tailer struct {
	DBServer Doer   // the shard leader
	Database string // database name
	Shard    string // shard name (s<id>)
	// From is the exclusive lower tick bound: every record returned has a
	// larger tick. LastScanned is the server's last scanned tick (0 at first).
	From        uint64
	LastScanned uint64
	// ChunkSize is the approximate response size in bytes (default 1 MiB).
	ChunkSize int
	// MaxRecords bounds the records returned by one Next (default 10000).
	MaxRecords int
	// SyncerID and ServerID identify the client to the server (WAL
	// retention, logger-state clients); ClientInfo is free text.
	SyncerID   uint64
	ServerID   uint64
	ClientInfo string
	// IncludeSystem must be set to tail a system collection's shard.
	IncludeSystem bool
}

// State is what one Next call learned.
type State struct {
	Status       int    // HTTP status (200 or 204)
	From         uint64 // the position after the call (= Tailer.From)
	LastScanned  uint64 // (= Tailer.LastScanned)
	LastIncluded uint64 // header value (0: nothing included)
	LastTick     uint64 // the server's latest tick when it answered
	CheckMore    bool   // call Next again without waiting
	Truncated    bool   // MaxRecords cut the response short
}

// Next sends one tail request and returns its records in WAL order. On an
// error the position is unchanged. ErrStartTickNotPresent and
// ErrInvalidResponse are returned wrapped (errors.Is); request failures are
// classified by package client.
func (t *Tailer) Next(ctx context.Context) ([]events.Record, State, error) {
	chunk := t.ChunkSize
	if chunk <= 0 {
		chunk = DefaultChunkSize
	}
	maxRecs := t.MaxRecords
	if maxRecs <= 0 {
		maxRecs = DefaultMaxRecords
	}
	lastScanned := t.LastScanned
	if lastScanned == 0 {
		// With lastScanned > 0 the server may split a large write batch over
		// several answers; lastScanned == from scans from from as well.
		lastScanned = t.From
	}
	q := url.Values{
		"chunkSize":   {strconv.Itoa(chunk)},
		"from":        {strconv.FormatUint(t.From, 10)},
		"lastScanned": {strconv.FormatUint(lastScanned, 10)},
		"collection":  {t.Shard},
	}
	if t.SyncerID != 0 {
		q.Set("syncerId", strconv.FormatUint(t.SyncerID, 10))
	}
	if t.ServerID != 0 {
		q.Set("serverId", strconv.FormatUint(t.ServerID, 10))
	}
	if t.ClientInfo != "" {
		q.Set("clientInfo", t.ClientInfo)
	}
	if t.IncludeSystem {
		q.Set("includeSystem", "true")
	}
	resp, err := t.DBServer.Do(ctx, client.Request{Method: "GET", Path: client.DBPath(t.Database, "_api/wal/tail"), Query: q,
		What: fmt.Sprintf("shard %s of database %q", t.Shard, t.Database)}, 200, 204)
	if err != nil {
		return nil, State{}, err
	}
	recs, st, err := t.Apply(resp.Status, resp.Header, resp.Body, maxRecs)
	if err != nil {
		return nil, State{}, err
	}
	return recs, st, nil
}

// Apply runs the client rules of spec §1.4 on one answer (status, header
// lookup, body) and advances the position. Next calls it; it is exported for
// tests on recorded answers.
func (t *Tailer) Apply(status int, header func(string) string, body []byte, maxRecs int) ([]events.Record, State, error) {
	invalid := func(format string, args ...any) ([]events.Record, State, error) {
		return nil, State{}, failure.Permanent(fmt.Errorf("%w: shard %s of %q from %d: %s", ErrInvalidResponse,
			t.Shard, t.Database, t.From, fmt.Sprintf(format, args...)))
	}
	if status != 200 && status != 204 {
		return invalid("HTTP status %d", status)
	}
	li := header(HeaderLastIncluded)
	if li == "" {
		return invalid("no %s header", HeaderLastIncluded)
	}
	lastIncluded, err := strconv.ParseUint(li, 10, 64)
	if err != nil {
		return invalid("%s %q", HeaderLastIncluded, li)
	}
	num := func(h string) (uint64, error) {
		v := header(h)
		if v == "" {
			return 0, nil
		}
		return strconv.ParseUint(v, 10, 64)
	}
	lastScanned, err := num(HeaderLastScanned)
	if err != nil {
		return invalid("%s %q", HeaderLastScanned, header(HeaderLastScanned))
	}
	lastTick, err := num(HeaderLastTick)
	if err != nil {
		return invalid("%s %q", HeaderLastTick, header(HeaderLastTick))
	}
	checkMore := header(HeaderCheckMore) == "true"
	if header(HeaderFromPresent) == "false" && t.From > 0 {
		return nil, State{}, failure.WithCode(failure.CodeWALPruned, fmt.Errorf("%w: shard %s of %q, from %d, server's last tick %d",
			ErrStartTickNotPresent, t.Shard, t.Database, t.From, lastTick))
	}
	var recs []events.Record
	if status == 200 && len(body) > 0 {
		recs, err = Parse(body, nil)
		if err != nil {
			return nil, State{}, failure.Permanent(fmt.Errorf("shard %s of %q from %d: %w", t.Shard, t.Database, t.From, err))
		}
	}
	if len(recs) > 0 {
		if recs[0].Tick <= t.From {
			return invalid("marker tick %d is not after from", recs[0].Tick)
		}
		if last := recs[len(recs)-1].Tick; last != lastIncluded {
			return invalid("last marker tick %d but %s %d", last, HeaderLastIncluded, lastIncluded)
		}
	} else if lastIncluded != 0 {
		return invalid("no markers but %s %d", HeaderLastIncluded, lastIncluded)
	}
	st := State{Status: status, LastIncluded: lastIncluded, LastTick: lastTick, CheckMore: checkMore}
	if maxRecs <= 0 {
		maxRecs = DefaultMaxRecords
	}
	if len(recs) > maxRecs {
		// The cut may fall inside a write batch (a transaction). The server
		// skips a batch that starts before the scan start, so resuming with
		// lastScanned inside the batch would lose its remaining markers and
		// its commit. Keep the scan start of the request that returned this
		// answer (it is at or before the start of every batch in it): the
		// server reads the batch again and prints only the markers after the
		// new from.
		reqScanned := t.LastScanned
		if reqScanned == 0 {
			reqScanned = t.From // what Next sent
		}
		recs = recs[:maxRecs]
		t.From = recs[len(recs)-1].Tick
		t.LastScanned = reqScanned
		st.CheckMore, st.Truncated = true, true
	} else {
		switch {
		case lastIncluded > t.From:
			t.From = lastIncluded
		case lastIncluded == 0 && lastScanned > t.From:
			t.From = lastScanned - 1
		default:
			st.CheckMore = false // got the same tick again: wait instead of spinning
		}
		t.LastScanned = lastScanned
	}
	st.From, st.LastScanned = t.From, t.LastScanned
	return recs, st, nil
}
