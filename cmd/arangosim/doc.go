// Command arangosim runs a simulated ArangoDB 3.12 cluster on 127.0.0.1 (see package
// tests/arangosim). When every server listens it prints exactly one JSON line on stdout,
//
//	{"clusterId":"…","endpoint":"http://127.0.0.1:P","servers":[{"role":"coordinator"|"dbserver",
//	 "id":"CRDN-…"|"PRMR-…","shortName":"Coordinator0001"|"DBServer0001","endpoint":"http://127.0.0.1:P","up":true},…]}
//
// then serves until SIGINT or SIGTERM (exit status 0). Flags: --coordinators N,
// --dbservers M, --port P (further servers on the following ports; 0 = free ports),
// --jwt-secret, --root-password, --data-dir (Pebble, survives restarts),
// --max-wal-markers, --verbose.
package main
