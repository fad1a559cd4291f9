package arangosim

import (
	"encoding/json"
	"strconv"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// primaryIndex is the implicit primary index every collection lists first.
func primaryIndex() *Index {
	return &Index{ID: 0, Type: "primary", Name: "primary", Fields: []string{"_key"}, Unique: true,
		Def: []field{{"fields", []byte(`["_key"]`)}, {"selectivityEstimate", []byte("1")}, {"sparse", []byte("false")},
			{"type", quoteJSON("primary")}, {"unique", []byte("true")}}}
}

// edgeIndex is the implicit edge index of edge collections.
func edgeIndex(id uint64) *Index {
	_ = id
	return &Index{ID: 2, Type: "edge", Name: "edge", Fields: []string{"_from", "_to"},
		Def: []field{{"fields", []byte(`["_from","_to"]`)}, {"selectivityEstimate", []byte("1")}, {"sparse", []byte("false")},
			{"type", quoteJSON("edge")}, {"unique", []byte("false")}}}
}

// indexID is "<collection>/<id>" as the index API prints it.
func indexID(col *Collection, ix *Index) string {
	return col.Name + "/" + strconv.FormatUint(ix.ID, 10)
}
