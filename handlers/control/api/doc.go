// Package api is the sync masters' admin HTTP API (net/http) and its Go
// client, used by the workers and by the operator commands (`dc2dc get …`).
//
// # Endpoints
//
//	GET  /_api/version           any master or worker: version and role (never forwarded)
//	GET  /_api/masters           leader: the masters, which one leads, its epoch and endpoint
//	GET  /_api/workers           leader: registered workers (alive or dead) and their task counts
//	GET  /_api/tasks             leader: task records with their assignments
//	POST /_api/worker/register   leader: a worker registers (registry.WorkerInfo)
//	POST /_api/worker/heartbeat  leader: a worker heartbeats and reports; the answer holds its
//	                             assigned tasks and the leader epoch (404 unknown-worker: register again)
//	POST /_api/master/heartbeat  leader: a follower master announces itself (for GET /_api/masters)
//	GET  /metrics                Prometheus, from the registry given to the server (never forwarded)
//
// Sync endpoints (leader; Config.Syncs, the plan package's manager; without
// one they answer 503 no-sync-manager). Bodies are JSON objects; unknown
// fields, wrong types and bad names are refused with 400 listing every
// problem (ErrorBody.Problems). A sync of "" means the only sync of the
// datacenter (the manager refuses it, listing them, when there are several).
//
//	POST /_api/sync                 configure sync (plan.ConfigureRequest) → 201 plan.Sync; 409 if it exists
//	GET  /_api/status               plan.Status: every sync with its shards
//	POST /_api/sync/stop            plan.StopRequest → {"ok":true} once the stop is recorded
//	POST /_api/sync/abort           {"sync"} → {"ok":true}
//	POST /_api/sync/abort-outgoing  {"sync"} → {"ok":true} (source datacenter)
//	POST /_api/sync/reset-shard     {"sync","shard":"db/collection/index"} → {"ok":true}
//	PUT  /_api/sync/message-timeout {"sync","timeoutMillis"} → {"ok":true}
//	POST /_api/sync/check           {"sync"} → plan.CheckReport
//	GET  /                          the status web page (HTML, package web)
//
// Errors of the manager map to statuses by StatusOf: fs.ErrNotExist in the
// chain → 404, fs.ErrExist → 409, failure code DC2DC-E5001 → 400, an error
// with an HTTPStatus() int method → that status, retryable → 503, else 500.
// The worker heartbeat hands HeartbeatRequest.Shards to Syncs.WorkerShards
// and answers Syncs.Assignments() in HeartbeatResponse.Syncs.
//
// # The status page
//
// GET / on a master renders the leader's status (a follower forwards it to
// the leader without needing the forwarding header, since a browser cannot
// send it) and reloads itself every 2 s. A browser authenticates with the
// query parameter ?token=<token>: the static --auth.token or a JWT signed
// with --auth.jwt-secret (`dc2dc get status-page` prints such a link with a
// JWT that expires). The token is accepted from the query on GET / only;
// it stays in the browser's history, so prefer a short-lived JWT. Without
// credentials the page answers 401 with an HTML hint. When the API runs
// without authentication, so does the page (development only).
//
// # Leader and followers
//
// The leader-only endpoints on a follower: with the request header
// `X-Allow-Forward-To-Leader: true` (like arangosync) the follower forwards
// the request to the leader's endpoint (taken from the lease) and relays the
// answer; without it, or when no leader is known, it answers 503 with the
// leader's endpoint in the JSON body (`leaderEndpoint`). A forwarded request
// carries `X-Dc2dc-Forwarded-By` and is never forwarded twice.
//
// # Authentication
//
// Every endpoint needs authentication when any is configured: a bearer
// token equal to the static token, or an HS256 JWT signed with the shared
// secret and issued by `dc2dc` (iss=dc2dc; exp honoured when present), or —
// over TLS with a client CA — a verified client certificate. Missing or
// invalid credentials: 401; a validly signed token issued for something
// else: 403. Errors are JSON: {"error":true,"code":401,"errorMessage":"…"}.
// With nothing configured the API is open (development only; the processes
// warn).
//
// # Client
//
// Client tries its endpoints in order with the forwarding header set, so
// any master of the datacenter answers for the leader; a transport failure
// or a 503 moves on to the next endpoint.
package api
