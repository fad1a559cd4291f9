package plan

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// SyncsKey is the fenced record (package state) in the local _dc2dc that
// lists this datacenter's syncs, in both roles: a []Sync.
const SyncsKey = "syncs"

// DefaultMessageTimeout: a shard stream silent this long (no batches, no
// heartbeats) is resynchronised when it resumes (arangosync's default).
const DefaultMessageTimeout = time.Hour

// DefaultDataPartitions of the data topic (fixed once created).
const DefaultDataPartitions = 24

// Role of this datacenter in a sync.
type Role string

// Roles.
const (
	// RoleTarget: this datacenter follows the other one (cluster B).
	RoleTarget Role = "target"
	// RoleSource: another datacenter follows this one (cluster A).
	RoleSource Role = "source"
)

// State of a sync.
type State string

// States.
const (
	// StateRunning: configured and replicating (initial sync or tailing).
	StateRunning State = "running"
	// StateStopping: `stop sync` in progress (with ensure-in-sync: the
	// source is read-only until every shard is in sync).
	StateStopping State = "stopping"
	// StateStopped: cleanly stopped; the target holds the source's data as
	// of the barrier (ensure-in-sync) or as of the stop.
	StateStopped State = "stopped"
	// StateAborted: `abort sync` (target) or `abort outgoing sync`
	// (source): tasks removed at once, nothing drained.
	StateAborted State = "aborted"
)

// Active reports whether tasks of the sync must run.
func (s State) Active() bool { return s == StateRunning || s == StateStopping }

// Sync is one sync as a datacenter's leader master records it.
type Sync struct {
	// ID names the sync and its topics (dc2dc.<id>.data …).
	ID   string `json:"id"`
	Role Role   `json:"role"`
	// Peer names the other datacenter (for people).
	Peer  string `json:"peer,omitempty"`
	State State  `json:"state"`
	// TopicPrefix of the sync's topics ("" = kafka.DefaultTopicPrefix).
	TopicPrefix string `json:"topicPrefix,omitempty"`
	// DataPartitions of the data topic (0 = DefaultDataPartitions).
	DataPartitions int `json:"dataPartitions,omitempty"`
	// MessageTimeoutMillis (0 = DefaultMessageTimeout).
	MessageTimeoutMillis int64 `json:"messageTimeoutMillis,omitempty"`
	// EnsureInSync and StopDeadline describe a stop in progress.
	EnsureInSync bool      `json:"ensureInSync,omitempty"`
	StopDeadline time.Time `json:"stopDeadline,omitzero"`
	// Error is the last problem of the sync as a whole (for people).
	Error string `json:"error,omitempty"`
	// Incarnation is chosen by the target at every `configure sync`; the
	// source copies it and re-activates a stopped or aborted source record
	// only for a new incarnation.
	Incarnation string    `json:"incarnation,omitempty"`
	CreatedAt   time.Time `json:"createdAt,omitzero"`
	UpdatedAt   time.Time `json:"updatedAt,omitzero"`
}

// MessageTimeout with its default.
func (s Sync) MessageTimeout() time.Duration {
	if s.MessageTimeoutMillis <= 0 {
		return DefaultMessageTimeout
	}
	return time.Duration(s.MessageTimeoutMillis) * time.Millisecond
}

// Partitions of the data topic with the default.
func (s Sync) Partitions() int {
	if s.DataPartitions <= 0 {
		return DefaultDataPartitions
	}
	return s.DataPartitions
}

// Topics of the sync.
func (s Sync) Topics() (kafka.Topics, error) { return kafka.TopicsFor(s.TopicPrefix, s.ID) }

// Validate reports every problem of the record at once.
func (s Sync) Validate() error {
	var errs []error
	if _, err := s.Topics(); err != nil {
		errs = append(errs, err)
	}
	if s.Role != RoleTarget && s.Role != RoleSource {
		errs = append(errs, fmt.Errorf("sync %s: role %q: use %s or %s", s.ID, s.Role, RoleTarget, RoleSource))
	}
	switch s.State {
	case StateRunning, StateStopping, StateStopped, StateAborted:
	default:
		errs = append(errs, fmt.Errorf("sync %s: state %q is unknown", s.ID, s.State))
	}
	if s.DataPartitions < 0 || s.MessageTimeoutMillis < 0 {
		errs = append(errs, fmt.Errorf("sync %s: data partitions and message timeout must not be negative", s.ID))
	}
	if strings.TrimSpace(s.Peer) != s.Peer {
		errs = append(errs, errors.New("peer name has surrounding spaces"))
	}
	return errors.Join(errs...)
}

// Assignment tells a worker (heartbeat answer) which syncs of its
// datacenter are active: a worker in the target datacenter runs the
// receive side (a member of the consumer group dc2dc.<sync>.apply) for each
// active target sync; send-shard tasks come as registry tasks.
type Assignment struct {
	Sync                 string `json:"sync"`
	Role                 Role   `json:"role"`
	State                State  `json:"state"`
	TopicPrefix          string `json:"topicPrefix,omitempty"`
	MessageTimeoutMillis int64  `json:"messageTimeoutMillis,omitempty"`
}

// ShardReport is a target worker's report (with its heartbeat) about one
// shard its receive side applied: the receive-shard task of that shard as
// seen from this worker. The master keeps the most recent report per
// (sync, shard).
type ShardReport struct {
	Sync  string `json:"sync"`
	Shard string `json:"shard"` // database/collectionId/index
	// Collection is database/name of the collection in B.
	Collection string          `json:"collection,omitempty"`
	Phase      string          `json:"phase"` // receive phase: snapshot, tailing, resync-requested, ended
	Applied    events.Position `json:"applied"`
	LagSeconds float64         `json:"lagSeconds"`
	LagTicks   uint64          `json:"lagTicks"`
	// LastApplied is when the worker last applied a batch of the shard.
	LastApplied time.Time `json:"lastApplied,omitzero"`
	// The last snapshot: its mode (full, revisions), the documents received
	// and the documents A announced (its count at the snapshot; 0 =
	// unknown). A full snapshot's progress is SnapshotDocs/SnapshotTotal.
	SnapshotMode  string `json:"snapshotMode,omitempty"`
	SnapshotDocs  int64  `json:"snapshotDocs,omitempty"`
	SnapshotTotal int64  `json:"snapshotTotal,omitempty"`
	Error         string `json:"error,omitempty"`
	ErrorCode     string `json:"errorCode,omitempty"`
	// Worker is filled in by the master.
	Worker string `json:"worker,omitempty"`
}

// Status answers GET /_api/status on the leader master.
type Status struct {
	DC     string       `json:"dc,omitempty"`
	Leader string       `json:"leader"`
	Epoch  uint64       `json:"epoch"`
	Syncs  []SyncStatus `json:"syncs"`
}

// SyncStatus is one sync with its shards.
type SyncStatus struct {
	Sync
	// PeerAlive: the other datacenter's leader was heard from (over the
	// control topics) within the last 10 s; PeerLastSeen when.
	PeerAlive    bool      `json:"peerAlive"`
	PeerLastSeen time.Time `json:"peerLastSeen,omitzero"`
	// Shards by Collection then Shard.
	Shards []ShardStatus `json:"shards"`
	// Counts of shards by Phase, and the largest lag.
	Phases        map[string]int `json:"phases,omitempty"`
	MaxLagSeconds float64        `json:"maxLagSeconds"`
	// InSync: every shard is tailing with lag 0 ticks (as last reported).
	InSync bool `json:"inSync"`
}

// Shard phases (arangosync's names).
const (
	ShardPending     = "pending"
	ShardInitialSync = "initial-sync"
	ShardRunning     = "running"
	ShardFailed      = "failed"
	ShardStopped     = "stopped"
)

// ShardStatus is one shard: both views and the derived phase and lag.
type ShardStatus struct {
	Shard      string `json:"shard"`
	Collection string `json:"collection"` // database/name
	ShardName  string `json:"shardName,omitempty"`
	Phase      string `json:"phase"`
	// Source view: the send-shard task in A (reported to A's leader and
	// carried to B over ctl.up).
	Source SourceShard `json:"source"`
	// Target view: the receive side in B (ShardReport).
	Target         ShardReport `json:"target"`
	LagTicks       uint64      `json:"lagTicks"`
	LagSeconds     float64     `json:"lagSeconds"`
	LastDataChange time.Time   `json:"lastDataChange,omitzero"`
	Error          string      `json:"error,omitempty"`
}

// SourceShard is the send-shard task's state in the source datacenter.
type SourceShard struct {
	Worker      string          `json:"worker,omitempty"`
	Phase       string          `json:"phase,omitempty"`
	StreamEpoch uint64          `json:"streamEpoch,omitempty"`
	Acked       events.Position `json:"acked"`
	LeaderTick  uint64          `json:"leaderTick,omitempty"`
	Leader      string          `json:"leader,omitempty"`
	Error       string          `json:"error,omitempty"`
	UpdatedAt   time.Time       `json:"updatedAt,omitzero"`
}

// ConfigureRequest is `configure sync`, sent to the leader master of the
// datacenter that is to follow (the target).
type ConfigureRequest struct {
	// Sync names the sync (default "<source>-to-<target>", lower case).
	Sync string `json:"sync,omitempty"`
	// SourceDC names the datacenter to follow.
	SourceDC             string `json:"sourceDC"`
	TopicPrefix          string `json:"topicPrefix,omitempty"`
	DataPartitions       int    `json:"dataPartitions,omitempty"`
	MessageTimeoutMillis int64  `json:"messageTimeoutMillis,omitempty"`
}

// StopRequest is `stop sync` (target side).
type StopRequest struct {
	Sync string `json:"sync,omitempty"` // "" = the only sync
	// EnsureInSync (default true in the CLI): the source is read-only until
	// every shard is in sync, then the sync stops and the source is
	// writable again.
	EnsureInSync  bool  `json:"ensureInSync"`
	TimeoutMillis int64 `json:"timeoutMillis,omitempty"`
}

// CheckReport answers `check sync`: the per-shard comparison of the source
// and the target.
type CheckReport struct {
	Sync   string       `json:"sync"`
	InSync bool         `json:"inSync"`
	Shards []ShardCheck `json:"shards"`
}

// ShardCheck is one shard's comparison.
type ShardCheck struct {
	Shard       string `json:"shard"`
	Collection  string `json:"collection"`
	SourceCount uint64 `json:"sourceCount"`
	TargetCount uint64 `json:"targetCount"`
	SourceHash  uint64 `json:"sourceHash"`
	TargetHash  uint64 `json:"targetHash"`
	Equal       bool   `json:"equal"`
	Error       string `json:"error,omitempty"`
}
