// Package apitest has test doubles for the admin API: a fake sync manager
// (api.Syncs) that keeps syncs in memory and records every call, a fake
// elector, and a master API server on httptest. For tests only.
//
// Invariants: the fake resolves a sync name like the real manager must
// ("" = the only sync, else an error listing them), answers an unknown sync
// with an error wrapping fs.ErrNotExist and an existing one on Configure
// with fs.ErrExist, and is safe for concurrent use.
package apitest
