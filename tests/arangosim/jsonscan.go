package arangosim

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// errBadJSON reports input that is not the JSON the caller expected.
var errBadJSON = errors.New("invalid JSON")

// field is one member of a JSON object: the unescaped key and the compact raw value.
type field struct {
	Key string
	Val []byte
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the index just after the JSON value starting at b[i].
// It trusts the input to be valid JSON (callers validate first) but never panics.
func skipValue(b []byte, i int) (int, error) {
	i = skipWS(b, i)
	if i >= len(b) {
		return 0, errBadJSON
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				j, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = j
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
			i++
		}
		return 0, errBadJSON
	default:
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i, nil
			}
			i++
		}
		return i, nil
	}
}

func skipString(b []byte, i int) (int, error) {
	i++
	// Fast path: the closing quote with no backslash before it.
	if q := bytes.IndexByte(b[i:], '"'); q >= 0 && bytes.IndexByte(b[i:i+q], '\\') < 0 {
		return i + q + 1, nil
	}
	for i < len(b) {
		switch b[i] {
		case '\\':
			i += 2
			continue
		case '"':
			return i + 1, nil
		}
		i++
	}
	return 0, errBadJSON
}

// unquote decodes a raw JSON string token (with quotes).
func unquote(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errBadJSON
	}
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errBadJSON
	}
	return s, nil
}

// objectFields splits a JSON object into its members, in order.
func objectFields(b []byte) ([]field, error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errBadJSON
	}
	i = skipWS(b, i+1)
	var out []field
	if i < len(b) && b[i] == '}' {
		return out, nil
	}
	for i < len(b) {
		if b[i] != '"' {
			return nil, errBadJSON
		}
		j, err := skipString(b, i)
		if err != nil {
			return nil, err
		}
		key, err := unquote(b[i:j])
		if err != nil {
			return nil, err
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return nil, errBadJSON
		}
		vs := skipWS(b, i+1)
		ve, err := skipValue(b, vs)
		if err != nil {
			return nil, err
		}
		out = append(out, field{Key: key, Val: b[vs:ve]})
		i = skipWS(b, ve)
		if i >= len(b) {
			return nil, errBadJSON
		}
		if b[i] == '}' {
			return out, nil
		}
		if b[i] != ',' {
			return nil, errBadJSON
		}
		i = skipWS(b, i+1)
	}
	return nil, errBadJSON
}

// scanObject calls fn for every member of the JSON object b, in order, with the raw key
// (quotes included), the index of the key's opening quote and the value's span
// b[vs:ve]. It accepts and refuses what objectFields does; fn's error stops the scan.
func scanObject(b []byte, fn func(rawKey []byte, start, vs, ve int) error) error {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errBadJSON
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	for i < len(b) {
		if b[i] != '"' {
			return errBadJSON
		}
		j, err := skipString(b, i)
		if err != nil {
			return err
		}
		k := i
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return errBadJSON
		}
		vs := skipWS(b, i+1)
		ve, err := skipValue(b, vs)
		if err != nil {
			return err
		}
		if err := fn(b[k:j], k, vs, ve); err != nil {
			return err
		}
		i = skipWS(b, ve)
		if i >= len(b) {
			return errBadJSON
		}
		if b[i] == '}' {
			return nil
		}
		if b[i] != ',' {
			return errBadJSON
		}
		i = skipWS(b, i+1)
	}
	return errBadJSON
}

// arrayElems splits a JSON array into its raw elements.
func arrayElems(b []byte) ([][]byte, error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, errBadJSON
	}
	i = skipWS(b, i+1)
	out := [][]byte{}
	if i < len(b) && b[i] == ']' {
		return out, nil
	}
	for i < len(b) {
		vs := i
		ve, err := skipValue(b, vs)
		if err != nil {
			return nil, err
		}
		out = append(out, b[vs:ve])
		i = skipWS(b, ve)
		if i >= len(b) {
			return nil, errBadJSON
		}
		if b[i] == ']' {
			return out, nil
		}
		if b[i] != ',' {
			return nil, errBadJSON
		}
		i = skipWS(b, i+1)
	}
	return nil, errBadJSON
}

// jsonKind names the kind of a raw JSON value: 'o' object, 'a' array, 's' string,
// 'n' number, 'b' bool, 'z' null, 0 invalid/empty.
func jsonKind(v []byte) byte {
	i := skipWS(v, 0)
	if i >= len(v) {
		return 0
	}
	switch v[i] {
	case '{':
		return 'o'
	case '[':
		return 'a'
	case '"':
		return 's'
	case 't', 'f':
		return 'b'
	case 'n':
		return 'z'
	default:
		return 'n'
	}
}

// compactJSON validates and compacts a request body.
func compactJSON(b []byte) ([]byte, error) {
	valid, compact := validateJSON(b)
	if !valid {
		return nil, errBadJSON
	}
	if compact {
		// What JSON encoders send: nothing to do.
		return b, nil
	}
	var buf bytes.Buffer
	buf.Grow(len(b))
	if err := json.Compact(&buf, b); err != nil {
		return nil, errBadJSON
	}
	return buf.Bytes(), nil
}

func appendQuoted(dst []byte, s string) []byte {
	if !plainString(s) {
		b, _ := json.Marshal(s)
		return append(dst, b...)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendQuotedID appends the quoted handle coll + "/" + key (appendQuoted of it,
// without building the string first).
func appendQuotedID(dst []byte, coll, key string) []byte {
	if !plainString(coll) || !plainString(key) {
		return appendQuoted(dst, coll+"/"+key)
	}
	dst = append(dst, '"')
	dst = append(dst, coll...)
	dst = append(dst, '/')
	dst = append(dst, key...)
	return append(dst, '"')
}

// plainBytes is plainString for a byte slice.
func plainBytes(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

// plainString reports whether appendQuoted writes s between quotes as it is.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

func appendQuotedUint(dst []byte, v uint64) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendUint(dst, v, 10)
	return append(dst, '"')
}

// appendFields writes members as `"k":v,...` (no braces).
func appendFields(dst []byte, fs []field) []byte {
	if dst == nil {
		n := 0
		for _, f := range fs {
			n += len(f.Key) + len(f.Val) + 4
		}
		dst = make([]byte, 0, n)
	}
	for i, f := range fs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendQuoted(dst, f.Key)
		dst = append(dst, ':')
		dst = append(dst, f.Val...)
	}
	return dst
}

// fieldsToObject renders members as a JSON object.
func fieldsToObject(fs []field) []byte {
	b := make([]byte, 0, 64)
	b = append(b, '{')
	b = appendFields(b, fs)
	return append(b, '}')
}

func getField(fs []field, key string) ([]byte, bool) {
	for _, f := range fs {
		if f.Key == key {
			return f.Val, true
		}
	}
	return nil, false
}

// mergePatch applies an update document to old members like arangod's PATCH:
// null removes the attribute unless keepNull, nested objects merge when mergeObjects.
func mergePatch(old, patch []field, keepNull, mergeObjects bool) ([]field, error) {
	out := make([]field, 0, len(old)+len(patch))
	out = append(out, old...)
	for _, p := range patch {
		idx := -1
		for i := range out {
			if out[i].Key == p.Key {
				idx = i
				break
			}
		}
		val := p.Val
		kind := jsonKind(val)
		if kind == 'z' && !keepNull {
			if idx >= 0 {
				out = append(out[:idx], out[idx+1:]...)
			}
			continue
		}
		if kind == 'o' {
			var base []field
			if mergeObjects && idx >= 0 && jsonKind(out[idx].Val) == 'o' {
				b, err := objectFields(out[idx].Val)
				if err != nil {
					return nil, err
				}
				base = b
			}
			pf, err := objectFields(val)
			if err != nil {
				return nil, err
			}
			if mergeObjects || !keepNull {
				merged, err := mergePatch(base, pf, keepNull, mergeObjects)
				if err != nil {
					return nil, err
				}
				val = fieldsToObject(merged)
			}
		}
		if idx >= 0 {
			out[idx] = field{Key: p.Key, Val: val}
		} else {
			out = append(out, field{Key: p.Key, Val: val})
		}
	}
	return out, nil
}
