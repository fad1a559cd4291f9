package api

import (
	"context"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

// Syncs is the leader's sync manager (package plan) behind the sync
// endpoints and the worker heartbeat. Its methods run on the leader only
// (the server forwards or redirects from followers first). Errors should
// carry a failure code (pipeline/failure) where one fits; the server maps
// failure.ErrNotFound-like errors to 404 and invalid requests to 400.
type Syncs interface {
	// Configure starts following another datacenter (target side).
	Configure(ctx context.Context, req plan.ConfigureRequest) (plan.Sync, error)
	// Status of every sync of this datacenter, with its shards.
	Status(ctx context.Context) (plan.Status, error)
	// Stop stops a target sync cleanly (returns once the stop is recorded;
	// the CLI polls Status until the sync is stopped).
	Stop(ctx context.Context, req plan.StopRequest) error
	// Abort ends a target sync at once; AbortOutgoing ends a source sync
	// at once (run in the source datacenter).
	Abort(ctx context.Context, sync string) error
	AbortOutgoing(ctx context.Context, sync string) error
	// ResetFailedShard makes a failed shard start over (new epoch).
	ResetFailedShard(ctx context.Context, sync, shard string) error
	// SetMessageTimeout changes a sync's message timeout.
	SetMessageTimeout(ctx context.Context, sync string, d time.Duration) error
	// Check compares source and target per shard (target side).
	Check(ctx context.Context, sync string) (plan.CheckReport, error)
	// WorkerShards takes a target worker's receive-side reports.
	WorkerShards(workerID string, shards []plan.ShardReport, now time.Time)
	// Assignments lists the syncs workers must serve now.
	Assignments() []plan.Assignment
}
