package revtree

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// AppendJSON appends the tree in the format of GET
// /_api/replication/revisions/tree (MerkleTree::serialize): attributes in
// arangod's order, all 8^depth bottom-level buckets as {"count":c,"hash":h}.
// With onlyPopulated, empty buckets are written as {} (the array keeps its
// 8^depth entries, which is what readers that only know "{}" expect).
func (t *Tree) AppendJSON(dst []byte, onlyPopulated bool) []byte {
	dst = append(dst, `{"version":`...)
	dst = strconv.AppendUint(dst, CurrentVersion, 10)
	dst = append(dst, `,"maxDepth":`...)
	dst = strconv.AppendInt(dst, int64(t.depth), 10)
	dst = append(dst, `,"rangeMax":"`...)
	dst = AppendHLC(dst, t.rangeMax)
	dst = append(dst, `","rangeMin":"`...)
	dst = AppendHLC(dst, t.rangeMin)
	dst = append(dst, `","initialRangeMin":"`...)
	dst = AppendHLC(dst, t.initialRangeMin)
	dst = append(dst, `","count":`...)
	dst = strconv.AppendUint(dst, t.summary.Count, 10)
	dst = append(dst, `,"hash":`...)
	dst = strconv.AppendUint(dst, t.summary.Hash, 10)
	dst = append(dst, `,"nodes":[`...)
	n := NodeCount(t.depth)
	for i := uint64(0); i < n; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		nd := t.Node(i)
		if onlyPopulated && nd == (Node{}) {
			dst = append(dst, "{}"...)
			continue
		}
		dst = append(dst, `{"count":`...)
		dst = strconv.AppendUint(dst, nd.Count, 10)
		dst = append(dst, `,"hash":`...)
		dst = strconv.AppendUint(dst, nd.Hash, 10)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// MarshalJSON writes the full form (every bucket with count and hash).
func (t *Tree) MarshalJSON() ([]byte, error) { return t.AppendJSON(nil, false), nil }

// UnmarshalJSON parses with Parse and replaces t.
func (t *Tree) UnmarshalJSON(data []byte) error {
	p, err := Parse(data)
	if err != nil {
		return err
	}
	*t = *p
	return nil
}

type wireNode struct {
	Count json.RawMessage `json:"count"`
	Hash  json.RawMessage `json:"hash"`
	Skip  json.RawMessage `json:"skip"`
}

type wireTree struct {
	Version         json.RawMessage `json:"version"`
	MaxDepth        json.RawMessage `json:"maxDepth"`
	RangeMax        json.RawMessage `json:"rangeMax"`
	RangeMin        json.RawMessage `json:"rangeMin"`
	InitialRangeMin json.RawMessage `json:"initialRangeMin"`
	Count           json.RawMessage `json:"count"`
	Hash            json.RawMessage `json:"hash"`
	Nodes           json.RawMessage `json:"nodes"`
}

// Parse reads a tree in the JSON format of GET
// /_api/replication/revisions/tree, accepting what arangod's
// MerkleTree::deserialize accepts: version 1; maxDepth, count, hash and the
// bucket values as unsigned integers; rangeMin, rangeMax, initialRangeMin as
// HLC strings; at most 8^maxDepth nodes, each {"count":c,"hash":h}, {} (empty
// bucket) or {"skip":n} (n empty buckets); missing trailing buckets are empty.
// The summary count and hash must equal the sum of the counts and the XOR of
// the hashes. Every error matches ErrMalformed.
func Parse(data []byte) (*Tree, error) {
	if t, ok, err := parseFast(data); ok {
		return t, err
	}
	return parseSlow(data)
}

// parseSlow parses with encoding/json throughout.
func parseSlow(data []byte) (*Tree, error) {
	t, nodes, err := parseHeader(data)
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 || isNull(nodes) {
		return nil, malformed("nodes", "missing")
	}
	if err := parseNodesSlow(nodes, t, NodeCount(t.depth)); err != nil {
		return nil, err
	}
	if err := t.checkSummary(); err != nil {
		return nil, err
	}
	return t, nil
}

// parseHeader reads and validates everything but the buckets: it returns
// the empty tree with the summary as given, and the raw nodes value.
func parseHeader(data []byte) (*Tree, json.RawMessage, error) {
	var w wireTree
	if err := strictUnmarshal(data, &w); err != nil {
		return nil, nil, malformed("document", "%v", err)
	}
	version, err := uintField("version", w.Version)
	if err != nil {
		return nil, nil, err
	}
	if version != CurrentVersion {
		return nil, nil, malformed("version", "got %d, only version %d is known", version, CurrentVersion)
	}
	depth, err := uintField("maxDepth", w.MaxDepth)
	if err != nil {
		return nil, nil, err
	}
	if depth < MinDepth || depth > MaxDepth {
		return nil, nil, malformed("maxDepth", "%d is outside %d..%d", depth, MinDepth, MaxDepth)
	}
	rangeMax, err := hlcField("rangeMax", w.RangeMax)
	if err != nil {
		return nil, nil, err
	}
	rangeMin, err := hlcField("rangeMin", w.RangeMin)
	if err != nil {
		return nil, nil, err
	}
	initialRangeMin, err := hlcField("initialRangeMin", w.InitialRangeMin)
	if err != nil {
		return nil, nil, err
	}
	count, err := uintField("count", w.Count)
	if err != nil {
		return nil, nil, err
	}
	hash, err := uintField("hash", w.Hash)
	if err != nil {
		return nil, nil, err
	}
	t, err := NewWithRange(int(depth), rangeMin, rangeMax, initialRangeMin)
	if err != nil {
		return nil, nil, err
	}
	t.summary = Node{Count: count, Hash: hash}
	return t, w.Nodes, nil
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// uintField parses a JSON number that must be a non-negative integer fitting
// 64 bits, written without fraction or exponent (arangod writes uint64 values
// as plain integers).
func uintField(field string, raw json.RawMessage) (uint64, error) {
	if raw == nil {
		return 0, malformed(field, "missing")
	}
	s := string(bytes.TrimSpace(raw))
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, malformed(field, "want an unsigned integer, got %.40s", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, malformed(field, "want an unsigned 64-bit integer, got %.40s", s)
	}
	return v, nil
}

func hlcField(field string, raw json.RawMessage) (uint64, error) {
	if raw == nil {
		return 0, malformed(field, "missing")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, malformed(field, "want an HLC-encoded string, got %.40s", string(raw))
	}
	v, err := DecodeHLC(s)
	if err != nil {
		return 0, &FormatError{Field: field, Reason: err.Error()}
	}
	return v, nil
}

// parseNodesSlow reads the nodes array with encoding/json.
func parseNodesSlow(raw json.RawMessage, t *Tree, n uint64) error {
	var nodes []wireNode
	if err := json.Unmarshal(raw, &nodes); err != nil {
		return malformed("nodes", "not an array of objects: %v", err)
	}
	if uint64(len(nodes)) > n {
		return malformed("nodes", "%d entries, a tree of depth %d has %d buckets", len(nodes), t.depth, n)
	}
	index := uint64(0)
	for k, wn := range nodes {
		field := fmt.Sprintf("nodes[%d]", k)
		if wn.Skip != nil {
			skip, err := uintField(field+".skip", wn.Skip)
			if err != nil {
				return err
			}
			if skip > n-index {
				return malformed(field+".skip", "skipping %d buckets from %d passes the %d buckets", skip, index, n)
			}
			index += skip
			continue
		}
		if index >= n {
			return malformed(field, "bucket %d does not exist in a tree of depth %d", index, t.depth)
		}
		if wn.Count != nil || wn.Hash != nil {
			c, err := uintField(field+".count", wn.Count)
			if err != nil {
				return err
			}
			h, err := uintField(field+".hash", wn.Hash)
			if err != nil {
				return err
			}
			if c != 0 || h != 0 {
				*t.node(index) = Node{Count: c, Hash: h}
			}
		}
		index++
	}
	return nil
}

// parseFast handles the form arangod writes (and AppendJSON writes): a
// nodes array of {"count":c,"hash":h} and {} objects with plain integers.
// It finds the array, scans it with a strict hand-written scanner, replaces
// it with [] and lets parseSlow read the rest. ok=false means "use
// parseSlow for the whole document" (unusual forms, skip nodes, escapes,
// duplicate keys); it never accepts a document parseSlow would refuse.
func parseFast(data []byte) (*Tree, bool, error) {
	start, ok := nodesStart(data)
	if !ok {
		return nil, false, nil
	}
	entries, total, end, ok := scanNodes(data, start)
	if !ok {
		return nil, false, nil
	}
	rest := make([]byte, 0, start+2+len(data)-end)
	rest = append(append(append(rest, data[:start]...), "[]"...), data[end:]...)
	t, nodes, err := parseHeader(rest)
	if err != nil {
		return nil, false, nil //nolint:nilerr // ok=false: parseSlow re-reads the document and reports this error exactly
	}
	if string(bytes.TrimSpace(nodes)) != "[]" {
		return nil, false, nil // a second "nodes" key won
	}
	n := NodeCount(t.depth)
	if total > n {
		return nil, true, malformed("nodes", "%d entries, a tree of depth %d has %d buckets", total, t.depth, n)
	}
	for _, e := range entries {
		*t.node(e.index) = e.node
	}
	if err := t.checkSummary(); err != nil {
		return nil, true, err
	}
	return t, true, nil
}

type indexedNode struct {
	index uint64
	node  Node
}

// nodesStart returns the offset of the value of the top-level "nodes" key.
func nodesStart(data []byte) (int, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return 0, false
		}
		key, ok := tok.(string)
		if !ok {
			return 0, false
		}
		if key == "nodes" {
			i := skipSpace(data, int(dec.InputOffset()))
			if i >= len(data) || data[i] != ':' {
				return 0, false
			}
			i = skipSpace(data, i+1)
			if i >= len(data) || data[i] != '[' {
				return 0, false
			}
			return i, true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return 0, false
		}
	}
	return 0, false
}

// scanNodes strictly scans a nodes array of {} and {"count":c,"hash":h}
// objects (in either key order, integers without sign, fraction or
// exponent) starting at data[i] == '['. It returns the non-empty buckets,
// the number of entries and the offset after ']'; ok=false for anything else.
func scanNodes(data []byte, i int) (entries []indexedNode, total uint64, end int, ok bool) {
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return nil, 0, i + 1, true
	}
	for {
		if i >= len(data) || data[i] != '{' {
			return nil, 0, 0, false
		}
		i = skipSpace(data, i+1)
		var c, h uint64
		var haveC, haveH bool
		if i < len(data) && data[i] != '}' {
			for {
				var isCount bool
				switch {
				case bytes.HasPrefix(data[i:], []byte(`"count"`)):
					isCount, i = true, i+7
				case bytes.HasPrefix(data[i:], []byte(`"hash"`)):
					i += 6
				default:
					return nil, 0, 0, false
				}
				i = skipSpace(data, i)
				if i >= len(data) || data[i] != ':' {
					return nil, 0, 0, false
				}
				i = skipSpace(data, i+1)
				startNum := i
				for i < len(data) && data[i] >= '0' && data[i] <= '9' {
					i++
				}
				if i == startNum || (i-startNum > 1 && data[startNum] == '0') {
					return nil, 0, 0, false
				}
				v, err := strconv.ParseUint(string(data[startNum:i]), 10, 64)
				if err != nil {
					return nil, 0, 0, false
				}
				if isCount {
					if haveC {
						return nil, 0, 0, false
					}
					c, haveC = v, true
				} else {
					if haveH {
						return nil, 0, 0, false
					}
					h, haveH = v, true
				}
				i = skipSpace(data, i)
				if i < len(data) && data[i] == ',' {
					i = skipSpace(data, i+1)
					continue
				}
				break
			}
		}
		if i >= len(data) || data[i] != '}' || haveC != haveH {
			return nil, 0, 0, false
		}
		if c != 0 || h != 0 {
			entries = append(entries, indexedNode{index: total, node: Node{Count: c, Hash: h}})
		}
		total++
		i = skipSpace(data, i+1)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
			continue
		}
		if i < len(data) && data[i] == ']' {
			return entries, total, i + 1, true
		}
		return nil, 0, 0, false
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// MarshalJSON writes the range as the pair PUT /_api/replication/revisions/ranges
// expects: ["<min HLC>","<max HLC>"]. (arangod refuses a pair whose bounds
// are equal, which only a tree with one-revision buckets can produce.)
func (r Range) MarshalJSON() ([]byte, error) {
	b := append([]byte(`["`), EncodeHLC(r.Min)...)
	b = append(b, `","`...)
	b = append(b, EncodeHLC(r.Max)...)
	return append(b, `"]`...), nil
}

// UnmarshalJSON reads a ["<min HLC>","<max HLC>"] pair.
func (r *Range) UnmarshalJSON(data []byte) error {
	var pair []string
	if err := json.Unmarshal(data, &pair); err != nil || len(pair) != 2 {
		return malformed("range", "want a pair of HLC strings, got %.60s", string(data))
	}
	lo, err := DecodeHLC(pair[0])
	if err != nil {
		return &FormatError{Field: "range", Reason: err.Error()}
	}
	hi, err := DecodeHLC(pair[1])
	if err != nil {
		return &FormatError{Field: "range", Reason: err.Error()}
	}
	if lo > hi {
		return malformed("range", "min %s is above max %s", pair[0], pair[1])
	}
	*r = Range{Min: lo, Max: hi}
	return nil
}
