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
	var w wireTree
	if err := strictUnmarshal(data, &w); err != nil {
		return nil, malformed("document", "%v", err)
	}
	version, err := uintField("version", w.Version)
	if err != nil {
		return nil, err
	}
	if version != CurrentVersion {
		return nil, malformed("version", "got %d, only version %d is known", version, CurrentVersion)
	}
	depth, err := uintField("maxDepth", w.MaxDepth)
	if err != nil {
		return nil, err
	}
	if depth < MinDepth || depth > MaxDepth {
		return nil, malformed("maxDepth", "%d is outside %d..%d", depth, MinDepth, MaxDepth)
	}
	rangeMax, err := hlcField("rangeMax", w.RangeMax)
	if err != nil {
		return nil, err
	}
	rangeMin, err := hlcField("rangeMin", w.RangeMin)
	if err != nil {
		return nil, err
	}
	initialRangeMin, err := hlcField("initialRangeMin", w.InitialRangeMin)
	if err != nil {
		return nil, err
	}
	count, err := uintField("count", w.Count)
	if err != nil {
		return nil, err
	}
	hash, err := uintField("hash", w.Hash)
	if err != nil {
		return nil, err
	}
	t, err := NewWithRange(int(depth), rangeMin, rangeMax, initialRangeMin)
	if err != nil {
		return nil, err
	}
	if len(w.Nodes) == 0 || isNull(w.Nodes) {
		return nil, malformed("nodes", "missing")
	}
	var nodes []wireNode
	if err := json.Unmarshal(w.Nodes, &nodes); err != nil {
		return nil, malformed("nodes", "not an array of objects: %v", err)
	}
	n := NodeCount(int(depth))
	if uint64(len(nodes)) > n {
		return nil, malformed("nodes", "%d entries, a tree of depth %d has %d buckets", len(nodes), depth, n)
	}
	index := uint64(0)
	for k, wn := range nodes {
		field := fmt.Sprintf("nodes[%d]", k)
		if wn.Skip != nil {
			skip, err := uintField(field+".skip", wn.Skip)
			if err != nil {
				return nil, err
			}
			if skip > n-index {
				return nil, malformed(field+".skip", "skipping %d buckets from %d passes the %d buckets", skip, index, n)
			}
			index += skip
			continue
		}
		if index >= n {
			return nil, malformed(field, "bucket %d does not exist in a tree of depth %d", index, depth)
		}
		if wn.Count != nil || wn.Hash != nil {
			c, err := uintField(field+".count", wn.Count)
			if err != nil {
				return nil, err
			}
			h, err := uintField(field+".hash", wn.Hash)
			if err != nil {
				return nil, err
			}
			if c != 0 || h != 0 {
				*t.node(index) = Node{Count: c, Hash: h}
			}
		}
		index++
	}
	t.summary = Node{Count: count, Hash: hash}
	if err := t.checkSummary(); err != nil {
		return nil, err
	}
	return t, nil
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
