package wal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/dc2dc/dc2dc/events"
)

// ErrMalformed marks every parse failure (errors.Is).
var ErrMalformed = errors.New("malformed WAL marker")

// MalformedError is a marker that cannot be parsed.
type MalformedError struct {
	Offset int64 // byte offset of the marker in the body
	Reason string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("malformed WAL marker at byte %d: %s", e.Offset, e.Reason)
}

// Is matches ErrMalformed.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

// UnknownMarkerError is a marker with a type dc2dc does not know.
type UnknownMarkerError struct {
	Type int
	Tick uint64
}

func (e *UnknownMarkerError) Error() string {
	return fmt.Sprintf("unknown WAL marker type %d at tick %d", e.Type, e.Tick)
}

// Is matches ErrMalformed too: the caller cannot go on either way.
func (e *UnknownMarkerError) Is(target error) bool { return target == ErrMalformed }

// marker is the union of the marker layouts of spec §1.5.
type marker struct {
	tick    []byte
	hasTick bool
	typ     int
	hasType bool
	db      []byte
	cuid    []byte
	TID     json.RawMessage
	Data    json.RawMessage
}

// jsonMarker is marker as encoding/json decodes it (the slow path).
type jsonMarker struct {
	Tick *string         `json:"tick"`
	Type *int            `json:"type"`
	DB   string          `json:"db"`
	CUID string          `json:"cuid"`
	TID  json.RawMessage `json:"tid"`
	Data json.RawMessage `json:"data"`
}

// Parse appends the records of a /_api/wal/tail body to dst. The body is a
// sequence of JSON objects (one per line as arangod writes it; any JSON
// whitespace between them is accepted). Ticks must ascend strictly.
//
// The records never share body's bytes: the documents of one body are copied
// into one new buffer (one allocation instead of one per document), so a
// record kept while it waits to be published holds its own bytes, not the
// whole response (which the HTTP client may have allocated at twice its
// size).
func Parse(body []byte, dst []events.Record) ([]events.Record, error) {
	if dst == nil {
		dst = make([]events.Record, 0, min(bytes.Count(body, []byte{'\n'})+1, DefaultMaxRecords))
	}
	start := len(dst)
	out, ok, err := parseLines(body, dst)
	if !ok {
		out, err = parseStream(body, dst)
	}
	detach(out[start:])
	return out, err
}

// detach copies the bytes records share with a body: the documents into one
// buffer, any other raw field on its own.
func detach(recs []events.Record) {
	n := 0
	for _, r := range recs {
		if d, ok := r.Event.(*events.Document); ok {
			n += len(d.Doc)
		}
	}
	arena := make([]byte, 0, n)
	for _, r := range recs {
		switch e := r.Event.(type) {
		case *events.Document:
			at := len(arena)
			arena = append(arena, e.Doc...)
			e.Doc = arena[at:len(arena):len(arena)]
		case *events.DatabaseCreate:
			e.Data = bytes.Clone(e.Data)
		case *events.CollectionCreate:
			e.Data = bytes.Clone(e.Data)
		case *events.CollectionChange:
			e.Data = bytes.Clone(e.Data)
		case *events.IndexCreate:
			e.Data = bytes.Clone(e.Data)
		case *events.ViewCreate:
			e.Data = bytes.Clone(e.Data)
		case *events.ViewChange:
			e.Data = bytes.Clone(e.Data)
		}
	}
}

// parseLines is the fast path for arangod's one-object-per-line output. It
// reports ok=false, having appended nothing, when a line is not one whole
// object (pretty-printed input), so the caller falls back to parseStream.
func parseLines(body []byte, dst []events.Record) ([]events.Record, bool, error) {
	start := len(dst)
	var prev uint64
	off := 0
	for off < len(body) {
		end := bytes.IndexByte(body[off:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += off
		}
		line := bytes.Trim(body[off:end], " \t\r\n") // JSON whitespace only
		lineOff := off
		off = end + 1
		if len(line) == 0 {
			continue
		}
		if line[0] != '{' || line[len(line)-1] != '}' {
			return dst[:start], false, nil
		}
		rec, err := ParseMarker(line)
		if err != nil {
			var me *MalformedError
			if errors.As(err, &me) {
				if len(dst) == start {
					// Maybe a pretty-printed object spread over lines.
					return dst[:start], false, nil
				}
				me.Offset += int64(lineOff)
			}
			return dst, true, err
		}
		if rec.Tick <= prev {
			return dst, true, &MalformedError{Offset: int64(lineOff), Reason: fmt.Sprintf("tick %d does not follow tick %d", rec.Tick, prev)}
		}
		prev = rec.Tick
		dst = append(dst, rec)
	}
	return dst, true, nil
}

// parseStream decodes any sequence of JSON objects.
func parseStream(body []byte, dst []events.Record) ([]events.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var prev uint64
	for {
		off := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return dst, nil
			}
			return dst, &MalformedError{Offset: off, Reason: err.Error()}
		}
		rec, err := ParseMarker(raw)
		if err != nil {
			var me *MalformedError
			if errors.As(err, &me) {
				me.Offset += off
			}
			return dst, err
		}
		if rec.Tick <= prev {
			return dst, &MalformedError{Offset: off, Reason: fmt.Sprintf("tick %d does not follow tick %d", rec.Tick, prev)}
		}
		prev = rec.Tick
		dst = append(dst, rec)
	}
}

// ParseMarker parses one marker object. The TID and Data of the returned
// event may share raw's bytes (capped, so appending to them never writes into
// raw): raw must not be changed afterwards.
func ParseMarker(raw []byte) (events.Record, error) {
	var m marker
	if err := decodeMarker(raw, &m); err != nil {
		return events.Record{}, &MalformedError{Reason: err.Error()}
	}
	bad := func(format string, args ...any) (events.Record, error) {
		return events.Record{}, &MalformedError{Reason: fmt.Sprintf(format, args...)}
	}
	if !m.hasTick {
		return bad("no tick")
	}
	tick, ok := parseTick(m.tick)
	if !ok {
		return bad("tick %q is not a positive integer", m.tick)
	}
	if !m.hasType {
		return bad("tick %d: no type", tick)
	}
	typ := events.Kind(m.typ)
	if m.typ < 0 || m.typ > 0xffff || !typ.IsWALMarker() {
		return events.Record{}, &UnknownMarkerError{Type: m.typ, Tick: tick}
	}
	rec := events.Record{Tick: tick}
	// Documents and removals carry neither: no strings for them.
	var dbName, cuid string
	if typ != events.KindDocument && typ != events.KindRemove {
		dbName, cuid = string(m.db), string(m.cuid)
	}
	needCUID := func() error {
		if len(m.cuid) == 0 {
			return &MalformedError{Reason: fmt.Sprintf("tick %d type %d: no cuid", tick, m.typ)}
		}
		return nil
	}
	needData := func() error {
		if len(m.Data) == 0 || string(m.Data) == "null" {
			return &MalformedError{Reason: fmt.Sprintf("tick %d type %d: no data", tick, m.typ)}
		}
		return nil
	}
	tid, err := parseTID(m.TID)
	if err != nil {
		return bad("tick %d: tid: %v", tick, err)
	}
	switch typ {
	case events.KindDatabaseCreate:
		rec.Event = &events.DatabaseCreate{Database: dbName, Data: m.Data}
	case events.KindDatabaseDrop:
		rec.Event = &events.DatabaseDrop{Database: dbName}
	case events.KindCollectionCreate, events.KindCollectionChange, events.KindIndexCreate,
		events.KindViewCreate, events.KindViewChange:
		if err := errors.Join(needCUID(), needData()); err != nil {
			return events.Record{}, err
		}
		switch typ {
		case events.KindCollectionCreate:
			rec.Event = &events.CollectionCreate{Database: dbName, CUID: cuid, Data: m.Data}
		case events.KindCollectionChange:
			rec.Event = &events.CollectionChange{Database: dbName, CUID: cuid, Data: m.Data}
		case events.KindIndexCreate:
			rec.Event = &events.IndexCreate{Database: dbName, CUID: cuid, Data: m.Data}
		case events.KindViewCreate:
			rec.Event = &events.ViewCreate{Database: dbName, CUID: cuid, Data: m.Data}
		default:
			rec.Event = &events.ViewChange{Database: dbName, CUID: cuid, Data: m.Data}
		}
	case events.KindCollectionDrop, events.KindCollectionTruncate, events.KindViewDrop:
		if err := needCUID(); err != nil {
			return events.Record{}, err
		}
		switch typ {
		case events.KindCollectionDrop:
			rec.Event = &events.CollectionDrop{Database: dbName, CUID: cuid}
		case events.KindCollectionTruncate:
			rec.Event = &events.CollectionTruncate{Database: dbName, CUID: cuid}
		default:
			rec.Event = &events.ViewDrop{Database: dbName, CUID: cuid}
		}
	case events.KindCollectionRename:
		if err := errors.Join(needCUID(), needData()); err != nil {
			return events.Record{}, err
		}
		var d struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(m.Data, &d); err != nil || d.Name == "" {
			return bad("tick %d: rename without data.name", tick)
		}
		rec.Event = &events.CollectionRename{Database: dbName, CUID: cuid, NewName: d.Name}
	case events.KindIndexDrop:
		if err := errors.Join(needCUID(), needData()); err != nil {
			return events.Record{}, err
		}
		var d struct {
			ID json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return bad("tick %d: index drop data: %v", tick, err)
		}
		id, err := stringOrNumber(d.ID)
		if err != nil || id == "" {
			return bad("tick %d: index drop without data.id", tick)
		}
		rec.Event = &events.IndexDrop{Database: dbName, CUID: cuid, IndexID: id}
	case events.KindTransactionStart, events.KindTransactionCommit, events.KindTransactionAbort:
		if tid == "" || tid == "0" {
			return bad("tick %d: transaction marker %d without tid", tick, m.typ)
		}
		switch typ {
		case events.KindTransactionStart:
			rec.Event = &events.TransactionStart{Database: dbName, TID: tid}
		case events.KindTransactionCommit:
			rec.Event = &events.TransactionCommit{Database: dbName, TID: tid}
		default:
			rec.Event = &events.TransactionAbort{Database: dbName, TID: tid}
		}
	case events.KindDocument, events.KindRemove:
		if err := errors.Join(needCUID(), needData()); err != nil {
			return events.Record{}, err
		}
		key, rev, err := keyRevValid(m.Data) // json.Unmarshal validated the marker
		if err != nil {
			return bad("tick %d: %v", tick, err)
		}
		if typ == events.KindDocument {
			rec.Event = &events.Document{TID: tid, Key: key, Rev: rev, Doc: m.Data}
		} else {
			rec.Event = &events.Remove{TID: tid, Key: key, Rev: rev}
		}
	default:
		return events.Record{}, &UnknownMarkerError{Type: m.typ, Tick: tick}
	}
	return rec, nil
}

// parseTick parses a tick: decimal digits only, positive, in uint64.
func parseTick(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, n > 0
}

func parseTID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if s, ok := plainString(raw); ok {
		return s, nil
	}
	return stringOrNumber(raw)
}

func stringOrNumber(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}

// KeyRev reads _key and _rev of a document (or of a remove marker's data).
// arangod writes _key, _id, _from, _to and _rev first, so it stops reading as
// soon as it has both and never walks the user attributes of a large document.
func KeyRev(data json.RawMessage) (key, rev string, err error) {
	if !valid(data) {
		return "", "", errors.New("data is not valid JSON")
	}
	return keyRevValid(data)
}

// keyRevValid is KeyRev for data already known to be valid JSON.
func keyRevValid(data []byte) (key, rev string, err error) {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return "", "", errors.New("data is not an object")
	}
	i++
	haveKey, haveRev := false, false
	for !haveKey || !haveRev {
		i = skipWS(data, i)
		if i >= len(data) || data[i] == '}' {
			break
		}
		if data[i] == ',' {
			i = skipWS(data, i+1)
		}
		nameEnd := skipString(data, i)
		name := data[i:nameEnd]
		i = skipWS(data, nameEnd)
		i = skipWS(data, i+1) // ':'
		valEnd := skipValue(data, i)
		val := data[i:valEnd]
		i = valEnd
		switch string(name) {
		case `"_key"`:
			if s, ok := plainString(val); ok {
				key = s
			} else if err := json.Unmarshal(val, &key); err != nil {
				return "", "", fmt.Errorf("data: _key: %w", err)
			}
			haveKey = true
		case `"_rev"`:
			if s, ok := plainString(val); ok {
				rev = s
			} else if err := json.Unmarshal(val, &rev); err != nil {
				return "", "", fmt.Errorf("data: _rev: %w", err)
			}
			haveRev = true
		}
	}
	if key == "" {
		return "", "", errors.New("data without _key")
	}
	return key, rev, nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the JSON string starting at b[i] ('"').
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the JSON value starting at b[i]
// (valid JSON assumed).
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j
}
