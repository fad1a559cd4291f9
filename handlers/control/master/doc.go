// Package master is one sync master process of a datacenter: it connects
// to the local cluster, takes part in the election (package election),
// serves the admin API (package api) and, while it leads, keeps the
// worker registry and schedules the tasks (package registry), persisting
// the task records with fencing (package state).
//
// # Leadership
//
// On winning the election with epoch E the master adopts the task records
// stored in `_dc2dc` (key "tasks"), stamps E on them (registry.SetEpoch)
// and waits one worker dead-after period (3 s) before its first scheduling
// pass, so the workers that were running under the previous leader
// re-register and keep their tasks instead of being declared dead. Then it
// schedules every ScheduleInterval (1 s) and saves the task records with
// epoch E whenever an assignment changed, or every PersistInterval when a
// worker reported progress, and the worker list (key "workers") whenever
// a worker joined, left or died; a save refused as fenced means a newer leader
// exists and this master stops acting on the registry (the election steps
// it down). On losing leadership it forgets its workers (they re-register
// with the next leader).
//
// # Planning
//
// With this datacenter's Kafka (Config.Kafka) the master runs a
// plan.Manager: it serves the sync endpoints (api.Syncs) and the syncs of
// the worker heartbeats, and runs the cross-datacenter protocol while this
// master leads. The leader loop calls Lead(E) after adopting the task
// records of epoch E (so the send-shard tasks the plan puts into the
// registry are persisted and scheduled like any other) and Lead(0) when it
// loses the lead or before adopting a new epoch; the manager also asks the
// elector itself and stops at once. Without Kafka there is no manager and
// the sync endpoints say so.
//
// # Followers
//
// A follower answers the leader-only API by forwarding or with 503 naming
// the leader (package api), and announces itself to the leader every
// second so `GET /_api/masters` lists every master.
//
// # Start-up errors
//
// Run fails fast, with an error naming the setting and the fix, when the
// cluster is unreachable (--cluster.endpoint), refuses the credentials
// (--cluster.jwt-secret) or is not a cluster's Coordinator, and when the
// API address cannot be bound (--server.endpoint / --server.port).
package master
