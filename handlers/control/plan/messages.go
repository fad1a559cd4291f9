package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// Control types of the messages between the two leaders (package doc).
const (
	// TypeSyncState: B → A on ctl.down, every StateInterval.
	TypeSyncState = "sync-state"
	// TypeInventory: A → B on ctl.up, on change and every InventoryInterval.
	TypeInventory = "inventory"
	// TypeCheckRequest: B → A on ctl.down, repeated until answered.
	TypeCheckRequest = "check-request"
	// TypeCheckResult: A → B on ctl.up.
	TypeCheckResult = "check-result"
)

// MetaShard is the shard ref of every leader message (the _system
// database's meta stream: it belongs to no shard).
var MetaShard = events.ShardRef{Database: "_system"}

// maxListLen bounds every list of a decoded message (garbage protection).
const maxListLen = 1 << 20

// Message is one decoded leader message: the envelope and exactly one of
// the payloads (the one of Type).
type Message struct {
	Type string
	Sync string
	// Epoch is the sender's leader epoch; From its datacenter (or master
	// id when the datacenter has no name).
	Epoch  uint64
	From   string
	SentAt time.Time

	SyncState    *SyncState
	Inventory    *Inventory
	CheckRequest *CheckRequest
	CheckResult  *CheckResult
}

// Stamp orders the messages of one sender: leader epoch, then sequence.
type Stamp struct {
	Epoch uint64 `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

// Less reports whether s comes strictly before o.
func (s Stamp) Less(o Stamp) bool {
	if s.Epoch != o.Epoch {
		return s.Epoch < o.Epoch
	}
	return s.Seq < o.Seq
}

// SyncState is B's view of a target sync (TypeSyncState).
type SyncState struct {
	// Seq increases with every message of the sender's leadership.
	Seq uint64 `json:"seq"`
	// SourceDC is the datacenter B follows ("" = any); a source leader of
	// another name ignores the message.
	SourceDC    string `json:"sourceDC,omitempty"`
	TargetDC    string `json:"targetDC,omitempty"`
	Incarnation string `json:"incarnation,omitempty"`
	State       State  `json:"state"`
	// DataPartitions of the data topic (A creates it with this count).
	DataPartitions       int       `json:"dataPartitions"`
	MessageTimeoutMillis int64     `json:"messageTimeoutMillis,omitempty"`
	EnsureInSync         bool      `json:"ensureInSync,omitempty"`
	StopDeadline         time.Time `json:"stopDeadline,omitzero"`
	// Ready lists A's collections ("db/planId") whose structure exists in
	// B: A runs send tasks for exactly these.
	Ready []string `json:"ready"`
	// Shards are the receive side's reports (for A's status).
	Shards []ShardReport `json:"shards,omitempty"`
	// Resets are recent reset-failed-shard requests (repeated for a while;
	// A applies each id once per leadership).
	Resets []ShardReset `json:"resets,omitempty"`
}

// ShardReset asks A to start a shard over with a new task (new stream epoch).
type ShardReset struct {
	ID    string    `json:"id"`
	Shard string    `json:"shard"`
	At    time.Time `json:"at"`
}

// Inventory is A's structure and per-shard source status (TypeInventory).
type Inventory struct {
	Seq uint64 `json:"seq"`
	// Hash of Databases: B re-applies the structure when it changes.
	Hash      string        `json:"hash"`
	State     State         `json:"state"`
	Databases []InvDatabase `json:"databases"`
	// Users is _system/_users when A replicates users (Config.ReplicateUsers).
	Users   *InvCollection `json:"users,omitempty"`
	Sources []SourceReport `json:"sources,omitempty"`
	// Stop is A's side of a stop with ensure-in-sync.
	Stop *StopProgress `json:"stop,omitempty"`
}

// InvDatabase is one database of A (not _system).
type InvDatabase struct {
	Name string `json:"name"`
	// Options are A's database properties (absent from older senders:
	// B then creates the database with its defaults).
	Options     *InvDatabaseOptions `json:"options,omitempty"`
	Collections []InvCollection     `json:"collections"`
	Analyzers   []json.RawMessage   `json:"analyzers,omitempty"`
	Views       []json.RawMessage   `json:"views,omitempty"`
}

// InvDatabaseOptions are the properties a database is created with (GET
// /_api/database/current of A).
type InvDatabaseOptions struct {
	Sharding          string `json:"sharding,omitempty"`
	ReplicationFactor int    `json:"replicationFactor,omitempty"`
	WriteConcern      int    `json:"writeConcern,omitempty"`
}

// target is B's CreateDatabase options (zero: B's defaults).
func (o *InvDatabaseOptions) target() target.DatabaseOptions {
	if o == nil {
		return target.DatabaseOptions{}
	}
	return target.DatabaseOptions{Sharding: o.Sharding, ReplicationFactor: o.ReplicationFactor, WriteConcern: o.WriteConcern}
}

// InvCollection is one collection of A with its definition as A's
// inventory gives it (parameters and indexes verbatim) and its shards.
type InvCollection struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Parameters json.RawMessage `json:"parameters"`
	Indexes    json.RawMessage `json:"indexes,omitempty"`
	Shards     []InvShard      `json:"shards"`
}

// InvShard is one shard of A.
type InvShard struct {
	Index  int    `json:"index"`
	Name   string `json:"name"`
	Leader string `json:"leader,omitempty"`
}

// SourceReport is one send task's state as A's leader knows it.
type SourceReport struct {
	Shard      string `json:"shard"`
	Collection string `json:"collection,omitempty"`
	SourceShard
}

// StopProgress is A's answer to a stop with ensure-in-sync.
type StopProgress struct {
	// ReadOnly: A is read-only now.
	ReadOnly bool `json:"readOnly"`
	// Drained: every send task acknowledged everything A wrote before it
	// became read-only; Final holds each shard's last position.
	Drained bool                       `json:"drained"`
	Final   map[string]events.Position `json:"final,omitempty"`
	// Shards: each shard's count and root hash once read-only (drained):
	// B stops when its partner shards hold exactly these.
	Shards []SourceCheck `json:"shards,omitempty"`
	Error  string        `json:"error,omitempty"`
}

// CheckRequest asks A for its per-shard counts and hashes.
type CheckRequest struct {
	ID string `json:"id"`
}

// CheckResult is A's answer to a CheckRequest.
type CheckResult struct {
	ID     string        `json:"id"`
	Shards []SourceCheck `json:"shards"`
	Error  string        `json:"error,omitempty"`
}

// SourceCheck is one shard of A at the check: count and root hash of its
// revision tree, and where its send task stood (B compares once it applied
// at least Acked).
type SourceCheck struct {
	Shard      string          `json:"shard"`
	Collection string          `json:"collection"` // db/name
	Count      uint64          `json:"count"`
	Hash       uint64          `json:"hash"`
	Acked      events.Position `json:"acked"`
	LeaderTick uint64          `json:"leaderTick,omitempty"`
	Error      string          `json:"error,omitempty"`
}

// Encode builds the Kafka message of m (a batch of MetaShard with one
// control record).
func Encode(m Message) (*message.Message, error) {
	var payload any
	switch m.Type {
	case TypeSyncState:
		payload = m.SyncState
	case TypeInventory:
		payload = m.Inventory
	case TypeCheckRequest:
		payload = m.CheckRequest
	case TypeCheckResult:
		payload = m.CheckResult
	default:
		return nil, fmt.Errorf("plan: cannot encode message type %q", m.Type)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("plan: encoding %s: %w", m.Type, err)
	}
	sent := m.SentAt
	if sent.IsZero() {
		sent = time.Now().UTC()
	}
	b := &events.Batch{Sync: m.Sync, Shard: MetaShard, SentAt: sent,
		Records: []events.Record{{Event: &events.Control{Type: m.Type, LeaderEpoch: m.Epoch, From: m.From, Payload: body}}}}
	raw, err := events.Encode(b)
	if err != nil {
		return nil, err
	}
	msg := message.NewMessage(watermill.NewUUID(), raw)
	for k, v := range b.Metadata() {
		msg.Metadata.Set(k, v)
	}
	return msg, nil
}

// ErrForeign: a well-formed dc2dc message that is not a leader message
// (another control type on the same topic): skip it silently.
var ErrForeign = errors.New("plan: not a leader message")

// Decode parses a leader message and rejects anything else: not a dc2dc
// batch, not exactly one control record of MetaShard, an invalid sync id,
// epoch 0, a payload that is not the type's JSON object or fails its
// checks. Other control types are ErrForeign.
func Decode(payload []byte) (Message, error) {
	b, err := events.Decode(payload)
	if err != nil {
		return Message{}, fmt.Errorf("plan: %w", err)
	}
	if len(b.Records) != 1 {
		return Message{}, fmt.Errorf("plan: a leader message has one record, not %d", len(b.Records))
	}
	c, ok := b.Records[0].Event.(*events.Control)
	if !ok {
		return Message{}, fmt.Errorf("plan: record of kind %v is not a control record", b.Records[0].Event.Kind())
	}
	m := Message{Type: c.Type, Sync: b.Sync, Epoch: c.LeaderEpoch, From: c.From, SentAt: b.SentAt}
	var target any
	var check func() error
	switch c.Type {
	case TypeSyncState:
		m.SyncState = &SyncState{}
		target, check = m.SyncState, m.SyncState.validate
	case TypeInventory:
		m.Inventory = &Inventory{}
		target, check = m.Inventory, m.Inventory.validate
	case TypeCheckRequest:
		m.CheckRequest = &CheckRequest{}
		target, check = m.CheckRequest, func() error { return validID(m.CheckRequest.ID) }
	case TypeCheckResult:
		m.CheckResult = &CheckResult{}
		target, check = m.CheckResult, m.CheckResult.validate
	default:
		return Message{}, fmt.Errorf("%w: control type %q", ErrForeign, c.Type)
	}
	if b.Shard != MetaShard {
		return Message{}, fmt.Errorf("plan: %s message of shard %s: leader messages belong to %s", c.Type, b.Shard, MetaShard)
	}
	var errs []error
	if err := kafka.ValidateSyncID(b.Sync); err != nil {
		errs = append(errs, err)
	}
	if c.LeaderEpoch == 0 {
		errs = append(errs, errors.New("leader epoch 0"))
	}
	if len(c.Payload) == 0 || c.Payload[0] != '{' {
		errs = append(errs, errors.New("payload is not a JSON object"))
	} else if err := json.Unmarshal(c.Payload, target); err != nil {
		errs = append(errs, err)
	} else if err := check(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Message{}, fmt.Errorf("plan: invalid %s message: %w", c.Type, err)
	}
	return m, nil
}

func validID(id string) error {
	if id == "" || len(id) > 200 || strings.ContainsAny(id, "\x00\n") {
		return fmt.Errorf("request id %q: 1 to 200 printable characters", id)
	}
	return nil
}

// validCollectionKey checks "db/planId".
func validCollectionKey(k string) error {
	db, id, ok := strings.Cut(k, "/")
	if !ok || db == "" || id == "" || strings.Contains(id, "/") {
		return fmt.Errorf("collection %q is not database/planId", k)
	}
	return nil
}

func (s *SyncState) validate() error {
	var errs []error
	switch s.State {
	case StateRunning, StateStopping, StateStopped, StateAborted:
	default:
		errs = append(errs, fmt.Errorf("state %q is unknown", s.State))
	}
	if s.DataPartitions < 1 || s.DataPartitions > 100000 {
		errs = append(errs, fmt.Errorf("data partitions %d: 1 to 100000", s.DataPartitions))
	}
	if s.MessageTimeoutMillis < 0 {
		errs = append(errs, errors.New("negative message timeout"))
	}
	if len(s.Ready) > maxListLen || len(s.Shards) > maxListLen || len(s.Resets) > maxListLen {
		errs = append(errs, errors.New("list too long"))
	}
	for _, r := range s.Ready {
		if err := validCollectionKey(r); err != nil {
			errs = append(errs, err)
			break
		}
	}
	for _, r := range s.Resets {
		if err := validID(r.ID); err != nil {
			errs = append(errs, err)
			break
		}
		if _, err := events.ParseShardRef(r.Shard); err != nil {
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}

func (inv *Inventory) validate() error {
	var errs []error
	switch inv.State {
	case StateRunning, StateStopping, StateStopped, StateAborted:
	default:
		errs = append(errs, fmt.Errorf("state %q is unknown", inv.State))
	}
	if len(inv.Databases) > maxListLen || len(inv.Sources) > maxListLen {
		errs = append(errs, errors.New("list too long"))
	}
	if inv.Stop != nil {
		for _, sc := range inv.Stop.Shards {
			if _, err := events.ParseShardRef(sc.Shard); err != nil {
				errs = append(errs, err)
				break
			}
			if _, _, ok := strings.Cut(sc.Collection, "/"); !ok {
				errs = append(errs, fmt.Errorf("stop: collection %q is not database/name", sc.Collection))
				break
			}
		}
	}
	if u := inv.Users; u != nil && (u.ID == "" || strings.Contains(u.ID, "/") || len(u.Shards) == 0) {
		errs = append(errs, fmt.Errorf("users collection (id %q, %d shards): no id or shards", u.ID, len(u.Shards)))
	}
	seen := map[string]bool{}
	for _, d := range inv.Databases {
		if d.Name == "" || strings.Contains(d.Name, "/") || seen[d.Name] {
			errs = append(errs, fmt.Errorf("database name %q empty, with '/' or repeated", d.Name))
			continue
		}
		seen[d.Name] = true
		for _, c := range d.Collections {
			if c.ID == "" || c.Name == "" || strings.Contains(c.ID, "/") {
				errs = append(errs, fmt.Errorf("collection %s/%q (id %q): empty name or id, or '/' in the id", d.Name, c.Name, c.ID))
				continue
			}
			if len(c.Parameters) == 0 || c.Parameters[0] != '{' {
				errs = append(errs, fmt.Errorf("collection %s/%s: parameters are not a JSON object", d.Name, c.Name))
			}
			for i, s := range c.Shards {
				if s.Index != i || s.Name == "" {
					errs = append(errs, fmt.Errorf("collection %s/%s: shard %d is %d %q", d.Name, c.Name, i, s.Index, s.Name))
					break
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (r *CheckResult) validate() error {
	var errs []error
	if err := validID(r.ID); err != nil {
		errs = append(errs, err)
	}
	if len(r.Shards) > maxListLen {
		errs = append(errs, errors.New("list too long"))
	}
	for _, s := range r.Shards {
		if _, err := events.ParseShardRef(s.Shard); err != nil {
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}
