package events

import (
	"encoding/json"
	"strconv"
	"time"
)

// DebugJSON renders a batch as indented JSON for people (kcat dumps, the
// `dc2dc events decode` command, logs). It is not a wire format.
func (b *Batch) DebugJSON() ([]byte, error) {
	type rec struct {
		Kind  string `json:"kind"`
		Type  int    `json:"type"`
		Tick  string `json:"tick,omitempty"`
		Event Event  `json:"event"`
	}
	out := struct {
		Sync       string    `json:"sync"`
		Shard      string    `json:"shard"`
		Collection string    `json:"collection,omitempty"`
		Leader     string    `json:"leader,omitempty"`
		Position   string    `json:"position"`
		FirstTick  string    `json:"firstTick"`
		SentAt     time.Time `json:"sentAt"`
		Records    []rec     `json:"records"`
	}{b.Sync, b.Shard.String(), b.Collection, b.Leader, b.Pos.String(), strconv.FormatUint(b.FirstTick, 10), b.SentAt, nil}
	for _, r := range b.Records {
		x := rec{Kind: r.Event.Kind().String(), Type: int(r.Event.Kind()), Event: r.Event}
		if r.Tick != 0 {
			x.Tick = strconv.FormatUint(r.Tick, 10)
		}
		out.Records = append(out.Records, x)
	}
	return json.MarshalIndent(out, "", "  ")
}
