// Package dev tests `dc2dc dev` (make run) as a process: it starts the whole
// development stack, writes the endpoints file, every endpoint answers, a
// document written in A reaches B through the control plane (dc2dc dev ran
// `configure sync` against B's master, whose GET /_api/status shows the
// sync and its shards running), a user created in A logs in to B with its
// password, SIGINT stops every child process it
// recorded, a second run on the same state directory finds the data and
// the sync of the first, --plan standalone replicates without masters and
// workers, and a child that dies stops the stack with its log reported.
package dev
