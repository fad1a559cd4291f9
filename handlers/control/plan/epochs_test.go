package plan_test

import (
	"context"
	"testing"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/runner"
	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/tests/arangosim"
)

// TestBumpEpochCounter: the reset raises the very counter the workers'
// epoch allocator (package runner) keeps, so the next epoch is above it.
func TestBumpEpochCounter(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim, err := arangosim.Start(ctx, arangosim.Config{DBServers: 1, JWTSecret: secret})
	must(t, err)
	defer func() { _ = sim.Close() }()
	cl, err := client.New(client.Config{Endpoints: []string{sim.Endpoint()}, JWTSecret: secret})
	must(t, err)
	defer cl.Close()
	docs := state.NewDocs(cl.Coordinator())
	must(t, docs.Ensure(ctx))
	// No counter yet: nothing to raise.
	must(t, plan.BumpEpochCounter(ctx, docs, "a-to-b", "shop/1/0"))
	ep := &runner.Epochs{Docs: docs, Sync: "a-to-b", Worker: "w"}
	first, err := ep.Next(ctx, "shop/1/0")
	must(t, err)
	must(t, plan.BumpEpochCounter(ctx, docs, "a-to-b", "shop/1/0"))
	cur, ok, err := ep.Current(ctx, "shop/1/0")
	must(t, err)
	if !ok || cur != first+1 {
		t.Fatalf("counter %d (%v) after the bump of %d", cur, ok, first)
	}
	next, err := ep.Next(ctx, "shop/1/0")
	must(t, err)
	if next != first+2 {
		t.Fatalf("next epoch %d, want %d", next, first+2)
	}
}
