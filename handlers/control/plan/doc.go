// Package plan is the cross-datacenter planning between the leader masters
// of the two datacenters of a sync (ARCHITECTURE §4, §7): configure sync,
// the inventory over ctl.up and the sync state over ctl.down, structure in
// B, the send-shard tasks in A, status, check, stop and abort.
//
// # Leadership
//
// A Manager runs one session per leadership: the master's leader loop
// calls Lead(epoch) after it adopted its task records, and Lead(0) when it
// lost the lead; Run also asks the elector directly and ends the session
// the moment it says no. A session reloads everything from the local
// _dc2dc; every record write is fenced by the session's epoch (package
// state); every message carries it. Nothing of a session survives it but
// the records (and the registry tasks, which the master persists).
//
// # Records (local _system/_dc2dc, fenced)
//
//   - SyncsKey: []Sync, both roles.
//   - TargetKeyPrefix+<sync> (target side): the databases, collections and
//     views dc2dc created in B (only those are ever dropped), which are ready,
//     and the stamp of the last inventory applied: a replayed older
//     inventory never drops anything.
//
// # Messages
//
// Every message is an events.Batch of MetaShard (_system meta stream) with
// one events.Control record: Type, LeaderEpoch (the sender's), From (the
// sender's datacenter) and a JSON payload (messages.go; Decode rejects
// anything else, and other control types on the same topic are
// ErrForeign). A receiver ignores a message with a lower leader epoch than
// the highest it has seen from that side, and orders same-kind messages by
// (epoch, seq). Each leader consumes its control topic in a consumer group
// of its own per leadership (<topic>.plan.<master id>.e<epoch>) that starts
// at the newest offset, so a new leadership never replays old state: the
// periodic messages are level-triggered state and repeat what was missed
// before the group joined; one-shot requests (check) are repeated until
// answered. (Kafka expires the offsets of the old, empty groups.)
//
//   - sync-state (B → A, ctl.down, every StateInterval): the target record
//     (state, incarnation, partitions, message timeout, stop), the ready
//     collections (A's "db/planId"), the receive-side reports, recent
//     reset-failed-shard requests.
//   - inventory (A → B, ctl.up, on change and every InventoryInterval; also
//     A's heartbeat): databases, collections (parameters and indexes
//     verbatim), shards, analyzers, views; each send task's state; the stop
//     progress (read-only, drained with final positions).
//   - check-request (B → A) and check-result (A → B): per shard count and
//     root hash of the revision tree at a snapshot on the shard leader, and
//     where the send task stood (acked position, leader tick).
//
// # Target side (B)
//
// For each target sync: its four topics in Kafka B; sync-state every
// StateInterval (also for a stopped or aborted sync during
// InactiveStateFor, so A learns); each new inventory structure is applied
// with target.Structure (databases with A's properties: sharding,
// replication factor bounded by B's DB-Servers, write concern; collections
// with A's parameters, indexes, analyzers, views; renames; drops of the
// databases, collections, views and analyzers dc2dc created and A no
// longer has, and of indexes A's definition no longer names). A database
// is never altered once created: a new one is read at once (knowsAll), so
// B creates it with A's properties.
//
// # Users (Config.ReplicateUsers, off by default; set on A's masters)
//
// A's inventory then names _system/_users and B marks it ready at once (it
// exists in B); A runs a send task for its shard (a system collection: the
// tail includes system collections), B's receive side applies the user
// records verbatim with their password hashes (B's own user of the same
// name is replaced, users only B has stay) and B's leader reloads B's users
// (POST /_admin/auth/reload) whenever the workers report a new applied
// position of that shard. check sync does not compare _users. A collection is "ready" once it and its indexes
// exist; A creates send tasks only for ready collections, so no data
// arrives in B before its collection.
//
// # Target read-only for users
//
// While any target sync of this datacenter is running or stopping, the
// leader keeps its cluster in server mode readonly (re-asserted every 10 s;
// targetmode.go): users cannot write into the replica, dc2dc's own writes
// with the superuser JWT go on. When the last target sync stopped or was
// aborted (the replica is promoted) the leader makes the cluster writable,
// once per leadership. A cluster that is no target of any sync is left
// alone. In a chain (A → B → C) B is both: the end of a stop barrier of
// B → C leaves B read-only while B still follows A, and the end of A → B
// leaves it read-only while a barrier of B → C holds (keepReadOnly); found
// by tests/sync TestSyncChainAndFanOut, where B took users' writes after
// C's stop sync until the next 10 s re-assertion.
//
// # Source side (A)
//
// Syncs are discovered by listing <prefix>.<id>.ctl.down topics of Kafka A
// (the mirror creates them) every DiscoverInterval; the first valid
// running sync-state records Sync{Role: source} and creates data (with the
// partition count B asked for), ctl.up and poison in Kafka A. The record
// follows B's state (stopping, stopped, aborted; a stopped or aborted
// record runs again only for a new incarnation, i.e. a new configure
// sync). While active: one send-shard registry task per shard of each
// ready collection (TaskID), removed when the collection is gone, no
// longer ready, or the sync inactive; the master's scheduler assigns them.
//
// # Stop with ensure-in-sync
//
// B: state stopping with a deadline. A: read-only (PUT
// /_admin/server/mode), then at once each shard's count and revision-tree
// root hash at a snapshot taken after that moment (final: nothing changes
// any more), reported as "drained" in the inventory with each task's acked
// position. B: stopped once each partner shard holds exactly that count
// and hash; past the deadline: running again with an error (A writable at
// once, its tasks go on). When B stopped, A records it, removes the send
// tasks and makes the cluster writable ReleaseGrace later (the workers
// stop their tasks at their next heartbeat: no later write travels). A
// session that ends while it holds the cluster read-only makes it
// writable. (Leader ticks are not
// used for the barrier: a DB-Server's tick moves with writes that are not
// the shard's, so an idle shard's acked tick may never reach it.)
//
// Read-only mode caps users' access levels only: dc2dc's own writes with
// the superuser JWT (the lease, the records) still work. Were they refused,
// A's leader would lose its lease when the barrier takes longer than the
// lease: the session end makes the cluster writable, the next leader makes
// it read-only again and reports the same final state, so the stop still
// converges or ends at its deadline.
//
// # Reset failed shard
//
// The request rides the sync-state for a minute; A applies each request
// id once per session by removing the shard's task: the next pass adds it
// again as a new task (generation 0, pending, nothing acked), so its worker
// starts a new stream epoch (with a revision snapshot).
//
// # Check
//
// A compares every shard of the collections B reported ready (also of a
// stopped sync): count and root hash at a snapshot on the shard leader,
// then the send task's acked position (none once the sync is stopped). B
// waits (bounded by CheckTimeout) until its applied position of each shard
// (B's _dc2dc) reached that position, then reads its own count and hash.
// With A idle this is exact.
package plan
