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
