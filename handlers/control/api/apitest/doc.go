// Package apitest has test doubles for the admin API: a fake sync manager
// (api.Syncs) that keeps syncs in memory and records every call, a fake
// elector, and a master API server on httptest. For tests only.
//
// Invariants: the fake resolves a sync name like the real manager must
// ("" = the only sync, else a 400 error listing them), answers an unknown
// sync or shard with an error whose HTTPStatus is 404 (see api.StatusOf),
// an existing sync on Configure with an error wrapping fs.ErrNotExist's
// sibling fs.ErrExist (409; its text then ends in "file already exists",
// which is why the real manager should prefer an HTTPStatus method), and
// is safe for concurrent use.
package apitest
