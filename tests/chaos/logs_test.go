package chaos_test

import (
	"bytes"
	"os"

	"github.com/dc2dc/dc2dc/tests/harness"
)

// What the run counts in the workers' logs: how dc2dc reacted to the fault.
var logEvents = []struct{ key, needle string }{
	{"epochs", `msg="send: new epoch"`},
	{"resyncs", `msg="receive: asking A for a resync of the shard"`},
	{"poisoned", `msg="message sent to the poison topic"`},
	{"full-fallbacks", "falling back to a FULL snapshot"},
}

// logCounts counts each logEvents needle in every log file of the session's
// workers (both datacenters).
func (s *session) logCounts() map[string]int {
	out := map[string]int{}
	for _, dc := range []*harness.DC{s.top.A, s.top.B} {
		for _, w := range dc.Workers {
			for _, name := range w.LogFiles() {
				b, err := os.ReadFile(name)
				if err != nil {
					continue
				}
				for _, e := range logEvents {
					out[e.key] += bytes.Count(b, []byte(e.needle))
				}
			}
		}
	}
	return out
}

// delta is after − before per key.
func delta(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		out[k] = v - before[k]
	}
	return out
}
