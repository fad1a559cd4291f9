package workload

import (
	"bytes"
	"encoding/json"
	"errors"
	"hash/maphash"
	"slices"
	"strconv"
	"unicode/utf8"
)

// digest is what Verify keeps of one document: enough to tell lost, extra,
// mismatched and duplicated effects apart without holding the document.
type digest struct {
	rev     string
	ver     int64  // FieldVersion, 0 when absent
	content uint64 // hash of every attribute but _rev and _id, in attribute-name order
	balance int64  // FieldBalance, 0 when absent
}

var (
	errNoKey  = errors.New("document without a string _key")
	errSyntax = errors.New("not a JSON object")
)

// member is one top-level attribute of a document: its name and raw value.
type member struct {
	name string
	raw  []byte
}

// parseDoc reads one dumped document. The content hash does not depend on the
// order of the top-level attributes (a replica may write them in another order);
// values are hashed as the bytes the server rendered. It scans the top level
// itself (encoding/json into a map costs several times more, and Verify reads
// every document of both clusters); FuzzParseDoc holds it to encoding/json.
func parseDoc(seed maphash.Seed, doc []byte) (string, digest, error) {
	var buf [16]member
	ms, err := scanObject(doc, buf[:0])
	if err != nil {
		return "", digest{}, err
	}
	var d digest
	key := ""
	for _, m := range ms {
		switch m.name {
		case "_key":
			if s, ok := jsonString(m.raw); ok {
				key = s
			}
		case "_rev":
			d.rev, _ = jsonString(m.raw)
		case FieldVersion:
			d.ver = jsonInt(m.raw)
		case FieldBalance:
			d.balance = jsonInt(m.raw)
		}
	}
	if key == "" {
		return "", digest{}, errNoKey
	}
	slices.SortStableFunc(ms, func(a, b member) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	var h maphash.Hash
	h.SetSeed(seed)
	for i, m := range ms {
		if m.name == "_rev" || m.name == "_id" {
			continue
		}
		if i+1 < len(ms) && ms[i+1].name == m.name {
			continue // a duplicate name: the last one counts, as in encoding/json
		}
		h.WriteString(m.name)
		h.WriteByte(0)
		h.Write(m.raw)
		h.WriteByte(0)
	}
	d.content = h.Sum64()
	return key, d, nil
}

// scanObject splits a JSON object into its top-level members, checking the
// structure (strings, brackets) but not the spelling of numbers and literals,
// which the server rendered.
func scanObject(b []byte, out []member) ([]member, error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errSyntax
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		if skipWS(b, i+1) != len(b) {
			return nil, errSyntax
		}
		return out, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, errSyntax
		}
		end, err := skipString(b, i)
		if err != nil {
			return nil, err
		}
		name, ok := jsonString(b[i:end])
		if !ok {
			return nil, errSyntax
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, errSyntax
		}
		i = skipWS(b, i+1)
		vend, err := skipValue(b, i, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, member{name: name, raw: b[i:vend]})
		i = skipWS(b, vend)
		if i >= len(b) {
			return nil, errSyntax
		}
		if b[i] == '}' {
			if skipWS(b, i+1) != len(b) {
				return nil, errSyntax
			}
			return out, nil
		}
		if b[i] != ',' {
			return nil, errSyntax
		}
		i = skipWS(b, i+1)
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '\\':
			j++
		case c == '"':
			return j + 1, nil
		case c < 0x20:
			return 0, errSyntax
		}
	}
	return 0, errSyntax
}

const maxDepth = 10000 // encoding/json's limit

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		if depth >= maxDepth {
			return 0, errSyntax
		}
		closing := byte('}')
		if b[i] == '[' {
			closing = ']'
		}
		j := skipWS(b, i+1)
		if j < len(b) && b[j] == closing {
			return j + 1, nil
		}
		for {
			if closing == '}' {
				if j >= len(b) || b[j] != '"' {
					return 0, errSyntax
				}
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = skipWS(b, end)
				if j >= len(b) || b[j] != ':' {
					return 0, errSyntax
				}
				j = skipWS(b, j+1)
			}
			end, err := skipValue(b, j, depth+1)
			if err != nil {
				return 0, err
			}
			j = skipWS(b, end)
			if j >= len(b) {
				return 0, errSyntax
			}
			if b[j] == closing {
				return j + 1, nil
			}
			if b[j] != ',' {
				return 0, errSyntax
			}
			j = skipWS(b, j+1)
		}
	default: // number, true, false, null
		j := i
		for j < len(b) && !delimiter(b[j]) {
			j++
		}
		if j == i {
			return 0, errSyntax
		}
		return j, nil
	}
}

// delimiter reports the bytes that end a number or literal.
func delimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', '}', ']', ':', '{', '[', '"':
		return true
	}
	return false
}

// jsonString decodes a JSON string value (raw includes the quotes).
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// jsonInt reads an integer JSON number (or a float with an integral value); 0 otherwise.
func jsonInt(raw []byte) int64 {
	if len(raw) == 0 {
		return 0
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(string(raw), 64); err == nil && f == float64(int64(f)) {
		return int64(f)
	}
	return 0
}
