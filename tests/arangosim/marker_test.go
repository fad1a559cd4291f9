package arangosim

import (
	"encoding/json"
	"strconv"
	"testing"
)

// TestMarkerRendering: every marker's Len is its JSON's length, and a document
// marker's object starts with its own tick (the head after it is shared).
func TestMarkerRendering(t *testing.T) {
	c := startSim(t, Config{})
	db, _ := c.Database("_system")
	col, err := c.CreateCollection(db, CollectionSpec{Name: "m", NumberOfShards: 2, ReplicationFactor: 2})
	if err != nil {
		t.Fatal(err)
	}
	o := writeOptions{IgnoreRevs: true, KeepNull: true, MergeObjects: true}
	var ops []*docOp
	for i := range 10 {
		ops = append(ops, col.parseDocOp(opInsert, []byte(`{"_key":"k`+strconv.Itoa(i)+`","v":`+strconv.Itoa(i)+`}`), "", o))
	}
	col.prepare(c, ops, o)
	c.execute(col, ops, o)
	rm := []*docOp{{kind: opRemove, key: "k1"}, {kind: opRemove, key: "k2"}}
	col.prepare(c, rm, o)
	c.execute(col, rm, o)
	kinds := map[int]int{}
	for _, s := range c.DBServers() {
		ms, _, _ := s.WAL().since(0)
		for _, m := range ms {
			js := m.JSON()
			if len(js) != m.Len() {
				t.Fatalf("marker %d: Len %d, JSON %d bytes: %s", m.Tick, m.Len(), len(js), js)
			}
			var v struct {
				Tick string          `json:"tick"`
				Type int             `json:"type"`
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(js, &v); err != nil || v.Tick != strconv.FormatUint(m.Tick, 10) || v.Type != m.Type {
				t.Fatalf("marker %d: %s (%v)", m.Tick, js, err)
			}
			kinds[m.Type]++
		}
	}
	if kinds[MarkerDocument] < 20 || kinds[MarkerRemove] != 4 {
		t.Fatalf("markers by type %v: want 20 documents of m (and those of the system collections) and 4 removals", kinds)
	}
}
