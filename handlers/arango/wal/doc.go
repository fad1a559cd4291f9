// Package wal reads a shard's write-ahead log from an ArangoDB DB-Server:
// it parses the JSON-lines body of GET /_api/wal/tail into typed
// events.Records and runs the tailing loop exactly like ArangoDB's own
// DatabaseTailingSyncer (spec §1.4).
//
// # Parsing
//
// Parse turns every marker into one events.Record whose Tick is the marker's
// tick. A document marker (2300) becomes an *events.Document whose Doc is the
// marker's "data" bytes verbatim (never re-encoded) and whose Key and Rev are
// copied out of it; a remove (2302) an *events.Remove. Every other marker
// type of spec §1.5 maps to its events type; an unknown type is an
// *UnknownMarkerError and anything that is not a well-formed marker a
// *MalformedError (both permanent: the same bytes give the same answer).
// Ticks must be strictly ascending within a body. The parser never panics
// (fuzzed).
//
// Speed: a marker is validated once by a JSON validator equal to json.Valid
// (fuzzed against it) and then read by a byte scanner that never decodes the
// document; anything unusual (escapes in names or in tick/db/cuid, a
// non-integer type, names matching only case-insensitively) goes through
// encoding/json, so both paths accept and refuse the same input
// (FuzzDecodeMarker). Parse then copies the documents of a body into one
// buffer, so records never hold the response itself (ParseMarker's event may
// share raw's bytes).
//
// # Tailing
//
// A Tailer holds the position of one shard's stream on one DB-Server (from,
// lastScanned) and advances it with each Next call, by one request:
//
//  1. 204 → no records; the position moves over filtered markers only.
//  2. A missing x-arango-replication-lastincluded header is an invalid
//     response (errorNum 1401).
//  3. frompresent=false with from > 0 → ErrStartTickNotPresent (1414): the
//     WAL no longer reaches back to from; the shard needs a resync.
//  4. The records are returned in WAL order, each with tick > from.
//  5. Next from: lastincluded if it is larger than from; otherwise
//     lastscanned-1 when nothing was included and lastscanned > from;
//     otherwise the position stays and CheckMore is cleared ("got the same
//     tick again"), so the caller waits instead of spinning.
//  6. lastScanned always takes the server's x-arango-replication-lastscanned.
//  7. State.CheckMore tells the caller to call Next again without waiting.
//
// Memory: one call holds one response body (about ChunkSize bytes; the
// server may exceed it by one write batch, and splits a write batch only when
// lastScanned > 0, which the Tailer therefore always sends once it has a
// position) plus its parsed records. MaxRecords cuts a response's records
// short; the position then stops at the last returned record, so the rest is
// read again by the next call, never lost.
package wal
