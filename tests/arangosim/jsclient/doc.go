// Package jsclient checks arangosim against the official ArangoDB JavaScript
// driver (arangojs, pinned in package.json/package-lock.json): its test starts
// an in-process cluster, installs the pinned driver with npm ci into a
// temporary folder and runs roundtrip.mjs, which creates a database, a
// collection and documents and reads them back. The test is skipped, saying
// so, when node or npm is missing or the npm registry cannot be reached.
package jsclient
