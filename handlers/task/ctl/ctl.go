package ctl

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
)

// Control types of the shard-level resync.
const (
	TypeTreeRequest      = "tree-request"
	TypeTree             = "tree"
	TypeRevisionsRequest = "revisions-request"
	TypeRevisions        = "revisions"
	TypeResyncRequest    = "resync-request"
)

// Request asks B for its tree (TypeTreeRequest) or its revisions in Ranges
// (TypeRevisionsRequest) of the partner shard of Shard.
type Request struct {
	ID     string          `json:"id"`
	Shard  string          `json:"shard"`
	Epoch  uint64          `json:"epoch"`
	Ranges []revtree.Range `json:"ranges,omitempty"`
}

// Answer is B's answer to a Request.
type Answer struct {
	ID        string          `json:"id"`
	Shard     string          `json:"shard"`
	Epoch     uint64          `json:"epoch"`
	Tree      json.RawMessage `json:"tree,omitempty"`      // revtree JSON (TypeTree)
	Revisions []events.KeyRev `json:"revisions,omitempty"` // ascending by revision (TypeRevisions)
	Error     string          `json:"error,omitempty"`     // B could not answer
}

// Resync asks the sender of Shard for a new epoch: B cannot continue epoch
// Epoch (truncate, gap, transaction too large).
type Resync struct {
	Shard  string `json:"shard"`
	Epoch  uint64 `json:"epoch"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// NewID returns a random request id.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Record returns the control record carrying payload.
func Record(typ, from string, payload any) (events.Record, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return events.Record{}, fmt.Errorf("ctl: encoding %s: %w", typ, err)
	}
	return events.Record{Event: &events.Control{Type: typ, From: from, Payload: body}}, nil
}

// Message returns a ctl topic message of the shard: a batch with one
// control record, keyed by the shard.
func Message(sync string, shard events.ShardRef, epoch uint64, typ, from string, payload any) (*message.Message, error) {
	rec, err := Record(typ, from, payload)
	if err != nil {
		return nil, err
	}
	b := &events.Batch{Sync: sync, Shard: shard, Pos: events.Position{Epoch: epoch}, Prev: events.Position{Epoch: epoch},
		SentAt: time.Now().UTC(), Records: []events.Record{rec}}
	payloadBytes, err := events.Encode(b)
	if err != nil {
		return nil, err
	}
	msg := message.NewMessage(watermill.NewUUID(), payloadBytes)
	for k, v := range b.Metadata() {
		msg.Metadata.Set(k, v)
	}
	return msg, nil
}

// Controls returns the control records of a batch.
func Controls(b *events.Batch) []*events.Control {
	var out []*events.Control
	for _, r := range b.Records {
		if c, ok := r.Event.(*events.Control); ok {
			out = append(out, c)
		}
	}
	return out
}

// Decode parses a control record's payload into v.
func Decode(c *events.Control, v any) error {
	if err := json.Unmarshal(c.Payload, v); err != nil {
		return fmt.Errorf("ctl: %s payload: %w", c.Type, err)
	}
	return nil
}

// ErrTimeout: the answer did not come in time.
var ErrTimeout = errors.New("no answer from cluster B in time")
