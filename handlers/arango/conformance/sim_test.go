package conformance

import (
	"context"
	"testing"

	"github.com/dc2dc/dc2dc/tests/arangosim"
)

const simSecret = "dc2dc-conformance-secret"

// simFaults adapts *arangosim.Cluster to Faults.
type simFaults struct{ c *arangosim.Cluster }

func (f simFaults) MoveShard(db, coll, shard, from, to string) error {
	return f.c.MoveShard(db, coll, shard, from, to)
}
func (f simFaults) StopServer(id string) error { return f.c.StopServer(id) }
func (f simFaults) PruneWAL(server string, upTo uint64) error {
	_, err := f.c.PruneWAL(server, upTo)
	return err
}

func startSim(t *testing.T) *arangosim.Cluster {
	t.Helper()
	c, err := arangosim.Start(context.Background(), arangosim.Config{DBServers: 3, JWTSecret: simSecret, RootPassword: "root-pw"})
	if err != nil {
		t.Fatalf("arangosim.Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestSim runs the suite against in-process arangosim clusters: a fresh A
// (3 DB-Servers, with faults) and B for every test.
func TestSim(t *testing.T) {
	Run(t, func(t *testing.T) Cluster {
		a, b := startSim(t), startSim(t)
		return Cluster{Name: "arangosim", Endpoints: []string{a.Endpoint()}, JWTSecret: simSecret, Username: "root", Password: "root-pw",
			Faults: simFaults{a},
			B:      &Cluster{Name: "arangosim B", Endpoints: []string{b.Endpoint()}, JWTSecret: simSecret}}
	})
}
