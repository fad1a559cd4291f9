package wal

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeMarker fills m from one marker object. Valid JSON in the shape
// arangod writes (member names, tick, db and cuid without escapes, an
// integer type) is read by a byte scanner that never decodes the document
// bytes; anything else goes through encoding/json, so both paths accept and
// refuse exactly the same input (FuzzDecodeMarker). The document bytes are
// walked once on the fast path (validation, which finds the value's end)
// instead of three times by encoding/json (validation, the decoder's
// scanner, the RawMessage copy).
func decodeMarker(raw []byte, m *marker) error {
	if scanMarker(raw, m) {
		return nil
	}
	*m = marker{}
	var jm jsonMarker
	if err := json.Unmarshal(raw, &jm); err != nil {
		return err
	}
	if jm.Tick != nil {
		m.tick, m.hasTick = []byte(*jm.Tick), true
	}
	if jm.Type != nil {
		m.typ, m.hasType = *jm.Type, true
	}
	m.db, m.cuid, m.TID, m.Data = []byte(jm.DB), []byte(jm.CUID), jm.TID, jm.Data
	return nil
}

// markerFields are the member names encoding/json would match (it matches
// names case-insensitively: a name that differs only in case takes the slow
// path).
var markerFields = [...]string{"tick", "type", "db", "cuid", "tid", "data"}

// scanMarker reads a marker and validates it in the same pass (every member
// value is checked by validValue, which also finds its end). It reports
// false, with m partly filled, when the input is not valid JSON or needs
// encoding/json: not an object, escapes in a member name or in
// tick/db/cuid, a non-string tick/db/cuid, a type that is not an integer in
// int's range, a member name matching a field only case-insensitively.
func scanMarker(raw []byte, m *marker) bool {
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = skipWS(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return skipWS(raw, i+1) == len(raw)
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return false
		}
		nameEnd, ok := validString(raw, i)
		if !ok {
			return false
		}
		name := raw[i+1 : nameEnd-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			return false
		}
		i = skipWS(raw, nameEnd)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		i = skipWS(raw, i+1)
		valEnd, ok := validValue(raw, i, 1)
		if !ok {
			return false
		}
		val := raw[i:valEnd:valEnd]
		if !m.set(name, val) {
			return false
		}
		i = skipWS(raw, valEnd)
		if i >= len(raw) {
			return false
		}
		if raw[i] == '}' {
			return skipWS(raw, i+1) == len(raw)
		}
		if raw[i] != ',' {
			return false
		}
		i = skipWS(raw, i+1)
	}
}

// set stores one member; false when encoding/json must decide.
func (m *marker) set(name, val []byte) bool {
	switch string(name) {
	case "tick":
		s, ok := plainBytes(val)
		if !ok {
			return false
		}
		m.tick, m.hasTick = s, true
	case "type":
		if len(val) == 0 || (val[0] != '-' && (val[0] < '0' || val[0] > '9')) {
			return false
		}
		n, err := strconv.ParseInt(string(val), 10, strconv.IntSize)
		if err != nil {
			return false
		}
		m.typ, m.hasType = int(n), true
	case "db":
		s, ok := plainBytes(val)
		if !ok {
			return false
		}
		m.db = s
	case "cuid":
		s, ok := plainBytes(val)
		if !ok {
			return false
		}
		m.cuid = s
	case "tid":
		m.TID = val
	case "data":
		m.Data = val
	default:
		for _, f := range markerFields {
			if strings.EqualFold(string(name), f) {
				return false
			}
		}
	}
	return true
}

// plainBytes is plainString without the copy.
func plainBytes(val []byte) ([]byte, bool) {
	if len(val) < 2 || val[0] != '"' {
		return nil, false
	}
	in := val[1 : len(val)-1 : len(val)-1]
	if bytes.IndexByte(in, '\\') >= 0 || !utf8.Valid(in) {
		return nil, false
	}
	return in, true
}

// plainString returns the content of a JSON string without escapes in
// valid UTF-8: what encoding/json would decode it to (it replaces invalid
// UTF-8, which therefore takes the slow path).
func plainString(val []byte) (string, bool) {
	in, ok := plainBytes(val)
	if !ok {
		return "", false
	}
	return string(in), true
}
