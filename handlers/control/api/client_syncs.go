package api

import (
	"context"
	"net/http"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

// Configure starts a sync (run against the target datacenter's masters);
// the answer is the recorded sync.
func (c *Client) Configure(ctx context.Context, req plan.ConfigureRequest) (plan.Sync, error) {
	var v plan.Sync
	return v, c.do(ctx, http.MethodPost, PathSync, req, &v)
}

// Status of every sync of the datacenter, with its shards.
func (c *Client) Status(ctx context.Context) (plan.Status, error) {
	var v plan.Status
	return v, c.do(ctx, http.MethodGet, PathStatus, nil, &v)
}

// Stop asks the leader to stop a sync; it returns once the stop is
// recorded (poll Status until the sync is stopped).
func (c *Client) Stop(ctx context.Context, req plan.StopRequest) error {
	return c.do(ctx, http.MethodPost, PathSyncStop, req, nil)
}

// Abort ends a target sync at once ("" = the only sync).
func (c *Client) Abort(ctx context.Context, sync string) error {
	return c.do(ctx, http.MethodPost, PathSyncAbort, SyncRequest{Sync: sync}, nil)
}

// AbortOutgoing ends a source sync at once (run in the source datacenter).
func (c *Client) AbortOutgoing(ctx context.Context, sync string) error {
	return c.do(ctx, http.MethodPost, PathSyncAbortOutgoing, SyncRequest{Sync: sync}, nil)
}

// ResetFailedShard makes a failed shard (database/collection/index) start
// over.
func (c *Client) ResetFailedShard(ctx context.Context, sync, shard string) error {
	return c.do(ctx, http.MethodPost, PathSyncResetShard, ResetShardRequest{Sync: sync, Shard: shard}, nil)
}

// SetMessageTimeout changes a sync's message timeout.
func (c *Client) SetMessageTimeout(ctx context.Context, sync string, d time.Duration) error {
	return c.do(ctx, http.MethodPut, PathSyncMessageTimeout, MessageTimeoutRequest{Sync: sync, TimeoutMillis: d.Milliseconds()}, nil)
}

// Check compares the source and the target per shard.
func (c *Client) Check(ctx context.Context, sync string) (plan.CheckReport, error) {
	var v plan.CheckReport
	return v, c.do(ctx, http.MethodPost, PathSyncCheck, SyncRequest{Sync: sync}, &v)
}
