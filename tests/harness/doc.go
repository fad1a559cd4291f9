// Package harness runs dc2dc's real programs as processes for end-to-end
// tests: it builds the binaries once per test binary, starts processes with
// their output captured to files (shown when the test fails), waits for
// their JSON ready line, kills them (SIGKILL) or stops them (SIGTERM, then
// SIGKILL after a deadline), and cleans everything up through t.Cleanup.
//
// The ready line: a process is ready when it prints, on stdout, a line that
// is a JSON object, unless the object has a "ready" field that is not true.
// Write it once everything listens, for example
//
//	{"ready":true,"component":"mirror","metrics":"127.0.0.1:9100"}
//	{"brokers":["127.0.0.1:9092"],"pid":1234}            (dc2dc kafka)
//
// and log to stderr, not stdout. WaitReady returns that object, so a program
// can announce the addresses it listens on.
//
// Eventually is the one polling helper of the end-to-end tests: wait for a
// condition with a deadline, never with a sleep.
//
// StartTopology starts two datacenters as processes on 127.0.0.1 (in each
// an arangosim cluster, a `dc2dc kafka` broker, masters and workers at fixed
// ports; the mirror between the brokers), waits for a leader in each and
// every worker's registration, and offers the helpers of the end-to-end
// suites: DC.Leader / WaitNewLeader (asking every master without
// forwarding), Member.Kill9AndRestart (same endpoint), DC.CLI (the dc2dc
// command line with the datacenter's masters and token in its
// environment) and DC.Status (GET /_api/status of the leader). Both
// clusters take the JWT secrets TopologyJWTSecretA/B and root's password
// TopologyRootPassword, the admin API the token TopologyToken; the dc2dc
// processes log at $DC2DC_TEST_LOG_LEVEL (default info).
//
// Binaries: Binary("dc2dc") and Binary("arangosim") use $DC2DC_BIN and
// $ARANGOSIM_BIN when set (make test sets them), else `go build` the command
// once per test binary into a temporary directory. Build builds any main
// package of the module the same way. Call RemoveBuilds from TestMain (see
// the example in harness_test.go) to delete that directory. Set
// $DC2DC_HARNESS_RACE=1 to build them with the race detector, and
// $DC2DC_TEST_LOGS=1 to print every process's output even when the test
// passes.
package harness
