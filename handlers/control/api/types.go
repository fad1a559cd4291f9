package api

import (
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
)

// Header names.
const (
	HeaderForwardToLeader = "X-Allow-Forward-To-Leader"
	HeaderForwardedBy     = "X-Dc2dc-Forwarded-By"
)

// Paths.
const (
	PathVersion         = "/_api/version"
	PathMasters         = "/_api/masters"
	PathWorkers         = "/_api/workers"
	PathTasks           = "/_api/tasks"
	PathWorkerRegister  = "/_api/worker/register"
	PathWorkerHeartbeat = "/_api/worker/heartbeat"
	PathMasterHeartbeat = "/_api/master/heartbeat"
	PathMetrics         = "/metrics"
)

// VersionInfo answers GET /_api/version.
type VersionInfo struct {
	Version   string `json:"version"`
	GoVersion string `json:"goVersion"`
	Role      string `json:"role"` // master or worker
	ID        string `json:"id"`
	DC        string `json:"dc,omitempty"`
}

// MasterInfo is one master.
type MasterInfo struct {
	ID       string    `json:"id"`
	Endpoint string    `json:"endpoint"`
	Leader   bool      `json:"leader"`
	Alive    bool      `json:"alive"`
	LastSeen time.Time `json:"lastSeen"`
}

// Masters answers GET /_api/masters.
type Masters struct {
	DC             string       `json:"dc,omitempty"`
	Leader         string       `json:"leader"`
	LeaderEndpoint string       `json:"leaderEndpoint"`
	Epoch          uint64       `json:"epoch"`
	Masters        []MasterInfo `json:"masters"`
}

// Workers answers GET /_api/workers.
type Workers struct {
	Epoch   uint64            `json:"epoch"`
	Workers []registry.Worker `json:"workers"`
}

// Tasks answers GET /_api/tasks.
type Tasks struct {
	Epoch uint64          `json:"epoch"`
	Tasks []registry.Task `json:"tasks"`
}

// RegisterResponse answers POST /_api/worker/register.
type RegisterResponse struct {
	Epoch             uint64 `json:"epoch"`
	HeartbeatInterval int64  `json:"heartbeatIntervalMillis"`
	DeadAfter         int64  `json:"deadAfterMillis"`
}

// HeartbeatRequest is the body of POST /_api/worker/heartbeat.
type HeartbeatRequest struct {
	ID      string            `json:"id"`
	Reports []registry.Report `json:"reports,omitempty"`
	// Shards: a target worker's receive-side reports (per shard it applied).
	Shards []plan.ShardReport `json:"shards,omitempty"`
}

// HeartbeatResponse answers it: the worker's tasks and the leader epoch.
type HeartbeatResponse struct {
	Epoch      uint64          `json:"epoch"`
	Tasks      []registry.Task `json:"tasks"`
	Superseded []string        `json:"superseded,omitempty"`
	// Syncs of the datacenter the worker must serve (the receive side of
	// every active target sync).
	Syncs []plan.Assignment `json:"syncs,omitempty"`
}

// MasterHeartbeat is the body of POST /_api/master/heartbeat.
type MasterHeartbeat struct {
	ID       string `json:"id"`
	Endpoint string `json:"endpoint"`
}

// ErrorBody is every error answer.
type ErrorBody struct {
	Error          bool   `json:"error"`
	Code           int    `json:"code"`
	ErrorMessage   string `json:"errorMessage"`
	Reason         string `json:"reason,omitempty"` // machine-readable: unknown-worker, not-leader, …
	LeaderEndpoint string `json:"leaderEndpoint,omitempty"`
	// Problems lists every problem of a refused request (400), one each.
	Problems []string `json:"problems,omitempty"`
	// ErrorCode is the failure code (DC2DC-Ennnn) of the error, when known.
	ErrorCode string `json:"errorCode,omitempty"`
}

// Reasons in ErrorBody.Reason.
const (
	ReasonNotLeader     = "not-leader"
	ReasonUnknownWorker = "unknown-worker"
	ReasonUnauthorized  = "unauthorized"
	ReasonForbidden     = "forbidden"
	ReasonBadRequest    = "bad-request"
)

// Paths of the sync endpoints (leader; see doc.go).
const (
	PathSync               = "/_api/sync"
	PathStatus             = "/_api/status"
	PathSyncStop           = "/_api/sync/stop"
	PathSyncAbort          = "/_api/sync/abort"
	PathSyncAbortOutgoing  = "/_api/sync/abort-outgoing"
	PathSyncResetShard     = "/_api/sync/reset-shard"
	PathSyncMessageTimeout = "/_api/sync/message-timeout"
	PathSyncCheck          = "/_api/sync/check"
	// PathStatusPage is the status web page (HTML) of a master.
	PathStatusPage = "/"
)

// SyncRequest names a sync: the body of abort, abort-outgoing and check
// ("" = the only sync of the datacenter).
type SyncRequest struct {
	Sync string `json:"sync,omitempty"`
}

// ResetShardRequest is the body of POST /_api/sync/reset-shard.
type ResetShardRequest struct {
	Sync string `json:"sync,omitempty"`
	// Shard is database/collection/index (the collection by name or id).
	Shard string `json:"shard"`
}

// MessageTimeoutRequest is the body of PUT /_api/sync/message-timeout.
type MessageTimeoutRequest struct {
	Sync          string `json:"sync,omitempty"`
	TimeoutMillis int64  `json:"timeoutMillis"`
}

// More reasons in ErrorBody.Reason (sync endpoints).
const (
	ReasonNotFound  = "not-found"
	ReasonConflict  = "conflict"
	ReasonNoSyncs   = "no-sync-manager"
	ReasonInternal  = "internal"
	ReasonTimeout   = "timeout"
	ReasonRetryable = "unavailable"
)
