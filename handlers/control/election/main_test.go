package election_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testSecret = "election-test-secret"

func startSim(t testing.TB) (*arangosim.Cluster, *client.Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sim, err := arangosim.Start(ctx, arangosim.Config{DBServers: 1, JWTSecret: testSecret})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cl, err := client.New(client.Config{Endpoints: []string{sim.Endpoint()}, JWTSecret: testSecret})
	if err != nil {
		cancel()
		_ = sim.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.Close()
		_ = sim.Close()
		cancel()
	})
	return sim, cl
}
