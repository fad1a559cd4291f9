package harness

import (
	"testing"
	"time"
)

// Eventually calls cond every poll until it reports true, and fails the
// test when deadline passes first, with the last message cond returned
// (say what was seen, e.g. "B holds 120 of 200 records"). cond runs at least
// once, also when deadline is zero.
func Eventually(t testing.TB, deadline, poll time.Duration, cond func() (bool, string)) {
	t.Helper()
	if poll <= 0 {
		poll = 10 * time.Millisecond
	}
	end := time.Now().Add(deadline)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if !time.Now().Before(end) {
			t.Fatalf("condition not met within %s: %s", deadline, msg)
			return
		}
		<-tick.C
	}
}
