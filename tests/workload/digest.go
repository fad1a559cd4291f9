package workload

import (
	"encoding/json"
	"errors"
	"hash/maphash"
	"slices"
	"strconv"
)

// digest is what Verify keeps of one document: enough to tell lost, extra,
// mismatched and duplicated effects apart without holding the document.
type digest struct {
	rev     string
	ver     int64  // FieldVersion, 0 when absent
	content uint64 // hash of every attribute but _rev and _id, in attribute-name order
	balance int64  // FieldBalance, 0 when absent
}

var errNoKey = errors.New("document without a string _key")

// parseDoc reads one dumped document. The content hash does not depend on the
// order of the top-level attributes (a replica may write them in another order);
// values are hashed as the bytes the server rendered.
func parseDoc(seed maphash.Seed, doc []byte) (string, digest, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return "", digest{}, err
	}
	var key string
	if raw, ok := m["_key"]; !ok || json.Unmarshal(raw, &key) != nil || key == "" {
		return "", digest{}, errNoKey
	}
	var d digest
	if raw, ok := m["_rev"]; ok {
		_ = json.Unmarshal(raw, &d.rev)
	}
	d.ver = jsonInt(m[FieldVersion])
	d.balance = jsonInt(m[FieldBalance])
	names := make([]string, 0, len(m))
	for k := range m {
		if k != "_rev" && k != "_id" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var h maphash.Hash
	h.SetSeed(seed)
	for _, k := range names {
		h.WriteString(k)
		h.WriteByte(0)
		h.Write(m[k])
		h.WriteByte(0)
	}
	d.content = h.Sum64()
	return key, d, nil
}

// jsonInt reads an integer JSON number (or a float with an integral value); 0 otherwise.
func jsonInt(raw json.RawMessage) int64 {
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
