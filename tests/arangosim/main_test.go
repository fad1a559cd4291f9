package arangosim

import (
	"context"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Every test then checks that no document write keeps a slice of its pooled body.
	poisonReleasedBodies = true
	goleak.VerifyTestMain(m)
}

// startSim starts an in-process cluster closed at the end of the test.
func startSim(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	c, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
